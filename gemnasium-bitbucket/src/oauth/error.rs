use thiserror::Error;

use crate::api::{ApiError, AuthError, AuthErrorKind};
use crate::model::{ModelError, Purpose, TokenKey};
use crate::store::StoreError;

/// Why an OAuth step failed: the token endpoint, a sign-in's callback, or a stored token's
/// lifecycle. Messages say what happened and what to do, in neutral words (no command names);
/// they never contain a secret, an authorization code or a token.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OAuthError {
    /// Bitbucket refused the consumer key and secret (`unauthorized_client`/`invalid_client`).
    #[error("Bitbucket refused the consumer key and secret (Invalid OAuth client credentials); copy both again from the consumer's page and update the client")]
    InvalidCredentials,
    /// The request carried no client authentication.
    #[error("Bitbucket says the request was not authenticated with the consumer's credentials")]
    NoClientAuthentication,
    /// The consumer has no callback URL, so Bitbucket refuses every exchange.
    #[error("the Bitbucket consumer has no callback URL; edit the consumer and set it to {{homepage}}/auth/auth/bitbucket.org")]
    NoCallbackUrl,
    /// `client_credentials` on a consumer that is not private.
    #[error("the consumer is not private, so it cannot use the client-credentials grant; tick \"This is a private consumer\" on Bitbucket, or sync with a signed-in account")]
    NotPrivateConsumer,
    /// The `redirect_uri` of the exchange differs from the one sent to `/authorize`.
    #[error("Bitbucket says redirect_uri does not match the one used to authorize; use the same callback URL for both")]
    RedirectMismatch,
    /// The refresh token is dead (rotated, expired after ~3 months unused, or revoked).
    #[error(
        "Bitbucket refused the refresh token ({description}); the account must authorize again"
    )]
    RefreshTokenRejected {
        /// Bitbucket's description.
        description: String,
    },
    /// The authorization code was refused (expired, used, or for another redirect URI).
    #[error("Bitbucket refused the authorization code ({description}); start the sign-in again and finish it quickly")]
    CodeRejected {
        /// Bitbucket's description.
        description: String,
    },
    /// Any other OAuth error the token endpoint answered.
    #[error("the token endpoint answered `{error}`: {description}")]
    TokenEndpoint {
        /// The OAuth `error` code.
        error: String,
        /// Bitbucket's description.
        description: String,
    },
    /// The token endpoint answered a status that is not an OAuth answer (a 5xx, a redirect).
    #[error("the token endpoint answered HTTP {status}, not an OAuth response: {excerpt}")]
    TokenEndpointStatus {
        /// The HTTP status.
        status: u16,
        /// A short, sanitised excerpt of the body.
        excerpt: String,
    },
    /// A token response we could not read.
    #[error("unexpected answer from the token endpoint: {excerpt}")]
    TokenResponse {
        /// A short, sanitised excerpt (withheld when it might hold a token).
        excerpt: String,
    },
    /// The token endpoint could not be reached.
    #[error("cannot reach Bitbucket's token endpoint at {url}: {reason}")]
    Unreachable {
        /// The URL, without query.
        url: String,
        /// Connection error, timeout, …
        reason: String,
    },
    /// The user refused access on Bitbucket's consent page.
    #[error(
        "access was denied on Bitbucket's consent page; sign in again and choose Grant access"
    )]
    AccessDenied,
    /// The callback's `state` is not the one of this sign-in: a stale, replayed or forged
    /// callback.
    #[error("the callback's state does not match this sign-in; start again (this protects against forged callbacks)")]
    StateMismatch,
    /// The callback is not on the redirect URI this sign-in sent to Bitbucket.
    #[error("the callback is not on this sign-in's redirect URI ({expected}); nothing was sent to Bitbucket")]
    WrongRedirect {
        /// The redirect URI that was sent.
        expected: String,
    },
    /// The callback holds no authorization code.
    #[error("no authorization code found; give the whole URL Bitbucket redirected to (it contains `code=`), or the code alone")]
    MissingCode,
    /// The callback carried another OAuth error.
    #[error("Bitbucket returned `{error}` to the callback: {description}")]
    Callback {
        /// The OAuth `error` code.
        error: String,
        /// Its description.
        description: String,
    },
    /// The stored token needs its account to authorize again.
    #[error("the {} token of {account} needs re-authorization ({reason}); the account owner must sign in again", key.purpose)]
    NeedsReauth {
        /// Whose token.
        key: TokenKey,
        /// The account, as shown to people.
        account: String,
        /// Why.
        reason: String,
    },
    /// Nothing is stored for this account and client.
    #[error("no stored {} token of account {} for {}; the account owner must sign in first", .0.purpose, .0.account, .0.provider)]
    NoToken(TokenKey),
    /// The client to use is not configured.
    #[error("no {purpose} client is configured for provider {provider}")]
    NoClient {
        /// Provider name.
        provider: String,
        /// Purpose.
        purpose: Purpose,
    },
    /// Another process held the refresh lease for too long.
    #[error("another process kept the right to refresh this token for too long; try again")]
    LeaseTimeout,
    /// A REST call of the flow (identity, workspaces) failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A value from Bitbucket failed validation.
    #[error("Bitbucket returned an invalid value: {0}")]
    Model(#[from] ModelError),
}

impl OAuthError {
    /// What this error means for a request that needed a credential.
    #[must_use]
    pub fn auth_kind(&self) -> AuthErrorKind {
        match self {
            OAuthError::InvalidCredentials
            | OAuthError::NeedsReauth { .. }
            | OAuthError::NoToken(_)
            | OAuthError::RefreshTokenRejected { .. } => AuthErrorKind::Reauthorize,
            OAuthError::NoClient { .. }
            | OAuthError::NotPrivateConsumer
            | OAuthError::NoCallbackUrl
            | OAuthError::NoClientAuthentication => AuthErrorKind::Configuration,
            _ => AuthErrorKind::Unavailable,
        }
    }
}

impl From<OAuthError> for AuthError {
    fn from(e: OAuthError) -> Self {
        AuthError::from_error(e.auth_kind(), e)
    }
}
