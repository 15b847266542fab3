use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::Utc;

use super::{
    ClientPatch, ClientStore, Entity, HookLease, ListingChanges, ProviderPatch, ProviderStore,
    Removed, RepoStore, SourcePatch, SourceStore, Store, StoreError, StoredRepository, StoredToken,
    Swap, TokenStore, TrackedRepository, Updated, WorkspaceListing, WriteOutcome,
};
use crate::model::{
    AccountInfo, AccountUuid, Client, HookRecord, HookUuid, Provider, ProviderName, Purpose,
    RepoUuid, Source, TokenKey, TokenSet, TokenState,
};

/// An in-process store: for tests and for embedding where nothing must persist.
///
/// It enforces exactly the rules of the database backends (the conformance suite runs on it).
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

/// A row with its version (1 when created, plus one per changing update).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Versioned<T> {
    value: T,
    version: i64,
}

#[derive(Debug, Default)]
struct State {
    installation: String,
    providers: BTreeMap<ProviderName, Versioned<Provider>>,
    clients: BTreeMap<(ProviderName, Purpose), Versioned<Client>>,
    sources: BTreeMap<ProviderName, Versioned<Source>>,
    tokens: BTreeMap<TokenKey, StoredToken>,
    listings: BTreeMap<(ProviderName, AccountUuid, RepoUuid), StoredRepository>,
    tracked: BTreeMap<(ProviderName, RepoUuid), TrackedRepository>,
    /// (source, repository) → (holder, until)
    hook_leases: BTreeMap<(ProviderName, RepoUuid), (String, chrono::DateTime<Utc>)>,
}

