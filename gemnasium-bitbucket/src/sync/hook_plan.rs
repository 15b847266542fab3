//! Deciding what to do with a repository's webhooks, without doing it.
//!
//! Bitbucket accepts any number of identical subscriptions and each one delivers, so a re-sync
//! that blindly creates hooks multiplies deliveries. Our hooks are ours by a marker (our
//! installation id in the description), by the uuid we recorded, or by their delivery URL: so
//! a changed hooks URL updates our hook in place instead of leaving one behind. The plan keeps
//! the oldest of ours, deletes the other copies, creates one if there is none, and updates ours
//! only when it differs (URL, events, active flag, marker) or when its secret is unknown to us.
//! Bitbucket never returns a secret, so a rotation happens only when `secret_set` is false or
//! we hold no secret for the hook we keep.

use url::Url;

use crate::api::hooks::Hook;
use crate::model::{HookEvents, HookRecord, HookUuid, ServiceUrl};

/// The hook a tracked repository should have.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DesiredHook {
    /// Where Gemnasium receives deliveries.
    pub url: ServiceUrl,
    /// Event keys, such as `repo:push`.
    pub events: HookEvents,
    /// The marker of our installation, written into the description.
    pub marker: HookMarker,
}

impl DesiredHook {
    /// A hook of installation `marker` delivering `events` to `url`.
    #[must_use]
    pub fn new(url: ServiceUrl, events: HookEvents, marker: HookMarker) -> Self {
        Self {
            url,
            events,
            marker,
        }
    }

    /// The description written on Bitbucket, which carries the marker.
    #[must_use]
    pub fn description(&self) -> String {
        self.marker.description()
    }
}

/// What marks a webhook as ours: this installation's id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HookMarker(String);

impl HookMarker {
    /// The marker of installation `id` (see `Store::installation_id`).
    #[must_use]
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// `Gemnasium (gemnasium-bitbucket <id>)`.
    #[must_use]
    pub fn description(&self) -> String {
        format!("Gemnasium (gemnasium-bitbucket {})", self.0)
    }

    /// Whether `hook` is ours: it carries our marker, is the hook we recorded, or delivers to
    /// the URL we recorded (hooks made before markers existed).
    #[must_use]
    pub fn owns(&self, hook: &Hook, stored: Option<&HookRecord>) -> bool {
        let marked = hook
            .description
            .as_deref()
            .is_some_and(|d| d.contains(&self.0));
        let recorded =
            stored.is_some_and(|s| s.uuid == hook.uuid || same_target(&s.url, &hook.url));
        marked || recorded
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
        uuid: HookUuid,
        /// Send a new secret (we do not know the current one, or none is set).
        rotate_secret: bool,
    },
    /// Ours exists as desired; no write.
    Unchanged {
        /// The hook kept.
        uuid: HookUuid,
    },
}

/// The full plan for one repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookPlan {
    /// What to do with the hook we keep.
    pub action: HookAction,
    /// Extra copies of ours to delete (never hooks that are not ours).
    pub delete: Vec<HookUuid>,
}

impl HookPlan {
    /// How many write requests carrying out the plan takes.
    #[must_use]
    pub fn writes(&self) -> usize {
        usize::from(!matches!(self.action, HookAction::Unchanged { .. })) + self.delete.len()
    }
}

/// `url` reduced to what identifies a delivery target: scheme, host, port (default dropped),
/// path without a trailing `/`, and query. Only `http` and `https` (the only delivery targets):
/// `file:` URLs are not stable under reparsing (`file://h//c:/x` loses its host the second time).
#[must_use]
pub fn normalize_url(url: &str) -> Option<String> {
    let parsed = Url::parse(url.trim()).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return None;
    }
    let host = parsed.host_str()?.to_ascii_lowercase();
    let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
    let path = parsed.path().trim_end_matches('/');
    let query = parsed.query().map(|q| format!("?{q}")).unwrap_or_default();
    Some(format!("{}://{host}{port}{path}{query}", parsed.scheme()))
}

fn same_target(a: &str, b: &str) -> bool {
    normalize_url(a).is_some_and(|a| Some(a) == normalize_url(b))
}

