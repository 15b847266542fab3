use thiserror::Error;

use crate::model::{Scope, ScopeSet};
use crate::oauth::OAuthError;
use crate::sync::{RemoteError, RemoteErrorKind};

/// Why a REST call failed, after retries. Never contains a token.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The token was refused (and refreshing did not help).
    #[error("Bitbucket refused the access token: {message}; the account must authorize again (`auth login`)")]
    Unauthorized {
        /// Bitbucket's message.
        message: String,
    },
    /// The consumer lacks scopes for this endpoint.
    #[error("the consumer lacks scopes: granted {granted}, required {required}; tick {boxes} on the consumer, then sign in again")]
    MissingScopes {
        /// Granted scopes.
        granted: ScopeSet,
        /// Required scopes.
        required: ScopeSet,
        /// The consumer checkboxes to tick.
        boxes: String,
    },
    /// The account lacks permission (for hooks: admin on the repository).
    #[error("Bitbucket refused: {message} (the account needs more permission here)")]
    Forbidden {
        /// Bitbucket's message.
        message: String,
    },
    /// Not found, or private and invisible to the account.
    #[error("not found: {message}")]
    NotFound {
        /// Bitbucket's message.
        message: String,
    },
    /// A removed endpoint (410): a bug in this program, not in your set-up.
    #[error("Bitbucket retired this endpoint ({message}){}; please report this bug", announcement.as_ref().map(|a| format!(", see {a}")).unwrap_or_default())]
    Retired {
        /// Bitbucket's message.
        message: String,
        /// The changelog entry, when given.
        announcement: Option<String>,
    },
    /// Refused as malformed (400).
    #[error("Bitbucket refused the request: {message}")]
    BadRequest {
        /// Bitbucket's message.
        message: String,
    },
    /// Still rate limited after every retry.
    #[error(
        "Bitbucket's rate limit is exhausted (429 after {attempts} attempts); try again later"
    )]
    RateLimited {
        /// Attempts made.
        attempts: u32,
    },
    /// Server errors after every retry.
    #[error("Bitbucket answered HTTP {status} after {attempts} attempts: {message}")]
    Server {
        /// The last status.
        status: u16,
        /// Attempts made.
        attempts: u32,
        /// The last message.
        message: String,
    },
    /// Network failure after every retry.
    #[error("cannot reach Bitbucket after {attempts} attempts: {reason}")]
    Network {
        /// Attempts made.
        attempts: u32,
        /// The last error.
        reason: String,
    },
    /// A response we cannot read.
    #[error("unexpected response from Bitbucket (HTTP {status}, {content_type}): {excerpt}")]
    Malformed {
        /// Status code.
        status: u16,
        /// Content type.
        content_type: String,
        /// A short sanitised excerpt, or the parse error.
        excerpt: String,
    },
    /// A body larger than the configured maximum.
    #[error("Bitbucket's response is larger than {limit} bytes; refusing to read it")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// A URL (such as a `next` link) on another origin: no request was made.
    #[error("refusing to send the token to {url}: not the configured API origin {expected}")]
    ForeignOrigin {
        /// The refused URL (no query).
        url: String,
        /// The configured origin.
        expected: String,
    },
    /// A `next` link seen before: the listing would never end.
    #[error("pagination loops: Bitbucket sent the same next link twice ({url})")]
    PageLoop {
        /// The repeated link (no query).
        url: String,
    },
    /// More pages than the configured bound.
    #[error(
        "more than {max} pages; stopping (raise the page bound if this account is that large)"
    )]
    TooManyPages {
        /// The bound.
        max: usize,
    },
    /// The HTTP client could not be set up (a bad CA certificate, TLS settings).
    #[error("cannot set up the HTTP client: {reason}")]
    Setup {
        /// What was wrong and what to check.
        reason: String,
    },
    /// Getting a token failed.
    #[error(transparent)]
    Auth(#[from] OAuthError),
}

pub(crate) fn boxes(scopes: &ScopeSet) -> String {
    let boxes: Vec<_> = scopes.iter().map(Scope::checkbox).collect();
    if boxes.is_empty() {
        "the boxes Bitbucket names".to_owned()
    } else {
        boxes.join(", ")
    }
}

impl ApiError {
    /// How the sync engine should treat it.
    #[must_use]
    pub fn kind(&self) -> RemoteErrorKind {
        match self {
            ApiError::Forbidden { .. } => RemoteErrorKind::PermissionDenied,
            ApiError::MissingScopes { .. } => RemoteErrorKind::MissingScopes,
            ApiError::NotFound { .. } => RemoteErrorKind::NotFound,
            ApiError::RateLimited { .. } => RemoteErrorKind::RateLimited,
            ApiError::Unauthorized { .. }
            | ApiError::Auth(OAuthError::NeedsReauth { .. } | OAuthError::NoToken(_)) => {
                RemoteErrorKind::Unauthorized
            }
            ApiError::Retired { .. } => RemoteErrorKind::Retired,
            _ => RemoteErrorKind::Other,
        }
    }
}

impl From<ApiError> for RemoteError {
    fn from(e: ApiError) -> Self {
        RemoteError::new(e.kind(), e.to_string())
    }
}
