//! OAuth against `MockBitbucket` (every mock server answers unknown requests with a 500).

mod authorize;
mod errors;
mod exchange;
mod identity;
mod lifecycle;
mod support;
mod verify;
