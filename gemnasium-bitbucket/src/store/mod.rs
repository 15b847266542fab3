//! Storage: small async traits, one per concern, and the backends that implement all of them.
//!
//! | backend | URL | use |
//! |---|---|---|
//! | [`MemoryStore`] | `memory:` | tests, embedding |
//! | [`SqliteStore`] | `sqlite://PATH` | the embedded default: one file, mode 0600, WAL |
//! | `PostgresStore` (feature `postgres`) | `postgres://…` | several service replicas sharing one database |
//!
//! Every backend enforces the same rules, checked by one conformance suite: a client, source or
//! stored credential needs its provider; one client per (provider, purpose); one source per
//! provider; one credential per (provider, name); deleting a provider that still has clients,
//! sources or stored credentials fails unless cascade is asked for; re-creating an identical row
//! is [`WriteOutcome::Unchanged`], a different one is [`StoreError::Conflict`].

mod budget;
#[cfg(all(test, feature = "testing"))]
mod conformance_runs;
mod contents;
mod credentials;
mod error;
mod events;
mod location;
mod memory;
mod patch;
#[cfg(feature = "postgres")]
mod postgres;
mod repos;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod rows;
mod sealing;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql_admin;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql_contents;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql_credentials;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql_events;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::{
    AccountInfo, Client, Provider, ProviderName, Purpose, Source, TokenKey, TokenSet, TokenState,
};

pub use self::budget::{BudgetGrant, BudgetPolicy, BudgetStore};
pub use self::contents::{
    migrate, status, ConfigChange, Inventory, MigrateError, MigrateReport, RowCounts,
    StoreContents, StoreStatus,
};
pub use self::credentials::CredentialStore;
pub use self::error::{Entity, StoreError};
pub use self::events::{DeliveryClaim, DeprecationNotice, EventStore};
pub use self::location::StoreLocation;
pub use self::memory::MemoryStore;
pub use self::patch::{ClientPatch, ProviderPatch, SourcePatch, Updated};
#[cfg(feature = "postgres")]
pub use self::postgres::PostgresStore;
pub use self::repos::{
    HookLease, ListingChanges, ListingKind, ListingState, RepoStore, StoredRepository,
    TrackedRepository, WorkspaceListing,
};
pub use self::sealing::{
    KeyId, SecretKey, SecretKeyError, UnsealError, SECRET_KEY_ENV, SECRET_KEY_FILE_ENV,
};
#[cfg(feature = "sqlite")]
pub use self::sqlite::SqliteStore;

/// What a create or update did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[must_use]
pub enum WriteOutcome {
    /// A new row was written.
    Created,
    /// An existing row was changed.
    Updated,
    /// The row already held exactly these values; nothing was written.
    Unchanged,
}

impl WriteOutcome {
    /// `created`, `updated` or `unchanged`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            WriteOutcome::Created => "created",
            WriteOutcome::Updated => "updated",
            WriteOutcome::Unchanged => "unchanged",
        }
    }
}

/// What deleting a provider removed along with it (non-zero only with cascade).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Removed {
    /// Clients removed.
    pub clients: usize,
    /// Sources removed.
    pub sources: usize,
    /// Stored user tokens removed.
    pub tokens: usize,
    /// Stored sync credentials (access tokens, API tokens) removed.
    pub credentials: usize,
}

