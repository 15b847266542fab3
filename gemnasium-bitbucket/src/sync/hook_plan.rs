//! Deciding what to do with a repository's webhooks, without doing it.
//!
//! Bitbucket accepts any number of identical subscriptions and each one delivers, so a re-sync
//! that blindly creates hooks multiplies deliveries. The plan: find ours by normalised URL, keep
//! the oldest, delete the other copies, create one if there is none, and update ours only when it
//! differs (events, active flag) or when its secret is unknown to us. Bitbucket never returns a
//! secret, so a rotation happens only when `secret_set` is false or we hold no secret for it.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use url::Url;

use crate::model::HookRecord;

/// A webhook subscription as Bitbucket lists it (`webhook_subscription`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Hook {
    /// Bitbucket's id, with braces.
    pub uuid: String,
    /// Delivery URL.
    pub url: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Whether it delivers.
    #[serde(default)]
    pub active: bool,
    /// Subscribed event keys.
    #[serde(default)]
    pub events: Vec<String>,
    /// Whether a secret is set (the secret itself is never returned).
    #[serde(default)]
    pub secret_set: bool,
    /// Creation time, used to keep the oldest of duplicates.
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
}

/// The hook a tracked repository should have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredHook {
    /// Where Gemnasium receives deliveries.
    pub url: Url,
    /// Event keys, such as `repo:push`.
    pub events: BTreeSet<String>,
    /// Description shown on Bitbucket.
    pub description: String,
}

impl DesiredHook {
    /// A hook delivering `events` to `url`, described as `gemnasium`.
    #[must_use]
    pub fn new(url: Url, events: impl IntoIterator<Item = String>) -> Self {
        Self {
            url,
            events: events.into_iter().collect(),
            description: "gemnasium".to_owned(),
        }
    }
}

/// What to do with our hook on one repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HookAction {
    /// There is none: create it (with a new secret).
    Create,
    /// Ours exists but differs: replace it; `rotate_secret` when its secret must be (re)set.
    Update {
        /// The hook to replace.
        uuid: String,
        /// Send a new secret (we do not know the current one, or none is set).
        rotate_secret: bool,
    },
    /// Ours exists as desired; no write.
    Unchanged {
        /// The hook kept.
        uuid: String,
    },
}

/// The full plan for one repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookPlan {
    /// What to do with the hook we keep.
    pub action: HookAction,
    /// Extra copies of ours to delete (never hooks that are not ours).
    pub delete: Vec<String>,
}

impl HookPlan {
    /// How many write requests carrying out the plan takes.
    #[must_use]
    pub fn writes(&self) -> usize {
        usize::from(!matches!(self.action, HookAction::Unchanged { .. })) + self.delete.len()
    }
}

/// `url` reduced to what identifies a delivery target: scheme, host, port (default dropped),
/// path without a trailing `/`, and query.
#[must_use]
pub fn normalize_url(url: &str) -> Option<String> {
    let parsed = Url::parse(url.trim()).ok()?;
    let host = parsed.host_str()?.to_ascii_lowercase();
    let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
    let path = parsed.path().trim_end_matches('/');
    let query = parsed.query().map(|q| format!("?{q}")).unwrap_or_default();
    Some(format!("{}://{host}{port}{path}{query}", parsed.scheme()))
}

