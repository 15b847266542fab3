//! Checking a consumer's key and secret without a user and without needing a private consumer.
//!
//! An exchange of a made-up authorization code is refused with `unauthorized_client` only when
//! the credentials are wrong, and with "No callback uri defined" when the consumer has no
//! callback; a refusal of the code itself (`invalid_grant`, or `invalid_request` about the code)
//! means the credentials are good (other clients rely on this; Atlassian does not document it).
//! Anything else (a server error, an HTML page, a 200 with an error body, an empty body) says
//! nothing: the verdict is unknown, with the reason. A client-credentials request then tells
//! whether the consumer is private and, if so, which scopes it grants.

use serde::Serialize;

use super::error::OAuthError;
use super::grant::{client_credentials, exchange_code};
use crate::api::Http;
use crate::model::{AuthorizationCode, Client, Provider, RedirectUri, ScopeSet};

/// A three-way verdict; what could not be told says why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", content = "reason", rename_all = "lowercase")]
pub enum Check {
    /// Checked and good.
    Yes,
    /// Checked and bad.
    No,
    /// Could not be told, and why.
    Unknown(String),
}

impl Check {
    /// Whether it was told.
    #[must_use]
    pub fn is_known(&self) -> bool {
        !matches!(self, Check::Unknown(_))
    }
}

/// What verification found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Verification {
    /// `Some(reason)` when the token endpoint could not be reached: nothing else is known.
    pub unreachable: Option<String>,
    /// Whether Bitbucket accepted the key and secret.
    pub credentials: Check,
    /// Whether the consumer has a callback URL.
    pub callback: Check,
    /// Whether the consumer is private.
    pub private: Check,
    /// Scopes a client-credentials token got (private consumers only), unknown words included.
    pub granted: Option<ScopeSet>,
    /// Required scopes of the client's purpose that `granted` lacks.
    pub missing: Option<ScopeSet>,
}

impl Verification {
    /// Whether anything is known to be wrong.
    #[must_use]
    pub fn has_problems(&self) -> bool {
        self.credentials == Check::No
            || self.callback == Check::No
            || self.missing.as_ref().is_some_and(|m| !m.is_empty())
    }

    /// Whether every part was told (reachable, credentials, callback, private).
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.unreachable.is_none()
            && self.credentials.is_known()
            && self.callback.is_known()
            && self.private.is_known()
    }

    /// Whether Bitbucket clearly accepted the key and secret and nothing is wrong or unknown.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.is_complete() && !self.has_problems()
    }
}

/// Verifies `client`'s consumer at `provider`'s token endpoint, with `redirect_uri` as the
/// probe's redirect URI. Never fails: what cannot be told is [`Check::Unknown`] with the
/// reason, and an unreachable endpoint is reported, not raised.
pub async fn verify_consumer(
    http: &Http,
    provider: &Provider,
    client: &Client,
    redirect_uri: &RedirectUri,
) -> Verification {
    let unknown = |reason: &str| Check::Unknown(reason.to_owned());
    let mut v = Verification {
        unreachable: None,
        credentials: unknown("not checked"),
        callback: unknown("not checked"),
        private: unknown("not checked"),
        granted: None,
        missing: None,
    };
    let code = AuthorizationCode::new("gemnasium-bitbucket-verification-not-a-real-code")
        .expect("a constant valid code");
    match exchange_code(http, provider, client, redirect_uri, &code, None).await {
        Err(OAuthError::Unreachable { reason, .. }) => {
            v.unreachable = Some(reason);
            return v;
        }
        Err(OAuthError::InvalidCredentials | OAuthError::NoClientAuthentication) => {
            v.credentials = Check::No;
            v.callback = unknown("the credentials were refused first");
            v.private = unknown("the credentials were refused first");
            return v;
        }
        Err(OAuthError::NoCallbackUrl) => {
            v.credentials = Check::Yes;
            v.callback = Check::No;
        }
        // A refusal of the made-up code itself: the consumer authenticated fine.
        Err(OAuthError::CodeRejected { .. } | OAuthError::RedirectMismatch) => {
            v.credentials = Check::Yes;
            v.callback = Check::Yes;
        }
        Err(OAuthError::TokenEndpoint { error, description })
            if error == "invalid_grant" || error == "invalid_request" =>
        {
            let _ = description;
            v.credentials = Check::Yes;
            v.callback = Check::Yes;
        }
        Err(e) => {
            let reason = format!("the token endpoint gave no clear answer ({e})");
            v.credentials = Check::Unknown(reason.clone());
            v.callback = Check::Unknown(reason.clone());
            v.private = Check::Unknown(reason);
            return v;
        }
        Ok(_) => {
            let reason =
                "the token endpoint accepted a made-up code; it does not behave like Bitbucket"
                    .to_owned();
            v.credentials = Check::Unknown(reason.clone());
            v.callback = Check::Unknown(reason.clone());
            v.private = Check::Unknown(reason);
            return v;
        }
    }
    match client_credentials(http, provider, client).await {
        Ok(tokens) => {
            v.private = Check::Yes;
            v.missing = Some(tokens.scopes.missing(&client.purpose.required_scopes()));
            v.granted = Some(tokens.scopes);
        }
        Err(OAuthError::NotPrivateConsumer) => v.private = Check::No,
        Err(OAuthError::NoCallbackUrl) => {
            v.callback = Check::No;
            v.private = unknown("the consumer has no callback URL");
        }
        Err(e) => {
            v.private = Check::Unknown(format!("client credentials gave no clear answer ({e})"))
        }
    }
    v
}
