//! The repositories store: what each account can see per source, and which repositories we
//! track (and the webhook we installed on each).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{StoreError, WriteOutcome};
use crate::model::{AccountUuid, HookRecord, HookUuid, ProviderName, RepoUuid, Repository};

/// A listed repository with its bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRepository {
    /// The source (named by its provider) it was listed from.
    pub source: ProviderName,
    /// The account whose listing it is.
    pub account: AccountUuid,
    /// The repository as last listed.
    pub repository: Repository,
    /// When a sync first listed it.
    pub first_seen: DateTime<Utc>,
    /// When a sync last listed it.
    pub last_seen: DateTime<Utc>,
    /// Set when a complete listing of its workspace no longer had it.
    pub gone_since: Option<DateTime<Utc>>,
}

/// How a workspace's complete listing was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ListingKind {
    /// Every repository was listed: the ones not listed are gone.
    Full,
    /// Only repositories changed since the last complete listing were listed, and Bitbucket's
    /// count proved that none went away: the others are unchanged.
    Incremental,
}

/// One workspace's complete listing, as fetched by a sync.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkspaceListing {
    /// The workspace slug.
    pub workspace: String,
    /// Every repository the account can see in it (full), or those that changed since the last
    /// complete listing (incremental). Duplicates by uuid are ignored.
    pub repositories: Vec<Repository>,
    /// Full or incremental.
    pub kind: ListingKind,
    /// How many repositories the workspace holds for the account, as Bitbucket counted them:
    /// what the next incremental listing is checked against.
    pub count: u64,
}

impl WorkspaceListing {
    /// The full listing of `workspace`.
    #[must_use]
    pub fn new(workspace: impl Into<String>, repositories: Vec<Repository>) -> Self {
        let unique: std::collections::BTreeSet<&RepoUuid> =
            repositories.iter().map(|r| &r.uuid).collect();
        let count = unique.len() as u64;
        Self {
            workspace: workspace.into(),
            repositories,
            kind: ListingKind::Full,
            count,
        }
    }

    /// An incremental listing of `workspace`: `changed` repositories, `count` in all (so the
    /// stored repositories not in `changed` are kept as they are).
    #[must_use]
    pub fn incremental(workspace: impl Into<String>, changed: Vec<Repository>, count: u64) -> Self {
        Self {
            workspace: workspace.into(),
            repositories: changed,
            kind: ListingKind::Incremental,
            count,
        }
    }
}

/// What the store remembers of a workspace's listings for one account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ListingState {
    /// The workspace slug.
    pub workspace: String,
    /// When the last complete listing (full or incremental) started.
    pub complete_at: DateTime<Utc>,
    /// When the last full listing started.
    pub full_at: DateTime<Utc>,
    /// How many repositories Bitbucket counted then.
    pub count: u64,
}

impl ListingState {
    /// The state of `workspace`.
    #[must_use]
    pub fn new(
        workspace: impl Into<String>,
        complete_at: DateTime<Utc>,
        full_at: DateTime<Utc>,
        count: u64,
    ) -> Self {
        Self {
            workspace: workspace.into(),
            complete_at,
            full_at,
            count,
        }
    }
}

/// The outcome of claiming the right to change one tracked repository's webhooks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum HookLease {
    /// Claimed until the time asked; release it when done.
    Claimed,
    /// Another run holds it until then.
    Busy(DateTime<Utc>),
    /// The repository is not tracked (any more).
    NotTracked,
}

/// What recording complete listings changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ListingChanges {
    /// Repositories not listed before (or back after being gone).
    pub new: usize,
    /// Repositories whose stored fields changed.
    pub updated: usize,
    /// Repositories listed again as they were (for an incremental listing, also the ones it
    /// proved unchanged without listing them).
    pub unchanged: usize,
    /// Repositories of the workspace that the listing no longer has.
    pub gone: usize,
}

impl std::ops::AddAssign for ListingChanges {
    fn add_assign(&mut self, other: Self) {
        self.new += other.new;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.gone += other.gone;
    }
}

