//! Where the bearer token comes from.

use std::sync::Arc;

use async_trait::async_trait;

use super::ApiError;
use crate::model::{AccessToken, TokenKey};
use crate::oauth::TokenManager;

/// Supplies the bearer token, and a new one after a 401 "expired".
#[async_trait]
pub trait BearerAuth: Send + Sync {
    /// The token to send.
    async fn token(&self) -> Result<AccessToken, ApiError>;
    /// A new token after Bitbucket said `rejected` expired.
    async fn refresh(&self, rejected: &AccessToken) -> Result<AccessToken, ApiError>;
}

/// A fixed token (tests, short scripts): a 401 cannot be recovered from.
#[derive(Debug, Clone)]
pub struct StaticToken(pub AccessToken);

#[async_trait]
impl BearerAuth for StaticToken {
    async fn token(&self) -> Result<AccessToken, ApiError> {
        Ok(self.0.clone())
    }

    async fn refresh(&self, _rejected: &AccessToken) -> Result<AccessToken, ApiError> {
        Err(ApiError::Unauthorized {
            message: "the access token expired and this client cannot refresh it".to_owned(),
        })
    }
}

/// A stored account's token, kept fresh by a [`TokenManager`].
#[derive(Debug, Clone)]
pub struct ManagedToken {
    /// The manager (shared: its single-flight covers every client using it).
    pub manager: Arc<TokenManager>,
    /// Whose token.
    pub key: TokenKey,
}

#[async_trait]
impl BearerAuth for ManagedToken {
    async fn token(&self) -> Result<AccessToken, ApiError> {
        Ok(self.manager.access_token(&self.key).await?)
    }

    async fn refresh(&self, rejected: &AccessToken) -> Result<AccessToken, ApiError> {
        Ok(self.manager.after_expired(&self.key, rejected).await?)
    }
}

/// The consumer itself (client-credentials grant of a private consumer): no user, no refresh
/// token; an expired token is replaced by running the grant again.
pub struct ConsumerToken {
    http: reqwest::Client,
    provider: crate::model::Provider,
    client: crate::model::Client,
    current: tokio::sync::Mutex<Option<crate::model::TokenSet>>,
}

impl std::fmt::Debug for ConsumerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerToken")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl ConsumerToken {
    /// Tokens for `client` of `provider`, fetched on first use.
    #[must_use]
    pub fn new(
        http: reqwest::Client,
        provider: crate::model::Provider,
        client: crate::model::Client,
    ) -> Self {
        Self {
            http,
            provider,
            client,
            current: tokio::sync::Mutex::new(None),
        }
    }

    async fn grant(&self, replace: Option<&AccessToken>) -> Result<AccessToken, ApiError> {
        let mut current = self.current.lock().await;
        let now = chrono::Utc::now();
        if let Some(tokens) = current.as_ref() {
            let fresh = !tokens.expires_within(now, chrono::Duration::minutes(5));
            if fresh && replace.is_none_or(|old| *old != tokens.access_token) {
                return Ok(tokens.access_token.clone());
            }
        }
        let tokens =
            crate::oauth::client_credentials_token(&self.http, &self.provider, &self.client)
                .await?;
        let access = tokens.access_token.clone();
        *current = Some(tokens);
        Ok(access)
    }
}

#[async_trait]
impl BearerAuth for ConsumerToken {
    async fn token(&self) -> Result<AccessToken, ApiError> {
        self.grant(None).await
    }

    async fn refresh(&self, rejected: &AccessToken) -> Result<AccessToken, ApiError> {
        self.grant(Some(rejected)).await
    }
}
