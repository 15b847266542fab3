//! The Bitbucket base layer: one HTTP stack ([`Http`]), the REST client with its error
//! envelope, retries, budget and paginator ([`ApiClient`]), and one handler per API area with
//! its wire types: [`user`], [`workspaces`], [`repositories`], [`hooks`].
//!
//! This layer knows nothing of OAuth flows, sync or provisioning: credentials reach it through
//! the small [`Auth`] trait.

mod auth;
mod budget;
mod client;
mod envelope;
mod error;
pub mod hooks;
pub mod http;
mod notices;
mod page;
pub mod repositories;
pub mod user;
pub mod workspaces;

pub use self::auth::{
    Auth, AuthError, AuthErrorKind, Authorization, Rejection, StaticAuthorization, StaticToken,
};
pub use self::budget::{BudgetLedger, BudgetSpent, RequestBudget};
pub use self::client::{ApiClient, ApiConfig, Metrics, RetryPolicy};
pub use self::error::ApiError;
pub use self::http::{Http, HttpSettings, SetupError, TransportError};
pub use self::notices::DeprecationObserver;
pub use self::page::{Page, PageQuery};

pub(crate) use self::envelope::excerpt;
// The fuzzing harnesses (`testing::fuzz`) reach the parsers directly.
#[cfg(feature = "testing")]
pub(crate) use self::envelope::parse as parse_envelope;
#[cfg(feature = "testing")]
pub(crate) use self::page::next_page;
