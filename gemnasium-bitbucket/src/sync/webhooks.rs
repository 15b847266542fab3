//! Making every tracked repository hold exactly one webhook of ours, and removing ours on
//! untrack.
//!
//! Reads first, then only the writes [`plan_hooks`] asks for: a second run against unchanged
//! repositories makes no write request at all. Repositories are taken least recently checked or
//! proven first, so a run stopped by the rate budget resumes where it stopped. A repository whose
//! hook recently delivered a signed event (recorded by the webhook receiver) is not listed at
//! all: the delivery proved the hook works, and listing hooks costs one request per repository. Every change to one repository's
//! hooks happens under a lease in the store, so two runs never both create a hook and an untrack
//! never races a sync into leaving a hook behind.

use std::time::Duration;

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::hook_plan::{new_hook_secret, ours, plan_hooks, DesiredHook, HookAction, HookMarker};
use super::remote::{HookApi, RemoteError, RemoteErrorKind};
use super::SyncObserver;
use crate::api::hooks::HookRequest;
use crate::model::{HookRecord, ProviderName, RepoUuid};
use crate::store::{HookLease, RepoStore, StoreError, TrackedRepository};

/// One run's claim on repositories' webhooks: who it is and how long a claim lasts.
#[derive(Clone, Debug)]
pub struct HookLeases {
    holder: String,
    duration: chrono::Duration,
}

impl Default for HookLeases {
    fn default() -> Self {
        Self::new()
    }
}

impl HookLeases {
    /// A new run's claims, each lasting 5 minutes unless released.
    #[must_use]
    pub fn new() -> Self {
        Self {
            holder: hex::encode(rand::random::<[u8; 8]>()),
            duration: chrono::Duration::minutes(5),
        }
    }

    /// Claims lasting `duration` (a crashed run's claims run out after it).
    #[must_use]
    pub fn with_duration(mut self, duration: chrono::Duration) -> Self {
        self.duration = duration;
        self
    }

    async fn claim(
        &self,
        store: &dyn RepoStore,
        repo: &TrackedRepository,
    ) -> Result<HookLease, StoreError> {
        let now = Utc::now();
        store
            .claim_hook(
                &repo.source,
                &repo.uuid,
                &self.holder,
                now,
                now + self.duration,
            )
            .await
    }

    /// Claims, waiting (at most one lease duration and a little) while another run holds it.
    async fn claim_waiting(
        &self,
        store: &dyn RepoStore,
        repo: &TrackedRepository,
    ) -> Result<HookLease, StoreError> {
        let give_up = Utc::now() + self.duration + chrono::Duration::seconds(5);
        loop {
            match self.claim(store, repo).await? {
                HookLease::Busy(until) if Utc::now() < give_up => {
                    let wait = (until - Utc::now())
                        .to_std()
                        .unwrap_or_default()
                        .clamp(Duration::from_millis(20), Duration::from_millis(500));
                    tokio::time::sleep(wait).await;
                }
                other => return Ok(other),
            }
        }
    }

    async fn release(
        &self,
        store: &dyn RepoStore,
        repo: &TrackedRepository,
    ) -> Result<(), StoreError> {
        store
            .release_hook(&repo.source, &repo.uuid, &self.holder)
            .await
    }
}

/// What reconciling one repository did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HookOutcome {
    /// Created our hook.
    Created,
    /// Replaced our hook; `rotated` when a new secret was set.
    Updated {
        /// Whether the secret was replaced.
        rotated: bool,
    },
    /// Already as desired.
    Unchanged,
    /// Another run is changing this repository's hooks right now; it was left to that run.
    Busy,
    /// The repository stopped being tracked during the run.
    NotTracked,
}

/// The result of reconciling one repository.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct HookReport {
    /// What happened to the hook we keep.
    pub outcome: HookOutcome,
    /// Duplicate copies of ours deleted.
    pub deleted: usize,
    /// Write requests made.
    pub writes: usize,
}

