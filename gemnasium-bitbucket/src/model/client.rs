use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{ClientSecret, ModelError, ProviderName, Scope, ScopeSet};

/// What an OAuth client is used for. One client per provider and purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    /// Signs users in (needs `account`; `email` too for sign-up).
    Login,
    /// Lists users' repositories and installs webhooks (needs `repository` and `webhook`).
    Sync,
}

impl Purpose {
    /// Both purposes.
    pub const ALL: [Purpose; 2] = [Purpose::Login, Purpose::Sync];

    /// `login` or `sync`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Login => "login",
            Purpose::Sync => "sync",
        }
    }

    /// Scopes without which this purpose cannot work at all.
    #[must_use]
    pub fn required_scopes(self) -> ScopeSet {
        match self {
            Purpose::Login => ScopeSet::from([Scope::Account]),
            Purpose::Sync => ScopeSet::from([Scope::Repository, Scope::Webhook]),
        }
    }

    /// The scopes we recommend ticking: the required ones, plus `email` for login so that new
    /// users can sign up with a confirmed address.
    #[must_use]
    pub fn recommended_scopes(self) -> ScopeSet {
        match self {
            Purpose::Login => ScopeSet::from([Scope::Account, Scope::Email]),
            Purpose::Sync => self.required_scopes(),
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Purpose {
    type Err = ModelError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Purpose::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(value))
            .ok_or_else(|| ModelError::UnknownPurpose {
                value: value.to_owned(),
            })
    }
}

/// An OAuth consumer key (`client_id`). Public: it appears in authorization URLs.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientKey(String);

impl ClientKey {
    /// The key as a string slice.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ClientKey {
    type Err = ModelError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let fail = |reason: &str| ModelError::InvalidClientKey {
            reason: reason.to_owned(),
        };
        if value.is_empty() {
            return Err(fail(
                "it is empty; copy the Key from the consumer's page on Bitbucket",
            ));
        }
        if value.len() > 256 {
            return Err(fail("it is longer than 256 characters"));
        }
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(fail(
                "it contains white space or control characters; copy it again",
            ));
        }
        Ok(Self(value.to_owned()))
    }
}

impl TryFrom<String> for ClientKey {
    type Error = ModelError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<ClientKey> for String {
    fn from(key: ClientKey) -> Self {
        key.0
    }
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An OAuth client: a Bitbucket consumer's key and secret recorded for one purpose.
///
/// `scopes` mirrors the boxes ticked on the consumer: Bitbucket grants those, whatever we ask.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    /// The provider this consumer belongs to.
    pub provider: ProviderName,
    /// What the client is used for.
    pub purpose: Purpose,
    /// The consumer's key.
    pub key: ClientKey,
    /// The consumer's secret.
    pub secret: ClientSecret,
    /// The permissions ticked on the consumer.
    pub scopes: ScopeSet,
}

impl Client {
    /// Required scopes of the purpose that `scopes` does not cover.
    #[must_use]
    pub fn missing_scopes(&self) -> ScopeSet {
        self.scopes.missing(&self.purpose.required_scopes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_parse() {
        assert_eq!("login".parse::<Purpose>().unwrap(), Purpose::Login);
        assert_eq!("SYNC".parse::<Purpose>().unwrap(), Purpose::Sync);
        let e = "signin".parse::<Purpose>().unwrap_err().to_string();
        assert!(e.contains("use `login`"), "{e}");
    }

    #[test]
    fn missing_scopes_follow_the_purpose() {
        let client = Client {
            provider: "bitbucket.org".parse().unwrap(),
            purpose: Purpose::Sync,
            key: "k".parse().unwrap(),
            secret: ClientSecret::new("s").unwrap(),
            scopes: "repository:write".parse().unwrap(),
        };
        assert_eq!(client.missing_scopes().to_string(), "webhook");
        assert!(!format!("{client:?}").contains("\"s\""));
    }

    #[test]
    fn keys_reject_whitespace() {
        assert!("abc DEF".parse::<ClientKey>().is_err());
        assert!("".parse::<ClientKey>().is_err());
        assert_eq!("AbC123".parse::<ClientKey>().unwrap().as_str(), "AbC123");
    }
}
