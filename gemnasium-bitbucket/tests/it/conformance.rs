//! The exported store conformance suite, run from outside the crate as an embedder with their
//! own backend would: against a store that wraps `MemoryStore` and implements every store trait
//! by delegating.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gemnasium_bitbucket::model::{
    AccountInfo, AccountUuid, Client, CredentialName, HookRecord, HookUuid, Provider, ProviderName,
    Purpose, RepoUuid, Source, StoredCredential, TokenKey, TokenSet,
};
use gemnasium_bitbucket::store::{
    ClientPatch, ClientStore, CredentialStore, DynStore, HookLease, ListingChanges, MemoryStore,
    ProviderPatch, ProviderStore, Removed, RepoStore, SourcePatch, SourceStore, Store, StoreError,
    StoredRepository, StoredToken, Swap, TokenStore, TrackedRepository, Updated, WorkspaceListing,
    WriteOutcome,
};

/// A user's own backend, as far as the suite can tell: every call goes to the inner store.
#[derive(Debug, Default)]
pub struct Wrapper {
    inner: MemoryStore,
    /// A deliberately broken backend: token writes ignore the expected version.
    ignore_versions: bool,
}

impl Wrapper {
    pub fn new() -> Self {
        Self::default()
    }

    /// A backend whose compare-and-swap does not compare.
    pub fn ignoring_versions() -> Self {
        Self {
            ignore_versions: true,
            ..Self::default()
        }
    }

    /// The version `swap_token` is told to expect: the caller's, or (broken) whatever is there.
    async fn expected(&self, key: &TokenKey, asked: i64) -> Result<i64, StoreError> {
        if !self.ignore_versions {
            return Ok(asked);
        }
        Ok(self.inner.token(key).await?.map_or(asked, |t| t.version))
    }
}

#[async_trait]
impl ProviderStore for Wrapper {
    async fn create_provider(&self, provider: &Provider) -> Result<WriteOutcome, StoreError> {
        self.inner.create_provider(provider).await
    }
    async fn provider(&self, name: &ProviderName) -> Result<Option<Provider>, StoreError> {
        self.inner.provider(name).await
    }
    async fn providers(&self) -> Result<Vec<Provider>, StoreError> {
        self.inner.providers().await
    }
    async fn update_provider(
        &self,
        name: &ProviderName,
        patch: &ProviderPatch,
    ) -> Result<Updated<Provider>, StoreError> {
        self.inner.update_provider(name, patch).await
    }
    async fn delete_provider(
        &self,
        name: &ProviderName,
        cascade: bool,
    ) -> Result<Removed, StoreError> {
        self.inner.delete_provider(name, cascade).await
    }
}

#[async_trait]
impl ClientStore for Wrapper {
    async fn create_client(&self, client: &Client) -> Result<WriteOutcome, StoreError> {
        self.inner.create_client(client).await
    }
    async fn client(
        &self,
        provider: &ProviderName,
        purpose: Purpose,
    ) -> Result<Option<Client>, StoreError> {
        self.inner.client(provider, purpose).await
    }
    async fn clients(&self, provider: Option<&ProviderName>) -> Result<Vec<Client>, StoreError> {
        self.inner.clients(provider).await
    }
    async fn update_client(
        &self,
        provider: &ProviderName,
        purpose: Purpose,
        patch: &ClientPatch,
    ) -> Result<Updated<Client>, StoreError> {
        self.inner.update_client(provider, purpose, patch).await
    }
    async fn delete_client(
        &self,
        provider: &ProviderName,
        purpose: Purpose,
    ) -> Result<(), StoreError> {
        self.inner.delete_client(provider, purpose).await
    }
}

#[async_trait]
impl CredentialStore for Wrapper {
    async fn add_credential(&self, credential: &StoredCredential) -> Result<(), StoreError> {
        self.inner.add_credential(credential).await
    }
    async fn credential(
        &self,
        provider: &ProviderName,
        name: &CredentialName,
    ) -> Result<Option<StoredCredential>, StoreError> {
        self.inner.credential(provider, name).await
    }
    async fn credentials(
        &self,
        provider: Option<&ProviderName>,
    ) -> Result<Vec<StoredCredential>, StoreError> {
        self.inner.credentials(provider).await
    }
    async fn delete_credential(
        &self,
        provider: &ProviderName,
        name: &CredentialName,
    ) -> Result<bool, StoreError> {
        self.inner.delete_credential(provider, name).await
    }
}

