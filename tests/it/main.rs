//! End-to-end tests across crates: the real program, run as users run it, checked through the
//! library. One binary with one module per area (faster to link than one binary per file).

mod bad_input;
mod hardening;
mod oauth_cli;
mod secrets;
mod seed;
mod support;
mod sync_cli;