/// Providers: where users authorize and tokens come from.
#[async_trait]
pub trait ProviderStore: Send + Sync {
    /// Adds `provider`. An identical existing one is `Unchanged`; a different one is a
    /// [`StoreError::Conflict`] and nothing changes.
    async fn create_provider(&self, provider: &Provider) -> Result<WriteOutcome, StoreError>;
    /// The provider called `name`, if any.
    async fn provider(&self, name: &ProviderName) -> Result<Option<Provider>, StoreError>;
    /// All providers, by name.
    async fn providers(&self) -> Result<Vec<Provider>, StoreError>;
    /// Changes the fields `patch` names, and only those, atomically: concurrent updates of
    /// different fields never undo each other. [`StoreError::NotFound`] if there is none.
    async fn update_provider(
        &self,
        name: &ProviderName,
        patch: &ProviderPatch,
    ) -> Result<Updated<Provider>, StoreError>;
    /// Deletes a provider. With clients, sources or stored credentials left it fails with
    /// [`StoreError::ProviderInUse`] unless `cascade`, which removes them (and their tokens) too.
    async fn delete_provider(
        &self,
        name: &ProviderName,
        cascade: bool,
    ) -> Result<Removed, StoreError>;
}

/// OAuth clients: a consumer's key and secret per (provider, purpose).
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Adds `client`; needs its provider ([`StoreError::MissingProvider`]). Identical ⇒
    /// `Unchanged`; different ⇒ [`StoreError::Conflict`].
    async fn create_client(&self, client: &Client) -> Result<WriteOutcome, StoreError>;
    /// The client of `provider` for `purpose`, if any.
    async fn client(
        &self,
        provider: &ProviderName,
        purpose: Purpose,
    ) -> Result<Option<Client>, StoreError>;
    /// All clients, or those of one provider, by provider then purpose.
    async fn clients(&self, provider: Option<&ProviderName>) -> Result<Vec<Client>, StoreError>;
    /// Changes the fields `patch` names, and only those, atomically ([`StoreError::NotFound`]
    /// if there is no such client).
    async fn update_client(
        &self,
        provider: &ProviderName,
        purpose: Purpose,
        patch: &ClientPatch,
    ) -> Result<Updated<Client>, StoreError>;
    /// Deletes a client and the user tokens issued to it ([`StoreError::NotFound`] if none).
    async fn delete_client(
        &self,
        provider: &ProviderName,
        purpose: Purpose,
    ) -> Result<(), StoreError>;
}

/// Sources: what repo-syncer offers, one per provider.
#[async_trait]
pub trait SourceStore: Send + Sync {
    /// Adds `source`; needs its provider. Identical ⇒ `Unchanged`; different ⇒ conflict.
    async fn create_source(&self, source: &Source) -> Result<WriteOutcome, StoreError>;
    /// The source of `provider`, if any.
    async fn source(&self, provider: &ProviderName) -> Result<Option<Source>, StoreError>;
    /// All sources, by provider.
    async fn sources(&self) -> Result<Vec<Source>, StoreError>;
    /// Changes the fields `patch` names, and only those, atomically ([`StoreError::NotFound`]
    /// if there is no such source).
    async fn update_source(
        &self,
        provider: &ProviderName,
        patch: &SourcePatch,
    ) -> Result<Updated<Source>, StoreError>;
    /// Deletes the source of `provider` ([`StoreError::NotFound`] if none).
    async fn delete_source(&self, provider: &ProviderName) -> Result<(), StoreError>;
}

/// A user's token as stored, with the version used for compare-and-swap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredToken {
    /// Which client and account it belongs to.
    pub key: TokenKey,
    /// The account as it was when the token was stored.
    pub account: AccountInfo,
    /// The tokens themselves.
    pub tokens: TokenSet,
    /// Usable, or waiting for the user to authorize again.
    pub state: TokenState,
    /// Increases on every write; a refresh writes only if it is unchanged.
    pub version: i64,
    /// When the account authorized (last `put_token`).
    pub created_at: DateTime<Utc>,
    /// When the tokens were last refreshed, if ever.
    pub refreshed_at: Option<DateTime<Utc>>,
    /// Why the token needs re-authorization, when it does. Never contains a token.
    pub last_error: Option<String>,
    /// While set and in the future, one process holds the right to spend the refresh token.
    pub lease_until: Option<DateTime<Utc>>,
}

