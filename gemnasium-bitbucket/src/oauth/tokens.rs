//! Keeping stored tokens usable.
//!
//! Bitbucket rotates refresh tokens: each refresh returns a new one and the old one dies. So a
//! refresh token must be spent exactly once, and its successor stored before anyone uses the new
//! access token:
//! - within a process, callers needing the same account share one refresh (single-flight);
//! - across processes sharing a store, the refresher first claims a lease by compare-and-swap;
//!   the others wait for its result instead of spending the same token;
//! - a refused refresh token puts the account in `needs_reauth`, visibly, with no retry loop.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::error::OAuthError;
use super::grant;
use crate::api::Http;
use crate::model::{AccessToken, TokenKey, TokenState};
use crate::store::{DynStore, StoredToken, Swap};

/// Timing of the token lifecycle.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TokenSettings {
    /// Refresh this long before the access token expires.
    pub refresh_margin: chrono::Duration,
    /// How long a refresher may hold the lease before others may take over.
    pub lease: chrono::Duration,
    /// How often a waiting process looks for the lease holder's result.
    pub poll: Duration,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            refresh_margin: chrono::Duration::minutes(5),
            lease: chrono::Duration::seconds(30),
            poll: Duration::from_millis(100),
        }
    }
}

/// Why a refresh is wanted; decides whether a token someone else just stored will do.
#[derive(Clone, Debug)]
enum Need {
    /// Only if the stored token expires within the margin.
    Expiring,
    /// The API refused this access token as expired.
    Rejected(AccessToken),
    /// Refreshed no later than this (keeps idle refresh tokens alive).
    RefreshedBefore(DateTime<Utc>),
}

/// Hands out usable access tokens for stored accounts, refreshing them as needed.
pub struct TokenManager {
    store: DynStore,
    http: Http,
    settings: TokenSettings,
    flights: Mutex<HashMap<TokenKey, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManager")
            .field("store", &self.store.location())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// What [`TokenManager::refresh_idle`] did to one token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct IdleRefresh {
    /// The token.
    pub key: TokenKey,
    /// What happened.
    pub outcome: IdleOutcome,
}

/// What happened to one idle token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum IdleOutcome {
    /// Refreshed: its refresh token was spent and the new one stored.
    Refreshed,
    /// Left alone: the account must authorize again first.
    SkippedNeedsReauth,
    /// Left alone: it has no refresh token (client credentials).
    SkippedNoRefreshToken,
    /// Left alone: refreshed or authorized recently.
    SkippedRecent,
    /// The refresh failed, and why.
    Failed(String),
}

impl IdleOutcome {
    /// Whether the refresh failed.
    #[must_use]
    pub fn failed(&self) -> bool {
        matches!(self, IdleOutcome::Failed(_))
    }
}

impl std::fmt::Display for IdleOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdleOutcome::Refreshed => f.write_str("refreshed"),
            IdleOutcome::SkippedNeedsReauth => f.write_str("skipped: needs re-authorization"),
            IdleOutcome::SkippedNoRefreshToken => f.write_str("skipped: no refresh token"),
            IdleOutcome::SkippedRecent => f.write_str("skipped: recently used"),
            IdleOutcome::Failed(reason) => write!(f, "failed: {reason}"),
        }
    }
}

impl TokenManager {
    /// A manager over `store`, using `http` for the token endpoint.
    #[must_use]
    pub fn new(store: DynStore, http: Http, settings: TokenSettings) -> Self {
        Self {
            store,
            http,
            settings,
            flights: Mutex::new(HashMap::new()),
        }
    }

    /// A usable access token for `key`, refreshed first if it expires within the margin.
    ///
    /// # Errors
    /// [`OAuthError::NoToken`], [`OAuthError::NeedsReauth`], or the refresh's failure.
    pub async fn access_token(&self, key: &TokenKey) -> Result<AccessToken, OAuthError> {
        let stored = self.load(key).await?;
        usable(&stored)?;
        if !stored
            .tokens
            .expires_within(Utc::now(), self.settings.refresh_margin)
        {
            return Ok(stored.tokens.access_token);
        }
        self.refresh(key, Need::Expiring).await
    }

    /// A new access token after the API answered 401 "expired" to `rejected`. If another caller
    /// already replaced it, that token is returned without a second refresh.
    ///
    /// # Errors
    /// As [`access_token`](Self::access_token).
    pub async fn after_expired(
        &self,
        key: &TokenKey,
        rejected: &AccessToken,
    ) -> Result<AccessToken, OAuthError> {
        self.refresh(key, Need::Rejected(rejected.clone())).await
    }

    /// Whether the stored token for `key` expires within the refresh margin (or has): only then
    /// is an ambiguous 401 ("invalid, expired, or not supported") taken as "expired".
    ///
    /// # Errors
    /// [`OAuthError::NoToken`] or the store's failure.
    pub async fn expires_soon(&self, key: &TokenKey) -> Result<bool, OAuthError> {
        let stored = self.load(key).await?;
        Ok(stored
            .tokens
            .expires_within(Utc::now(), self.settings.refresh_margin))
    }

