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

/// Connections one store keeps at most unless its URL says `max_connections=N`.
const DEFAULT_MAX_CONNECTIONS: u32 = 8;

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    location: String,
    sealer: super::sealing::Sealer,
}

impl PostgresStore {
    /// Connects to `url` and brings the schema up to date (sqlx serialises concurrent
    /// migrations with an advisory lock).
    ///
    /// Besides libpq's parameters, `url` may end in `max_connections=N` (1 to 100, default 8):
    /// the most connections this store opens. Replicas and CLI runs sharing one server each
    /// hold their own pool, so capping them keeps the sum under the server's own limit.
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
        let (url, max_connections) = pool_size(url)?;
        let mut options =
            PgConnectOptions::from_str(&url).map_err(|e| StoreError::InvalidLocation {
                location: redact(&url),
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
            .max_connections(max_connections)
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
        Ok(Self {
            pool,
            location,
            sealer: super::sealing::Sealer::default(),
        })
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }

    /// After every secret was rewritten: nothing to do, dumps never hold replaced row versions.
    #[allow(clippy::unused_async)]
    async fn after_rewrite(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// `url` without its `max_connections` parameter (sqlx does not know it and would warn), and
/// the pool size it asks for.
fn pool_size(url: &str) -> Result<(String, u32), StoreError> {
    const PARAMETER: &str = "max_connections";
    let invalid = |reason: String| StoreError::InvalidLocation {
        location: redact(url),
        reason,
    };
    let Ok(mut parsed) = url::Url::parse(url) else {
        // Not ours to judge: sqlx reports what is wrong with it.
        return Ok((url.to_owned(), DEFAULT_MAX_CONNECTIONS));
    };
    if !parsed.query_pairs().any(|(k, _)| k == PARAMETER) {
        return Ok((url.to_owned(), DEFAULT_MAX_CONNECTIONS));
    }
    let mut size = DEFAULT_MAX_CONNECTIONS;
    let mut kept = Vec::new();
    for (key, value) in parsed.query_pairs() {
        if key == PARAMETER {
            size = value
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| {
                    invalid(format!(
                        "{PARAMETER}={value} must be a number of connections from 1 to 100"
                    ))
                })?;
        } else {
            kept.push((key.into_owned(), value.into_owned()));
        }
    }
    if kept.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(kept);
    }
    Ok((parsed.into(), size))
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
    crate::store::sql_events::impl_sql_events!(super::PostgresStore, Postgres);
    crate::store::sql_credentials::impl_sql_credentials!(super::PostgresStore, Postgres);
    crate::store::sql_admin::impl_sql_admin!(super::PostgresStore, Postgres);
    crate::store::sql_contents::impl_sql_contents!(
        super::PostgresStore,
        Postgres,
        super::MIGRATOR,
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
    );

    crate::store::sql_admin::impl_store_for_sql!(
        super::PostgresStore,
        "postgres",
        location(store) = store.location.clone(),
        warnings(_store) = Vec::new()
    );
}

#[cfg(test)]
mod tests {
    use super::{pool_size, DEFAULT_MAX_CONNECTIONS};

    #[test]
    fn max_connections_is_taken_off_the_url() {
        let plain = "postgres://u@127.0.0.1:5432/test";
        assert_eq!(
            pool_size(plain).unwrap(),
            (plain.to_owned(), DEFAULT_MAX_CONNECTIONS)
        );
        assert_eq!(
            pool_size("postgres://u@h/db?max_connections=2").unwrap(),
            ("postgres://u@h/db".to_owned(), 2)
        );
        let (url, size) =
            pool_size("postgres://u@h/db?sslmode=disable&max_connections=3&application_name=g")
                .unwrap();
        assert_eq!(size, 3);
        assert_eq!(url, "postgres://u@h/db?sslmode=disable&application_name=g");
        for bad in ["0", "101", "many", ""] {
            let e = pool_size(&format!("postgres://u:hunter2@h/db?max_connections={bad}"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("from 1 to 100") && !e.contains("hunter2"), "{e}");
        }
    }
}
