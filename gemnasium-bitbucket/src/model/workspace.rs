//! Workspace slugs, and the set of workspaces a provider limits sign-in to.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::ModelError;

/// A workspace's slug (its "workspace ID"), such as `acme`: what URLs and the API use.
///
/// Bitbucket makes slugs of lowercase letters, digits, `-` and `_` (older ones may hold a `.`);
/// input is folded to lowercase because Bitbucket compares slugs without case.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WorkspaceSlug(String);

impl WorkspaceSlug {
    /// The slug as a string slice.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for WorkspaceSlug {
    type Err = ModelError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let fail = |reason: &str| ModelError::InvalidWorkspace {
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        let slug = value.trim().to_ascii_lowercase();
        if slug.is_empty() {
            return Err(fail(
                "it is empty; give the workspace ID shown in its URL, such as `acme` in bitbucket.org/acme",
            ));
        }
        if slug.len() > 100 {
            return Err(fail("it is longer than 100 characters"));
        }
        if slug.contains('/') {
            return Err(fail(
                "it is a workspace ID, not a URL or a repository; give only the first part, such as `acme`",
            ));
        }
        if let Some(bad) = slug.chars().find(|c| {
            !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
        }) {
            return Err(fail(&format!(
                "character {bad:?} is not allowed; use a-z, 0-9, `-`, `_` and `.`"
            )));
        }
        Ok(Self(slug))
    }
}

impl TryFrom<String> for WorkspaceSlug {
    type Error = ModelError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<WorkspaceSlug> for String {
    fn from(slug: WorkspaceSlug) -> Self {
        slug.0
    }
}

impl fmt::Display for WorkspaceSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The workspaces whose members may sign in; empty means anyone with a Bitbucket account.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WorkspaceSet(BTreeSet<WorkspaceSlug>);

impl WorkspaceSet {
    /// No limit: anyone with a Bitbucket account.
    #[must_use]
    pub fn anyone() -> Self {
        Self::default()
    }

    /// Whether there is no limit.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The slugs, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &WorkspaceSlug> {
        self.0.iter()
    }

    /// Whether `slug` (as Bitbucket sent it, any case) is one of them.
    #[must_use]
    pub fn contains_slug(&self, slug: &str) -> bool {
        slug.parse::<WorkspaceSlug>()
            .is_ok_and(|s| self.0.contains(&s))
    }

    /// The slugs joined by commas (`""` when empty): how stores keep them.
    #[must_use]
    pub fn to_list(&self) -> String {
        self.0
            .iter()
            .map(WorkspaceSlug::as_str)
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl FromIterator<WorkspaceSlug> for WorkspaceSet {
    fn from_iter<I: IntoIterator<Item = WorkspaceSlug>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl FromStr for WorkspaceSet {
    type Err = ModelError;

    /// Slugs separated by commas or spaces; an empty string is the empty set.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        value
            .split([',', ' '])
            .filter(|s| !s.trim().is_empty())
            .map(str::parse)
            .collect()
    }
}

impl fmt::Display for WorkspaceSet {
    /// `acme, beta`, or `any workspace` when empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("any workspace");
        }
        f.write_str(
            &self
                .0
                .iter()
                .map(WorkspaceSlug::as_str)
                .collect::<Vec<_>>()
                .join(", "),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_folded_and_checked() {
        assert_eq!("Acme".parse::<WorkspaceSlug>().unwrap().as_str(), "acme");
        assert_eq!(
            "my_team-2".parse::<WorkspaceSlug>().unwrap().as_str(),
            "my_team-2"
        );
        for (bad, why) in [
            ("", "empty"),
            ("acme/repo", "not a URL or a repository"),
            ("https://bitbucket.org/acme", "not a URL"),
            ("ac me", "not allowed"),
        ] {
            let e = bad.parse::<WorkspaceSlug>().unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn sets_parse_round_trip_and_match_any_case() {
        let set: WorkspaceSet = "beta, acme,beta".parse().unwrap();
        assert_eq!(set.to_list(), "acme,beta");
        assert_eq!(set.to_string(), "acme, beta");
        assert!(set.contains_slug("ACME"));
        assert!(!set.contains_slug("gamma"));
        let empty: WorkspaceSet = "".parse().unwrap();
        assert!(empty.is_empty());
        assert_eq!(empty.to_string(), "any workspace");
        assert_eq!(set.to_list().parse::<WorkspaceSet>().unwrap(), set);
    }
}
