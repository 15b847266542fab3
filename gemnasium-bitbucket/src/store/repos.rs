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

/// One workspace's complete listing, as fetched by a sync.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkspaceListing {
    /// The workspace slug.
    pub workspace: String,
    /// Every repository the account can see in it (duplicates by uuid are ignored).
    pub repositories: Vec<Repository>,
}

impl WorkspaceListing {
    /// The complete listing of `workspace`.
    #[must_use]
    pub fn new(workspace: impl Into<String>, repositories: Vec<Repository>) -> Self {
        Self {
            workspace: workspace.into(),
            repositories,
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
    /// Repositories listed again as they were.
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
}

/// Repositories listed by syncs and the ones we track.
#[async_trait]
pub trait RepoStore: Send + Sync {
    /// Records *complete* workspace listings for `account` in one short transaction: inserts
    /// new repositories, updates changed ones, sets `last_seen` to `seen_at`, and marks each
    /// listed workspace's other repositories gone. Pass only workspaces fetched completely:
    /// workspaces not passed keep their previous list. The source must exist.
    async fn record_listings(
        &self,
        source: &ProviderName,
        account: &AccountUuid,
        listings: &[WorkspaceListing],
        seen_at: DateTime<Utc>,
    ) -> Result<ListingChanges, StoreError>;

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