/// Our hooks among `existing`, oldest first (a hook without a creation time counts as newest;
/// the uuid breaks ties stably).
#[must_use]
pub fn ours<'a>(
    existing: &'a [Hook],
    marker: &HookMarker,
    stored: Option<&HookRecord>,
    desired_url: Option<&str>,
) -> Vec<&'a Hook> {
    let mut ours: Vec<&Hook> = existing
        .iter()
        .filter(|h| marker.owns(h, stored) || desired_url.is_some_and(|u| same_target(u, &h.url)))
        .collect();
    ours.sort_by(|a, b| {
        (a.created_at.is_none(), a.created_at, &a.uuid).cmp(&(
            b.created_at.is_none(),
            b.created_at,
            &b.uuid,
        ))
    });
    ours
}

/// Plans the writes that leave exactly one hook of ours, as desired. `stored` is the hook record
/// we kept from the last run (with the secret we set), if any.
#[must_use]
pub fn plan_hooks(
    existing: &[Hook],
    desired: &DesiredHook,
    stored: Option<&HookRecord>,
) -> HookPlan {
    let ours = ours(
        existing,
        &desired.marker,
        stored,
        Some(desired.url.as_url().as_str()),
    );
    let Some((keep, extra)) = ours.split_first() else {
        return HookPlan {
            action: HookAction::Create,
            delete: Vec::new(),
        };
    };
    let delete = extra.iter().map(|h| h.uuid.clone()).collect();
    let events: std::collections::BTreeSet<String> = keep.events.iter().cloned().collect();
    let we_know_its_secret = stored.is_some_and(|s| s.uuid == keep.uuid);
    let rotate_secret = !keep.secret_set || !we_know_its_secret;
    let differs = &events != desired.events.as_set()
        || !keep.active
        || !same_target(&keep.url, desired.url.as_url().as_str())
        || keep.description.as_deref() != Some(desired.description().as_str());
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

/// A fresh webhook secret: 48 random alphanumeric characters (Bitbucket's limit is unverified,
/// so we stay well under 64).
#[must_use]
pub fn new_hook_secret() -> crate::model::SecretText {
    use rand::distributions::{Alphanumeric, DistString};
    let value = Alphanumeric.sample_string(&mut rand::rngs::OsRng, 48);
    crate::model::SecretText::new(value).expect("48 alphanumeric characters are a valid secret")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SecretText;

    const OURS: &str = "https://g.example/hooks/bitbucket";

    fn id(n: u32) -> HookUuid {
        format!("{{{n:08x}-0000-4000-8000-000000000000}}")
            .parse()
            .unwrap()
    }

    fn marker() -> HookMarker {
        HookMarker::new("inst-1")
    }

    fn desired() -> DesiredHook {
        DesiredHook::new(
            ServiceUrl::parse("hooks URL", OURS).unwrap(),
            HookEvents::push(),
            marker(),
        )
    }

    fn hook(n: u32, url: &str, created: i64) -> Hook {
        let mut h = Hook::new(id(n), url, vec!["repo:push".into()]);
        h.description = Some(marker().description());
        h.secret_set = true;
        h.created_at = chrono::DateTime::from_timestamp(created, 0);
        h
    }

    fn foreign(n: u32, url: &str) -> Hook {
        let mut h = hook(n, url, 50);
        h.description = Some("CI".into());
        h
    }

    fn record(n: u32, url: &str) -> HookRecord {
        HookRecord::new(
            id(n),
            url,
            SecretText::new("s".repeat(40)).unwrap(),
            vec!["repo:push".into()],
        )
    }

    #[test]
    fn urls_normalise() {
        let n = |u| normalize_url(u).unwrap();
        assert_eq!(n("https://G.Example:443/hooks/bitbucket/"), n(OURS));
        assert_ne!(n("https://g.example:8443/hooks/bitbucket"), n(OURS));
        assert_ne!(n("http://g.example/hooks/bitbucket"), n(OURS));
        assert_ne!(n("https://g.example/hooks/bitbucket?x=1"), n(OURS));
        assert!(normalize_url("not a url").is_none());
        // Found by fuzzing (fuzz/regressions/urls/): normalising twice must give the same.
        assert!(normalize_url("file://h//c:/x").is_none());
    }

    #[test]
    fn creates_when_none_is_ours() {
        let plan = plan_hooks(&[foreign(9, "https://ci.example/hook")], &desired(), None);
        assert_eq!(plan.action, HookAction::Create);
        assert_eq!(plan.writes(), 1);
    }

    #[test]
    fn unchanged_makes_zero_writes() {
        let plan = plan_hooks(&[hook(1, OURS, 1)], &desired(), Some(&record(1, OURS)));
        assert_eq!(plan.action, HookAction::Unchanged { uuid: id(1) });
        assert_eq!(plan.writes(), 0);
    }

    #[test]
    fn keeps_the_oldest_and_deletes_other_copies_but_not_foreign_hooks() {
        let mut undated = hook(4, OURS, 0);
        undated.created_at = None;
        let hooks = [
            hook(3, "https://g.example/hooks/bitbucket/", 300),
            foreign(2, "https://ci.example/hook"),
            hook(1, OURS, 100),
            undated,
        ];
        let plan = plan_hooks(&hooks, &desired(), Some(&record(1, OURS)));
        assert_eq!(plan.action, HookAction::Unchanged { uuid: id(1) });
        assert_eq!(plan.delete, [id(3), id(4)]);
    }

    #[test]
    fn a_changed_url_updates_our_hook_in_place() {
        // Issue 9, finding 9: sync to …/h, then …/other, then …/h left hooks at both URLs.
        let existing = [hook(1, "https://g.example/h", 1)];
        let mut moved = desired();
        moved.url = ServiceUrl::parse("hooks URL", "https://g.example/other").unwrap();
        let plan = plan_hooks(&existing, &moved, Some(&record(1, "https://g.example/h")));
        assert_eq!(
            plan.action,
            HookAction::Update {
                uuid: id(1),
                rotate_secret: false
            }
        );
        assert!(plan.delete.is_empty());
    }

    #[test]
    fn unmarked_hooks_at_our_url_are_adopted_and_foreign_marks_are_not() {
        let mut legacy = foreign(1, OURS);
        legacy.description = Some("gemnasium".into());
        let plan = plan_hooks(&[legacy], &desired(), None);
        assert!(matches!(
            plan.action,
            HookAction::Update {
                rotate_secret: true,
                ..
            }
        ));
        let mut other_install = hook(2, "https://other.example/h", 1);
        other_install.description = Some(HookMarker::new("inst-2").description());
        let plan = plan_hooks(&[other_install], &desired(), None);
        assert_eq!(plan.action, HookAction::Create);
    }

    #[test]
    fn updates_when_events_or_active_differ_keeping_a_known_secret() {
        let mut h = hook(1, OURS, 1);
        h.events = vec!["repo:push".into(), "repo:fork".into()];
        let plan = plan_hooks(&[h.clone()], &desired(), Some(&record(1, OURS)));
        assert_eq!(
            plan.action,
            HookAction::Update {
                uuid: id(1),
                rotate_secret: false
            }
        );
        h.events = vec!["repo:push".into()];
        h.active = false;
        let plan = plan_hooks(&[h], &desired(), Some(&record(1, OURS)));
        assert_eq!(
            plan.action,
            HookAction::Update {
                uuid: id(1),
                rotate_secret: false
            }
        );
    }

    #[test]
    fn rotates_the_secret_only_when_unset_or_unknown() {
        let mut h = hook(1, OURS, 1);
        h.secret_set = false;
        let plan = plan_hooks(&[h.clone()], &desired(), Some(&record(1, OURS)));
        assert_eq!(
            plan.action,
            HookAction::Update {
                uuid: id(1),
                rotate_secret: true
            }
        );
        h.secret_set = true;
        let plan = plan_hooks(&[h.clone()], &desired(), None);
        assert_eq!(
            plan.action,
            HookAction::Update {
                uuid: id(1),
                rotate_secret: true
            }
        );
        let plan = plan_hooks(&[h], &desired(), Some(&record(7, "https://else.example/x")));
        assert_eq!(
            plan.action,
            HookAction::Update {
                uuid: id(1),
                rotate_secret: true
            }
        );
    }

    #[test]
    fn hook_secrets_are_random_and_short_enough() {
        let a = new_hook_secret();
        let b = new_hook_secret();
        assert_eq!(a.expose_secret().len(), 48);
        assert!(a.expose_secret().chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }
}
