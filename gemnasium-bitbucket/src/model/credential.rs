//! Stored sync credentials that are not OAuth grants: workspace/project/repository access tokens
//! and API tokens (facts §10, "Credential kinds for sync"). Each kind has its own header, its own
//! identity probe and its own scope family, so each is a variant of one type rather than a
//! stretched OAuth token.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{AccountUuid, ModelError, ProviderName, ScopeSet, SecretText, WorkspaceSlug};

/// The name an operator gives a stored credential, such as `ci-bot` or `acme-access-token`:
/// 1 to 64 characters of `a-z`, `0-9`, `-`, `_` and `.`, starting with a letter or digit.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CredentialName(String);

impl CredentialName {
    /// The name as a string slice.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for CredentialName {
    type Err = ModelError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let fail = |reason: &str| ModelError::InvalidCredentialName {
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        if value.is_empty() {
            return Err(fail("it is empty; use a short name such as `ci-bot`"));
        }
        if value.len() > 64 {
            return Err(fail("it is longer than 64 characters"));
        }
        if let Some(bad) = value.chars().find(|c| {
            !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
        }) {
            return Err(fail(&format!(
                "character {bad:?} is not allowed; use a-z, 0-9, `-`, `_` and `.`"
            )));
        }
        if !value.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(fail("it must start with a letter or a digit"));
        }
        Ok(Self(value.to_owned()))
    }
}

impl TryFrom<String> for CredentialName {
    type Error = ModelError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<CredentialName> for String {
    fn from(name: CredentialName) -> Self {
        name.0
    }
}

impl fmt::Display for CredentialName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One scope word of the API-token family (`read:repository:bitbucket`,
/// `write:webhook:bitbucket`, …): `ACTION:RESOURCE:bitbucket`, kept verbatim. Unlike OAuth
/// [`Scope`](super::Scope)s, nothing implies anything here, so words are only ever compared for
/// equality; resources this library does not know are kept, never dropped.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ApiScope(String);

impl ApiScope {
    /// The word.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A word known to be valid (the constants below).
    fn known(word: &str) -> Self {
        Self(word.to_owned())
    }

    /// `read:user:bitbucket`: `GET /2.0/user`, an API token's identity probe.
    #[must_use]
    pub fn read_user() -> Self {
        Self::known("read:user:bitbucket")
    }

    /// `read:workspace:bitbucket`: `GET /2.0/user/workspaces`.
    #[must_use]
    pub fn read_workspace() -> Self {
        Self::known("read:workspace:bitbucket")
    }

    /// `read:repository:bitbucket`: repository listings.
    #[must_use]
    pub fn read_repository() -> Self {
        Self::known("read:repository:bitbucket")
    }

    /// `read:webhook:bitbucket`: listing a repository's webhooks.
    #[must_use]
    pub fn read_webhook() -> Self {
        Self::known("read:webhook:bitbucket")
    }

    /// `write:webhook:bitbucket`: creating and updating webhooks.
    #[must_use]
    pub fn write_webhook() -> Self {
        Self::known("write:webhook:bitbucket")
    }

    /// `delete:webhook:bitbucket`: removing webhooks.
    #[must_use]
    pub fn delete_webhook() -> Self {
        Self::known("delete:webhook:bitbucket")
    }
}

impl FromStr for ApiScope {
    type Err = ModelError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let fail = |reason: &str| ModelError::InvalidApiScope {
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        let parts: Vec<&str> = value.split(':').collect();
        let well_formed = parts.len() == 3
            && parts.iter().all(|p| {
                !p.is_empty()
                    && p.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'
                    })
            });
        if !well_formed || parts[2] != "bitbucket" {
            let hint = if value.parse::<super::Scope>().is_ok() {
                "it is an OAuth scope; API tokens use the long form such as `read:repository:bitbucket`"
            } else {
                "API-token scopes have the form ACTION:RESOURCE:bitbucket, such as `read:repository:bitbucket`"
            };
            return Err(fail(hint));
        }
        Ok(Self(value.to_owned()))
    }
}

