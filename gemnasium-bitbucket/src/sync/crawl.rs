//! Listing an account's repositories across its workspaces, then recording them.
//!
//! Fetch first, write after: the crawl never holds a database lock, and a workspace is written
//! only when it was listed completely. A workspace that failed keeps its previous list and is
//! reported; the others are still written.
//!
//! A workspace listed completely before is listed incrementally: newest first, only until a
//! repository older than that listing (minus a margin for clock skew) appears, with no `q=`
//! filter so that Bitbucket's `size` still counts the whole workspace. When `size` equals the
//! stored count plus the new repositories seen, nothing went away and the listing is complete;
//! otherwise (or without `size`, or when the last full listing is too old, which also catches an
//! addition and a deletion that cancel out) the workspace is listed in full.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use futures::stream::{self, StreamExt};
use serde::Serialize;
use thiserror::Error;

use super::remote::{RemoteError, RemoteErrorKind, RepositoryCatalogue, WorkspaceRef};
use crate::model::RepoUuid;
use crate::model::{AccountUuid, ProviderName};
use crate::store::{
    ListingChanges, ListingKind, ListingState, RepoStore, StoreError, WorkspaceListing,
};

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
    /// List workspaces listed before incrementally (on by default).
    pub incremental: bool,
    /// A workspace whose last full listing is older than this is listed in full (24 h).
    pub full_after: Duration,
    /// How far before the last complete listing an incremental one looks, for clock skew
    /// between Bitbucket and us (5 min).
    pub skew_margin: Duration,
    /// Page size of incremental listings (25: usually one page is enough).
    pub recent_pagelen: u32,
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

    /// Whether workspaces listed before are listed incrementally.
    #[must_use]
    pub fn incremental(mut self, incremental: bool) -> Self {
        self.incremental = incremental;
        self
    }

    /// Lists a workspace in full when its last full listing is older than `age`.
    #[must_use]
    pub fn full_after(mut self, age: Duration) -> Self {
        self.full_after = age;
        self
    }

    /// The margin for clock skew of incremental listings.
    #[must_use]
    pub fn skew_margin(mut self, margin: Duration) -> Self {
        self.skew_margin = margin;
        self
    }
}

impl Default for CrawlOptions {
    fn default() -> Self {
        Self {
            workspace: None,
            concurrency: 3,
            dry_run: false,
            incremental: true,
            full_after: Duration::hours(24),
            skew_margin: Duration::minutes(5),
            recent_pagelen: 25,
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

/// Why a workspace was listed the way it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ListingReason {
    /// Incremental: Bitbucket's count matched the stored one plus the new repositories.
    CountMatched,
    /// Full: the workspace was never listed completely before.
    FirstListing,
    /// Full: incremental listings were turned off.
    IncrementalOff,
    /// Full: the last full listing is older than the allowed age.
    FullListingDue,
    /// Full: every page was read while looking for changes.
    AllPagesRead,
    /// Full: Bitbucket sent no `size` to check the incremental listing against.
    NoSize,
    /// Full: Bitbucket's count differs (a repository was deleted, moved away or became
    /// invisible, or one was added with an old date).
    CountMismatch,
}

impl ListingReason {
    /// A few words for people.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            ListingReason::CountMatched => "only changes read; count matched",
            ListingReason::FirstListing => "first listing",
            ListingReason::IncrementalOff => "incremental listing off",
            ListingReason::FullListingDue => "last full listing too old",
            ListingReason::AllPagesRead => "every page read",
            ListingReason::NoSize => "Bitbucket sent no count",
            ListingReason::CountMismatch => "count changed: something was removed",
        }
    }
}

