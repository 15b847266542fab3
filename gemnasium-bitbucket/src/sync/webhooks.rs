//! Making every tracked repository hold exactly one webhook of ours, and removing it on untrack.
//!
//! Reads first, then only the writes [`plan_hooks`] asks for: a second run against unchanged
//! repositories makes no write request at all. Repositories are taken oldest-checked first, so a
//! run stopped by the rate budget resumes where it stopped.

use chrono::Utc;
use serde::Serialize;

use super::hook_plan::{new_hook_secret, plan_hooks, DesiredHook, HookAction};
use super::remote::{HookApi, HookRequest, RemoteError, RemoteErrorKind};
use super::SyncObserver;
use crate::model::{HookRecord, ProviderName, RepoUuid};
use crate::store::{RepoStore, StoreError, TrackedRepository};

/// What reconciling one repository did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
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
}

/// The result of reconciling one repository.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
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
pub struct HooksSummary {
    /// Hooks created.
    pub created: usize,
    /// Hooks replaced.
    pub updated: usize,
    /// Duplicate hooks deleted.
    pub deleted: usize,
    /// Hooks already as desired.
    pub unchanged: usize,
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
}

/// Reconciles one tracked repository's webhook with `desired`.
///
/// # Errors
/// [`HookError`] on the first failed request or store write; earlier writes stay recorded.
pub async fn reconcile_webhook(
    api: &dyn HookApi,
    store: &dyn RepoStore,
    repo: &TrackedRepository,
    desired: &DesiredHook,
) -> Result<HookReport, HookError> {
    let existing = api.hooks(&repo.full_name).await?;
    let plan = plan_hooks(&existing, desired, repo.hook.as_ref());
    let events: Vec<String> = desired.events.iter().cloned().collect();
    let request = |secret| HookRequest {
        description: &desired.description,
        url: desired.url.as_str(),
        active: true,
        events: events.clone(),
        secret,
    };
    let record = |uuid: String, secret| HookRecord {
        uuid,
        url: desired.url.to_string(),
        secret,
        events: events.clone(),
    };
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

/// Reconciles every tracked repository of `source`, oldest-checked first.
///
/// Permission and not-found errors become warnings. A rate limit stops the run (the rest are
/// counted as `remaining`), and so do missing scopes or unusable credentials, since every other
/// repository would fail the same way.
///
/// # Errors
/// Only when the store cannot be read or written.
pub async fn reconcile_all(
    api: &dyn HookApi,
    store: &dyn RepoStore,
    source: &ProviderName,
    desired: &DesiredHook,
    observer: &dyn SyncObserver,
) -> Result<HooksSummary, StoreError> {
    let mut tracked = store.tracked(source).await?;
    tracked.sort_by(|a, b| (a.checked_at, &a.full_name).cmp(&(b.checked_at, &b.full_name)));
    let mut summary = HooksSummary::default();
    let total = tracked.len();
    for (done, repo) in tracked.iter().enumerate() {
        match reconcile_webhook(api, store, repo, desired).await {
            Ok(report) => {
                match report.outcome {
                    HookOutcome::Created => summary.created += 1,
                    HookOutcome::Updated { .. } => summary.updated += 1,
                    HookOutcome::Unchanged => summary.unchanged += 1,
                }
                summary.deleted += report.deleted;
                summary.writes += report.writes;
            }
            Err(HookError::Store(e)) => return Err(e),
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
    store
        .record_hook(&repo.source, &repo.uuid, repo.hook.as_ref(), Utc::now())
        .await
}

/// Stops tracking a repository, first removing our hook from Bitbucket (unless `keep_hook`).
///
/// Returns `false` when the repository was not tracked.
///
/// # Errors
/// When Bitbucket refuses the delete (the repository stays tracked, so nothing is orphaned), or
/// the store fails. A hook already gone on Bitbucket is not an error.
pub async fn untrack(
    api: &dyn HookApi,
    store: &dyn RepoStore,
    source: &ProviderName,
    uuid: &RepoUuid,
    keep_hook: bool,
) -> Result<bool, HookError> {
    let Some(repo) = store
        .tracked(source)
        .await?
        .into_iter()
        .find(|t| &t.uuid == uuid)
    else {
        return Ok(false);
    };
    if let (Some(hook), false) = (&repo.hook, keep_hook) {
        match api.delete_hook(&repo.full_name, &hook.uuid).await {
            Err(e) if e.kind != RemoteErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    Ok(store.untrack(source, uuid).await?.is_some())
}