/// Totals over every tracked repository.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct HooksSummary {
    /// Hooks created.
    pub created: usize,
    /// Hooks replaced.
    pub updated: usize,
    /// Duplicate hooks deleted.
    pub deleted: usize,
    /// Hooks already as desired.
    pub unchanged: usize,
    /// Repositories not checked because a signed delivery recently proved their hook.
    pub proven: usize,
    /// Repositories left to another run changing them at the same time.
    pub busy: usize,
    /// Write requests made (0 on a run against unchanged repositories).
    pub writes: usize,
    /// Repositories skipped with a warning (no admin permission, not found), with the reason.
    pub warnings: Vec<(String, String)>,
    /// Repositories that failed, with the error.
    pub failed: Vec<(String, RemoteError)>,
    /// Why the run stopped early: rate budget exhausted, missing scopes, unusable credentials.
    pub stopped_by: Option<RemoteError>,
    /// Repositories not reconciled because the run stopped; the next run starts with them.
    pub remaining: usize,
}

impl HooksSummary {
    /// Whether every tracked repository holds our hook as desired (or was left to a concurrent
    /// run): nothing failed, nothing was skipped, nothing is left.
    #[must_use]
    pub fn complete(&self) -> bool {
        self.failed.is_empty() && self.warnings.is_empty() && self.stopped_by.is_none()
    }
}

/// Why reconciling could not go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HookError {
    /// Bitbucket refused.
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// Recording the hook failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another run kept the repository's hooks claimed for longer than a lease.
    #[error("another run kept the webhooks of {0} claimed for too long; try again")]
    Busy(String),
}

/// Reconciles one tracked repository's webhook with `desired`, under its lease.
///
/// # Errors
/// [`HookError`] on the first failed request or store write; earlier writes stay recorded.
pub async fn reconcile_webhook(
    api: &dyn HookApi,
    store: &dyn RepoStore,
    repo: &TrackedRepository,
    desired: &DesiredHook,
    leases: &HookLeases,
) -> Result<HookReport, HookError> {
    match leases.claim(store, repo).await? {
        HookLease::Claimed => {}
        HookLease::Busy(_) => return Ok(skipped(HookOutcome::Busy)),
        HookLease::NotTracked => return Ok(skipped(HookOutcome::NotTracked)),
    }
    let result = reconcile_claimed(api, store, repo, desired).await;
    let released = leases.release(store, repo).await;
    let report = result?;
    released?;
    Ok(report)
}

fn skipped(outcome: HookOutcome) -> HookReport {
    HookReport {
        outcome,
        deleted: 0,
        writes: 0,
    }
}

