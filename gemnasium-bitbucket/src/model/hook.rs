//! What a webhook of ours subscribes to: event keys, validated before any request.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use super::ModelError;

/// The event keys of repository webhooks (Bitbucket's OpenAPI enum), without the `issue:*`
/// keys removed with Issues on 20 Aug 2026.
pub const EVENT_KEYS: &[&str] = &[
    "project:updated",
    "pullrequest:approved",
    "pullrequest:changes_request_created",
    "pullrequest:changes_request_removed",
    "pullrequest:comment_created",
    "pullrequest:comment_deleted",
    "pullrequest:comment_reopened",
    "pullrequest:comment_resolved",
    "pullrequest:comment_updated",
    "pullrequest:created",
    "pullrequest:fulfilled",
    "pullrequest:push",
    "pullrequest:rejected",
    "pullrequest:unapproved",
    "pullrequest:updated",
    "repo:commit_comment_created",
    "repo:commit_status_created",
    "repo:commit_status_updated",
    "repo:created",
    "repo:deleted",
    "repo:fork",
    "repo:imported",
    "repo:push",
    "repo:transfer",
    "repo:updated",
];

const REMOVED_EVENT_KEYS: &[&str] = &["issue:created", "issue:updated", "issue:comment_created"];

/// The events a webhook subscribes to: known keys, each once (Bitbucket refuses a repeated
/// key with 400), in a stable order. Parsed from `repo:push,repo:updated`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct HookEvents(BTreeSet<String>);

impl HookEvents {
    /// `repo:push`: what a dependency monitor needs.
    #[must_use]
    pub fn push() -> Self {
        Self(BTreeSet::from(["repo:push".to_owned()]))
    }

    /// The keys, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        self.0.iter().map(String::as_str)
    }

    /// The keys as a set.
    #[must_use]
    pub fn as_set(&self) -> &BTreeSet<String> {
        &self.0
    }
}

impl FromStr for HookEvents {
    type Err = ModelError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let mut keys = BTreeSet::new();
        for key in value
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|k| !k.is_empty())
        {
            if REMOVED_EVENT_KEYS.contains(&key) {
                return Err(ModelError::UnknownEvent {
                    value: key.to_owned(),
                    reason: "Bitbucket removed Issues (and their events) on 20 Aug 2026".into(),
                });
            }
            if !EVENT_KEYS.contains(&key) {
                return Err(ModelError::UnknownEvent {
                    value: key.to_owned(),
                    reason: format!("known keys: {}", EVENT_KEYS.join(", ")),
                });
            }
            keys.insert(key.to_owned());
        }
        if keys.is_empty() {
            return Err(ModelError::UnknownEvent {
                value: value.to_owned(),
                reason: "no event keys given; use e.g. repo:push,repo:updated".into(),
            });
        }
        Ok(Self(keys))
    }
}

impl fmt::Display for HookEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.iter().collect::<Vec<_>>().join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_known_unique_and_sorted() {
        let events: HookEvents = "repo:updated, repo:push repo:push".parse().unwrap();
        assert_eq!(events.to_string(), "repo:push,repo:updated");
        for bad in ["repo:bogus", "issue:created", "", " , "] {
            assert!(bad.parse::<HookEvents>().is_err(), "{bad:?}");
        }
        let e = "issue:created"
            .parse::<HookEvents>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("removed Issues"), "{e}");
    }
}