/// Bitbucket forgets a refresh token unused for about three months (facts: "unused refresh
/// tokens expire after 3 months"); counted from its last use, conservatively.
pub const REFRESH_TOKEN_IDLE_LIFETIME: chrono::TimeDelta = chrono::TimeDelta::days(90);

/// How long before a credential's expiry `doctor` starts warning.
pub const EXPIRY_WARNING: chrono::TimeDelta = chrono::TimeDelta::days(14);

impl StoredToken {
    /// When this grant stops working unless used: for a token with a refresh token, its last
    /// use (sign-in or refresh) plus [`REFRESH_TOKEN_IDLE_LIFETIME`] (each refresh pushes it
    /// back); for one without (a consumer's own grant, renewed by asking again), its access
    /// token's expiry, if any. For a service's own alerting; `doctor` warns
    /// [`EXPIRY_WARNING`] ahead.
    #[must_use]
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        if self.tokens.refresh_token.is_some() {
            Some(self.refreshed_at.unwrap_or(self.created_at) + REFRESH_TOKEN_IDLE_LIFETIME)
        } else {
            self.tokens.expires_at
        }
    }
}

/// The result of a compare-and-swap on a stored token.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub enum Swap {
    /// Written; the new stored value.
    Swapped(StoredToken),
    /// Someone else wrote first (or deleted it); here is what is stored now. Use it.
    Stale(Option<StoredToken>),
}

/// Users' OAuth tokens, versioned so that processes sharing a store never both spend one
/// (rotating) refresh token.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Stores a fresh authorization for `account`, replacing any previous one for this client.
    /// The client must exist ([`StoreError::NotFound`]).
    async fn put_token(
        &self,
        provider: &ProviderName,
        purpose: Purpose,
        account: &AccountInfo,
        tokens: &TokenSet,
    ) -> Result<StoredToken, StoreError>;
    /// The stored token for `key`, if any.
    async fn token(&self, key: &TokenKey) -> Result<Option<StoredToken>, StoreError>;
    /// All stored tokens, or one provider's, by provider, purpose and account.
    async fn tokens(&self, provider: Option<&ProviderName>)
        -> Result<Vec<StoredToken>, StoreError>;
    /// Writes refreshed `tokens` (access and refresh together) only if the stored version is
    /// still `expected_version`; sets `refreshed_at`, state `active`, and ends any lease.
    async fn swap_token(
        &self,
        key: &TokenKey,
        expected_version: i64,
        tokens: &TokenSet,
    ) -> Result<Swap, StoreError>;
    /// Claims the right to spend the refresh token until `until`, if the version is still
    /// `expected_version` and no other lease is running at `now`. Only the claimer calls
    /// Bitbucket; its [`swap_token`](Self::swap_token) (or
    /// [`release_refresh`](Self::release_refresh)) ends the lease. A crashed claimer's lease
    /// simply runs out.
    async fn claim_refresh(
        &self,
        key: &TokenKey,
        expected_version: i64,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Swap, StoreError>;
    /// Ends a lease without new tokens (the refresh failed in a way that may pass).
    async fn release_refresh(
        &self,
        key: &TokenKey,
        expected_version: i64,
    ) -> Result<Swap, StoreError>;
    /// Marks the token `needs_reauth` with `reason` if the version is still `expected_version`.
    async fn mark_needs_reauth(
        &self,
        key: &TokenKey,
        expected_version: i64,
        reason: &str,
    ) -> Result<Swap, StoreError>;
    /// Deletes the token; returns whether there was one.
    async fn delete_token(&self, key: &TokenKey) -> Result<bool, StoreError>;
}

