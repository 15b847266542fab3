//! Bitbucket OAuth: the authorization URL, code exchange, refresh with rotating refresh tokens,
//! consumer verification, the signed-in identity, and the credentials REST calls use.
//!
//! Every URL comes from the stored [`Provider`](crate::model::Provider), so tests point them at
//! a local server (see `MockBitbucket` behind the `testing` feature). Most users go through the
//! [`Bitbucket`](crate::Bitbucket) handle instead of these pieces.

mod authorize;
mod credentials;
mod error;
mod grant;
mod identity;
mod tokens;
mod verify;

pub use self::authorize::{begin_authorization, PendingAuthorization, PendingParts};
pub use self::credentials::{ConsumerToken, ManagedToken};
pub use self::error::OAuthError;
pub use self::identity::{fetch_identity, Identity};
pub use self::tokens::{IdleOutcome, IdleRefresh, TokenManager, TokenSettings};
pub use self::verify::{verify_consumer, Check, Verification};

/// A client-credentials token for `client` (private consumers only; it has no refresh token).
///
/// # Errors
/// [`OAuthError::NotPrivateConsumer`] and the other token-endpoint refusals.
pub async fn client_credentials_token(
    http: &crate::api::Http,
    provider: &crate::model::Provider,
    client: &crate::model::Client,
) -> Result<crate::model::TokenSet, OAuthError> {
    grant::client_credentials(http, provider, client).await
}

#[cfg(feature = "testing")]
#[cfg(feature = "testing")]
pub(crate) use self::grant::parse_token_response;