impl TryFrom<String> for ApiScope {
    type Error = ModelError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<ApiScope> for String {
    fn from(scope: ApiScope) -> Self {
        scope.0
    }
}

impl fmt::Display for ApiScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A set of [`ApiScope`]s, separate from the OAuth [`ScopeSet`]: parsed from words separated by
/// commas and/or spaces, printed sorted and comma-separated.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiScopeSet(BTreeSet<ApiScope>);

impl ApiScopeSet {
    /// The empty set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// What a sync needs of an API token: identity, workspaces, repositories, and webhooks
    /// (read, write, delete).
    #[must_use]
    pub fn for_sync() -> Self {
        [
            ApiScope::read_user(),
            ApiScope::read_workspace(),
            ApiScope::read_repository(),
            ApiScope::read_webhook(),
            ApiScope::write_webhook(),
            ApiScope::delete_webhook(),
        ]
        .into_iter()
        .collect()
    }

    /// Adds `scope`.
    pub fn insert(&mut self, scope: ApiScope) {
        self.0.insert(scope);
    }

    /// Whether `scope` is in the set (exactly: nothing implies anything in this family).
    #[must_use]
    pub fn contains(&self, scope: &ApiScope) -> bool {
        self.0.contains(scope)
    }

    /// The words of `required` not in the set.
    #[must_use]
    pub fn missing(&self, required: &ApiScopeSet) -> Vec<ApiScope> {
        required.0.difference(&self.0).cloned().collect()
    }

    /// The words, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &ApiScope> {
        self.0.iter()
    }

    /// Whether the set is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<ApiScope> for ApiScopeSet {
    fn from_iter<I: IntoIterator<Item = ApiScope>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl FromStr for ApiScopeSet {
    type Err = ModelError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        value
            .split([',', ' '])
            .filter(|w| !w.is_empty())
            .map(str::parse)
            .collect()
    }
}

impl fmt::Display for ApiScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<&str> = self.0.iter().map(ApiScope::as_str).collect();
        f.write_str(&words.join(","))
    }
}

/// What kind of credential, with what binds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum CredentialKind {
    /// A workspace, project or repository access token: `Authorization: Bearer`, bound to one
    /// workspace, probed with `GET /2.0/workspaces/{slug}` (Bitbucket refuses `/2.0/user` to
    /// it), and synced without `/2.0/user/workspaces`.
    AccessToken {
        /// The workspace it belongs to.
        workspace: WorkspaceSlug,
    },
    /// A personal API token: HTTP Basic with the Atlassian account's email and the token,
    /// probed with `GET /2.0/user`.
    ApiToken {
        /// The Atlassian account's email address (the Basic user name).
        email: String,
        /// The one workspace it was limited to, when it was.
        workspace: Option<WorkspaceSlug>,
    },
}

impl CredentialKind {
    /// `access_token` or `api_token`.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            CredentialKind::AccessToken { .. } => "access_token",
            CredentialKind::ApiToken { .. } => "api_token",
        }
    }
}

/// Scopes of a stored credential, in its own family.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "family", content = "scopes", rename_all = "snake_case")]
#[non_exhaustive]
pub enum CredentialScopes {
    /// OAuth-family words (access tokens).
    OAuth(ScopeSet),
    /// API-token words.
    Api(ApiScopeSet),
}

impl fmt::Display for CredentialScopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialScopes::OAuth(scopes) => write!(f, "{scopes}"),
            CredentialScopes::Api(scopes) => write!(f, "{scopes}"),
        }
    }
}

/// Whether a stored credential (of any kind) is about to stop working.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Expiry {
    /// No known expiry within the warning period.
    Fine,
    /// Expires within the warning period.
    Soon,
    /// Has expired.
    Expired,
    /// Its expiry is not known (Bitbucket does not report it; it was not given).
    Unknown,
}

