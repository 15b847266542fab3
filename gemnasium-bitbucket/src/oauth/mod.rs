//! Bitbucket OAuth: callback and redirect URIs, the authorization URL, code exchange, refresh
//! with rotating refresh tokens, consumer verification, and the signed-in identity.
//!
//! Every URL comes from the stored [`Provider`](crate::model::Provider), so tests point them at
//! a local server (see `MockBitbucket` behind the `testing` feature).

mod authorize;
mod error;
mod grant;
mod http;
mod identity;
mod login;
mod rest;
mod tokens;
mod verify;

pub use self::authorize::{begin_authorization, redirect_uri, PendingAuthorization};
pub use self::error::OAuthError;
pub use self::http::http_client;
pub use self::identity::{fetch_identity, Identity};

/// A client-credentials token for `client` (private consumers only; it has no refresh token).
///
/// # Errors
/// [`OAuthError::NotPrivateConsumer`] and the other token-endpoint refusals.
pub async fn client_credentials_token(
    http: &reqwest::Client,
    provider: &crate::model::Provider,
    client: &crate::model::Client,
) -> Result<crate::model::TokenSet, OAuthError> {
    grant::client_credentials(http, provider, client).await
}
pub use self::login::complete_login;
pub use self::tokens::{IdleRefresh, TokenManager, TokenSettings};
pub use self::verify::{verify_consumer, Verdict, Verification};
pub use crate::provision::callback_url;

pub(crate) use self::error::excerpt as excerpt_of;
pub(crate) use self::http::describe as describe_transport;
pub(crate) use self::rest::{parse_envelope, scopes_at};