    /// Refreshes every active token not refreshed (or authorized) within `older_than`, so that
    /// Bitbucket does not expire refresh tokens left unused for about three months.
    ///
    /// # Errors
    /// Only when the store cannot be read; per-token failures are in the report.
    pub async fn refresh_idle(
        &self,
        older_than: chrono::Duration,
    ) -> Result<Vec<IdleRefresh>, OAuthError> {
        let cutoff = Utc::now() - older_than;
        let mut report = Vec::new();
        for stored in self.store.tokens(None).await? {
            let last = stored.refreshed_at.unwrap_or(stored.created_at);
            let outcome = if stored.state == TokenState::NeedsReauth {
                IdleOutcome::SkippedNeedsReauth
            } else if stored.tokens.refresh_token.is_none() {
                IdleOutcome::SkippedNoRefreshToken
            } else if last > cutoff {
                IdleOutcome::SkippedRecent
            } else {
                match self
                    .refresh(&stored.key, Need::RefreshedBefore(cutoff))
                    .await
                {
                    Ok(_) => IdleOutcome::Refreshed,
                    Err(e) => IdleOutcome::Failed(e.to_string()),
                }
            };
            report.push(IdleRefresh {
                key: stored.key,
                outcome,
            });
        }
        Ok(report)
    }

    async fn load(&self, key: &TokenKey) -> Result<StoredToken, OAuthError> {
        self.store
            .token(key)
            .await?
            .ok_or_else(|| OAuthError::NoToken(key.clone()))
    }

    fn flight(&self, key: &TokenKey) -> Arc<tokio::sync::Mutex<()>> {
        let mut flights = self
            .flights
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        flights.entry(key.clone()).or_default().clone()
    }

    async fn refresh(&self, key: &TokenKey, need: Need) -> Result<AccessToken, OAuthError> {
        let flight = self.flight(key);
        let _one_refresh_per_account = flight.lock().await;
        // Bounded: a lease runs out after `settings.lease`, so this many polls always suffice.
        let max_polls = 4
            + (self.settings.lease.num_milliseconds().max(0) as u128
                / self.settings.poll.as_millis().max(1)) as usize;
        for _ in 0..max_polls {
            let stored = self.load(key).await?;
            usable(&stored)?;
            let now = Utc::now();
            let done = match &need {
                Need::Expiring => !stored
                    .tokens
                    .expires_within(now, self.settings.refresh_margin),
                Need::Rejected(old) => stored.tokens.access_token != *old,
                Need::RefreshedBefore(cutoff) => {
                    stored.refreshed_at.unwrap_or(stored.created_at) > *cutoff
                }
            };
            if done {
                return Ok(stored.tokens.access_token);
            }
            if stored.lease_until.is_some_and(|until| until > now) {
                tokio::time::sleep(self.settings.poll).await;
                continue;
            }
            match self
                .store
                .claim_refresh(key, stored.version, now, now + self.settings.lease)
                .await?
            {
                Swap::Swapped(claimed) => return self.spend(key, claimed).await,
                Swap::Stale(_) => continue,
            }
        }
        Err(OAuthError::LeaseTimeout)
    }

    /// Spends the claimed token's refresh token (or re-runs client credentials) and stores the
    /// result before returning the access token.
    async fn spend(&self, key: &TokenKey, claimed: StoredToken) -> Result<AccessToken, OAuthError> {
        let no_client = || OAuthError::NoClient {
            provider: key.provider.to_string(),
            purpose: key.purpose,
        };
        let provider = self
            .store
            .provider(&key.provider)
            .await?
            .ok_or_else(no_client)?;
        let client = self
            .store
            .client(&key.provider, key.purpose)
            .await?
            .ok_or_else(no_client)?;
        let result = match &claimed.tokens.refresh_token {
            Some(rt) => grant::refresh(&self.http, &provider, &client, rt, &claimed.tokens).await,
            None => grant::client_credentials(&self.http, &provider, &client).await,
        };
        match result {
            Ok(tokens) => match self.store.swap_token(key, claimed.version, &tokens).await? {
                Swap::Swapped(stored) => Ok(stored.tokens.access_token),
                // Our lease ran out and someone else wrote meanwhile; ours are still fresh.
                Swap::Stale(_) => Ok(tokens.access_token),
            },
            Err(e @ (OAuthError::RefreshTokenRejected { .. } | OAuthError::InvalidCredentials)) => {
                let reason = e.to_string();
                let _ = self
                    .store
                    .mark_needs_reauth(key, claimed.version, &reason)
                    .await?;
                Err(needs_reauth(&claimed, &reason))
            }
            Err(e) => {
                let _ = self.store.release_refresh(key, claimed.version).await?;
                Err(e)
            }
        }
    }
}

fn needs_reauth(stored: &StoredToken, reason: &str) -> OAuthError {
    OAuthError::NeedsReauth {
        key: stored.key.clone(),
        account: stored
            .account
            .nickname
            .clone()
            .unwrap_or_else(|| stored.key.account.to_string()),
        reason: reason.to_owned(),
    }
}

fn usable(stored: &StoredToken) -> Result<(), OAuthError> {
    match stored.state {
        TokenState::Active => Ok(()),
        TokenState::NeedsReauth => Err(needs_reauth(
            stored,
            stored
                .last_error
                .as_deref()
                .unwrap_or("refresh token refused"),
        )),
    }
}