impl Expiry {
    /// How `expires_at` looks at `now`, warning `warn_within` ahead (the library's doctor uses
    /// [`EXPIRY_WARNING`](crate::store::EXPIRY_WARNING), 14 days).
    #[must_use]
    pub fn of(
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        warn_within: chrono::Duration,
    ) -> Self {
        match expires_at {
            None => Expiry::Unknown,
            Some(at) if at <= now => Expiry::Expired,
            Some(at) if at - warn_within <= now => Expiry::Soon,
            Some(_) => Expiry::Fine,
        }
    }
}

/// A stored sync credential.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredCredential {
    /// The provider (and source) it syncs.
    pub provider: ProviderName,
    /// Its name, unique per provider.
    pub name: CredentialName,
    /// Its kind, with what binds it.
    pub kind: CredentialKind,
    /// The token itself (encrypted at rest when the store has a key).
    pub secret: SecretText,
    /// The scopes it was shown to hold when it was added.
    pub scopes: CredentialScopes,
    /// Who Bitbucket said it acts as: the user's UUID (API tokens) or the workspace's UUID
    /// (access tokens). Its syncs' listings are recorded under this UUID.
    pub account: AccountUuid,
    /// A readable name for the same: the user's nickname or the workspace slug.
    pub identity: String,
    /// When it stops working, when known (Bitbucket does not report it; the operator does).
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

impl StoredCredential {
    /// A credential to store, created now.
    #[must_use]
    #[allow(clippy::too_many_arguments)] // one field each; a builder would only add noise
    pub fn new(
        provider: ProviderName,
        name: CredentialName,
        kind: CredentialKind,
        secret: SecretText,
        scopes: CredentialScopes,
        account: AccountUuid,
        identity: String,
        expires_at: Option<DateTime<Utc>>,
    ) -> Self {
        Self {
            provider,
            name,
            kind,
            secret,
            scopes,
            account,
            identity,
            expires_at,
            created_at: Utc::now(),
        }
    }

    /// Whether it has expired at `now`.
    #[must_use]
    pub fn expired_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_seen_coming() {
        let now = Utc::now();
        let warn = chrono::Duration::days(14);
        assert_eq!(Expiry::of(None, now, warn), Expiry::Unknown);
        assert_eq!(Expiry::of(Some(now), now, warn), Expiry::Expired);
        let soon = Some(now + chrono::Duration::days(13));
        assert_eq!(Expiry::of(soon, now, warn), Expiry::Soon);
        let later = Some(now + chrono::Duration::days(15));
        assert_eq!(Expiry::of(later, now, warn), Expiry::Fine);
    }

    #[test]
    fn names_are_checked() {
        assert!("ci-bot".parse::<CredentialName>().is_ok());
        assert!("acme.access_1".parse::<CredentialName>().is_ok());
        for bad in ["", "CI", "-x", "a b", "a/b", &"x".repeat(65)] {
            let e = bad.parse::<CredentialName>().unwrap_err().to_string();
            assert!(e.contains("invalid credential name"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn api_scopes_keep_unknown_words_and_refuse_oauth_ones() {
        let set: ApiScopeSet =
            "read:repository:bitbucket, write:webhook:bitbucket read:future-thing:bitbucket"
                .parse()
                .unwrap();
        assert_eq!(
            set.to_string(),
            "read:future-thing:bitbucket,read:repository:bitbucket,write:webhook:bitbucket"
        );
        let e = "repository".parse::<ApiScope>().unwrap_err().to_string();
        assert!(
            e.contains("OAuth scope") && e.contains("read:repository:bitbucket"),
            "{e}"
        );
        assert!("read:repository:github".parse::<ApiScope>().is_err());
        assert!("read::bitbucket".parse::<ApiScope>().is_err());
    }

    #[test]
    fn nothing_implies_anything_among_api_scopes() {
        let set: ApiScopeSet = "write:webhook:bitbucket".parse().unwrap();
        assert!(!set.contains(&ApiScope::read_webhook()));
        assert_eq!(set.missing(&ApiScopeSet::for_sync()).len(), 5);
    }
}
