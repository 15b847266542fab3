use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Bitbucket, Error, Inner};
use crate::api::{Http, HttpSettings, RetryPolicy};
use crate::oauth::{TokenManager, TokenSettings};
use crate::store::DynStore;

/// How long delivery ids are remembered unless [`BitbucketBuilder::delivery_retention`] says.
pub const DEFAULT_DELIVERY_RETENTION: Duration = Duration::from_secs(3 * 24 * 3600);

/// Options of a [`Bitbucket`] handle; [`build`](Self::build) makes it.
#[must_use]
pub struct BitbucketBuilder {
    store: DynStore,
    http: HttpSettings,
    retry: RetryPolicy,
    tokens: TokenSettings,
    budget: (usize, Duration),
    max_body: usize,
    max_pages: usize,
    delivery_retention: Duration,
    account_share: f64,
}

impl std::fmt::Debug for BitbucketBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BitbucketBuilder")
            .field("store", &self.store.location())
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

impl BitbucketBuilder {
    pub(super) fn new(store: DynStore) -> Self {
        Self {
            store,
            http: HttpSettings::default(),
            retry: RetryPolicy::default(),
            tokens: TokenSettings::default(),
            budget: (1_000, Duration::from_secs(3600)),
            max_body: 16 * 1024 * 1024,
            max_pages: 1_000,
            delivery_retention: DEFAULT_DELIVERY_RETENTION,
            account_share: 0.5,
        }
    }

    /// Time allowed for one request (30 s by default). Retries of one request also wait at
    /// most six times this in all, so a broken Bitbucket fails a call in bounded time.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.http = self.http.timeout(timeout);
        self.retry.max_total_wait = timeout.saturating_mul(6);
        self
    }

    /// An extra CA certificate (PEM) trusted by every call: token endpoint, identity, REST.
    pub fn extra_ca_pem(mut self, pem: Vec<u8>) -> Self {
        self.http = self.http.extra_ca_pem(pem);
        self
    }

    /// The User-Agent header (default `gemnasium-bitbucket/VERSION`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.http = self.http.user_agent(user_agent);
        self
    }

    /// How REST calls are retried.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Timing of token refreshes.
    pub fn token_settings(mut self, settings: TokenSettings) -> Self {
        self.tokens = settings;
        self
    }

    /// Requests allowed per consumer per window (Bitbucket: 1,000 per hour).
    pub fn request_budget(mut self, limit: usize, window: Duration) -> Self {
        self.budget = (limit, window);
        self
    }

    /// The largest fraction of a consumer's budget one of its accounts may take per window when
    /// several accounts sync through it (0.5 by default; at least an equal share), so that a
    /// large account cannot starve the others. The budget is kept in the store: processes
    /// sharing a database share it.
    pub fn account_share(mut self, share: f64) -> Self {
        self.account_share = if share.is_finite() {
            share.clamp(0.0, 1.0)
        } else {
            0.5
        };
        self
    }

    /// Most pages followed in one listing (1,000 by default).
    pub fn max_pages(mut self, max_pages: usize) -> Self {
        self.max_pages = max_pages;
        self
    }

    /// How long the ids of received webhook deliveries are remembered to recognise
    /// redeliveries (3 days by default; Bitbucket retries within minutes, people resend from
    /// its request history later). Older ids are pruned, which bounds what the store keeps.
    pub fn delivery_retention(mut self, retention: Duration) -> Self {
        self.delivery_retention = retention;
        self
    }

    /// Builds the handle and its one HTTP stack.
    ///
    /// # Errors
    /// [`Error::Setup`] when the extra CA certificate is unusable.
    pub fn build(self) -> Result<Bitbucket, Error> {
        let http = Http::new(self.http)?;
        let tokens = Arc::new(TokenManager::new(
            self.store.clone(),
            http.clone(),
            self.tokens,
        ));
        Ok(Bitbucket {
            inner: Arc::new(Inner {
                store: self.store,
                http,
                tokens,
                retry: self.retry,
                budget: self.budget,
                max_body: self.max_body,
                max_pages: self.max_pages,
                delivery_retention: self.delivery_retention,
                account_share: self.account_share,
                budgets: Mutex::new(HashMap::new()),
            }),
        })
    }
}