/// Everything a backend provides. Implemented by every backend; use it as `Arc<dyn Store>`.
#[async_trait]
pub trait Store:
    ProviderStore
    + ClientStore
    + SourceStore
    + TokenStore
    + CredentialStore
    + RepoStore
    + BudgetStore
    + EventStore
{
    /// `memory`, `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Where the data lives, with any password removed (safe to print).
    fn location(&self) -> String;
    /// This installation's random identifier, created with the store: it marks the webhooks we
    /// install, so that two Gemnasium installations never take each other's hooks for theirs.
    async fn installation_id(&self) -> Result<String, StoreError>;
    /// What the backend knows is unsafe about where the data lives (file modes), in words.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
    /// Whether and how the stored secrets (consumer secrets, tokens, stored credentials'
    /// tokens, webhook secrets) are encrypted.
    async fn secrets_at_rest(&self) -> Result<SecretsAtRest, StoreError>;
    /// Re-encrypts every stored secret with `key` (`None`: stores them in plain text) in one
    /// transaction, records the key's id, and uses `key` from then on. Interrupted, nothing
    /// changes: the store stays readable with the key it had. Returns how many values were
    /// rewritten. The memory store, which keeps nothing at rest, rewrites nothing.
    async fn reseal_secrets(&self, key: Option<&SecretKey>) -> Result<usize, StoreError>;
    /// Applies `changes` in order, in one transaction: all of them or, on any error, none.
    /// A put of a row equal to the stored one writes nothing; a changing put adds one to the
    /// row's version. The store's rules hold as for single writes (a client needs its provider,
    /// a provider with clients, sources or stored credentials left is not deleted).
    async fn apply_config(&self, changes: &[ConfigChange]) -> Result<(), StoreError>;
    /// Everything the store holds that [`StoreContents`] covers, secrets decrypted, in a
    /// stable order.
    async fn export_contents(&self) -> Result<StoreContents, StoreError>;
    /// Replaces everything [`StoreContents`] covers with `contents`, in one transaction that
    /// checks the count of every kind of row before committing; secrets are encrypted with
    /// this store's key. On any error the store is as it was.
    async fn import_contents(&self, contents: &StoreContents) -> Result<(), StoreError>;
    /// The schema version and the number of rows of each kind.
    async fn inventory(&self) -> Result<Inventory, StoreError>;
}

/// The encryption state of a store's secrets ([`Store::secrets_at_rest`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SecretsAtRest {
    /// False for the memory store, which writes nothing to disk.
    pub persisted: bool,
    /// The id of the key the store's secrets are encrypted with, if any.
    pub key_id: Option<String>,
    /// Secrets stored encrypted.
    pub encrypted: usize,
    /// Secrets stored in plain text.
    pub plain: usize,
}

impl SecretsAtRest {
    /// `encrypted (key …)`, `plain text`, `empty` or `in memory`, for status output.
    #[must_use]
    pub fn describe(&self) -> String {
        match (&self.key_id, self.persisted) {
            (_, false) => "in memory (nothing at rest)".to_owned(),
            (Some(id), true) if self.plain == 0 => format!("encrypted with key {id}"),
            (Some(id), true) => format!(
                "encrypted with key {id}, but {} value(s) in plain text (run `store encrypt`)",
                self.plain
            ),
            (None, true) if self.plain == 0 => "no key (no secrets stored yet)".to_owned(),
            (None, true) => "plain text (no key)".to_owned(),
        }
    }
}

/// How to open a store: today, the key that encrypts its secrets.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct StoreOptions {
    /// Encrypts secrets at rest; required to open a store whose secrets are encrypted.
    pub secret_key: Option<SecretKey>,
}

impl StoreOptions {
    /// No key: secrets in plain text.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Options with `key`.
    #[must_use]
    pub fn secret_key(mut self, key: Option<SecretKey>) -> Self {
        self.secret_key = key;
        self
    }

    /// The key from `GEMNASIUM_SECRET_KEY` or `GEMNASIUM_SECRET_KEY_FILE`, if set.
    ///
    /// # Errors
    /// When the variable is set but the key is unusable.
    pub fn from_env() -> Result<Self, StoreError> {
        Ok(Self::new().secret_key(SecretKey::from_env()?))
    }
}

