//! End-to-end tests across crates: the real program, run as users run it, checked through the
//! library. One binary with one module per area (faster to link than one binary per file).

mod bad_input;
mod bitbucket_2026;
mod browser;
mod cli_snapshots;
mod config_file;
mod credentials_cli;
mod hardening;
mod mock_server;
mod oauth_cli;
mod replicas;
mod secrets;
mod secrets_at_rest;
mod seed;
mod service_example;
mod stack;
mod support;
mod sync_cli;
