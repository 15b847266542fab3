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

impl Purpose {
    /// The scope policy: what `scopes` lack for this purpose, and what they make likely to fail.
    #[must_use]
    pub fn review(self, scopes: &ScopeSet) -> ScopeReview {
        let mut notes = Vec::new();
        match self {
            Purpose::Login if !scopes.contains(Scope::Email) => {
                notes.push(ScopeNote::NoEmailForSignUp)
            }
            Purpose::Sync
                if !scopes
                    .closure(super::Implications::Documented)
                    .contains(Scope::Account) =>
            {
                notes.push(ScopeNote::NoAccountForWorkspaces);
            }
            _ => {}
        }
        if !scopes.obsolete().is_empty() {
            notes.push(ScopeNote::Obsolete(scopes.obsolete()));
        }
        ScopeReview {
            purpose: self,
            missing: scopes.missing(&self.required_scopes()),
            notes,
        }
    }
}

/// What the scope policy found for one purpose: missing required scopes (the client cannot
/// work) and notes (it works, but something will likely bite).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScopeReview {
    /// The purpose reviewed.
    pub purpose: Purpose,
    /// Required scopes not covered.
    pub missing: ScopeSet,
    /// Warnings.
    pub notes: Vec<ScopeNote>,
}

impl ScopeReview {
    /// Whether every required scope is covered.
    #[must_use]
    pub fn covers_purpose(&self) -> bool {
        self.missing.is_empty()
    }

    /// The consumer-form checkboxes that grant the missing scopes.
    #[must_use]
    pub fn missing_boxes(&self) -> Vec<&'static str> {
        self.missing.iter().map(Scope::checkbox).collect()
    }
}

/// A warning of the scope policy.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScopeNote {
    /// A login client without `email`: new users cannot sign up (`/2.0/user` has no address).
    NoEmailForSignUp,
    /// A sync client without `account`: `/2.0/user/workspaces` may be refused with 403.
    NoAccountForWorkspaces,
    /// Scopes Bitbucket removed (Issues, Wikis): harmless, but nothing grants them any more.
    Obsolete(ScopeSet),
}

impl fmt::Display for ScopeNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopeNote::NoEmailForSignUp => f.write_str("no `email` scope: new users cannot sign up (Bitbucket's /2.0/user has no address); tick Account: Email on the consumer and add `email`"),
            ScopeNote::NoAccountForWorkspaces => f.write_str("no `account` scope: listing workspaces (/2.0/user/workspaces) may be refused with 403; tick Account: Read on the consumer and add `account` if sync reports missing scopes"),
            ScopeNote::Obsolete(scopes) => write!(f, "scopes {scopes} were removed by Bitbucket (Issues and Wikis, 20 Aug 2026); untick them and drop them from the client"),
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
#[non_exhaustive]
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
    /// A client of `provider`'s consumer `key`/`secret` for `purpose`, with the ticked `scopes`.
    #[must_use]
    pub fn new(
        provider: ProviderName,
        purpose: Purpose,
        key: ClientKey,
        secret: ClientSecret,
        scopes: ScopeSet,
    ) -> Self {
        Self {
            provider,
            purpose,
            key,
            secret,
            scopes,
        }
    }

    /// What the scope policy says of this client's scopes.
    #[must_use]
    pub fn scope_review(&self) -> ScopeReview {
        self.purpose.review(&self.scopes)
    }

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
        let client = Client::new(
            "bitbucket.org".parse().unwrap(),
            Purpose::Sync,
            "k".parse().unwrap(),
            ClientSecret::new("s").unwrap(),
            "repository:write".parse().unwrap(),
        );
        assert_eq!(client.missing_scopes().to_string(), "webhook");
        assert!(!format!("{client:?}").contains("\"s\""));
    }

    #[test]
    fn the_scope_policy_reviews_each_purpose() {
        let review = Purpose::Login.review(&"account".parse().unwrap());
        assert!(review.covers_purpose());
        assert_eq!(review.notes, [ScopeNote::NoEmailForSignUp]);
        let review = Purpose::Sync.review(&"repository,issue".parse().unwrap());
        assert_eq!(review.missing.to_string(), "webhook");
        assert_eq!(review.missing_boxes(), ["Webhooks: Read and write"]);
        assert_eq!(
            review.notes,
            [
                ScopeNote::NoAccountForWorkspaces,
                ScopeNote::Obsolete("issue".parse().unwrap())
            ]
        );
    }

    #[test]
    fn keys_reject_whitespace() {
        assert!("abc DEF".parse::<ClientKey>().is_err());
        assert!("".parse::<ClientKey>().is_err());
        assert_eq!("AbC123".parse::<ClientKey>().unwrap().as_str(), "AbC123");
    }
}