impl State {
    fn forget_source(&mut self, source: &ProviderName) {
        self.listings.retain(|(s, _, _), _| s != source);
        self.tracked.retain(|(s, _), _| s != source);
        self.hook_leases.retain(|(s, _), _| s != source);
    }
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied change (every method
        // validates before it mutates), so a poisoned lock is still consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

pub(crate) fn client_key(provider: &ProviderName, purpose: Purpose) -> String {
    format!("{provider}/{purpose}")
}

pub(crate) fn token_key(key: &TokenKey) -> String {
    format!("{}/{}/{}", key.provider, key.purpose, key.account)
}

/// Inserts `value` under `key` unless present; an identical value is `Unchanged`, a different one
/// a conflict.
fn create<K: Ord, V: PartialEq + Clone>(
    map: &mut BTreeMap<K, Versioned<V>>,
    key: K,
    value: &V,
    entity: Entity,
    shown: impl FnOnce() -> String,
) -> Result<WriteOutcome, StoreError> {
    match map.get(&key) {
        Some(existing) if existing.value == *value => Ok(WriteOutcome::Unchanged),
        Some(_) => Err(StoreError::Conflict {
            entity,
            key: shown(),
        }),
        None => {
            map.insert(
                key,
                Versioned {
                    value: value.clone(),
                    version: 1,
                },
            );
            Ok(WriteOutcome::Created)
        }
    }
}

/// Applies `change` to the row under `key` (the caller holds the lock: one atomic change).
fn update<K: Ord, V: PartialEq + Clone>(
    map: &mut BTreeMap<K, Versioned<V>>,
    key: &K,
    change: impl FnOnce(&V) -> Result<V, StoreError>,
    entity: Entity,
    shown: impl FnOnce() -> String,
) -> Result<Updated<V>, StoreError> {
    let Some(row) = map.get_mut(key) else {
        return Err(StoreError::NotFound {
            entity,
            key: shown(),
        });
    };
    let new = change(&row.value)?;
    if new == row.value {
        return Ok(Updated::new(WriteOutcome::Unchanged, new, row.version));
    }
    row.value = new.clone();
    row.version += 1;
    Ok(Updated::new(WriteOutcome::Updated, new, row.version))
}

#[async_trait]
impl ProviderStore for MemoryStore {
    async fn create_provider(&self, provider: &Provider) -> Result<WriteOutcome, StoreError> {
        let mut state = self.lock();
        create(
            &mut state.providers,
            provider.name.clone(),
            provider,
            Entity::Provider,
            || provider.name.to_string(),
        )
    }

    async fn provider(&self, name: &ProviderName) -> Result<Option<Provider>, StoreError> {
        Ok(self.lock().providers.get(name).map(|r| r.value.clone()))
    }

    async fn providers(&self) -> Result<Vec<Provider>, StoreError> {
        Ok(self
            .lock()
            .providers
            .values()
            .map(|r| r.value.clone())
            .collect())
    }

    async fn update_provider(
        &self,
        name: &ProviderName,
        patch: &ProviderPatch,
    ) -> Result<Updated<Provider>, StoreError> {
        let mut state = self.lock();
        update(
            &mut state.providers,
            name,
            |current| Ok(patch.apply(current)),
            Entity::Provider,
            || name.to_string(),
        )
    }

    async fn delete_provider(
        &self,
        name: &ProviderName,
        cascade: bool,
    ) -> Result<Removed, StoreError> {
        let mut state = self.lock();
        if !state.providers.contains_key(name) {
            return Err(StoreError::NotFound {
                entity: Entity::Provider,
                key: name.to_string(),
            });
        }
        let removed = Removed {
            clients: state.clients.keys().filter(|(p, _)| p == name).count(),
            sources: usize::from(state.sources.contains_key(name)),
            tokens: state.tokens.keys().filter(|k| &k.provider == name).count(),
        };
        if !cascade && (removed.clients > 0 || removed.sources > 0) {
            return Err(StoreError::ProviderInUse {
                provider: name.clone(),
                clients: removed.clients,
                sources: removed.sources,
            });
        }
        state.tokens.retain(|k, _| &k.provider != name);
        state.clients.retain(|(p, _), _| p != name);
        state.sources.remove(name);
        state.forget_source(name);
        state.providers.remove(name);
        Ok(removed)
    }
}

#[async_trait]
impl ClientStore for MemoryStore {
    async fn create_client(&self, client: &Client) -> Result<WriteOutcome, StoreError> {
        let mut state = self.lock();
        if !state.providers.contains_key(&client.provider) {
            return Err(StoreError::MissingProvider {
                provider: client.provider.clone(),
            });
        }
        create(
            &mut state.clients,
            (client.provider.clone(), client.purpose),
            client,
            Entity::Client,
            || client_key(&client.provider, client.purpose),
        )
    }

    async fn client(
        &self,
        provider: &ProviderName,
        purpose: Purpose,
    ) -> Result<Option<Client>, StoreError> {
        Ok(self
            .lock()
            .clients
            .get(&(provider.clone(), purpose))
            .map(|r| r.value.clone()))
    }

    async fn clients(&self, provider: Option<&ProviderName>) -> Result<Vec<Client>, StoreError> {
        Ok(self
            .lock()
            .clients
            .values()
            .map(|r| &r.value)
            .filter(|c| provider.is_none_or(|p| &c.provider == p))
            .cloned()
            .collect())
    }

    async fn update_client(
        &self,
        provider: &ProviderName,
        purpose: Purpose,
        patch: &ClientPatch,
    ) -> Result<Updated<Client>, StoreError> {
        let mut state = self.lock();
        update(
            &mut state.clients,
            &(provider.clone(), purpose),
            |current| Ok(patch.apply(current)),
            Entity::Client,
            || client_key(provider, purpose),
        )
    }

    async fn delete_client(
        &self,
        provider: &ProviderName,
        purpose: Purpose,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state.clients.remove(&(provider.clone(), purpose)).is_none() {
            return Err(StoreError::NotFound {
                entity: Entity::Client,
                key: client_key(provider, purpose),
            });
        }
        state
            .tokens
            .retain(|k, _| !(&k.provider == provider && k.purpose == purpose));
        Ok(())
    }
}

#[async_trait]
impl SourceStore for MemoryStore {
    async fn create_source(&self, source: &Source) -> Result<WriteOutcome, StoreError> {
        let mut state = self.lock();
        if !state.providers.contains_key(&source.provider) {
            return Err(StoreError::MissingProvider {
                provider: source.provider.clone(),
            });
        }
        create(
            &mut state.sources,
            source.provider.clone(),
            source,
            Entity::Source,
            || source.provider.to_string(),
        )
    }

    async fn source(&self, provider: &ProviderName) -> Result<Option<Source>, StoreError> {
        Ok(self.lock().sources.get(provider).map(|r| r.value.clone()))
    }

    async fn sources(&self) -> Result<Vec<Source>, StoreError> {
        Ok(self
            .lock()
            .sources
            .values()
            .map(|r| r.value.clone())
            .collect())
    }

    async fn update_source(
        &self,
        provider: &ProviderName,
        patch: &SourcePatch,
    ) -> Result<Updated<Source>, StoreError> {
        let mut state = self.lock();
        update(
            &mut state.sources,
            provider,
            |current| Ok(patch.apply(current)),
            Entity::Source,
            || provider.to_string(),
        )
    }

    async fn delete_source(&self, provider: &ProviderName) -> Result<(), StoreError> {
        let mut state = self.lock();
        match state.sources.remove(provider) {
            Some(_) => {
                state.forget_source(provider);
                Ok(())
            }
            None => Err(StoreError::NotFound {
                entity: Entity::Source,
                key: provider.to_string(),
            }),
        }
    }
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn put_token(
        &self,
        provider: &ProviderName,
        purpose: Purpose,
        account: &AccountInfo,
        tokens: &TokenSet,
    ) -> Result<StoredToken, StoreError> {
        let mut state = self.lock();
        if !state.clients.contains_key(&(provider.clone(), purpose)) {
            return Err(StoreError::NotFound {
                entity: Entity::Client,
                key: client_key(provider, purpose),
            });
        }
        let key = TokenKey {
            provider: provider.clone(),
            purpose,
            account: account.uuid.clone(),
        };
        let version = state.tokens.get(&key).map_or(0, |t| t.version) + 1;
        let stored = StoredToken {
            key: key.clone(),
            account: account.clone(),
            tokens: tokens.clone(),
            state: TokenState::Active,
            version,
            created_at: Utc::now(),
            refreshed_at: None,
            last_error: None,
            lease_until: None,
        };
        state.tokens.insert(key, stored.clone());
        Ok(stored)
    }

    async fn token(&self, key: &TokenKey) -> Result<Option<StoredToken>, StoreError> {
        Ok(self.lock().tokens.get(key).cloned())
    }

    async fn tokens(
        &self,
        provider: Option<&ProviderName>,
    ) -> Result<Vec<StoredToken>, StoreError> {
        Ok(self
            .lock()
            .tokens
            .values()
            .filter(|t| provider.is_none_or(|p| &t.key.provider == p))
            .cloned()
            .collect())
    }

    async fn swap_token(
        &self,
        key: &TokenKey,
        expected_version: i64,
        tokens: &TokenSet,
    ) -> Result<Swap, StoreError> {
        let mut state = self.lock();
        match state.tokens.get_mut(key) {
            Some(stored) if stored.version == expected_version => {
                stored.tokens = tokens.clone();
                stored.state = TokenState::Active;
                stored.version += 1;
                stored.refreshed_at = Some(Utc::now());
                stored.last_error = None;
                stored.lease_until = None;
                Ok(Swap::Swapped(stored.clone()))
            }
            other => Ok(Swap::Stale(other.map(|s| s.clone()))),
        }
    }

    async fn claim_refresh(
        &self,
        key: &TokenKey,
        expected_version: i64,
        now: chrono::DateTime<Utc>,
        until: chrono::DateTime<Utc>,
    ) -> Result<Swap, StoreError> {
        let mut state = self.lock();
        match state.tokens.get_mut(key) {
            Some(stored)
                if stored.version == expected_version
                    && stored.lease_until.is_none_or(|l| l <= now) =>
            {
                stored.version += 1;
                stored.lease_until = Some(until);
                Ok(Swap::Swapped(stored.clone()))
            }
            other => Ok(Swap::Stale(other.map(|s| s.clone()))),
        }
    }

    async fn release_refresh(
        &self,
        key: &TokenKey,
        expected_version: i64,
    ) -> Result<Swap, StoreError> {
        let mut state = self.lock();
        match state.tokens.get_mut(key) {
            Some(stored) if stored.version == expected_version => {
                stored.version += 1;
                stored.lease_until = None;
                Ok(Swap::Swapped(stored.clone()))
            }
            other => Ok(Swap::Stale(other.map(|s| s.clone()))),
        }
    }

    async fn mark_needs_reauth(
        &self,
        key: &TokenKey,
        expected_version: i64,
        reason: &str,
    ) -> Result<Swap, StoreError> {
        let mut state = self.lock();
        match state.tokens.get_mut(key) {
            Some(stored) if stored.version == expected_version => {
                stored.state = TokenState::NeedsReauth;
                stored.version += 1;
                stored.lease_until = None;
                stored.last_error = Some(reason.to_owned());
                Ok(Swap::Swapped(stored.clone()))
            }
            other => Ok(Swap::Stale(other.map(|s| s.clone()))),
        }
    }

    async fn delete_token(&self, key: &TokenKey) -> Result<bool, StoreError> {
        Ok(self.lock().tokens.remove(key).is_some())
    }
}

fn require_source(state: &State, source: &ProviderName) -> Result<(), StoreError> {
    if state.sources.contains_key(source) {
        Ok(())
    } else {
        Err(StoreError::NotFound {
            entity: Entity::Source,
            key: source.to_string(),
        })
    }
}

/// Applies one workspace's complete listing (the caller holds the lock: one atomic change).
fn record_one(
    state: &mut State,
    source: &ProviderName,
    account: &AccountUuid,
    listing: &WorkspaceListing,
    seen_at: chrono::DateTime<Utc>,
) -> ListingChanges {
    let mut changes = ListingChanges::default();
    let mut listed = std::collections::BTreeSet::new();
    for repo in &listing.repositories {
        if !listed.insert(repo.uuid.clone()) {
            continue;
        }
        let key = (source.clone(), account.clone(), repo.uuid.clone());
        match state.listings.get_mut(&key) {
            Some(stored) => {
                if stored.gone_since.is_some() {
                    changes.new += 1;
                } else if stored.repository == *repo {
                    changes.unchanged += 1;
                } else {
                    changes.updated += 1;
                }
                stored.repository = repo.clone();
                stored.last_seen = seen_at;
                stored.gone_since = None;
            }
            None => {
                changes.new += 1;
                state.listings.insert(
                    key,
                    StoredRepository {
                        source: source.clone(),
                        account: account.clone(),
                        repository: repo.clone(),
                        first_seen: seen_at,
                        last_seen: seen_at,
                        gone_since: None,
                    },
                );
            }
        }
    }
    for ((s, a, uuid), stored) in &mut state.listings {
        let in_scope =
            s == source && a == account && stored.repository.workspace == listing.workspace;
        if in_scope && stored.gone_since.is_none() && !listed.contains(uuid) {
            stored.gone_since = Some(seen_at);
            changes.gone += 1;
        }
    }
    changes
}

#[async_trait]
impl RepoStore for MemoryStore {
    async fn record_listings(
        &self,
        source: &ProviderName,
        account: &AccountUuid,
        listings: &[WorkspaceListing],
        seen_at: chrono::DateTime<Utc>,
    ) -> Result<ListingChanges, StoreError> {
        let mut state = self.lock();
        require_source(&state, source)?;
        let mut changes = ListingChanges::default();
        for listing in listings {
            changes += record_one(&mut state, source, account, listing, seen_at);
        }
        Ok(changes)
    }

    async fn repositories(
        &self,
        source: &ProviderName,
        account: Option<&AccountUuid>,
    ) -> Result<Vec<StoredRepository>, StoreError> {
        let mut repos: Vec<StoredRepository> = self
            .lock()
            .listings
            .values()
            .filter(|r| &r.source == source && account.is_none_or(|a| &r.account == a))
            .cloned()
            .collect();
        repos.sort_by(|a, b| {
            (&a.repository.full_name, &a.account).cmp(&(&b.repository.full_name, &b.account))
        });
        Ok(repos)
    }

    async fn track(
        &self,
        source: &ProviderName,
        uuid: &RepoUuid,
        full_name: &str,
    ) -> Result<WriteOutcome, StoreError> {
        let mut state = self.lock();
        require_source(&state, source)?;
        let key = (source.clone(), uuid.clone());
        if state.tracked.contains_key(&key) {
            return Ok(WriteOutcome::Unchanged);
        }
        state.tracked.insert(
            key,
            TrackedRepository {
                source: source.clone(),
                uuid: uuid.clone(),
                full_name: full_name.to_owned(),
                hook: None,
                checked_at: None,
            },
        );
        Ok(WriteOutcome::Created)
    }

    async fn tracked(&self, source: &ProviderName) -> Result<Vec<TrackedRepository>, StoreError> {
        let mut tracked: Vec<TrackedRepository> = self
            .lock()
            .tracked
            .values()
            .filter(|t| &t.source == source)
            .cloned()
            .collect();
        tracked.sort_by(|a, b| a.full_name.cmp(&b.full_name));
        Ok(tracked)
    }

    async fn record_hook(
        &self,
        source: &ProviderName,
        uuid: &RepoUuid,
        hook: Option<&HookRecord>,
        checked_at: chrono::DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        match state.tracked.get_mut(&(source.clone(), uuid.clone())) {
            Some(tracked) => {
                tracked.hook = hook.cloned();
                tracked.checked_at = Some(checked_at);
                Ok(())
            }
            None => Err(StoreError::NotFound {
                entity: Entity::Repository,
                key: format!("{source}/{uuid}"),
            }),
        }
    }

    async fn untrack(
        &self,
        source: &ProviderName,
        uuid: &RepoUuid,
    ) -> Result<Option<TrackedRepository>, StoreError> {
        let mut state = self.lock();
        let key = (source.clone(), uuid.clone());
        state.hook_leases.remove(&key);
        Ok(state.tracked.remove(&key))
    }

    async fn tracked_repository(
        &self,
        source: &ProviderName,
        uuid: &RepoUuid,
    ) -> Result<Option<TrackedRepository>, StoreError> {
        Ok(self
            .lock()
            .tracked
            .get(&(source.clone(), uuid.clone()))
            .cloned())
    }

    async fn tracked_by_hook(
        &self,
        hook: &HookUuid,
    ) -> Result<Option<TrackedRepository>, StoreError> {
        Ok(self
            .lock()
            .tracked
            .values()
            .find(|t| t.hook.as_ref().is_some_and(|h| &h.uuid == hook))
            .cloned())
    }

    async fn claim_hook(
        &self,
        source: &ProviderName,
        uuid: &RepoUuid,
        holder: &str,
        now: chrono::DateTime<Utc>,
        until: chrono::DateTime<Utc>,
    ) -> Result<HookLease, StoreError> {
        let mut state = self.lock();
        let key = (source.clone(), uuid.clone());
        if !state.tracked.contains_key(&key) {
            return Ok(HookLease::NotTracked);
        }
        match state.hook_leases.get(&key) {
            Some((other, held_until)) if other != holder && *held_until > now => {
                Ok(HookLease::Busy(*held_until))
            }
            _ => {
                state.hook_leases.insert(key, (holder.to_owned(), until));
                Ok(HookLease::Claimed)
            }
        }
    }

    async fn release_hook(
        &self,
        source: &ProviderName,
        uuid: &RepoUuid,
        holder: &str,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let key = (source.clone(), uuid.clone());
        if state
            .hook_leases
            .get(&key)
            .is_some_and(|(other, _)| other == holder)
        {
            state.hook_leases.remove(&key);
        }
        Ok(())
    }
}

#[async_trait]
impl Store for MemoryStore {
    fn backend(&self) -> &'static str {
        "memory"
    }

    fn location(&self) -> String {
        "memory:".to_owned()
    }

    async fn installation_id(&self) -> Result<String, StoreError> {
        let mut state = self.lock();
        if state.installation.is_empty() {
            state.installation = super::new_installation_id();
        }
        Ok(state.installation.clone())
    }
}