/// Plans the writes that leave exactly one hook of ours, as desired. `stored` is the hook record
/// we kept from the last run (with the secret we set), if any.
#[must_use]
pub fn plan_hooks(
    existing: &[Hook],
    desired: &DesiredHook,
    stored: Option<&HookRecord>,
) -> HookPlan {
    let target = normalize_url(desired.url.as_str());
    let mut ours: Vec<&Hook> = existing
        .iter()
        .filter(|h| target.is_some() && normalize_url(&h.url) == target)
        .collect();
    // Oldest first; a hook without a creation time counts as newest; uuid breaks ties stably.
    ours.sort_by(|a, b| {
        (a.created_at.is_none(), a.created_at, &a.uuid).cmp(&(
            b.created_at.is_none(),
            b.created_at,
            &b.uuid,
        ))
    });
    let Some((keep, extra)) = ours.split_first() else {
        return HookPlan {
            action: HookAction::Create,
            delete: Vec::new(),
        };
    };
    let delete = extra.iter().map(|h| h.uuid.clone()).collect();
    let events: BTreeSet<String> = keep.events.iter().cloned().collect();
    let we_know_its_secret = stored.is_some_and(|s| s.uuid == keep.uuid);
    let rotate_secret = !keep.secret_set || !we_know_its_secret;
    let differs = events != desired.events || !keep.active;
    let action = if differs || rotate_secret {
        HookAction::Update {
            uuid: keep.uuid.clone(),
            rotate_secret,
        }
    } else {
        HookAction::Unchanged {
            uuid: keep.uuid.clone(),
        }
    };
    HookPlan { action, delete }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SecretText;

    const OURS: &str = "https://g.example/hooks/bitbucket";

    fn desired() -> DesiredHook {
        DesiredHook::new(Url::parse(OURS).unwrap(), ["repo:push".to_owned()])
    }

    fn hook(uuid: &str, url: &str, created: i64) -> Hook {
        Hook {
            uuid: uuid.to_owned(),
            url: url.to_owned(),
            description: Some("gemnasium".into()),
            active: true,
            events: vec!["repo:push".into()],
            secret_set: true,
            created_at: DateTime::from_timestamp(created, 0),
        }
    }

    fn record(uuid: &str) -> HookRecord {
        HookRecord {
            uuid: uuid.to_owned(),
            url: OURS.to_owned(),
            secret: SecretText::new("s".repeat(40)).unwrap(),
            events: vec!["repo:push".into()],
        }
    }

    #[test]
    fn urls_normalise() {
        let n = |u| normalize_url(u).unwrap();
        assert_eq!(n("https://G.Example:443/hooks/bitbucket/"), n(OURS));
        assert_ne!(n("https://g.example:8443/hooks/bitbucket"), n(OURS));
        assert_ne!(n("http://g.example/hooks/bitbucket"), n(OURS));
        assert_ne!(n("https://g.example/hooks/bitbucket?x=1"), n(OURS));
        assert!(normalize_url("not a url").is_none());
    }

    #[test]
    fn creates_when_none_is_ours() {
        let foreign = hook("{f}", "https://ci.example/hook", 1);
        let plan = plan_hooks(&[foreign], &desired(), None);
        assert_eq!(
            plan,
            HookPlan {
                action: HookAction::Create,
                delete: vec![]
            }
        );
        assert_eq!(plan.writes(), 1);
    }

    #[test]
    fn unchanged_makes_zero_writes() {
        let plan = plan_hooks(&[hook("{a}", OURS, 1)], &desired(), Some(&record("{a}")));
        assert_eq!(plan.action, HookAction::Unchanged { uuid: "{a}".into() });
        assert_eq!(plan.writes(), 0);
    }

    #[test]
    fn keeps_the_oldest_and_deletes_other_copies_but_not_foreign_hooks() {
        let hooks = [
            hook("{new}", "https://g.example/hooks/bitbucket/", 300),
            hook("{foreign}", "https://ci.example/hook", 50),
            hook("{old}", OURS, 100),
            Hook {
                created_at: None,
                ..hook("{undated}", OURS, 0)
            },
        ];
        let plan = plan_hooks(&hooks, &desired(), Some(&record("{old}")));
        assert_eq!(
            plan.action,
            HookAction::Unchanged {
                uuid: "{old}".into()
            }
        );
        assert_eq!(plan.delete, ["{new}", "{undated}"]);
    }

    #[test]
    fn updates_when_events_or_active_differ_keeping_a_known_secret() {
        let mut h = hook("{a}", OURS, 1);
        h.events = vec!["repo:push".into(), "issue:created".into()];
        let plan = plan_hooks(&[h.clone()], &desired(), Some(&record("{a}")));
        assert_eq!(
            plan.action,
            HookAction::Update {
                uuid: "{a}".into(),
                rotate_secret: false
            }
        );
        h.events = vec!["repo:push".into()];
        h.active = false;
        let plan = plan_hooks(&[h], &desired(), Some(&record("{a}")));
        assert_eq!(
            plan.action,
            HookAction::Update {
                uuid: "{a}".into(),
                rotate_secret: false
            }
        );
    }

    #[test]
    fn rotates_the_secret_only_when_unset_or_unknown() {
        let mut h = hook("{a}", OURS, 1);
        h.secret_set = false;
        let plan = plan_hooks(&[h.clone()], &desired(), Some(&record("{a}")));
        assert_eq!(
            plan.action,
            HookAction::Update {
                uuid: "{a}".into(),
                rotate_secret: true
            }
        );
        h.secret_set = true;
        let plan = plan_hooks(&[h.clone()], &desired(), None);
        assert_eq!(
            plan.action,
            HookAction::Update {
                uuid: "{a}".into(),
                rotate_secret: true
            }
        );
        let plan = plan_hooks(&[h], &desired(), Some(&record("{other}")));
        assert_eq!(
            plan.action,
            HookAction::Update {
                uuid: "{a}".into(),
                rotate_secret: true
            }
        );
    }
}

/// A fresh webhook secret: 48 random alphanumeric characters (Bitbucket's limit is unverified,
/// so we stay well under 64).
#[must_use]
pub fn new_hook_secret() -> crate::model::SecretText {
    use rand::distributions::{Alphanumeric, DistString};
    let value = Alphanumeric.sample_string(&mut rand::rngs::OsRng, 48);
    crate::model::SecretText::new(value).expect("48 alphanumeric characters are a valid secret")
}

#[cfg(test)]
mod secret_tests {
    #[test]
    fn hook_secrets_are_random_and_short_enough() {
        let a = super::new_hook_secret();
        let b = super::new_hook_secret();
        assert_eq!(a.expose_secret().len(), 48);
        assert!(a.expose_secret().chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }
}