async fn reconcile_claimed(
    api: &dyn HookApi,
    store: &dyn RepoStore,
    repo: &TrackedRepository,
    desired: &DesiredHook,
) -> Result<HookReport, HookError> {
    // The row as it is now, under our claim: another run may have recorded a hook since the
    // tracked list was read, or the repository may have been untracked.
    let Some(repo) = store.tracked_repository(&repo.source, &repo.uuid).await? else {
        return Ok(skipped(HookOutcome::NotTracked));
    };
    let existing = api.hooks(&repo.full_name).await?;
    let plan = plan_hooks(&existing, desired, repo.hook.as_ref());
    let description = desired.description();
    let url = desired.url.to_string();
    let events: Vec<String> = desired.events.iter().map(str::to_owned).collect();
    let request = |secret| HookRequest::new(&description, &url, events.clone(), secret);
    let record = |uuid, secret| HookRecord::new(uuid, url.clone(), secret, events.clone());
    let known_secret = repo.hook.as_ref().map(|h| h.secret.clone());
    let (outcome, kept) = match (&plan.action, known_secret) {
        (HookAction::Create, _) => {
            let secret = new_hook_secret();
            let hook = api
                .create_hook(&repo.full_name, &request(Some(&secret)))
                .await?;
            (HookOutcome::Created, record(hook.uuid, secret))
        }
        (HookAction::Unchanged { uuid }, Some(secret)) => {
            (HookOutcome::Unchanged, record(uuid.clone(), secret))
        }
        (
            HookAction::Update {
                uuid,
                rotate_secret: false,
            },
            Some(secret),
        ) => {
            // No `secret` in the body: Bitbucket keeps the one we already hold.
            api.update_hook(&repo.full_name, uuid, &request(None))
                .await?;
            (
                HookOutcome::Updated { rotated: false },
                record(uuid.clone(), secret),
            )
        }
        // Rotation asked for, or (defensively) we hold no secret for the hook we keep.
        (HookAction::Update { uuid, .. } | HookAction::Unchanged { uuid }, _) => {
            let secret = new_hook_secret();
            api.update_hook(&repo.full_name, uuid, &request(Some(&secret)))
                .await?;
            (
                HookOutcome::Updated { rotated: true },
                record(uuid.clone(), secret),
            )
        }
    };
    store
        .record_hook(&repo.source, &repo.uuid, Some(&kept), Utc::now())
        .await?;
    for uuid in &plan.delete {
        match api.delete_hook(&repo.full_name, uuid).await {
            Err(e) if e.kind != RemoteErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    Ok(HookReport {
        outcome,
        deleted: plan.delete.len(),
        writes: plan.writes(),
    })
}

/// How [`reconcile_all_with`] runs.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ReconcileOptions {
    /// A repository whose hook (as desired) delivered a signed event within this long is not
    /// checked (7 days; zero checks every repository).
    pub proven_within: chrono::Duration,
}

impl Default for ReconcileOptions {
    fn default() -> Self {
        Self {
            proven_within: chrono::Duration::days(7),
        }
    }
}

impl ReconcileOptions {
    /// Skips repositories proven within `within`.
    #[must_use]
    pub fn proven_within(mut self, within: chrono::Duration) -> Self {
        self.proven_within = within;
        self
    }
}

/// Whether `repo`'s recorded hook is the desired one and a signed delivery proved it since
/// `since`.
fn proven(repo: &TrackedRepository, desired: &DesiredHook, since: DateTime<Utc>) -> bool {
    let Some(hook) = &repo.hook else {
        return false;
    };
    let events: BTreeSet<&str> = hook.events.iter().map(String::as_str).collect();
    let wanted: BTreeSet<&str> = desired.events.iter().collect();
    repo.proven_at.is_some_and(|at| at >= since)
        && hook.url == desired.url.to_string()
        && events == wanted
}

/// Reconciles every tracked repository of `source` with the default [`ReconcileOptions`].
///
/// # Errors
/// Only when the store cannot be read or written.
pub async fn reconcile_all(
    api: &dyn HookApi,
    store: &dyn RepoStore,
    source: &ProviderName,
    desired: &DesiredHook,
    leases: &HookLeases,
    observer: &dyn SyncObserver,
) -> Result<HooksSummary, StoreError> {
    reconcile_all_with(
        api,
        store,
        source,
        desired,
        leases,
        observer,
        &ReconcileOptions::default(),
    )
    .await
}

/// Reconciles every tracked repository of `source`, least recently checked or proven first,
/// skipping those a signed delivery proved recently.
///
/// Permission and not-found errors become warnings. A rate limit stops the run (the rest are
/// counted as `remaining`), and so do missing scopes or unusable credentials, since every other
/// repository would fail the same way.
///
/// # Errors
/// Only when the store cannot be read or written.
pub async fn reconcile_all_with(
    api: &dyn HookApi,
    store: &dyn RepoStore,
    source: &ProviderName,
    desired: &DesiredHook,
    leases: &HookLeases,
    observer: &dyn SyncObserver,
    options: &ReconcileOptions,
) -> Result<HooksSummary, StoreError> {
    let mut tracked = store.tracked(source).await?;
    let since = Utc::now() - options.proven_within;
    let mut summary = HooksSummary::default();
    tracked.retain(|repo| {
        let skip = !options.proven_within.is_zero() && proven(repo, desired, since);
        summary.proven += usize::from(skip);
        !skip
    });
    // The latest evidence that a hook works (a check or a delivery), oldest first.
    tracked.sort_by(|a, b| {
        (a.checked_at.max(a.proven_at), &a.full_name)
            .cmp(&(b.checked_at.max(b.proven_at), &b.full_name))
    });
    let total = tracked.len();
    observer.hooks_started(total);
    for (done, repo) in tracked.iter().enumerate() {
        match reconcile_webhook(api, store, repo, desired, leases).await {
            Ok(report) => {
                match report.outcome {
                    HookOutcome::Created => summary.created += 1,
                    HookOutcome::Updated { .. } => summary.updated += 1,
                    HookOutcome::Unchanged => summary.unchanged += 1,
                    HookOutcome::Busy => summary.busy += 1,
                    HookOutcome::NotTracked => {}
                }
                summary.deleted += report.deleted;
                summary.writes += report.writes;
            }
            Err(HookError::Store(e)) => return Err(e),
            Err(HookError::Busy(name)) => summary.warnings.push((name, "busy".to_owned())),
            Err(HookError::Remote(e)) => match e.kind {
                RemoteErrorKind::PermissionDenied | RemoteErrorKind::NotFound => {
                    mark_checked(store, repo).await?;
                    summary.warnings.push((repo.full_name.clone(), e.message));
                }
                RemoteErrorKind::RateLimited
                | RemoteErrorKind::MissingScopes
                | RemoteErrorKind::Unauthorized
                | RemoteErrorKind::Retired => {
                    summary.remaining = total - done;
                    summary.stopped_by = Some(e);
                    break;
                }
                _ => {
                    mark_checked(store, repo).await?;
                    summary.failed.push((repo.full_name.clone(), e));
                }
            },
        }
        observer.hook_reconciled(&repo.full_name);
    }
    Ok(summary)
}

/// Records that `repo` was looked at, keeping its hook record, so that the next run starts with
/// repositories not looked at yet instead of retrying the same refusals first.
async fn mark_checked(store: &dyn RepoStore, repo: &TrackedRepository) -> Result<(), StoreError> {
    match store
        .record_hook(&repo.source, &repo.uuid, repo.hook.as_ref(), Utc::now())
        .await
    {
        // Untracked meanwhile: nothing to record.
        Err(StoreError::NotFound { .. }) => Ok(()),
        other => other,
    }
}

/// Stops tracking a repository, first removing every hook of ours from Bitbucket (unless
/// `keep_hooks`), under the repository's lease.
///
/// Returns `false` when the repository was not tracked.
///
/// # Errors
/// When Bitbucket refuses to list or delete (the repository stays tracked, so nothing is
/// orphaned), or the store fails. Hooks already gone, or a repository gone from Bitbucket, are
/// not errors.
pub async fn untrack(
    api: &dyn HookApi,
    store: &dyn RepoStore,
    source: &ProviderName,
    uuid: &RepoUuid,
    marker: &HookMarker,
    keep_hooks: bool,
    leases: &HookLeases,
) -> Result<bool, HookError> {
    let Some(repo) = store.tracked_repository(source, uuid).await? else {
        return Ok(false);
    };
    match leases.claim_waiting(store, &repo).await? {
        HookLease::Claimed => {}
        HookLease::NotTracked => return Ok(false),
        HookLease::Busy(_) => return Err(HookError::Busy(repo.full_name)),
    }
    let result = async {
        // Re-read under the claim: a sync may have recorded a hook meanwhile.
        let Some(repo) = store.tracked_repository(source, uuid).await? else {
            return Ok(false);
        };
        if !keep_hooks {
            remove_ours(api, &repo, marker).await?;
        }
        Ok(store.untrack(source, uuid).await?.is_some())
    }
    .await;
    if !matches!(result, Ok(true)) {
        leases.release(store, &repo).await?;
    }
    result
}

async fn remove_ours(
    api: &dyn HookApi,
    repo: &TrackedRepository,
    marker: &HookMarker,
) -> Result<(), HookError> {
    let existing = match api.hooks(&repo.full_name).await {
        Ok(hooks) => hooks,
        // The repository is gone from Bitbucket, and its hooks with it.
        Err(e) if e.kind == RemoteErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    for hook in ours(&existing, marker, repo.hook.as_ref(), None) {
        match api.delete_hook(&repo.full_name, &hook.uuid).await {
            Err(e) if e.kind != RemoteErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    Ok(())
}
