use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{AccessToken, ModelError, ProviderName, Purpose, RefreshToken, ScopeSet};

macro_rules! bitbucket_uuid {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The UUID with braces, as Bitbucket writes it.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = ModelError;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                let inner = value
                    .strip_prefix('{')
                    .and_then(|v| v.strip_suffix('}'))
                    .unwrap_or(value);
                let valid = !inner.is_empty()
                    && inner.len() <= 64
                    && inner.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
                if valid {
                    // Accept the bare form users may paste; keep the braced form Bitbucket returns.
                    Ok(Self(format!("{{{}}}", inner.to_ascii_lowercase())))
                } else {
                    Err(ModelError::InvalidUuid {
                        what: $what,
                        value: value.to_owned(),
                    })
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = ModelError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                value.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

bitbucket_uuid!(
    /// A Bitbucket account's stable identifier: its `uuid`, braces included (`{6b7f…}`).
    ///
    /// Usernames were dropped by Bitbucket and nicknames change; this is the key for accounts.
    AccountUuid,
    "account"
);

bitbucket_uuid!(
    /// A Bitbucket repository's stable identifier (`{…}`); names and slugs can change.
    RepoUuid,
    "repository"
);

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
    /// The refresh token was refused: the user must authorize again (`auth login`).
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
    fn account_uuids_are_braced_and_lowercase() {
        let id: AccountUuid = "{D301AAFA-1234-4e5f-8a9b-0123456789ab}".parse().unwrap();
        assert_eq!(id.as_str(), "{d301aafa-1234-4e5f-8a9b-0123456789ab}");
        let bare: AccountUuid = "d301aafa-1234-4e5f-8a9b-0123456789ab".parse().unwrap();
        assert_eq!(bare, id);
        assert!("jdoe".parse::<AccountUuid>().is_err());
        assert!("{}".parse::<AccountUuid>().is_err());
    }

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
