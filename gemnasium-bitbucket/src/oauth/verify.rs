//! Checking a consumer's key and secret without a user and without needing a private consumer.
//!
//! An exchange of a made-up authorization code is refused with `unauthorized_client` only when
//! the credentials are wrong, and with "No callback uri defined" when the consumer has no
//! callback; any other refusal means the credentials are good (other clients rely on this;
//! Atlassian does not document it). A client-credentials request then tells whether the
//! consumer is private and, if so, which scopes it grants.

use serde::Serialize;

use super::error::OAuthError;
use super::grant::{client_credentials, exchange_code};
use crate::model::{Client, Provider, ScopeSet};

/// A three-way verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Checked and good.
    Yes,
    /// Checked and bad.
    No,
    /// Could not be told.
    Unknown,
}

/// What verification found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// `Some(reason)` when Bitbucket could not be reached: nothing else is known.
    pub unreachable: Option<String>,
    /// Whether Bitbucket accepted the key and secret.
    pub credentials_valid: Verdict,
    /// Whether the consumer has a callback URL.
    pub callback_set: Verdict,
    /// Whether the consumer is private (only known when client credentials were tried).
    pub private: Verdict,
    /// Scopes a client-credentials token got (private consumers only).
    pub granted: Option<ScopeSet>,
    /// Required scopes of the client's purpose that `granted` lacks.
    pub missing: Option<ScopeSet>,
}

impl Verification {
    /// Whether anything is known to be wrong.
    #[must_use]
    pub fn has_problems(&self) -> bool {
        self.credentials_valid == Verdict::No
            || self.callback_set == Verdict::No
            || self.missing.as_ref().is_some_and(|m| !m.is_empty())
    }
}

/// Verifies `client`'s consumer at `provider`'s token endpoint. Never fails: what cannot be
/// told is [`Verdict::Unknown`], and an unreachable host is reported, not raised.
pub async fn verify_consumer(
    http: &reqwest::Client,
    provider: &Provider,
    client: &Client,
    redirect_uri: &str,
) -> Verification {
    let mut v = Verification {
        unreachable: None,
        credentials_valid: Verdict::Unknown,
        callback_set: Verdict::Unknown,
        private: Verdict::Unknown,
        granted: None,
        missing: None,
    };
    let probe = exchange_code(
        http,
        provider,
        client,
        redirect_uri,
        "gemnasium-bitbucket-verification-not-a-real-code",
        None,
    )
    .await;
    match probe {
        Err(OAuthError::Unreachable { reason, .. }) => {
            v.unreachable = Some(reason);
            return v;
        }
        Err(OAuthError::InvalidCredentials | OAuthError::NoClientAuthentication) => {
            v.credentials_valid = Verdict::No;
            return v;
        }
        Err(OAuthError::NoCallbackUrl) => {
            v.credentials_valid = Verdict::Yes;
            v.callback_set = Verdict::No;
        }
        Err(OAuthError::Malformed { .. }) => {}
        // Any other refusal of a made-up code: the consumer authenticated fine.
        Ok(_) | Err(_) => {
            v.credentials_valid = Verdict::Yes;
            v.callback_set = Verdict::Yes;
        }
    }
    match client_credentials(http, provider, client).await {
        Ok(tokens) => {
            v.private = Verdict::Yes;
            v.missing = Some(tokens.scopes.missing(&client.purpose.required_scopes()));
            v.granted = Some(tokens.scopes);
        }
        Err(OAuthError::NotPrivateConsumer) => v.private = Verdict::No,
        Err(OAuthError::NoCallbackUrl) => v.callback_set = Verdict::No,
        Err(_) => {}
    }
    v
}
