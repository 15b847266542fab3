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
