//! # gemnasium-bitbucket
//!
//! Connects a self-hosted Gemnasium to Bitbucket Cloud. The front door is [`Bitbucket`]: one
//! handle, built once from a store, that records the set-up, signs users in, keeps their tokens
//! fresh, syncs repositories and their webhooks, checks health and receives deliveries. Under
//! it: the validated [`model`] ([`Provider`], [`Client`], [`ScopeSet`], [`Source`]), pluggable
//! async [`store`]s (memory, SQLite, PostgreSQL), the Bitbucket [`api`] layer, [`oauth`] and
//! [`sync`].
//!
//! A service's whole flow (the routes are framework-neutral functions; wire them to axum,
//! actix or hyper):
//!
//! ```no_run
//! use std::time::Duration;
//! use gemnasium_bitbucket::model::{Purpose, ServiceUrl, HookEvents};
//! use gemnasium_bitbucket::oauth::PendingAuthorization;
//! use gemnasium_bitbucket::service::SyncOptions;
//! use gemnasium_bitbucket::sync::Quiet;
//! use gemnasium_bitbucket::Bitbucket;
//!
//! /// `GET /auth/auth/bitbucket.org`: send the browser to Bitbucket; keep `pending` with the
//! /// browser's session (its state is the CSRF token of this sign-in).
//! async fn sign_in(bitbucket: &Bitbucket) -> Result<PendingAuthorization, gemnasium_bitbucket::Error> {
//!     bitbucket.begin_login(&"bitbucket.org".parse()?, Purpose::Login).await
//! }
//!
//! /// `GET /auth/auth/bitbucket.org/login/callback?code=…&state=…`: the request's query string
//! /// and the session's pending authorization; a forged or replayed state is refused.
//! async fn callback(bitbucket: &Bitbucket, pending: &PendingAuthorization, query: &str) -> String {
//!     match bitbucket.complete_login(pending, query).await {
//!         Ok(signed_in) => format!("signed in as {}", signed_in.identity.shown()),
//!         Err(e) => format!("sign-in refused: {e}"),
//!     }
//! }
//!
//! /// `POST /hooks/bitbucket`: answer 2xx fast, or the status the refusal says.
//! async fn webhook<'a>(bitbucket: &Bitbucket, header: impl Fn(&str) -> Option<&'a str>, body: &[u8]) -> u16 {
//!     match bitbucket.receive_webhook(header, body).await {
//!         Ok(delivery) => {
//!             println!("{} on {}", delivery.event.event_key, delivery.repository.full_name);
//!             204
//!         }
//!         Err(refused) => refused.status(),
//!     }
//! }
//!
//! /// A periodic job: list repositories, keep one webhook of ours on tracked ones.
//! async fn sync_job(bitbucket: Bitbucket) -> Result<(), gemnasium_bitbucket::Error> {
//!     let source = "bitbucket.org".parse()?;
//!     let hooks = ServiceUrl::parse("hooks URL", "https://gemnasium.example.com/hooks/bitbucket")?;
//!     loop {
//!         let credential = bitbucket.default_credential(&source).await?;
//!         let options = SyncOptions::new().hooks(hooks.clone(), HookEvents::push());
//!         let report = bitbucket.syncer(&source, credential).await?.sync(&options, &Quiet).await?;
//!         println!("{} repositories, complete: {}", report.crawl.repositories, report.complete());
//!         tokio::time::sleep(Duration::from_secs(3600)).await;
//!     }
//! }
//!
//! # async fn main_() -> Result<(), Box<dyn std::error::Error>> {
//! let store = gemnasium_bitbucket::store::open("sqlite://gemnasium.db").await?;
//! let bitbucket = Bitbucket::builder(store).timeout(Duration::from_secs(20)).build()?;
//! tokio::spawn(sync_job(bitbucket.clone()));
//! let pending = sign_in(&bitbucket).await?;
//! println!("{}", callback(&bitbucket, &pending, "code=…&state=…").await);
//! # let _ = webhook(&bitbucket, |_| None, b"").await;
//! # Ok(()) }
//! ```
//!
//! The store alone, for provisioning tools and tests:
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
//! let client = Client::new(
//!     provider.name.clone(),
//!     Purpose::Login,
//!     "KEY".parse()?,
//!     ClientSecret::new("SECRET")?,
//!     "account,email".parse::<ScopeSet>()?,
//! );
//! assert!(client.missing_scopes().is_empty());
//! assert_eq!(store.create_client(&client).await?, WriteOutcome::Created);
//! // Re-running the same create is harmless.
//! assert_eq!(store.create_client(&client).await?, WriteOutcome::Unchanged);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod api;
pub mod declarative;
pub mod doctor;
pub mod model;
pub mod oauth;
pub mod provision;
pub mod service;
pub mod store;
pub mod sync;
#[cfg(feature = "testing")]
pub mod testing;

pub use model::{Client, Provider, Scope, ScopeSet, Source};
pub use service::{Bitbucket, Error};
