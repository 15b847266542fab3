//! Stored sync credentials other than OAuth grants: access tokens and API tokens.

use async_trait::async_trait;

use super::StoreError;
use crate::model::{CredentialName, ProviderName, StoredCredential};

/// Access tokens and API tokens an operator stored for syncing (`auth credentials add`). Their
/// tokens are secrets: encrypted at rest when the store has a key, like every other secret, and
/// covered by `store encrypt`, `store rotate-key`, `store decrypt` and `store migrate`.
///
/// Times (`expires_at`, `created_at`) are kept to the second, as every backend stores them.
/// A provider with stored credentials is deleted only with cascade, which deletes them too
/// ([`ProviderStore::delete_provider`](super::ProviderStore::delete_provider)).
#[async_trait]
pub trait CredentialStore: Send + Sync {
    /// Stores a new credential. Its provider must exist ([`StoreError::MissingProvider`]); a
    /// credential of that provider with that name must not ([`StoreError::Conflict`] with
    /// [`Entity::Credential`](super::Entity::Credential) and key `provider/name`, nothing
    /// written, even when the values are identical: replacing a token is `delete` then `add`, so
    /// that a typo never overwrites one).
    async fn add_credential(&self, credential: &StoredCredential) -> Result<(), StoreError>;

    /// The credential `name` of `provider`, if stored.
    async fn credential(
        &self,
        provider: &ProviderName,
        name: &CredentialName,
    ) -> Result<Option<StoredCredential>, StoreError>;

    /// Every stored credential, or one provider's, by provider then name.
    async fn credentials(
        &self,
        provider: Option<&ProviderName>,
    ) -> Result<Vec<StoredCredential>, StoreError>;

    /// Deletes a credential; returns whether there was one.
    async fn delete_credential(
        &self,
        provider: &ProviderName,
        name: &CredentialName,
    ) -> Result<bool, StoreError>;
}