/// A repository whose pushes Gemnasium follows, and its webhook once installed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackedRepository {
    /// The source it belongs to.
    pub source: ProviderName,
    /// Stable id.
    pub uuid: RepoUuid,
    /// `workspace/slug` when it was tracked (for display; the uuid is the key).
    pub full_name: String,
    /// Our webhook, once installed.
    pub hook: Option<HookRecord>,
    /// When a sync last reconciled its webhook; reconciling starts with the oldest, so a run
    /// cut short by the rate budget resumes where it stopped.
    pub checked_at: Option<DateTime<Utc>>,
    /// When a delivery signed with the hook's secret last arrived: proof that the hook works,
    /// so a sync need not list the repository's hooks for a while.
    pub proven_at: Option<DateTime<Utc>>,
}

/// Repositories listed by syncs and the ones we track.
#[async_trait]
pub trait RepoStore: Send + Sync {
    /// Records *complete* workspace listings for `account` in one short transaction: inserts
    /// new repositories, updates changed ones, sets `last_seen` to `seen_at`, and, for a full
    /// listing, marks the workspace's other repositories gone (an incremental one keeps them and
    /// sets their `last_seen`). Records each workspace's [`ListingState`], `seen_at` being when
    /// its listing started. Pass only workspaces fetched completely: workspaces not passed keep
    /// their previous list. The source must exist.
    async fn record_listings(
        &self,
        source: &ProviderName,
        account: &AccountUuid,
        listings: &[WorkspaceListing],
        seen_at: DateTime<Utc>,
    ) -> Result<ListingChanges, StoreError>;

    /// The listing state of each workspace of `source` recorded for `account`, by workspace.
    async fn listing_states(
        &self,
        source: &ProviderName,
        account: &AccountUuid,
    ) -> Result<Vec<ListingState>, StoreError>;

    /// Records that a delivery signed with the secret of the tracked repository's hook arrived
    /// at `at` (a later proof is kept). [`StoreError::NotFound`] when it is not tracked.
    async fn prove_hook(
        &self,
        source: &ProviderName,
        uuid: &RepoUuid,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Listed repositories of `source` (of one account, or all), gone ones included, by full name.
    async fn repositories(
        &self,
        source: &ProviderName,
        account: Option<&AccountUuid>,
    ) -> Result<Vec<StoredRepository>, StoreError>;

    /// Starts tracking a repository (`Unchanged` if it already is). The source must exist.
    async fn track(
        &self,
        source: &ProviderName,
        uuid: &RepoUuid,
        full_name: &str,
    ) -> Result<WriteOutcome, StoreError>;

    /// Tracked repositories of `source`, by full name.
    async fn tracked(&self, source: &ProviderName) -> Result<Vec<TrackedRepository>, StoreError>;

    /// Records the webhook on a tracked repository after reconciling it (`None`: it has none)
    /// and when that was. [`StoreError::NotFound`] when the repository is not tracked.
    async fn record_hook(
        &self,
        source: &ProviderName,
        uuid: &RepoUuid,
        hook: Option<&HookRecord>,
        checked_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Stops tracking; returns what was tracked (with its hook, to remove it from Bitbucket).
    async fn untrack(
        &self,
        source: &ProviderName,
        uuid: &RepoUuid,
    ) -> Result<Option<TrackedRepository>, StoreError>;

    /// One tracked repository, if it is tracked.
    async fn tracked_repository(
        &self,
        source: &ProviderName,
        uuid: &RepoUuid,
    ) -> Result<Option<TrackedRepository>, StoreError>;

    /// The tracked repository whose recorded webhook is `hook`, in any source (to find the
    /// secret a delivery must be signed with).
    async fn tracked_by_hook(
        &self,
        hook: &HookUuid,
    ) -> Result<Option<TrackedRepository>, StoreError>;

    /// Claims, for `holder` until `until`, the right to change the webhooks of a tracked
    /// repository, unless another holder's claim runs past `now`. Runs of sync and untrack
    /// take it, so that two of them never both create a hook, and an untrack never races a
    /// sync into leaving a hook behind. A crashed holder's claim simply runs out.
    async fn claim_hook(
        &self,
        source: &ProviderName,
        uuid: &RepoUuid,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<HookLease, StoreError>;

    /// Ends `holder`'s claim (no effect if it holds none).
    async fn release_hook(
        &self,
        source: &ProviderName,
        uuid: &RepoUuid,
        holder: &str,
    ) -> Result<(), StoreError>;
}
