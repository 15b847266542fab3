//! # gemnasium-bitbucket
//!
//! Connects a self-hosted Gemnasium to Bitbucket Cloud: the [`Provider`], [`Client`],
//! [`ScopeSet`] and [`Source`] types, pluggable async stores (memory, SQLite, PostgreSQL), Bitbucket
//! OAuth helpers and the repository sync engine.
//!
//! ```
//! use gemnasium_bitbucket::model::{Client, ClientSecret, Provider, Purpose, ScopeSet};
//! use gemnasium_bitbucket::store::{ClientStore, MemoryStore, ProviderStore, WriteOutcome};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = MemoryStore::new();
//! let provider = Provider::bitbucket_cloud();
//! store.create_provider(&provider).await?;
//!
//! let client = Client {
//!     provider: provider.name.clone(),
//!     purpose: Purpose::Login,
//!     key: "KEY".parse()?,
//!     secret: ClientSecret::new("SECRET")?,
//!     scopes: "account,email".parse::<ScopeSet>()?,
//! };
//! assert!(client.missing_scopes().is_empty());
//! assert_eq!(store.create_client(&client).await?, WriteOutcome::Created);
//! // Re-running the same create is harmless.
//! assert_eq!(store.create_client(&client).await?, WriteOutcome::Unchanged);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod api;
pub mod doctor;
pub mod model;
pub mod oauth;
pub mod provision;
pub mod store;
pub mod sync;
#[cfg(feature = "testing")]
pub mod testing;

pub use model::{Client, Provider, Scope, ScopeSet, Source};
