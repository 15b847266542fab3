//! The library's integration tests, one binary (see the design notes: one slow link, not one
//! per area). Every HTTP double answers unknown requests with a 500, so an unexpected call fails
//! loudly.

mod api;
mod bitbucket_2026;
mod conformance;
mod credentials;
mod findings;
mod fuzz_corpus;
mod oauth;
mod real_payloads;
mod scale;
mod secrets_at_rest;
mod service;
mod store_admin;
mod sync;
mod tls;
