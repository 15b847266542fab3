//! An in-memory fake of Bitbucket's repository catalogue and hook API: the two traits the sync
//! engine uses ([`RepositoryCatalogue`], [`HookApi`]), for fast tests of code that drives the
//! engine, without HTTP.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use crate::api::hooks::{Hook, HookRequest};
use crate::api::repositories::RepositoryListing;
use crate::model::{HookUuid, Repository};
use crate::sync::{HookApi, RemoteError, RemoteErrorKind, RepositoryCatalogue, WorkspaceRef};

/// The fake: workspaces with repositories (or a failure), hooks per repository, errors to
/// inject, a call budget after which every hook call is rate limited.
#[derive(Debug, Default)]
pub struct FakeBitbucket {
    state: Mutex<FakeState>,
    writes: AtomicUsize,
    calls: AtomicUsize,
    next_id: AtomicUsize,
}

#[derive(Debug, Default)]
struct FakeState {
    workspaces: Vec<WorkspaceRef>,
    repos: BTreeMap<String, Result<Vec<Repository>, RemoteError>>,
    hooks: BTreeMap<String, Vec<Hook>>,
    hook_errors: BTreeMap<String, RemoteError>,
    budget: Option<usize>,
}

impl FakeBitbucket {
    /// An empty fake.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, FakeState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Lists `slug` among the workspaces (repeats are listed as given).
    pub fn add_workspace(&self, slug: &str) {
        self.lock().workspaces.push(WorkspaceRef::new(slug, None));
    }

    /// Makes `workspace` list `repositories` (or fail with the error).
    pub fn set_repositories(
        &self,
        workspace: &str,
        repositories: Result<Vec<Repository>, RemoteError>,
    ) {
        self.lock().repos.insert(workspace.to_owned(), repositories);
    }

    /// The hooks of `full_name`.
    #[must_use]
    pub fn hooks_of(&self, full_name: &str) -> Vec<Hook> {
        self.lock()
            .hooks
            .get(full_name)
            .cloned()
            .unwrap_or_default()
    }

    /// Replaces the hooks of `full_name` (someone else's, duplicates, edits).
    pub fn set_hooks(&self, full_name: &str, hooks: Vec<Hook>) {
        self.lock().hooks.insert(full_name.to_owned(), hooks);
    }

    /// Makes every hook call on `full_name` fail with `error` (`None`: succeed again).
    pub fn fail_hooks(&self, full_name: &str, error: Option<RemoteError>) {
        let mut state = self.lock();
        match error {
            Some(e) => state.hook_errors.insert(full_name.to_owned(), e),
            None => state.hook_errors.remove(full_name),
        };
    }

    /// After `calls` more hook calls (reads and writes), every hook call is rate limited
    /// (`None`: no limit). Resets the call count.
    pub fn set_budget(&self, calls: Option<usize>) {
        self.lock().budget = calls;
        self.calls.store(0, Ordering::SeqCst);
    }

    /// Hook write requests (create, update, delete) so far.
    #[must_use]
    pub fn hook_writes(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }

    fn spend(&self, full_name: &str) -> Result<(), RemoteError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let state = self.lock();
        if state.budget.is_some_and(|b| n >= b) {
            return Err(RemoteError::new(
                RemoteErrorKind::RateLimited,
                "rate limited",
            ));
        }
        match state.hook_errors.get(full_name) {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl RepositoryCatalogue for FakeBitbucket {
    async fn workspaces(&self) -> Result<Vec<WorkspaceRef>, RemoteError> {
        Ok(self.lock().workspaces.clone())
    }

    async fn repositories(&self, workspace: &str) -> Result<RepositoryListing, RemoteError> {
        let repositories = self
            .lock()
            .repos
            .get(workspace)
            .cloned()
            .unwrap_or(Ok(Vec::new()))?;
        Ok(RepositoryListing::new(repositories, None))
    }
}

#[async_trait]
impl HookApi for FakeBitbucket {
    async fn hooks(&self, full_name: &str) -> Result<Vec<Hook>, RemoteError> {
        self.spend(full_name)?;
        Ok(self.hooks_of(full_name))
    }

    async fn create_hook(
        &self,
        full_name: &str,
        hook: &HookRequest<'_>,
    ) -> Result<Hook, RemoteError> {
        self.spend(full_name)?;
        self.writes.fetch_add(1, Ordering::SeqCst);
        let n = self.next_id.fetch_add(1, Ordering::SeqCst);
        let uuid: HookUuid = format!("{{{n:08x}-0000-4000-8000-00000000f00d}}")
            .parse()
            .expect("a valid uuid");
        let mut created = Hook::new(uuid, hook.url, hook.events.iter().cloned().collect());
        created.description = Some(hook.description.to_owned());
        created.active = hook.active;
        created.secret_set = hook.secret.is_some();
        created.created_at =
            chrono::DateTime::from_timestamp(1_000 + i64::try_from(n).unwrap_or(0), 0);
        self.lock()
            .hooks
            .entry(full_name.into())
            .or_default()
            .push(created.clone());
        Ok(created)
    }

    async fn update_hook(
        &self,
        full_name: &str,
        uuid: &HookUuid,
        hook: &HookRequest<'_>,
    ) -> Result<Hook, RemoteError> {
        self.spend(full_name)?;
        self.writes.fetch_add(1, Ordering::SeqCst);
        let mut state = self.lock();
        let h = state
            .hooks
            .get_mut(full_name)
            .and_then(|hs| hs.iter_mut().find(|h| &h.uuid == uuid))
            .ok_or_else(|| RemoteError::new(RemoteErrorKind::NotFound, "no such hook"))?;
        h.url = hook.url.to_owned();
        h.description = Some(hook.description.to_owned());
        h.events = hook.events.iter().cloned().collect();
        h.active = hook.active;
        // Omitting the secret keeps it, as Bitbucket does.
        h.secret_set = h.secret_set || hook.secret.is_some();
        Ok(h.clone())
    }

    async fn delete_hook(&self, full_name: &str, uuid: &HookUuid) -> Result<(), RemoteError> {
        self.spend(full_name)?;
        self.writes.fetch_add(1, Ordering::SeqCst);
        let mut state = self.lock();
        let hs = state.hooks.entry(full_name.into()).or_default();
        let before = hs.len();
        hs.retain(|h| &h.uuid != uuid);
        if hs.len() == before {
            return Err(RemoteError::new(RemoteErrorKind::NotFound, "no such hook"));
        }
        Ok(())
    }
}
