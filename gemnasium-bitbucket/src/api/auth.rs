//! How requests are authenticated. The api layer knows only this trait and the header it
//! yields; the kinds of credentials (a stored account's OAuth token, a consumer's
//! client-credentials token, access tokens, API tokens) implement it elsewhere.

use std::fmt;

use async_trait::async_trait;
use thiserror::Error;

use crate::model::{AccessToken, SecretText};

/// The `Authorization` header value of a request.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Authorization {
    /// `Bearer <token>`: OAuth tokens and repository/project/workspace access tokens.
    Bearer(AccessToken),
    /// `Basic <user:password>`: API tokens (the Atlassian account email and the token).
    Basic {
        /// The user name (an email address for API tokens).
        username: String,
        /// The password (the API token).
        password: SecretText,
    },
}

impl fmt::Debug for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Authorization::Bearer(_) => f.write_str("Bearer([redacted])"),
            Authorization::Basic { username, .. } => {
                write!(f, "Basic({username}:[redacted])")
            }
        }
    }
}

impl Authorization {
    pub(crate) fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Authorization::Bearer(token) => request.bearer_auth(token.expose_secret()),
            Authorization::Basic { username, password } => {
                request.basic_auth(username, Some(password.expose_secret()))
            }
        }
    }
}

/// How Bitbucket worded a 401.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// Clearly expired ("Access token expired", "OAuth2 access token expired"): renewing helps.
    Expired,
    /// "Token is invalid, expired, or not supported for this endpoint.": expired only if the
    /// credential is at or near its expiry; otherwise invalid or the wrong kind for the endpoint.
    Ambiguous,
    /// Anything else: the credential is not accepted.
    Invalid,
}

impl Rejection {
    /// Classifies a 401's message.
    #[must_use]
    pub fn of(message: &str) -> Self {
        let lower = message.to_ascii_lowercase();
        if !lower.contains("expired") {
            Rejection::Invalid
        } else if lower.contains("invalid") || lower.contains("not supported") {
            Rejection::Ambiguous
        } else {
            Rejection::Expired
        }
    }
}

/// Why no credential could be had. The kind says what to do; the source is the underlying
/// error (an OAuth or store error), kept for callers that want it.
#[derive(Debug, Error)]
#[error("{message}")]
pub struct AuthError {
    kind: AuthErrorKind,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// What an [`AuthError`] means for the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthErrorKind {
    /// The credential is dead or absent: someone must authorize again or store a new one.
    Reauthorize,
    /// The credential service (token endpoint, store) failed; trying later may work.
    Unavailable,
    /// The set-up is wrong (no client, consumer not private, …).
    Configuration,
}

impl AuthError {
    /// An error of `kind` saying `message`, caused by `source`.
    pub fn new(
        kind: AuthErrorKind,
        message: impl Into<String>,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            kind,
            message: message.into(),
            source,
        }
    }

    /// An error wrapping `source`, worded as it is.
    pub fn from_error<E: std::error::Error + Send + Sync + 'static>(
        kind: AuthErrorKind,
        source: E,
    ) -> Self {
        Self {
            kind,
            message: source.to_string(),
            source: Some(Box::new(source)),
        }
    }

    /// What it means.
    #[must_use]
    pub fn kind(&self) -> AuthErrorKind {
        self.kind
    }
}

/// Supplies the `Authorization` of requests, and a renewed one after a 401.
#[async_trait]
pub trait Auth: Send + Sync {
    /// The authorization to send.
    async fn authorization(&self) -> Result<Authorization, AuthError>;

    /// Bitbucket answered 401 (worded as `rejection`) to `rejected`. Returns the authorization
    /// to retry with once, or `None` when renewing cannot help (the 401 then stands).
    async fn renew(
        &self,
        rejected: &Authorization,
        rejection: Rejection,
    ) -> Result<Option<Authorization>, AuthError>;
}

/// A fixed bearer token (tests, short scripts): a 401 cannot be recovered from.
#[derive(Debug, Clone)]
pub struct StaticToken(pub AccessToken);

#[async_trait]
impl Auth for StaticToken {
    async fn authorization(&self) -> Result<Authorization, AuthError> {
        Ok(Authorization::Bearer(self.0.clone()))
    }

    async fn renew(
        &self,
        _rejected: &Authorization,
        _rejection: Rejection,
    ) -> Result<Option<Authorization>, AuthError> {
        Ok(None)
    }
}

/// A fixed authorization of any kind: an access token (`Bearer`) or an API token (`Basic`).
/// Neither kind can be renewed, so a 401 stands: someone must store a new credential.
#[derive(Debug, Clone)]
pub struct StaticAuthorization(pub Authorization);

#[async_trait]
impl Auth for StaticAuthorization {
    async fn authorization(&self) -> Result<Authorization, AuthError> {
        Ok(self.0.clone())
    }

    async fn renew(
        &self,
        _rejected: &Authorization,
        _rejection: Rejection,
    ) -> Result<Option<Authorization>, AuthError> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_by_wording() {
        for expired in [
            "Access token expired. Use your refresh token to obtain a new access token.",
            "OAuth2 access token expired. Use your refresh token to obtain a new access token.",
        ] {
            assert_eq!(Rejection::of(expired), Rejection::Expired, "{expired}");
        }
        assert_eq!(
            Rejection::of("Token is invalid, expired, or not supported for this endpoint."),
            Rejection::Ambiguous
        );
        assert_eq!(Rejection::of("Bad credentials"), Rejection::Invalid);
        assert_eq!(
            Rejection::of("Token is invalid or not supported for this endpoint."),
            Rejection::Invalid
        );
    }

    #[test]
    fn authorizations_never_print_secrets() {
        let bearer = Authorization::Bearer(AccessToken::new("tok-123").unwrap());
        let basic = Authorization::Basic {
            username: "jane@example.com".into(),
            password: SecretText::new("api-tok-456").unwrap(),
        };
        let shown = format!("{bearer:?} {basic:?}");
        assert!(
            !shown.contains("tok-123") && !shown.contains("api-tok-456"),
            "{shown}"
        );
        assert!(shown.contains("jane@example.com"));
    }
}
