use thiserror::Error;

use crate::model::{ModelError, Scope, ScopeSet};
use crate::store::StoreError;

/// Why an OAuth step or an authenticated call failed. Messages say what to do; they never
/// contain a secret, an authorization code or a token.
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
    #[error("the consumer is not private, so it cannot use the client-credentials grant; tick \"This is a private consumer\" or sign in as a user (`auth login`)")]
    NotPrivateConsumer,
    /// The `redirect_uri` of the exchange differs from the one sent to `/authorize`.
    #[error("Bitbucket says redirect_uri does not match the one used to authorize; use the same callback URL for both")]
    RedirectMismatch,
    /// The refresh token is dead (rotated, expired after ~3 months unused, or revoked).
    #[error("Bitbucket refused the refresh token ({description}); the account must authorize again with `auth login`")]
    RefreshTokenRejected {
        /// Bitbucket's description.
        description: String,
    },
    /// The authorization code was refused (expired, used, or for another redirect URI).
    #[error("Bitbucket refused the authorization code ({description}); start `auth login` again and paste the new callback URL quickly")]
    CodeRejected {
        /// Bitbucket's description.
        description: String,
    },
    /// Any other token-endpoint error.
    #[error("the token endpoint answered `{error}`: {description}")]
    TokenEndpoint {
        /// The OAuth `error` code.
        error: String,
        /// Bitbucket's description.
        description: String,
    },
    /// The user refused access on Bitbucket's consent page.
    #[error(
        "access was denied on Bitbucket's consent page; sign in again and choose Grant access"
    )]
    AccessDenied,
    /// The callback's `state` is not the one we sent: a stale or forged callback.
    #[error("the callback's state does not match this sign-in; start again (this protects against forged callbacks)")]
    StateMismatch,
    /// The pasted text holds no authorization code.
    #[error("no authorization code found; paste the whole URL Bitbucket redirected to (it contains `code=`)")]
    MissingCode,
    /// The callback carried another OAuth error.
    #[error("Bitbucket returned `{error}` to the callback: {description}")]
    Callback {
        /// The OAuth `error` code.
        error: String,
        /// Its description.
        description: String,
    },
    /// The access token expired (REST 401 "…expired…").
    #[error("the access token expired; it must be refreshed")]
    TokenExpired,
    /// The access token is not valid for this call (REST 401 otherwise).
    #[error("Bitbucket refused the access token ({message}); the account must authorize again with `auth login`")]
    TokenInvalid {
        /// Bitbucket's message.
        message: String,
    },
    /// The consumer lacks scopes (REST 403 with `detail.granted/required`).
    #[error("the consumer lacks scopes: granted {granted}, required {required}; tick {} on the consumer (then sign in again)", checkboxes(required))]
    MissingScopes {
        /// What the token has.
        granted: ScopeSet,
        /// What the call needs.
        required: ScopeSet,
    },
    /// Forbidden for another reason (the user's permissions).
    #[error("Bitbucket refused: {message}")]
    Forbidden {
        /// Bitbucket's message.
        message: String,
    },
    /// An unexpected HTTP status.
    #[error("Bitbucket answered HTTP {status}: {message}")]
    Http {
        /// The status code.
        status: u16,
        /// Bitbucket's message or a short excerpt.
        message: String,
    },
    /// A response we could not read.
    #[error("unexpected response from Bitbucket ({what}): {excerpt}")]
    Malformed {
        /// What was being read.
        what: &'static str,
        /// A short, sanitised excerpt (withheld when it might hold a token).
        excerpt: String,
    },
    /// Bitbucket could not be reached.
    #[error("cannot reach Bitbucket at {url}: {reason}")]
    Unreachable {
        /// The URL, without query.
        url: String,
        /// Connection error, timeout, …
        reason: String,
    },
    /// A response pointed at an origin other than the configured one; nothing was sent there.
    #[error("refusing to send a token to {url}: it is not the configured Bitbucket API origin {expected}")]
    ForeignOrigin {
        /// The refused URL.
        url: String,
        /// The configured origin.
        expected: String,
    },
    /// The stored token needs the user to authorize again.
    #[error("the token of {account} needs re-authorization ({reason}); the account owner runs `auth login {provider} {purpose}`")]
    NeedsReauth {
        /// Provider name.
        provider: String,
        /// Purpose.
        purpose: String,
        /// Account display.
        account: String,
        /// Why.
        reason: String,
    },
    /// Nothing stored for this account and client.
    #[error("no stored token for {0}; the account owner runs `auth login` first")]
    NoToken(String),
    /// The client to use is not configured.
    #[error("no {purpose} client for provider {provider}; create it with `auth clients create {provider} {purpose} KEY SECRET SCOPES`")]
    NoClient {
        /// Provider name.
        provider: String,
        /// Purpose.
        purpose: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A value from Bitbucket failed validation.
    #[error("Bitbucket returned an invalid value: {0}")]
    Model(#[from] ModelError),
}

fn checkboxes(scopes: &ScopeSet) -> String {
    let boxes: Vec<_> = scopes.iter().map(Scope::checkbox).collect();
    if boxes.is_empty() {
        "the boxes Bitbucket names".to_owned()
    } else {
        boxes.join(", ")
    }
}

/// A short, single-line excerpt of a response body; withheld when it may hold a token.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if text.contains("access_token") || text.contains("refresh_token") {
        return "(body withheld: it may contain tokens)".to_owned();
    }
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let clean = clean.split_whitespace().collect::<Vec<_>>().join(" ");
    if clean.chars().count() > 200 {
        format!("{}…", clean.chars().take(200).collect::<String>())
    } else if clean.is_empty() {
        "(empty body)".to_owned()
    } else {
        clean
    }
}
