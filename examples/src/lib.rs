//! Programs that use the `gemnasium-bitbucket` library the way its users do. The web service
//! example is a library module too, so that the workspace's end-to-end tests can build and run
//! the same program (`examples/src/bin/service.rs` is its whole binary).

pub mod service;
