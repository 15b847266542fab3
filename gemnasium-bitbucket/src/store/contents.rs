//! A store as a whole: configuration changes applied in one transaction (declarative `apply`),
//! everything a store holds read and written in one piece (`store migrate`), and what a store
//! reports about itself (`store status`).
//!
//! Copying goes through the model, not the bytes: the source's secrets are decrypted with its
//! key and the target encrypts them with its own (or keeps them in plain text when it has
//! none), so a copy works between backends and between keys.

use chrono::{DateTime, Utc};
use serde::Serialize;
use thiserror::Error;

use super::{
    DeprecationNotice, ListingState, SecretsAtRest, Store, StoreError, StoredRepository,
    StoredToken, TrackedRepository,
};
use crate::model::{
    AccountUuid, Client, Provider, ProviderName, Purpose, Source, StoredCredential,
};

/// One change to the configuration, as [`Store::apply_config`] applies it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
// A plan holds a handful of these: boxing the rows would only add indirection.
#[allow(clippy::large_enum_variant)]
pub enum ConfigChange {
    /// Creates the provider, or makes the existing one equal to it.
    PutProvider(Provider),
    /// Creates the client, or makes the existing one equal to it (its tokens stay).
    PutClient(Client),
    /// Creates the source, or makes the existing one equal to it.
    PutSource(Source),
    /// Deletes a provider that has no clients, sources or stored credentials left.
    DeleteProvider(ProviderName),
    /// Deletes a client and the tokens issued to it.
    DeleteClient(ProviderName, Purpose),
    /// Deletes a source with its listings and tracked repositories.
    DeleteSource(ProviderName),
}

/// Everything a store holds that is worth keeping, read in one piece
/// ([`Store::export_contents`]) and written in one transaction ([`Store::import_contents`]).
///
/// Not included, because they are short-lived and rebuild themselves: webhook deliveries seen
/// recently (the redelivery window), the request budget of consumers, and leases on tracked
/// repositories. Configuration rows restart their update counters (`version`) at 1; tokens keep
/// theirs, with their state and times.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreContents {
    /// The installation id that marks our webhooks (empty: none created yet).
    pub installation_id: String,
    /// Providers, by name.
    pub providers: Vec<Provider>,
    /// Clients, by provider and purpose.
    pub clients: Vec<Client>,
    /// Sources, by provider.
    pub sources: Vec<Source>,
    /// Users' tokens, with their state, version and times.
    pub tokens: Vec<StoredToken>,
    /// Stored sync credentials (access tokens, API tokens), by provider and name.
    pub credentials: Vec<StoredCredential>,
    /// Listed repositories, gone ones included.
    pub repositories: Vec<StoredRepository>,
    /// Tracked repositories with their webhooks.
    pub tracked: Vec<TrackedRepository>,
    /// Each (source, account, workspace)'s listing state.
    pub listings: Vec<(ProviderName, AccountUuid, ListingState)>,
    /// Deprecations Bitbucket announced.
    pub deprecations: Vec<DeprecationNotice>,
    /// When doctor last reported deprecations.
    pub doctor_reported_at: Option<DateTime<Utc>>,
}

impl StoreContents {
    /// How many rows of each kind these contents hold.
    #[must_use]
    pub fn counts(&self) -> RowCounts {
        RowCounts {
            providers: self.providers.len(),
            clients: self.clients.len(),
            sources: self.sources.len(),
            tokens: self.tokens.len(),
            credentials: self.credentials.len(),
            repositories: self.repositories.len(),
            gone_repositories: self
                .repositories
                .iter()
                .filter(|r| r.gone_since.is_some())
                .count(),
            tracked: self.tracked.len(),
            hooks: self.tracked.iter().filter(|t| t.hook.is_some()).count(),
            listings: self.listings.len(),
            deprecations: self.deprecations.len(),
        }
    }

    /// The contents with every time at the precision all backends keep (seconds; deprecation
    /// times milliseconds), so that a copy reads back equal whatever the source was.
    #[must_use]
    pub fn at_stored_precision(mut self) -> Self {
        for t in &mut self.tokens {
            t.created_at = seconds(t.created_at);
            t.refreshed_at = t.refreshed_at.map(seconds);
            t.lease_until = t.lease_until.map(seconds);
            t.tokens.expires_at = t.tokens.expires_at.map(seconds);
        }
        for c in &mut self.credentials {
            c.created_at = seconds(c.created_at);
            c.expires_at = c.expires_at.map(seconds);
        }
        for r in &mut self.repositories {
            r.first_seen = seconds(r.first_seen);
            r.last_seen = seconds(r.last_seen);
            r.gone_since = r.gone_since.map(seconds);
        }
        for t in &mut self.tracked {
            t.checked_at = t.checked_at.map(seconds);
            t.proven_at = t.proven_at.map(seconds);
        }
        for (_, _, l) in &mut self.listings {
            l.complete_at = seconds(l.complete_at);
            l.full_at = seconds(l.full_at);
        }
        for d in &mut self.deprecations {
            d.first_seen = millis(d.first_seen);
            d.last_seen = millis(d.last_seen);
        }
        self.doctor_reported_at = self.doctor_reported_at.map(millis);
        self
    }