/// What happened to one workspace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum WorkspaceResult {
    /// Listed completely and recorded.
    Listed {
        /// Workspace slug.
        slug: String,
        /// Repositories in the workspace.
        repositories: usize,
        /// Repositories received (all of them for a full listing, the changed ones for an
        /// incremental one).
        fetched: usize,
        /// Full or incremental.
        listing: ListingKind,
        /// Why.
        reason: ListingReason,
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
    /// Repositories in the listed workspaces, after deduplication.
    pub repositories: usize,
    /// Workspaces listed incrementally.
    pub incremental: usize,
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

    // When this listing started: what the next incremental one looks back from.
    let started = Utc::now();
    let plans = plan(store, source, account, options, started).await?;
    let fetched: Vec<(String, Result<Fetched, RemoteError>)> = stream::iter(workspaces)
        .map(|w| {
            let plan = plans
                .get(&w.slug)
                .cloned()
                .unwrap_or(Plan::Full(if options.incremental {
                    ListingReason::FirstListing
                } else {
                    ListingReason::IncrementalOff
                }));
            async move {
                let result = fetch(api, &w.slug, plan, options).await;
                match &result {
                    Ok(fetched) => {
                        observer.workspace_fetched(&w.slug, fetched.listing.repositories.len());
                    }
                    Err(e) => observer.workspace_failed(&w.slug, e),
                }
                (w.slug, result)
            }
        })
        .buffer_unordered(options.concurrency.max(1))
        .collect()
        .await;

    let mut report = CrawlReport::default();
    let mut listings = Vec::new();
    for (slug, result) in fetched {
        match result {
            Ok(Fetched { listing, reason }) => {
                let repositories = usize::try_from(listing.count).unwrap_or(usize::MAX);
                report.repositories += repositories;
                if listing.kind == ListingKind::Incremental {
                    report.incremental += 1;
                }
                report.workspaces.push(WorkspaceResult::Listed {
                    slug,
                    repositories,
                    fetched: listing.repositories.len(),
                    listing: listing.kind,
                    reason,
                });
                listings.push(listing);
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
            .record_listings(source, account, &listings, started)
            .await?;
    }
    Ok(report)
}

/// How one workspace is to be listed.
#[derive(Clone, Debug)]
enum Plan {
    Full(ListingReason),
    Incremental {
        /// Repositories updated before this are unchanged.
        since: DateTime<Utc>,
        /// The count recorded by the last complete listing.
        count: u64,
        /// The repositories it recorded (not gone), to tell new ones apart.
        known: BTreeSet<RepoUuid>,
    },
}

struct Fetched {
    listing: WorkspaceListing,
    reason: ListingReason,
}

/// Each workspace's plan, by slug, from its recorded listing state (workspaces without one are
/// listed in full).
async fn plan(
    store: &dyn RepoStore,
    source: &ProviderName,
    account: &AccountUuid,
    options: &CrawlOptions,
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, Plan>, CrawlError> {
    let mut plans = BTreeMap::new();
    if !options.incremental {
        return Ok(plans);
    }
    let states: Vec<ListingState> = store.listing_states(source, account).await?;
    if states.is_empty() {
        return Ok(plans);
    }
    let mut known: BTreeMap<String, BTreeSet<RepoUuid>> = BTreeMap::new();
    if states.iter().any(|s| now - s.full_at <= options.full_after) {
        for stored in store.repositories(source, Some(account)).await? {
            if stored.gone_since.is_none() {
                known
                    .entry(stored.repository.workspace)
                    .or_default()
                    .insert(stored.repository.uuid);
            }
        }
    }
    for state in states {
        let plan = if now - state.full_at > options.full_after {
            Plan::Full(ListingReason::FullListingDue)
        } else {
            Plan::Incremental {
                since: state.complete_at - options.skew_margin,
                count: state.count,
                known: known.remove(&state.workspace).unwrap_or_default(),
            }
        };
        plans.insert(state.workspace, plan);
    }
    Ok(plans)
}

/// Lists `workspace` as planned, falling back to a full listing when the incremental one
/// cannot be proven complete.
async fn fetch(
    api: &dyn RepositoryCatalogue,
    workspace: &str,
    plan: Plan,
    options: &CrawlOptions,
) -> Result<Fetched, RemoteError> {
    let reason = match plan {
        Plan::Full(reason) => reason,
        Plan::Incremental {
            since,
            count,
            known,
        } => {
            let recent = api
                .recent_repositories(workspace, since, options.recent_pagelen)
                .await?;
            let changed = once_each(recent.repositories)?;
            if recent.exhausted {
                return Ok(Fetched {
                    listing: WorkspaceListing::new(workspace, changed),
                    reason: ListingReason::AllPagesRead,
                });
            }
            let new = changed.iter().filter(|r| !known.contains(&r.uuid)).count() as u64;
            match recent.size {
                Some(size) if size == count + new => {
                    return Ok(Fetched {
                        listing: WorkspaceListing::incremental(workspace, changed, size),
                        reason: ListingReason::CountMatched,
                    })
                }
                Some(size) => {
                    tracing::info!(
                        workspace,
                        size,
                        expected = count + new,
                        "count changed; listing in full"
                    );
                    ListingReason::CountMismatch
                }
                None => ListingReason::NoSize,
            }
        }
    };
    let listing = api.repositories(workspace).await?;
    Ok(Fetched {
        listing: WorkspaceListing::new(workspace, once_each(listing.repositories)?),
        reason,
    })
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
