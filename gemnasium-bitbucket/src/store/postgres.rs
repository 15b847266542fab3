//! The PostgreSQL store, for several service replicas sharing one database.

use std::str::FromStr;

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

use super::location::redact;
use super::sql::impl_sql_store;
use super::StoreError;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// An unreachable database should fail a CLI command in seconds, not sqlx's default 30 s.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    location: String,
}

impl PostgresStore {
    /// Connects to `url` and brings the schema up to date (sqlx serialises concurrent
    /// migrations with an advisory lock).
    ///
    /// # Errors
    /// [`StoreError::Open`] when the database cannot be reached, [`StoreError::SchemaTooNew`]
    /// when a newer version migrated it.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, None).await
    }

    /// Like [`connect`](Self::connect), keeping every table in `schema` (created if missing):
    /// several independent stores in one database, as tests and multi-tenant set-ups need.
    /// `schema` must be lowercase letters, digits and `_`.
    ///
    /// # Errors
    /// As [`connect`](Self::connect), and [`StoreError::InvalidLocation`] for a bad schema name.
    pub async fn connect_in_schema(url: &str, schema: &str) -> Result<Self, StoreError> {
        let valid = !schema.is_empty()
            && schema.len() <= 63
            && schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(StoreError::InvalidLocation {
                location: redact(url),
                reason: format!("schema `{schema}` must be 1-63 characters of a-z, 0-9 and _"),
            });
        }
        Self::connect_with(url, Some(schema)).await
    }

    async fn connect_with(url: &str, schema: Option<&str>) -> Result<Self, StoreError> {
        let location = match schema {
            Some(schema) => format!("{} (schema {schema})", redact(url)),
            None => redact(url),
        };
        let open_error = |e: sqlx::Error| StoreError::Open {
            location: location.clone(),
            reason: format!("{e}; check that PostgreSQL runs and the URL is right"),
        };
        let mut options =
            PgConnectOptions::from_str(url).map_err(|e| StoreError::InvalidLocation {
                location: redact(url),
                reason: e.to_string(),
            })?;
        if let Some(schema) = schema {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(CONNECT_TIMEOUT)
                .connect_with(options.clone())
                .await
                .map_err(open_error)?;
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
                .execute(&pool)
                .await?;
            pool.close().await;
            options = options.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(open_error)?;
        let supported = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
        MIGRATOR.run(&pool).await.map_err(|e| match e {
            MigrateError::VersionMissing(found) => StoreError::SchemaTooNew {
                location: location.clone(),
                found,
                supported,
            },
            other => StoreError::Database(Box::new(other)),
        })?;
        Ok(Self { pool, location })
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }
}

/// Takes a transaction-scoped advisory lock on one account's listings of one source, so that
/// concurrent syncs of the same account queue instead of deadlocking on the same rows.
async fn serialize_listings(
    tx: &mut Transaction<'static, Postgres>,
    source: &crate::model::ProviderName,
    account: &crate::model::AccountUuid,
) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("gemnasium-listings {source} {account}"))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

// In its own module so that the macro's imports do not collide with this file's.
mod sql_impl {
    use sqlx::Postgres;

    super::impl_sql_store!(super::PostgresStore, Postgres, " FOR UPDATE");

    #[async_trait::async_trait]
    impl Store for super::PostgresStore {
        fn backend(&self) -> &'static str {
            "postgres"
        }

        fn location(&self) -> String {
            self.location.clone()
        }

        async fn installation_id(&self) -> Result<String, StoreError> {
            installation_id_of(&self.pool).await
        }
    }
}