    /// The contents in the order every backend returns them, so that two stores holding the
    /// same rows compare equal.
    pub(crate) fn sorted(mut self) -> Self {
        self.providers.sort_by(|a, b| a.name.cmp(&b.name));
        self.clients
            .sort_by(|a, b| (&a.provider, a.purpose).cmp(&(&b.provider, b.purpose)));
        self.sources.sort_by(|a, b| a.provider.cmp(&b.provider));
        self.tokens.sort_by(|a, b| a.key.cmp(&b.key));
        self.credentials
            .sort_by(|a, b| (&a.provider, &a.name).cmp(&(&b.provider, &b.name)));
        self.repositories.sort_by(|a, b| {
            (&a.source, &a.account, &a.repository.uuid).cmp(&(
                &b.source,
                &b.account,
                &b.repository.uuid,
            ))
        });
        self.tracked
            .sort_by(|a, b| (&a.source, &a.uuid).cmp(&(&b.source, &b.uuid)));
        self.listings
            .sort_by(|a, b| (&a.0, &a.1, &a.2.workspace).cmp(&(&b.0, &b.1, &b.2.workspace)));
        self.deprecations.sort_by(|a, b| a.change.cmp(&b.change));
        self
    }
}

/// How many rows of each kind a store holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RowCounts {
    /// Providers.
    pub providers: usize,
    /// Clients.
    pub clients: usize,
    /// Sources.
    pub sources: usize,
    /// Users' tokens.
    pub tokens: usize,
    /// Stored sync credentials.
    pub credentials: usize,
    /// Listed repositories, gone ones included.
    pub repositories: usize,
    /// Of those, the ones gone from their workspace's last complete listing.
    pub gone_repositories: usize,
    /// Tracked repositories.
    pub tracked: usize,
    /// Of those, the ones with a recorded webhook.
    pub hooks: usize,
    /// Workspace listing states.
    pub listings: usize,
    /// Deprecation notices.
    pub deprecations: usize,
}

impl RowCounts {
    /// Whether the store holds no row at all of these kinds.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// `(name, count)` for each kind, in a stable order (for messages and tables).
    #[must_use]
    pub fn named(&self) -> [(&'static str, usize); 11] {
        [
            ("providers", self.providers),
            ("clients", self.clients),
            ("sources", self.sources),
            ("tokens", self.tokens),
            ("credentials", self.credentials),
            ("repositories", self.repositories),
            ("gone_repositories", self.gone_repositories),
            ("tracked", self.tracked),
            ("hooks", self.hooks),
            ("listings", self.listings),
            ("deprecations", self.deprecations),
        ]
    }

    /// The first kind whose count differs from `other`'s: (name, ours, theirs).
    #[must_use]
    pub fn first_difference(&self, other: &Self) -> Option<(&'static str, usize, usize)> {
        self.named()
            .into_iter()
            .zip(other.named())
            .find(|((_, a), (_, b))| a != b)
            .map(|((name, a), (_, b))| (name, a, b))
    }
}

/// What a store says of itself ([`Store::inventory`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Inventory {
    /// The newest schema migration applied (`None`: the memory store has no schema).
    pub schema_version: Option<i64>,
    /// The newest schema migration this program knows.
    pub supported_schema_version: Option<i64>,
    /// Rows by kind.
    pub rows: RowCounts,
}

/// A store's status, for people and monitoring ([`status`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StoreStatus {
    /// `memory`, `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Where the data lives, password removed.
    pub location: String,
    /// The schema version found and the one this program knows.
    pub schema_version: Option<i64>,
    /// The newest schema version this program knows.
    pub supported_schema_version: Option<i64>,
    /// Rows by kind.
    pub rows: RowCounts,
    /// Whether and how secrets are encrypted.
    pub secrets: SecretsAtRest,
}

/// The status of `store`: backend, location, schema version, row counts and encryption state.
///
/// # Errors
/// The store's failure to answer.
pub async fn status(store: &dyn Store) -> Result<StoreStatus, StoreError> {
    let inventory = store.inventory().await?;
    Ok(StoreStatus {
        backend: store.backend(),
        location: store.location(),
        schema_version: inventory.schema_version,
        supported_schema_version: inventory.supported_schema_version,
        rows: inventory.rows,
        secrets: store.secrets_at_rest().await?,
    })
}

