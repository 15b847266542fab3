//! The handle a service embeds: [`Bitbucket`], built once from a store and options, owning the
//! one HTTP stack and everything a Gemnasium service does with Bitbucket: recording the set-up,
//! verifying consumers, signing users in, keeping tokens fresh, syncing repositories and their
//! webhooks, checking health, and receiving deliveries.
//!
//! ```no_run
//! use std::time::Duration;
//! use gemnasium_bitbucket::Bitbucket;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let store = gemnasium_bitbucket::store::open("sqlite://gemnasium.db").await?;
//! let bitbucket = Bitbucket::builder(store)
//!     .timeout(Duration::from_secs(20))
//!     .user_agent("my-gemnasium/1.0")
//!     .build()?;
//! # let _ = bitbucket; Ok(()) }
//! ```

mod builder;
mod config;
mod credentials;
mod declared;
mod doctor;
mod error;
mod login;
mod sync;
mod sync_budget;
mod tokens;
mod webhook;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub use self::builder::{BitbucketBuilder, DEFAULT_DELIVERY_RETENTION};
pub use self::config::ClientWrite;
pub use self::credentials::{AddedCredential, NewCredential};
pub use self::doctor::DoctorOptions;
pub use self::error::Error;
pub use self::login::{LoginOptions, SignedIn};
pub use self::sync::{Credential, SyncOptions, SyncReport, Syncer, TrackOutcome};
pub use self::webhook::{ReceivedWebhook, WebhookError};

use crate::api::{ApiClient, ApiConfig, Auth, Http, RequestBudget, RetryPolicy};
use crate::model::{Client, Provider, ProviderName, Purpose, ServiceUrl};
use crate::oauth::TokenManager;
use crate::store::DynStore;

/// The front door: one value per service, cheap to clone, safe to share between tasks.
#[derive(Clone)]
pub struct Bitbucket {
    inner: Arc<Inner>,
}

struct Inner {
    store: DynStore,
    http: Http,
    tokens: Arc<TokenManager>,
    retry: RetryPolicy,
    budget: (usize, std::time::Duration),
    max_body: usize,
    max_pages: usize,
    /// How long received delivery ids are remembered.
    delivery_retention: std::time::Duration,
    /// The largest fraction of a consumer's budget one account may take.
    account_share: f64,
    /// One request budget per consumer, shared by every account syncing through it.
    budgets: Mutex<HashMap<String, Arc<RequestBudget>>>,
}

impl std::fmt::Debug for Bitbucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bitbucket")
            .field("store", &self.inner.store.location())
            .field("http", &self.inner.http)
            .finish_non_exhaustive()
    }
}

impl Bitbucket {
    /// Starts building a handle over `store`.
    pub fn builder(store: DynStore) -> BitbucketBuilder {
        BitbucketBuilder::new(store)
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &DynStore {
        &self.inner.store
    }

    /// The HTTP stack every call goes through.
    #[must_use]
    pub fn http(&self) -> &Http {
        &self.inner.http
    }

    /// The token manager (single-flight refreshes across the handle's users).
    #[must_use]
    pub fn token_manager(&self) -> &Arc<TokenManager> {
        &self.inner.tokens
    }

    /// How long received delivery ids are remembered, as the store counts time.
    fn delivery_retention(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.inner.delivery_retention).unwrap_or(chrono::Duration::MAX)
    }

    /// The in-process request budget called `key`: an OAuth consumer's (shared by every
    /// account using it, see [`consumer_budget_key`]) or one stored credential's (access and
    /// API tokens each have their own allowance, facts §9).
    fn budget(&self, key: &str) -> Arc<RequestBudget> {
        let mut budgets = self
            .inner
            .budgets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        budgets
            .entry(key.to_owned())
            .or_insert_with(|| {
                Arc::new(RequestBudget::new(self.inner.budget.0, self.inner.budget.1))
            })
            .clone()
    }

    /// A REST client for `api_url`, on `client`'s consumer budget, with `auth`.
    fn api(&self, api_url: &ServiceUrl, client: &Client, auth: Arc<dyn Auth>) -> ApiClient {
        self.api_with_ledger(api_url, &consumer_budget_key(client), auth, None)
    }

    /// A REST client for `api_url` on the budget called `budget_key`, with `auth`, drawing also
    /// on `ledger` (the same budget in the store).
    fn api_with_ledger(
        &self,
        api_url: &ServiceUrl,
        budget_key: &str,
        auth: Arc<dyn Auth>,
        ledger: Option<Arc<dyn crate::api::BudgetLedger>>,
    ) -> ApiClient {
        let mut config = ApiConfig::new(api_url.clone());
        config.ledger = ledger;
        config.retry = self.inner.retry.clone();
        config.budget = self.budget(budget_key);
        config.max_body = self.inner.max_body;
        config.max_pages = self.inner.max_pages;
        config.deprecations = Some(Arc::new(doctor::RememberDeprecations(
            self.inner.store.clone(),
        )));
        ApiClient::new(self.inner.http.clone(), config, auth)
    }

    /// The source called `name`.
    async fn source(&self, name: &ProviderName) -> Result<crate::model::Source, Error> {
        self.inner
            .store
            .source(name)
            .await?
            .ok_or_else(|| Error::NoSource(name.clone()))
    }

    /// The provider called `name`.
    async fn provider(&self, name: &ProviderName) -> Result<Provider, Error> {
        self.inner
            .store
            .provider(name)
            .await?
            .ok_or_else(|| Error::NoProvider(name.clone()))
    }

    /// The provider and its client for `purpose`.
    async fn provider_and_client(
        &self,
        name: &ProviderName,
        purpose: Purpose,
    ) -> Result<(Provider, Client), Error> {
        let provider = self.provider(name).await?;
        let client = self
            .inner
            .store
            .client(name, purpose)
            .await?
            .ok_or_else(|| Error::NoClient {
                provider: name.clone(),
                purpose,
            })?;
        Ok((provider, client))
    }
}

/// The budget key of `client`'s consumer, shared by every account syncing through it.
pub(crate) fn consumer_budget_key(client: &Client) -> String {
    format!("{}/{}", client.provider, client.key)
}