/// A shared handle to any backend.
pub type DynStore = Arc<dyn Store>;

/// Opens the store at `location` for commands that only read: like [`open`], but a SQLite store
/// that cannot be written is opened read-only instead of failing, and file modes are left as
/// they are.
///
/// # Errors
/// As [`open`].
pub async fn open_for_reading(location: &str) -> Result<DynStore, StoreError> {
    open_for_reading_with(location, &StoreOptions::new()).await
}

/// [`open_for_reading`] with options (the secret key).
///
/// # Errors
/// As [`open_with`].
pub async fn open_for_reading_with(
    location: &str,
    options: &StoreOptions,
) -> Result<DynStore, StoreError> {
    match location.parse::<StoreLocation>()? {
        #[cfg(feature = "sqlite")]
        StoreLocation::Sqlite(path) => {
            let store = SqliteStore::open_for_reading(&path).await?;
            store.use_secret_key(options.secret_key.clone()).await?;
            Ok(Arc::new(store))
        }
        _ => open_with(location, options).await,
    }
}

/// Opens the store at `location` (`memory:`, `sqlite://PATH`, `postgres://…`), creating and
/// migrating it when needed, without a secret key: a store whose secrets are encrypted is
/// refused ([`StoreError::SecretKeyRequired`]); use [`open_with`] and
/// [`StoreOptions::from_env`] to honour `GEMNASIUM_SECRET_KEY`.
///
/// # Errors
/// [`StoreError::InvalidLocation`] for an unknown form, [`StoreError::BackendNotCompiled`] when
/// the backend's feature is off, or whatever opening the backend reports.
pub async fn open(location: &str) -> Result<DynStore, StoreError> {
    open_with(location, &StoreOptions::new()).await
}

/// Opens the store at `location` with `options`. With a secret key, a new store (or one that
/// holds no secrets yet) becomes encrypted with it; a store encrypted with another key is
/// refused ([`StoreError::WrongSecretKey`]), and so is a store holding plain-text secrets
/// ([`StoreError::PlainSecrets`]: encrypt it first with [`Store::reseal_secrets`]).
///
/// ```no_run
/// # async fn demo() -> Result<(), gemnasium_bitbucket::store::StoreError> {
/// use gemnasium_bitbucket::store::{self, StoreOptions};
/// let store = store::open_with("sqlite:///var/lib/gemnasium/store.db", &StoreOptions::from_env()?).await?;
/// println!("secrets: {}", store.secrets_at_rest().await?.describe());
/// # Ok(()) }
/// ```
///
/// # Errors
/// As [`open`], and the key errors above; nothing is written when one is returned.
pub async fn open_with(location: &str, options: &StoreOptions) -> Result<DynStore, StoreError> {
    let key = options.secret_key.clone();
    match location.parse::<StoreLocation>()? {
        // Nothing is at rest in memory: a key changes nothing there.
        StoreLocation::Memory => Ok(Arc::new(MemoryStore::new())),
        #[cfg(feature = "sqlite")]
        StoreLocation::Sqlite(path) => {
            let store = SqliteStore::open(&path).await?;
            store.use_secret_key(key).await?;
            Ok(Arc::new(store))
        }
        #[cfg(not(feature = "sqlite"))]
        StoreLocation::Sqlite(_) => Err(StoreError::BackendNotCompiled("sqlite")),
        #[cfg(feature = "postgres")]
        StoreLocation::Postgres(url) => {
            let store = PostgresStore::connect(&url).await?;
            store.use_secret_key(key).await?;
            Ok(Arc::new(store))
        }
        #[cfg(not(feature = "postgres"))]
        StoreLocation::Postgres(_) => Err(StoreError::BackendNotCompiled("postgres")),
    }
}

/// A new random installation id: 16 random bytes in hex.
pub(crate) fn new_installation_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}