#[async_trait]
impl SourceStore for Wrapper {
    async fn create_source(&self, source: &Source) -> Result<WriteOutcome, StoreError> {
        self.inner.create_source(source).await
    }
    async fn source(&self, provider: &ProviderName) -> Result<Option<Source>, StoreError> {
        self.inner.source(provider).await
    }
    async fn sources(&self) -> Result<Vec<Source>, StoreError> {
        self.inner.sources().await
    }
    async fn update_source(
        &self,
        provider: &ProviderName,
        patch: &SourcePatch,
    ) -> Result<Updated<Source>, StoreError> {
        self.inner.update_source(provider, patch).await
    }
    async fn delete_source(&self, provider: &ProviderName) -> Result<(), StoreError> {
        self.inner.delete_source(provider).await
    }
}

#[async_trait]
impl TokenStore for Wrapper {
    async fn put_token(
        &self,
        provider: &ProviderName,
        purpose: Purpose,
        account: &AccountInfo,
        tokens: &TokenSet,
    ) -> Result<StoredToken, StoreError> {
        self.inner
            .put_token(provider, purpose, account, tokens)
            .await
    }
    async fn token(&self, key: &TokenKey) -> Result<Option<StoredToken>, StoreError> {
        self.inner.token(key).await
    }
    async fn tokens(
        &self,
        provider: Option<&ProviderName>,
    ) -> Result<Vec<StoredToken>, StoreError> {
        self.inner.tokens(provider).await
    }
    async fn swap_token(
        &self,
        key: &TokenKey,
        expected_version: i64,
        tokens: &TokenSet,
    ) -> Result<Swap, StoreError> {
        let expected = self.expected(key, expected_version).await?;
        self.inner.swap_token(key, expected, tokens).await
    }
    async fn claim_refresh(
        &self,
        key: &TokenKey,
        expected_version: i64,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Swap, StoreError> {
        self.inner
            .claim_refresh(key, expected_version, now, until)
            .await
    }
    async fn release_refresh(
        &self,
        key: &TokenKey,
        expected_version: i64,
    ) -> Result<Swap, StoreError> {
        self.inner.release_refresh(key, expected_version).await
    }
    async fn mark_needs_reauth(
        &self,
        key: &TokenKey,
        expected_version: i64,
        reason: &str,
    ) -> Result<Swap, StoreError> {
        self.inner
            .mark_needs_reauth(key, expected_version, reason)
            .await
    }
    async fn delete_token(&self, key: &TokenKey) -> Result<bool, StoreError> {
        self.inner.delete_token(key).await
    }
}

#[async_trait]
impl RepoStore for Wrapper {
    async fn record_listings(
        &self,
        source: &ProviderName,
        account: &AccountUuid,
        listings: &[WorkspaceListing],
        seen_at: DateTime<Utc>,
    ) -> Result<ListingChanges, StoreError> {
        self.inner
            .record_listings(source, account, listings, seen_at)
            .await
    }
    async fn listing_states(
        &self,
        source: &ProviderName,
        account: &AccountUuid,
    ) -> Result<Vec<gemnasium_bitbucket::store::ListingState>, StoreError> {
        self.inner.listing_states(source, account).await
    }
    async fn prove_hook(
        &self,
        source: &ProviderName,
        uuid: &RepoUuid,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.prove_hook(source, uuid, at).await
    }
    async fn repositories(
        &self,
        source: &ProviderName,
        account: Option<&AccountUuid>,
    ) -> Result<Vec<StoredRepository>, StoreError> {
        self.inner.repositories(source, account).await
    }
    async fn track(
        &self,
        source: &ProviderName,
        uuid: &RepoUuid,
        full_name: &str,
    ) -> Result<WriteOutcome, StoreError> {
        self.inner.track(source, uuid, full_name).await
    }
    async fn tracked(&self, source: &ProviderName) -> Result<Vec<TrackedRepository>, StoreError> {
        self.inner.tracked(source).await
    }
    async fn record_hook(
        &self,
        source: &ProviderName,
        uuid: &RepoUuid,
        hook: Option<&HookRecord>,
        checked_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.record_hook(source, uuid, hook, checked_at).await
    }
    async fn untrack(
        &self,
        source: &ProviderName,
        uuid: &RepoUuid,
    ) -> Result<Option<TrackedRepository>, StoreError> {
        self.inner.untrack(source, uuid).await
    }
    async fn tracked_repository(
        &self,
        source: &ProviderName,
        uuid: &RepoUuid,
    ) -> Result<Option<TrackedRepository>, StoreError> {
        self.inner.tracked_repository(source, uuid).await
    }
    async fn tracked_by_hook(
        &self,
        hook: &HookUuid,
    ) -> Result<Option<TrackedRepository>, StoreError> {
        self.inner.tracked_by_hook(hook).await
    }
    async fn claim_hook(
        &self,
        source: &ProviderName,
        uuid: &RepoUuid,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<HookLease, StoreError> {
        self.inner
            .claim_hook(source, uuid, holder, now, until)
            .await
    }
    async fn release_hook(
        &self,
        source: &ProviderName,
        uuid: &RepoUuid,
        holder: &str,
    ) -> Result<(), StoreError> {
        self.inner.release_hook(source, uuid, holder).await
    }
}

use gemnasium_bitbucket::store::EventStore;

#[async_trait]
impl EventStore for Wrapper {
    async fn claim_delivery(
        &self,
        request: &gemnasium_bitbucket::model::RequestUuid,
        now: DateTime<Utc>,
        retention: chrono::Duration,
    ) -> Result<gemnasium_bitbucket::store::DeliveryClaim, StoreError> {
        self.inner.claim_delivery(request, now, retention).await
    }
    async fn release_delivery(
        &self,
        request: &gemnasium_bitbucket::model::RequestUuid,
    ) -> Result<(), StoreError> {
        self.inner.release_delivery(request).await
    }
    async fn record_deprecation(
        &self,
        change: &str,
        announcement: Option<&str>,
        seen_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner
            .record_deprecation(change, announcement, seen_at)
            .await
    }
    async fn deprecations(
        &self,
    ) -> Result<Vec<gemnasium_bitbucket::store::DeprecationNotice>, StoreError> {
        self.inner.deprecations().await
    }
    async fn doctor_reported_at(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.inner.doctor_reported_at().await
    }
    async fn set_doctor_reported_at(&self, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.inner.set_doctor_reported_at(at).await
    }
}

#[async_trait]
impl gemnasium_bitbucket::store::BudgetStore for Wrapper {
    async fn reserve_requests(
        &self,
        consumer: &str,
        account: &str,
        policy: &gemnasium_bitbucket::store::BudgetPolicy,
        want: u64,
        now: DateTime<Utc>,
    ) -> Result<gemnasium_bitbucket::store::BudgetGrant, StoreError> {
        self.inner
            .reserve_requests(consumer, account, policy, want, now)
            .await
    }
}

#[async_trait]
impl Store for Wrapper {
    fn backend(&self) -> &'static str {
        "wrapper"
    }
    fn location(&self) -> String {
        format!("wrapper around {}", self.inner.location())
    }
    async fn installation_id(&self) -> Result<String, StoreError> {
        self.inner.installation_id().await
    }
    async fn secrets_at_rest(
        &self,
    ) -> Result<gemnasium_bitbucket::store::SecretsAtRest, StoreError> {
        self.inner.secrets_at_rest().await
    }
    async fn reseal_secrets(
        &self,
        key: Option<&gemnasium_bitbucket::store::SecretKey>,
    ) -> Result<usize, StoreError> {
        self.inner.reseal_secrets(key).await
    }
    async fn apply_config(
        &self,
        changes: &[gemnasium_bitbucket::store::ConfigChange],
    ) -> Result<(), StoreError> {
        self.inner.apply_config(changes).await
    }
    async fn export_contents(
        &self,
    ) -> Result<gemnasium_bitbucket::store::StoreContents, StoreError> {
        self.inner.export_contents().await
    }
    async fn import_contents(
        &self,
        contents: &gemnasium_bitbucket::store::StoreContents,
    ) -> Result<(), StoreError> {
        self.inner.import_contents(contents).await
    }
    async fn inventory(&self) -> Result<gemnasium_bitbucket::store::Inventory, StoreError> {
        self.inner.inventory().await
    }
}

/// The suite, one `#[tokio::test]` per rule, each on a fresh wrapper.
mod wrapper_conforms {
    use super::*;

    gemnasium_bitbucket::store_conformance!(async { Arc::new(Wrapper::new()) as DynStore });
}

/// The suite is not a formality: a backend whose compare-and-swap does not compare fails it.
#[tokio::test]
async fn a_backend_that_ignores_token_versions_fails_the_suite() {
    let broken = Arc::new(Wrapper::ignoring_versions()) as DynStore;
    let run = tokio::spawn(
        gemnasium_bitbucket::testing::conformance::config::tokens_are_versioned_compare_and_swap(
            broken,
        ),
    );
    let outcome = run.await;
    assert!(
        outcome
            .as_ref()
            .is_err_and(tokio::task::JoinError::is_panic),
        "the compare-and-swap check passed a store that ignores versions: {outcome:?}"
    );
}
