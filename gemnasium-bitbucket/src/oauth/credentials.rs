//! OAuth credentials as the api layer sees them: each implements [`Auth`].

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;

use super::error::OAuthError;
use super::grant;
use super::tokens::TokenManager;
use crate::api::{Auth, AuthError, Authorization, Http, Rejection};
use crate::model::{Client, Provider, TokenKey, TokenSet};

/// A stored account's token, kept fresh by a [`TokenManager`].
#[derive(Debug, Clone)]
pub struct ManagedToken {
    manager: Arc<TokenManager>,
    key: TokenKey,
}

impl ManagedToken {
    /// The token of `key`, through `manager` (shared: its single-flight covers every client
    /// using it).
    #[must_use]
    pub fn new(manager: Arc<TokenManager>, key: TokenKey) -> Self {
        Self { manager, key }
    }
}

#[async_trait]
impl Auth for ManagedToken {
    async fn authorization(&self) -> Result<Authorization, AuthError> {
        Ok(Authorization::Bearer(
            self.manager.access_token(&self.key).await?,
        ))
    }

    async fn renew(
        &self,
        rejected: &Authorization,
        rejection: Rejection,
    ) -> Result<Option<Authorization>, AuthError> {
        let Authorization::Bearer(token) = rejected else {
            return Ok(None);
        };
        let expired = match rejection {
            Rejection::Expired => true,
            // "Invalid, expired, or not supported": refreshing would spend a refresh-token
            // rotation (and could loop across requests) for nothing unless the token is at or
            // near its expiry.
            Rejection::Ambiguous => self.manager.expires_soon(&self.key).await?,
            _ => false,
        };
        if !expired {
            return Ok(None);
        }
        Ok(Some(Authorization::Bearer(
            self.manager.after_expired(&self.key, token).await?,
        )))
    }
}

/// The consumer itself (client-credentials grant of a private consumer): no user, no refresh
/// token; an expired token is replaced by running the grant again.
pub struct ConsumerToken {
    http: Http,
    provider: Provider,
    client: Client,
    current: tokio::sync::Mutex<Option<TokenSet>>,
}

impl std::fmt::Debug for ConsumerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerToken")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

/// A client-credentials token is replaced this long before it expires.
const MARGIN_MINUTES: i64 = 5;

impl ConsumerToken {
    /// Tokens for `client` of `provider`, fetched on first use.
    #[must_use]
    pub fn new(http: Http, provider: Provider, client: Client) -> Self {
        Self {
            http,
            provider,
            client,
            current: tokio::sync::Mutex::new(None),
        }
    }

    async fn grant(&self, replace: Option<&Authorization>) -> Result<Authorization, OAuthError> {
        let mut current = self.current.lock().await;
        let now = Utc::now();
        if let Some(tokens) = current.as_ref() {
            let fresh = !tokens.expires_within(now, chrono::Duration::minutes(MARGIN_MINUTES));
            let ours = Authorization::Bearer(tokens.access_token.clone());
            if fresh && replace.is_none_or(|old| *old != ours) {
                return Ok(ours);
            }
        }
        let tokens = grant::client_credentials(&self.http, &self.provider, &self.client).await?;
        let access = Authorization::Bearer(tokens.access_token.clone());
        *current = Some(tokens);
        Ok(access)
    }
}

#[async_trait]
impl Auth for ConsumerToken {
    async fn authorization(&self) -> Result<Authorization, AuthError> {
        Ok(self.grant(None).await?)
    }

    async fn renew(
        &self,
        rejected: &Authorization,
        rejection: Rejection,
    ) -> Result<Option<Authorization>, AuthError> {
        let near_expiry = self.current.lock().await.as_ref().is_none_or(|t| {
            t.expires_within(Utc::now(), chrono::Duration::minutes(MARGIN_MINUTES))
        });
        match rejection {
            Rejection::Expired => Ok(Some(self.grant(Some(rejected)).await?)),
            Rejection::Ambiguous if near_expiry => Ok(Some(self.grant(Some(rejected)).await?)),
            _ => Ok(None),
        }
    }
}
