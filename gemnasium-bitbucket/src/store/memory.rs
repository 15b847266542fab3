use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::Utc;

use super::{
    BudgetGrant, BudgetPolicy, BudgetStore, ClientPatch, ClientStore, CredentialStore, Entity,
    HookLease, ListingChanges, ListingKind, ListingState, ProviderPatch, ProviderStore, Removed,
    RepoStore, SourcePatch, SourceStore, Store, StoreError, StoredRepository, StoredToken, Swap,
    TokenStore, TrackedRepository, Updated, WorkspaceListing, WriteOutcome,
};
use crate::model::{
    AccountInfo, AccountUuid, Client, CredentialName, HookRecord, HookUuid, Provider, ProviderName,
    Purpose, RepoUuid, Source, StoredCredential, TokenKey, TokenSet, TokenState,
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

#[derive(Debug, Default, Clone)]
struct State {
    installation: String,
    providers: BTreeMap<ProviderName, Versioned<Provider>>,
    clients: BTreeMap<(ProviderName, Purpose), Versioned<Client>>,
    sources: BTreeMap<ProviderName, Versioned<Source>>,
    tokens: BTreeMap<TokenKey, StoredToken>,
    /// Stored sync credentials, by (provider, name).
    credentials: BTreeMap<(ProviderName, CredentialName), StoredCredential>,
    listings: BTreeMap<(ProviderName, AccountUuid, RepoUuid), StoredRepository>,
    tracked: BTreeMap<(ProviderName, RepoUuid), TrackedRepository>,
    /// (source, repository) → (holder, until)
    hook_leases: BTreeMap<(ProviderName, RepoUuid), (String, chrono::DateTime<Utc>)>,
    /// (source, account, workspace) → its listing state
    listing_states: BTreeMap<(ProviderName, AccountUuid, String), ListingState>,
    /// (consumer, slot, account) → requests taken
    budget: BTreeMap<(String, i64, String), u64>,
    /// Recent webhook deliveries: request id → when first received (to the millisecond).
    deliveries: BTreeMap<String, chrono::DateTime<Utc>>,
    /// Deprecations seen, by reference.
    deprecations: BTreeMap<String, super::DeprecationNotice>,
    /// When doctor last reported deprecations.
    doctor_reported_at: Option<chrono::DateTime<Utc>>,
}

impl State {
    fn forget_source(&mut self, source: &ProviderName) {
        self.listings.retain(|(s, _, _), _| s != source);
        self.tracked.retain(|(s, _), _| s != source);
        self.hook_leases.retain(|(s, _), _| s != source);
        self.listing_states.retain(|(s, _, _), _| s != source);
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

fn credential_key(provider: &ProviderName, name: &CredentialName) -> String {
    format!("{provider}/{name}")
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
            credentials: state.credentials.keys().filter(|(p, _)| p == name).count(),
        };
        if !cascade && (removed.clients > 0 || removed.sources > 0 || removed.credentials > 0) {
            return Err(StoreError::ProviderInUse {
                provider: name.clone(),
                clients: removed.clients,
                sources: removed.sources,
                credentials: removed.credentials,
            });
        }
        state.tokens.retain(|k, _| &k.provider != name);
        state.clients.retain(|(p, _), _| p != name);
        state.credentials.retain(|(p, _), _| p != name);
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
impl CredentialStore for MemoryStore {
    async fn add_credential(&self, credential: &StoredCredential) -> Result<(), StoreError> {
        let mut state = self.lock();
        if !state.providers.contains_key(&credential.provider) {
            return Err(StoreError::MissingProvider {
                provider: credential.provider.clone(),
            });
        }
        let key = (credential.provider.clone(), credential.name.clone());
        if state.credentials.contains_key(&key) {
            return Err(StoreError::Conflict {
                entity: Entity::Credential,
                key: credential_key(&credential.provider, &credential.name),
            });
        }
        // Times at the precision of the SQL backends, so that every backend reads back the same.
        let mut stored = credential.clone();
        stored.created_at = seconds(stored.created_at);
        stored.expires_at = stored.expires_at.map(seconds);
        state.credentials.insert(key, stored);
        Ok(())
    }

    async fn credential(
        &self,
        provider: &ProviderName,
        name: &CredentialName,
    ) -> Result<Option<StoredCredential>, StoreError> {
        Ok(self
            .lock()
            .credentials
            .get(&(provider.clone(), name.clone()))
            .cloned())
    }

    async fn credentials(
        &self,
        provider: Option<&ProviderName>,
    ) -> Result<Vec<StoredCredential>, StoreError> {
        Ok(self
            .lock()
            .credentials
            .values()
            .filter(|c| provider.is_none_or(|p| &c.provider == p))
            .cloned()
            .collect())
    }

    async fn delete_credential(
        &self,
        provider: &ProviderName,
        name: &CredentialName,
    ) -> Result<bool, StoreError> {
        Ok(self
            .lock()
            .credentials
            .remove(&(provider.clone(), name.clone()))
            .is_some())
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
        if !in_scope || stored.gone_since.is_some() || listed.contains(uuid) {
            continue;
        }
        match listing.kind {
            ListingKind::Full => {
                stored.gone_since = Some(seen_at);
                changes.gone += 1;
            }
            // Bitbucket's count proved it is still there, unchanged.
            ListingKind::Incremental => {
                stored.last_seen = seen_at;
                changes.unchanged += 1;
            }
        }
    }
    let key = (source.clone(), account.clone(), listing.workspace.clone());
    let full_at = match (listing.kind, state.listing_states.get(&key)) {
        (ListingKind::Full, _) => seen_at,
        (ListingKind::Incremental, Some(previous)) => previous.full_at,
        // Never listed in full: the next sync must.
        (ListingKind::Incremental, None) => chrono::DateTime::UNIX_EPOCH,
    };
    state.listing_states.insert(
        key,
        ListingState::new(&listing.workspace, seen_at, full_at, listing.count),
    );
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

    async fn listing_states(
        &self,
        source: &ProviderName,
        account: &AccountUuid,
    ) -> Result<Vec<ListingState>, StoreError> {
        Ok(self
            .lock()
            .listing_states
            .iter()
            .filter(|((s, a, _), _)| s == source && a == account)
            .map(|(_, state)| state.clone())
            .collect())
    }

    async fn prove_hook(
        &self,
        source: &ProviderName,
        uuid: &RepoUuid,
        at: chrono::DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        match state.tracked.get_mut(&(source.clone(), uuid.clone())) {
            Some(tracked) => {
                tracked.proven_at = tracked.proven_at.max(Some(at));
                Ok(())
            }
            None => Err(StoreError::NotFound {
                entity: Entity::Repository,
                key: format!("{source}/{uuid}"),
            }),
        }
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
                proven_at: None,
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

/// `t` at the second precision of the SQL backends (their tokens and credentials).
fn seconds(t: chrono::DateTime<Utc>) -> chrono::DateTime<Utc> {
    chrono::DateTime::from_timestamp(t.timestamp(), 0).unwrap_or_default()
}

/// `t` at the millisecond precision of the SQL backends.
fn millis(t: chrono::DateTime<Utc>) -> chrono::DateTime<Utc> {
    super::events::from_millis(super::events::to_millis(t))
}

#[async_trait]
impl super::EventStore for MemoryStore {
    async fn claim_delivery(
        &self,
        request: &crate::model::RequestUuid,
        now: chrono::DateTime<Utc>,
        retention: chrono::Duration,
    ) -> Result<super::DeliveryClaim, StoreError> {
        let now = millis(now);
        let oldest = millis(super::events::oldest_kept(now, retention));
        let mut state = self.lock();
        state.deliveries.retain(|_, at| *at >= oldest);
        match state.deliveries.get(request.as_str()) {
            Some(first) => Ok(super::DeliveryClaim::Duplicate {
                first_received: *first,
            }),
            None => {
                state.deliveries.insert(request.as_str().to_owned(), now);
                Ok(super::DeliveryClaim::First)
            }
        }
    }

    async fn release_delivery(
        &self,
        request: &crate::model::RequestUuid,
    ) -> Result<(), StoreError> {
        self.lock().deliveries.remove(request.as_str());
        Ok(())
    }

    async fn record_deprecation(
        &self,
        change: &str,
        announcement: Option<&str>,
        seen_at: chrono::DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let seen_at = millis(seen_at);
        let mut state = self.lock();
        let notice = state
            .deprecations
            .entry(change.to_owned())
            .or_insert_with(|| super::DeprecationNotice {
                change: change.to_owned(),
                announcement: None,
                first_seen: seen_at,
                last_seen: seen_at,
                count: 0,
            });
        if announcement.is_some() {
            notice.announcement = announcement.map(str::to_owned);
        }
        notice.last_seen = seen_at;
        notice.count += 1;
        Ok(())
    }

    async fn deprecations(&self) -> Result<Vec<super::DeprecationNotice>, StoreError> {
        Ok(self.lock().deprecations.values().cloned().collect())
    }

    async fn doctor_reported_at(&self) -> Result<Option<chrono::DateTime<Utc>>, StoreError> {
        Ok(self.lock().doctor_reported_at)
    }

    async fn set_doctor_reported_at(&self, at: chrono::DateTime<Utc>) -> Result<(), StoreError> {
        self.lock().doctor_reported_at = Some(millis(at));
        Ok(())
    }
}

#[async_trait]
impl BudgetStore for MemoryStore {
    async fn reserve_requests(
        &self,
        consumer: &str,
        account: &str,
        policy: &BudgetPolicy,
        want: u64,
        now: chrono::DateTime<Utc>,
    ) -> Result<BudgetGrant, StoreError> {
        let mut state = self.lock();
        let oldest = policy.oldest_counted(now);
        state
            .budget
            .retain(|(c, slot, _), _| c != consumer || *slot > oldest);
        let usage: Vec<(i64, String, u64)> = state
            .budget
            .iter()
            .filter(|((c, _, _), _)| c == consumer)
            .map(|((_, slot, a), n)| (*slot, a.clone(), *n))
            .collect();
        let (granted, resume_at) = super::budget::decide(&usage, account, policy, want);
        if granted > 0 {
            *state
                .budget
                .entry((consumer.to_owned(), policy.slot(now), account.to_owned()))
                .or_default() += granted;
        }
        Ok(BudgetGrant { granted, resume_at })
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

    async fn secrets_at_rest(&self) -> Result<super::SecretsAtRest, StoreError> {
        Ok(super::SecretsAtRest {
            persisted: false,
            key_id: None,
            encrypted: 0,
            plain: 0,
        })
    }

    async fn reseal_secrets(&self, _key: Option<&super::SecretKey>) -> Result<usize, StoreError> {
        Ok(0)
    }

    async fn apply_config(&self, changes: &[super::ConfigChange]) -> Result<(), StoreError> {
        let mut state = self.lock();
        // Applied to a copy that replaces the state only when every change succeeded.
        let mut next = state.clone();
        for change in changes {
            apply_change(&mut next, change)?;
        }
        *state = next;
        Ok(())
    }

    async fn export_contents(&self) -> Result<super::StoreContents, StoreError> {
        let state = self.lock();
        Ok(super::StoreContents {
            installation_id: state.installation.clone(),
            providers: state.providers.values().map(|r| r.value.clone()).collect(),
            clients: state.clients.values().map(|r| r.value.clone()).collect(),
            sources: state.sources.values().map(|r| r.value.clone()).collect(),
            tokens: state.tokens.values().cloned().collect(),
            credentials: state.credentials.values().cloned().collect(),
            repositories: state.listings.values().cloned().collect(),
            tracked: state.tracked.values().cloned().collect(),
            listings: state
                .listing_states
                .iter()
                .map(|((s, a, _), l)| (s.clone(), a.clone(), l.clone()))
                .collect(),
            deprecations: state.deprecations.values().cloned().collect(),
            doctor_reported_at: state.doctor_reported_at,
        }
        .sorted())
    }

    async fn import_contents(&self, contents: &super::StoreContents) -> Result<(), StoreError> {
        let mut state = self.lock();
        let versioned = |value| Versioned { value, version: 1 };
        let next = State {
            installation: contents.installation_id.clone(),
            providers: contents
                .providers
                .iter()
                .map(|p| (p.name.clone(), versioned(p.clone())))
                .collect(),
            clients: contents
                .clients
                .iter()
                .map(|c| {
                    (
                        (c.provider.clone(), c.purpose),
                        Versioned {
                            value: c.clone(),
                            version: 1,
                        },
                    )
                })
                .collect(),
            sources: contents
                .sources
                .iter()
                .map(|s| {
                    (
                        s.provider.clone(),
                        Versioned {
                            value: s.clone(),
                            version: 1,
                        },
                    )
                })
                .collect(),
            tokens: contents
                .tokens
                .iter()
                .map(|t| (t.key.clone(), t.clone()))
                .collect(),
            credentials: contents
                .credentials
                .iter()
                .map(|c| ((c.provider.clone(), c.name.clone()), c.clone()))
                .collect(),
            listings: contents
                .repositories
                .iter()
                .map(|r| {
                    (
                        (
                            r.source.clone(),
                            r.account.clone(),
                            r.repository.uuid.clone(),
                        ),
                        r.clone(),
                    )
                })
                .collect(),
            tracked: contents
                .tracked
                .iter()
                .map(|t| ((t.source.clone(), t.uuid.clone()), t.clone()))
                .collect(),
            listing_states: contents
                .listings
                .iter()
                .map(|(s, a, l)| ((s.clone(), a.clone(), l.workspace.clone()), l.clone()))
                .collect(),
            deprecations: contents
                .deprecations
                .iter()
                .map(|d| (d.change.clone(), d.clone()))
                .collect(),
            doctor_reported_at: contents.doctor_reported_at,
            // Short-lived: not part of the contents.
            hook_leases: BTreeMap::new(),
            budget: BTreeMap::new(),
            deliveries: BTreeMap::new(),
        };
        check_references(&next)?;
        let counts = contents.counts();
        let imported = super::RowCounts {
            providers: next.providers.len(),
            clients: next.clients.len(),
            sources: next.sources.len(),
            tokens: next.tokens.len(),
            credentials: next.credentials.len(),
            repositories: next.listings.len(),
            gone_repositories: next
                .listings
                .values()
                .filter(|r| r.gone_since.is_some())
                .count(),
            tracked: next.tracked.len(),
            hooks: next.tracked.values().filter(|t| t.hook.is_some()).count(),
            listings: next.listing_states.len(),
            deprecations: next.deprecations.len(),
        };
        if let Some((table, expected, found)) = counts.first_difference(&imported) {
            // Duplicate keys in `contents` collapsed into one row.
            return Err(StoreError::CopyMismatch {
                table,
                expected,
                found,
            });
        }
        *state = next;
        Ok(())
    }

    async fn inventory(&self) -> Result<super::Inventory, StoreError> {
        let state = self.lock();
        Ok(super::Inventory {
            schema_version: None,
            supported_schema_version: None,
            rows: super::RowCounts {
                providers: state.providers.len(),
                clients: state.clients.len(),
                sources: state.sources.len(),
                tokens: state.tokens.len(),
                credentials: state.credentials.len(),
                repositories: state.listings.len(),
                gone_repositories: state
                    .listings
                    .values()
                    .filter(|r| r.gone_since.is_some())
                    .count(),
                tracked: state.tracked.len(),
                hooks: state.tracked.values().filter(|t| t.hook.is_some()).count(),
                listings: state.listing_states.len(),
                deprecations: state.deprecations.len(),
            },
        })
    }
}

/// Applies one configuration change to `state` under the rules of the single writes.
fn apply_change(state: &mut State, change: &super::ConfigChange) -> Result<(), StoreError> {
    use super::ConfigChange;
    fn put<K: Ord, V: PartialEq + Clone>(map: &mut BTreeMap<K, Versioned<V>>, key: K, value: &V) {
        match map.get_mut(&key) {
            Some(row) if row.value == *value => {}
            Some(row) => {
                row.value = value.clone();
                row.version += 1;
            }
            None => {
                map.insert(
                    key,
                    Versioned {
                        value: value.clone(),
                        version: 1,
                    },
                );
            }
        }
    }
    let missing = |provider: &ProviderName| StoreError::MissingProvider {
        provider: provider.clone(),
    };
    match change {
        ConfigChange::PutProvider(p) => put(&mut state.providers, p.name.clone(), p),
        ConfigChange::PutClient(c) => {
            if !state.providers.contains_key(&c.provider) {
                return Err(missing(&c.provider));
            }
            put(&mut state.clients, (c.provider.clone(), c.purpose), c);
        }
        ConfigChange::PutSource(s) => {
            if !state.providers.contains_key(&s.provider) {
                return Err(missing(&s.provider));
            }
            put(&mut state.sources, s.provider.clone(), s);
        }
        ConfigChange::DeleteClient(provider, purpose) => {
            if state
                .clients
                .remove(&(provider.clone(), *purpose))
                .is_none()
            {
                return Err(StoreError::NotFound {
                    entity: Entity::Client,
                    key: client_key(provider, *purpose),
                });
            }
            state
                .tokens
                .retain(|k, _| !(&k.provider == provider && k.purpose == *purpose));
        }
        ConfigChange::DeleteSource(provider) => {
            if state.sources.remove(provider).is_none() {
                return Err(StoreError::NotFound {
                    entity: Entity::Source,
                    key: provider.to_string(),
                });
            }
            state.forget_source(provider);
        }
        ConfigChange::DeleteProvider(name) => {
            if !state.providers.contains_key(name) {
                return Err(StoreError::NotFound {
                    entity: Entity::Provider,
                    key: name.to_string(),
                });
            }
            let clients = state.clients.keys().filter(|(p, _)| p == name).count();
            let sources = usize::from(state.sources.contains_key(name));
            let credentials = state.credentials.keys().filter(|(p, _)| p == name).count();
            if clients > 0 || sources > 0 || credentials > 0 {
                return Err(StoreError::ProviderInUse {
                    provider: name.clone(),
                    clients,
                    sources,
                    credentials,
                });
            }
            state.tokens.retain(|k, _| &k.provider != name);
            state.providers.remove(name);
        }
    }
    Ok(())
}

/// The references the database backends enforce with foreign keys: a client, source or stored
/// credential needs its provider, a token its client, a listing or tracked repository its source.
fn check_references(state: &State) -> Result<(), StoreError> {
    let missing_provider = |provider: &ProviderName| StoreError::MissingProvider {
        provider: provider.clone(),
    };
    for (provider, _) in state.clients.keys() {
        if !state.providers.contains_key(provider) {
            return Err(missing_provider(provider));
        }
    }
    for provider in state.sources.keys() {
        if !state.providers.contains_key(provider) {
            return Err(missing_provider(provider));
        }
    }
    for (provider, _) in state.credentials.keys() {
        if !state.providers.contains_key(provider) {
            return Err(missing_provider(provider));
        }
    }
    for key in state.tokens.keys() {
        if !state
            .clients
            .contains_key(&(key.provider.clone(), key.purpose))
        {
            return Err(StoreError::NotFound {
                entity: Entity::Client,
                key: client_key(&key.provider, key.purpose),
            });
        }
    }
    let sources = state
        .listings
        .keys()
        .map(|(s, _, _)| s)
        .chain(state.tracked.keys().map(|(s, _)| s))
        .chain(state.listing_states.keys().map(|(s, _, _)| s));
    for source in sources {
        require_source(state, source)?;
    }
    Ok(())
}
