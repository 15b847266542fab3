use std::fmt;

use thiserror::Error;

use crate::model::{ModelError, ProviderName};

/// The kinds of rows a store holds, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Entity {
    /// An OAuth provider.
    Provider,
    /// An OAuth client.
    Client,
    /// A repo-syncer source.
    Source,
    /// A user's stored token.
    Token,
    /// A tracked repository.
    Repository,
    /// A stored sync credential (access token or API token), keyed `provider/name`.
    Credential,
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Entity::Provider => "provider",
            Entity::Client => "client",
            Entity::Source => "source",
            Entity::Token => "token",
            Entity::Repository => "repository",
            Entity::Credential => "credential",
        })
    }
}

/// Why a store operation failed. Nothing was changed when one of these is returned.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A create met an existing row with different values.
    #[error("{entity} `{key}` already exists with different values; update it instead (nothing was changed)")]
    Conflict {
        /// What kind of row.
        entity: Entity,
        /// Its key, such as `bitbucket.org/login`.
        key: String,
    },
    /// The row to read, update or delete does not exist.
    #[error("{entity} `{key}` does not exist")]
    NotFound {
        /// What kind of row.
        entity: Entity,
        /// Its key.
        key: String,
    },
    /// A client or source names a provider that does not exist.
    #[error("provider `{provider}` does not exist; create it first")]
    MissingProvider {
        /// The missing provider.
        provider: ProviderName,
    },
    /// A provider cannot be deleted while clients, sources or stored credentials use it.
    #[error("provider `{provider}` still has {}; delete those first, or delete with cascade to remove them too", in_use(*clients, *sources, *credentials))]
    ProviderInUse {
        /// The provider.
        provider: ProviderName,
        /// How many clients use it.
        clients: usize,
        /// How many sources use it.
        sources: usize,
        /// How many stored sync credentials use it.
        credentials: usize,
    },
    /// The store location is not one of the supported forms.
    #[error("invalid store location `{location}`: {reason}")]
    InvalidLocation {
        /// The location, password removed.
        location: String,
        /// What is wrong and the forms that work.
        reason: String,
    },
    /// The store could not be opened or created.
    #[error("cannot open store `{location}`: {reason}")]
    Open {
        /// The location, password removed.
        location: String,
        /// What failed and how to fix it.
        reason: String,
    },
    /// The store exists but cannot be written (a read-only file, directory or mount).
    #[error("{} cannot be written ({reason}); this needs write access to it (commands that only read work without)", shown_store(location))]
    ReadOnly {
        /// The location, password removed.
        location: String,
        /// What refused.
        reason: String,
    },
    /// The store was written by a newer version of this library.
    #[error("store `{location}` has schema version {found}, newer than this program knows ({supported}); upgrade gemnasium-bitbucket to use it")]
    SchemaTooNew {
        /// The location, password removed.
        location: String,
        /// The store's schema version.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// The file or database is not a store of ours, or is damaged.
    #[error("store `{location}` is damaged or not a gemnasium-bitbucket store: {reason}; restore it from a backup or use another store")]
    Corrupt {
        /// The location, password removed.
        location: String,
        /// What was found.
        reason: String,
    },
    /// A stored row no longer passes validation (edited by hand?).
    #[error("stored {entity} `{key}` is invalid: {source}")]
    InvalidRow {
        /// What kind of row.
        entity: Entity,
        /// Its key.
        key: String,
        /// The validation failure.
        #[source]
        source: ModelError,
    },
    /// The store's secrets are encrypted and no key was given.
    #[error("store `{location}` holds secrets encrypted with key {key_id}; set GEMNASIUM_SECRET_KEY (or GEMNASIUM_SECRET_KEY_FILE) to that key (nothing was read or written)")]
    SecretKeyRequired {
        /// The location, password removed.
        location: String,
        /// The id of the key the store needs (not the key).
        key_id: String,
    },
    /// The key given is not the store's.
    #[error("store `{location}` is encrypted with key {expected}, but the key given has id {given}; use the store's key (nothing was read or written)")]
    WrongSecretKey {
        /// The location, password removed.
        location: String,
        /// The id of the key the store needs.
        expected: String,
        /// The id of the key given.
        given: String,
    },
    /// A key was given for a store that keeps its secrets in plain text.
    #[error("store `{location}` holds {count} secret(s) in plain text; encrypt them with this key first (`store encrypt`), or open it without a key (nothing was written)")]
    PlainSecrets {
        /// The location, password removed.
        location: String,
        /// How many plain-text secrets it holds.
        count: usize,
    },
    /// The secret key itself is unusable.
    #[error(transparent)]
    SecretKey(#[from] crate::store::SecretKeyError),
    /// A stored secret could not be decrypted.
    #[error("{0}; the store was not changed")]
    Unseal(#[from] crate::store::UnsealError),
    /// A copy into this store did not hold the number of rows expected; it was rolled back.
    #[error("copying into the store gave {found} {table} row(s) instead of {expected}; nothing was written")]
    CopyMismatch {
        /// The kind of rows.
        table: &'static str,
        /// How many were copied.
        expected: usize,
        /// How many the store held afterwards.
        found: usize,
    },
    /// The backend is not compiled into this build.
    #[error("the {0} store is not compiled into this build; rebuild with the `{0}` cargo feature")]
    BackendNotCompiled(&'static str),
    /// Any other database failure (bound values are never part of it).
    #[error("database error: {0}")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// `2 client(s) and 1 source(s)`, with the stored credentials when there are any.
fn in_use(clients: usize, sources: usize, credentials: usize) -> String {
    if credentials == 0 {
        format!("{clients} client(s) and {sources} source(s)")
    } else {
        format!("{clients} client(s), {sources} source(s) and {credentials} stored credential(s)")
    }
}

/// "store `…`", or "the store" when the location is not known where the error arose.
fn shown_store(location: &str) -> String {
    if location.is_empty() {
        "the store".to_owned()
    } else {
        format!("store `{location}`")
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        // SQLITE_READONLY (8) and its extended codes: the file, its directory or its mount is
        // read-only. Said as such, not as a database failure.
        let read_only = matches!(&e, sqlx::Error::Database(db)
            if db.code().and_then(|c| c.parse::<i32>().ok()).is_some_and(|c| c & 0xff == 8));
        if read_only {
            return StoreError::ReadOnly {
                location: String::new(),
                reason: "attempt to write a read-only database".to_owned(),
            };
        }
        StoreError::Database(Box::new(e))
    }
}
