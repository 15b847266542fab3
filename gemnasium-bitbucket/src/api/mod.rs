//! The Bitbucket REST client: one `reqwest::Client`, the bearer token only to the configured API
//! origin, retries and rate budget, typed errors, and pagination.

mod auth;
mod budget;
mod client;
mod error;
mod page;

pub use self::auth::{BearerAuth, ConsumerToken, ManagedToken, StaticToken};
pub use self::budget::RequestBudget;
pub use self::client::{ApiClient, ApiConfig, Metrics, RetryPolicy};
pub use self::error::ApiError;
pub use self::page::{Page, PageQuery};
