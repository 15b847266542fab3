//! Listing an account's repositories across its workspaces, then recording them.
//!
//! Fetch first, write after: the crawl never holds a database lock, and a workspace is written
//! only when it was listed completely. A workspace that failed keeps its previous list and is
//! reported; the others are still written.

use std::collections::BTreeSet;

use chrono::Utc;
use futures::stream::{self, StreamExt};
use serde::Serialize;
use thiserror::Error;

use super::remote::{RemoteError, RemoteErrorKind, RepositoryCatalogue, WorkspaceRef};
use crate::model::{AccountUuid, ProviderName};
use crate::store::{ListingChanges, RepoStore, StoreError, WorkspaceListing};

/// How a crawl runs.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CrawlOptions {
    /// Only this workspace (its slug), as `--workspace`.
    pub workspace: Option<String>,
    /// How many workspaces are fetched at once (a small bound: they share one rate budget).
    pub concurrency: usize,
    /// Fetch and report, write nothing.
    pub dry_run: bool,
}

impl CrawlOptions {
    /// Every workspace, 3 at a time, written.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Only `workspace` (its slug).
    #[must_use]
    pub fn workspace(mut self, workspace: Option<String>) -> Self {
        self.workspace = workspace;
        self
    }

    /// Fetch and report; write nothing.
    #[must_use]
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }
}

impl Default for CrawlOptions {
    fn default() -> Self {
        Self {
            workspace: None,
            concurrency: 3,
            dry_run: false,
        }
    }
}

/// Observes a sync as it runs: progress bars, logs, and tests' pause points.
pub trait SyncObserver: Send + Sync {
    /// The workspaces to fetch are known.
    fn workspaces_listed(&self, _workspaces: &[WorkspaceRef]) {}
    /// A workspace was listed completely.
    fn workspace_fetched(&self, _slug: &str, _repositories: usize) {}
    /// A workspace failed; its previous list is kept.
    fn workspace_failed(&self, _slug: &str, _error: &RemoteError) {}
    /// Everything is fetched; the single write comes next.
    fn before_write(&self) {}
    /// Webhook reconciliation starts on `tracked` repositories.
    fn hooks_started(&self, _tracked: usize) {}
    /// A tracked repository's webhook was reconciled.
    fn hook_reconciled(&self, _full_name: &str) {}
}

/// An observer that does nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Quiet;
impl SyncObserver for Quiet {}

/// What happened to one workspace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum WorkspaceResult {
    /// Listed completely and recorded.
    Listed {
        /// Workspace slug.
        slug: String,
        /// Repositories listed.
        repositories: usize,
    },
    /// Not listed; the previous list is kept.
    Failed {
        /// Workspace slug.
        slug: String,
        /// Why.
        error: RemoteError,
    },
}

/// The outcome of a crawl.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CrawlReport {
    /// One entry per workspace, by slug.
    pub workspaces: Vec<WorkspaceResult>,
    /// What was recorded (all zero on a dry run).
    pub changes: ListingChanges,
    /// Repositories listed, after deduplication.
    pub repositories: usize,
}

impl CrawlReport {
    /// Workspaces that failed.
    pub fn failures(&self) -> impl Iterator<Item = (&str, &RemoteError)> {
        self.workspaces.iter().filter_map(|w| match w {
            WorkspaceResult::Failed { slug, error } => Some((slug.as_str(), error)),
            WorkspaceResult::Listed { .. } => None,
        })
    }
}

/// Why a crawl could not run at all.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CrawlError {
    /// The workspace list itself could not be fetched; nothing was written.
    #[error("cannot list the account's workspaces: {0}")]
    Workspaces(#[source] RemoteError),
    /// `--workspace` names a workspace the account is not in.
    #[error(
        "workspace `{wanted}` is not among the account's workspaces ({known}); check the slug"
    )]
    UnknownWorkspace {
        /// The slug asked for.
        wanted: String,
        /// The account's workspaces.
        known: String,
    },
    /// Recording the listings failed; nothing was written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Lists `account`'s repositories in every workspace (or one) and records complete listings.
///
/// # Errors
/// [`CrawlError`] when nothing could be done; per-workspace failures are in the report.
pub async fn crawl(
    api: &dyn RepositoryCatalogue,
    store: &dyn RepoStore,
    source: &ProviderName,
    account: &AccountUuid,
    options: &CrawlOptions,
    observer: &dyn SyncObserver,
) -> Result<CrawlReport, CrawlError> {
    let mut workspaces = api.workspaces().await.map_err(CrawlError::Workspaces)?;
    let mut seen = BTreeSet::new();
    workspaces.retain(|w| seen.insert(w.slug.clone()));
    workspaces.sort_by(|a, b| a.slug.cmp(&b.slug));
    if let Some(wanted) = &options.workspace {
        let known = workspaces
            .iter()
            .map(|w| w.slug.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        workspaces.retain(|w| &w.slug == wanted);
        if workspaces.is_empty() {
            return Err(CrawlError::UnknownWorkspace {
                wanted: wanted.clone(),
                known,
            });
        }
    }
    observer.workspaces_listed(&workspaces);

    let fetched: Vec<(String, Result<Vec<_>, RemoteError>)> = stream::iter(workspaces)
        .map(|w| async move {
            let result = api
                .repositories(&w.slug)
                .await
                .and_then(|listing| once_each(listing.repositories));
            match &result {
                Ok(repos) => observer.workspace_fetched(&w.slug, repos.len()),
                Err(e) => observer.workspace_failed(&w.slug, e),
            }
            (w.slug, result)
        })
        .buffer_unordered(options.concurrency.max(1))
        .collect()
        .await;

    let mut report = CrawlReport::default();
    let mut listings = Vec::new();
    for (slug, result) in fetched {
        match result {
            Ok(repositories) => {
                report.repositories += repositories.len();
                report.workspaces.push(WorkspaceResult::Listed {
                    slug: slug.clone(),
                    repositories: repositories.len(),
                });
                listings.push(WorkspaceListing::new(slug, repositories));
            }
            Err(error) => report
                .workspaces
                .push(WorkspaceResult::Failed { slug, error }),
        }
    }
    report.workspaces.sort_by(|a, b| slug_of(a).cmp(slug_of(b)));
    observer.before_write();
    if !options.dry_run && !listings.is_empty() {
        report.changes = store
            .record_listings(source, account, &listings, Utc::now())
            .await?;
    }
    Ok(report)
}

/// `repositories` with exact repeats dropped (listings can repeat an item while paging). Two
/// different repositories under one uuid make the listing unusable: it must not replace the
/// stored one (it would mark every other repository gone).
fn once_each(
    repositories: Vec<crate::model::Repository>,
) -> Result<Vec<crate::model::Repository>, RemoteError> {
    let mut names = std::collections::BTreeMap::new();
    let mut kept = Vec::with_capacity(repositories.len());
    for repo in repositories {
        match names.get(&repo.uuid) {
            Some(name) if *name == repo.full_name => {}
            Some(name) => {
                return Err(RemoteError::new(
                    RemoteErrorKind::Other,
                    format!(
                        "malformed listing: repositories {name} and {} share the uuid {}; the previous list is kept",
                        repo.full_name, repo.uuid
                    ),
                ))
            }
            None => {
                names.insert(repo.uuid.clone(), repo.full_name.clone());
                kept.push(repo);
            }
        }
    }
    Ok(kept)
}

fn slug_of(result: &WorkspaceResult) -> &str {
    match result {
        WorkspaceResult::Listed { slug, .. } | WorkspaceResult::Failed { slug, .. } => slug,
    }
}