/// Why [`migrate`] refused or failed. When one is returned before the copy (every variant but
/// [`MigrateError::Store`] from the write and [`MigrateError::Differs`]), nothing was written.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// Source and target are the same store.
    #[error("the source and the target are the same store ({location}); nothing was written")]
    SameStore {
        /// The store, password removed.
        location: String,
    },
    /// The target holds rows and replacing them was not asked for.
    #[error(
        "the target {location} is not empty ({}); nothing was written",
        describe_rows(rows)
    )]
    TargetNotEmpty {
        /// The target, password removed.
        location: String,
        /// What it holds.
        rows: RowCounts,
    },
    /// Reading the source or writing the target failed (the write is one transaction: on
    /// failure the target is as it was).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// After the copy, the target read back differently from the source (a backend bug).
    #[error("after the copy, the target's {what} differ from the source's")]
    Differs {
        /// Which rows.
        what: &'static str,
    },
}

/// `2 providers, 3 clients` (the kinds that are not zero).
fn describe_rows(rows: &RowCounts) -> String {
    rows.named()
        .into_iter()
        .filter(|(name, n)| *n > 0 && !matches!(*name, "gone_repositories" | "hooks"))
        .map(|(name, n)| format!("{n} {name}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What [`migrate`] copied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MigrateReport {
    /// The source, password removed.
    pub from: String,
    /// The target, password removed.
    pub to: String,
    /// Rows copied, by kind (verified in the target before committing).
    pub rows: RowCounts,
    /// Whether the target held rows that were replaced.
    pub replaced: RowCounts,
    /// The target's encryption state afterwards.
    pub secrets: SecretsAtRest,
}

/// Copies everything `from` holds into `to` ([`StoreContents`]: configuration, tokens with
/// their state and times, stored sync credentials, repositories including gone ones, tracked
/// repositories with their webhooks, listing states, deprecation notices, the installation id).
///
/// Secrets are decrypted with the source's key and encrypted with the target's (each store as
/// opened). A target holding rows is refused unless `replace`, which makes the target hold
/// exactly the source's rows. The write is one transaction that checks every count before
/// committing; afterwards the target is read back and compared with the source in full.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use gemnasium_bitbucket::store::{self, StoreOptions};
/// let from = store::open_with("sqlite:///var/lib/gemnasium/store.db", &StoreOptions::from_env()?).await?;
/// let to = store::open_with("postgres://gemnasium@db/gemnasium", &StoreOptions::from_env()?).await?;
/// let report = store::migrate(from.as_ref(), to.as_ref(), false).await?;
/// println!("copied {} tokens", report.rows.tokens);
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`MigrateError`]; the target is unchanged unless the error is [`MigrateError::Differs`].
pub async fn migrate(
    from: &dyn Store,
    to: &dyn Store,
    replace: bool,
) -> Result<MigrateReport, MigrateError> {
    if from.location() == to.location() {
        return Err(MigrateError::SameStore {
            location: from.location(),
        });
    }
    let existing = to.inventory().await?.rows;
    if !existing.is_empty() && !replace {
        return Err(MigrateError::TargetNotEmpty {
            location: to.location(),
            rows: existing,
        });
    }
    // An empty installation id stays empty: the source never marked a webhook with one.
    let contents = from.export_contents().await?.at_stored_precision();
    to.import_contents(&contents).await?;
    let copied = to.export_contents().await?;
    for (what, same) in [
        ("providers", copied.providers == contents.providers),
        ("clients", copied.clients == contents.clients),
        ("sources", copied.sources == contents.sources),
        ("tokens", copied.tokens == contents.tokens),
        ("credentials", copied.credentials == contents.credentials),
        ("repositories", copied.repositories == contents.repositories),
        ("tracked repositories", copied.tracked == contents.tracked),
        ("listing states", copied.listings == contents.listings),
        (
            "deprecation notices",
            copied.deprecations == contents.deprecations,
        ),
        (
            "installation ids",
            copied.installation_id == contents.installation_id,
        ),
    ] {
        if !same {
            return Err(MigrateError::Differs { what });
        }
    }
    Ok(MigrateReport {
        from: from.location(),
        to: to.location(),
        rows: contents.counts(),
        replaced: existing,
        secrets: to.secrets_at_rest().await?,
    })
}

/// `t` to the second.
fn seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or_default()
}

/// `t` to the millisecond.
fn millis(t: DateTime<Utc>) -> DateTime<Utc> {
    super::events::from_millis(super::events::to_millis(t))
}
