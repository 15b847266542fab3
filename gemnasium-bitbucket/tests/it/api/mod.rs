//! The REST client against wiremock; every server answers unknown requests with a 500.

mod errors;
mod pagination;
mod retries;
mod support;
