use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{AccessToken, AccountUuid, ModelError, ProviderName, Purpose, RefreshToken, ScopeSet};

/// Who a stored token belongs to, as Bitbucket's `/2.0/user` described them when it was saved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    /// Stable key.
    pub uuid: AccountUuid,
    /// Atlassian-wide account id, when known.
    pub account_id: Option<String>,
    /// Mutable display data.
    pub nickname: Option<String>,
    /// Mutable display data.
    pub display_name: Option<String>,
}

/// Identifies one stored token: an account's grant to one client.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TokenKey {
    /// The provider the client belongs to.
    pub provider: ProviderName,
    /// The client's purpose.
    pub purpose: Purpose,
    /// The account that authorized the client.
    pub account: AccountUuid,
}

/// Whether a stored token can still be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenState {
    /// Usable, possibly after a refresh.
    Active,
    /// The refresh token was refused: the user must authorize again.
    NeedsReauth,
}

impl TokenState {
    /// `active` or `needs_reauth`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            TokenState::Active => "active",
            TokenState::NeedsReauth => "needs_reauth",
        }
    }
}

impl fmt::Display for TokenState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TokenState {
    type Err = ModelError;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "active" => Ok(TokenState::Active),
            "needs_reauth" => Ok(TokenState::NeedsReauth),
            _ => Err(ModelError::UnknownTokenState {
                value: value.to_owned(),
            }),
        }
    }
}

/// What a token endpoint granted: kept together because Bitbucket rotates refresh tokens, so the
/// access and refresh token must always be stored as one unit.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct TokenSet {
    /// The bearer token for API calls.
    pub access_token: AccessToken,
    /// The token to get the next access token; none for client-credentials grants.
    pub refresh_token: Option<RefreshToken>,
    /// When `access_token` stops working, from `expires_in`.
    pub expires_at: Option<DateTime<Utc>>,
    /// What the token was granted (the consumer's ticked boxes).
    pub scopes: ScopeSet,
}

impl TokenSet {
    /// Whether the access token expires within `margin` of `now` (or already has).
    #[must_use]
    pub fn expires_within(&self, now: DateTime<Utc>, margin: chrono::Duration) -> bool {
        self.expires_at.is_some_and(|at| at - margin <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_margin() {
        let now = Utc::now();
        let tokens = TokenSet {
            access_token: AccessToken::new("a").unwrap(),
            refresh_token: None,
            expires_at: Some(now + chrono::Duration::minutes(4)),
            scopes: ScopeSet::new(),
        };
        assert!(tokens.expires_within(now, chrono::Duration::minutes(5)));
        assert!(!tokens.expires_within(now, chrono::Duration::minutes(3)));
        assert!(format!("{tokens:?}").contains("[redacted]"));
    }
}
