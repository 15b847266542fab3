//! The embedded default store: one SQLite file.
//!
//! The file is created with mode 0600 (it holds consumer secrets and tokens) and its missing
//! parent directories with 0700; a store of ours found readable by others is tightened to 0600
//! when opened for writing. WAL journaling lets readers run beside the writer; a busy timeout
//! makes concurrent writers wait instead of failing. A store that cannot be written (a
//! read-only file, directory or mount) can still be opened for reading.

use std::fs::OpenOptions;
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::future::BoxFuture;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Executor, Sqlite, SqlitePool, Transaction};

use super::sql::impl_sql_store;
use super::StoreError;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The embedded default store: a single SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    path: PathBuf,
    sealer: super::sealing::Sealer,
}

impl SqliteStore {
    /// Opens the store at `path` for reading and writing, creating the file (mode 0600) and its
    /// directories (0700) if needed, tightening a store readable by others to 0600, and bringing
    /// its schema up to date. Safe when several processes open a fresh file at once.
    ///
    /// # Errors
    /// [`StoreError::Open`] when the path cannot be created or opened,
    /// [`StoreError::ReadOnly`] when the store exists but cannot be written,
    /// [`StoreError::Corrupt`] when the file is not one of our stores,
    /// [`StoreError::SchemaTooNew`] when a newer version wrote it.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let store = Self::open_writable(path).await?;
        tighten(path);
        Ok(store)
    }

    /// Opens the store at `path` for commands that only read: like [`open`](Self::open) when
    /// it can be written (without changing file modes), and read-only when the file, its
    /// directory or its mount is read-only.
    ///
    /// # Errors
    /// As [`open`](Self::open), and [`StoreError::Open`] when a read-only store's schema is
    /// older than this program (it can only be upgraded with write access).
    pub async fn open_for_reading(path: &Path) -> Result<Self, StoreError> {
        if !path.exists() {
            return Self::open(path).await;
        }
        match Self::open_writable(path).await {
            Err(StoreError::ReadOnly { .. }) => Self::open_read_only(path).await,
            other => other,
        }
    }

    async fn open_writable(path: &Path) -> Result<Self, StoreError> {
        let location = format!("sqlite://{}", path.display());
        let open_error = |reason: String| StoreError::Open {
            location: location.clone(),
            reason,
        };
        if path.is_dir() {
            return Err(open_error(
                "it is a directory; give a file path such as sqlite:///var/lib/gemnasium/store.db"
                    .into(),
            ));
        }
        if let Some(file) = path.ancestors().skip(1).find(|a| a.exists() && !a.is_dir()) {
            return Err(open_error(format!(
                "{} is a file, not a directory; choose another location",
                file.display()
            )));
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(|e| {
                    open_error(format!(
                        "cannot create directory {}: {}; choose a writable location",
                        parent.display(),
                        plain_io_error(&e)
                    ))
                })?;
        }
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) if path.exists() => {
                return Err(StoreError::ReadOnly {
                    location,
                    reason: plain_io_error(&e),
                })
            }
            Err(e) => {
                return Err(open_error(format!(
                    "cannot create the file: {}; choose a writable location",
                    plain_io_error(&e)
                )))
            }
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(false)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // Overwrite deleted and replaced content, so that a secret once stored in plain
            // text (before `store encrypt`) or a deleted token does not linger in free pages.
            .pragma("secure_delete", "ON");
        // Switching a fresh file to WAL takes an exclusive lock that does not wait on the busy
        // timeout, so processes opening the same new file at once can see SQLITE_BUSY here:
        // retry with backoff for a few seconds before giving up.
        let mut delay = Duration::from_millis(10);
        for attempt in 1.. {
            let result = async {
                let pool = SqlitePoolOptions::new()
                    .max_connections(4)
                    .connect_with(options.clone())
                    .await?;
                let store = Self {
                    pool,
                    path: path.to_owned(),
                    sealer: super::sealing::Sealer::default(),
                };
                store.migrate(&location).await?;
                Ok::<_, OpenFailure>(store)
            }
            .await;
            match result {
                Ok(store) => return Ok(store),
                Err(OpenFailure::Sqlx(e)) if is_busy(&e) && attempt < 12 => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_millis(1000));
                }
                Err(OpenFailure::Sqlx(e)) => return Err(classify_open_error(&location, &e)),
                Err(OpenFailure::Store(e)) => return Err(e),
            }
        }
        unreachable!("the loop returns on its last attempt")
    }

    /// Opens an existing store without writing anything: read-only, or, when SQLite cannot even
    /// create its shared-memory file beside it (a read-only directory or mount), as an
    /// immutable file.
    async fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        let location = format!("sqlite://{}", path.display());
        let mut last = None;
        for immutable in [false, true] {
            let options = SqliteConnectOptions::new()
                .filename(path)
                .read_only(true)
                .immutable(immutable)
                .busy_timeout(Duration::from_secs(10));
            let attempt = async {
                let pool = SqlitePoolOptions::new()
                    .max_connections(4)
                    .connect_with(options)
                    .await?;
                let applied: Vec<(i64,)> = sqlx::query_as("SELECT version FROM _sqlx_migrations")
                    .fetch_all(&pool)
                    .await?;
                Ok::<_, sqlx::Error>((pool, applied))
            }
            .await;
            match attempt {
                Ok((pool, applied)) => {
                    let supported = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
                    let found = applied.iter().map(|(v,)| *v).max().unwrap_or(0);
                    if found > supported {
                        return Err(StoreError::SchemaTooNew {
                            location,
                            found,
                            supported,
                        });
                    }
                    if found < supported {
                        return Err(StoreError::Open {
                            location,
                            reason: "it is read-only and its schema is older than this program's; open it once with write access to upgrade it".into(),
                        });
                    }
                    return Ok(Self {
                        pool,
                        path: path.to_owned(),
                        sealer: super::sealing::Sealer::default(),
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(classify_open_error(
            &location,
            &last.expect("two attempts were made"),
        ))
    }

    /// A warning when others can read the store (or its journal), which holds secrets.
    #[must_use]
    pub fn permission_warning(&self) -> Option<String> {
        let open: Vec<String> = store_files(&self.path)
            .into_iter()
            .filter_map(|f| {
                let mode = std::fs::metadata(&f).ok()?.permissions().mode() & 0o777;
                (mode & 0o077 != 0).then(|| format!("{} is mode {mode:o}", f.display()))
            })
            .collect();
        (!open.is_empty()).then(|| {
            format!(
                "{}: others can read the consumer secrets and tokens in it; make it 0600 (chmod 600)",
                open.join(", ")
            )
        })
    }

    /// The file this store lives in.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Applies the embedded migrations inside one `BEGIN IMMEDIATE` transaction: the first
    /// process to get the write lock creates the schema; the others wait, then find it done.
    /// (sqlx's own SQLite migration lock is a no-op, hence this.)
    fn migrate<'a>(&'a self, location: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        // Boxed as `Send` explicitly: rustc cannot otherwise prove the sqlx borrows inside are
        // Send for every lifetime, which would stop callers from opening a store in a task.
        Box::pin(self.migrate_inner(location))
    }

    async fn migrate_inner(&self, location: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let tables: Vec<(String,)> = sqlx::query_as(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .fetch_all(&mut *tx)
        .await?;
        let has_history = tables.iter().any(|(t,)| t == "_sqlx_migrations");
        if !has_history && !tables.is_empty() {
            let names: Vec<_> = tables.into_iter().map(|(t,)| t).collect();
            return Err(StoreError::Corrupt {
                location: location.to_owned(),
                reason: format!(
                    "it is an SQLite database of something else (tables: {})",
                    names.join(", ")
                ),
            });
        }
        tx.execute(
            "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
                version BIGINT PRIMARY KEY,
                description TEXT NOT NULL,
                installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
                success BOOLEAN NOT NULL,
                checksum BLOB NOT NULL,
                execution_time BIGINT NOT NULL
            )",
        )
        .await?;
        let applied: Vec<(i64,)> = sqlx::query_as("SELECT version FROM _sqlx_migrations")
            .fetch_all(&mut *tx)
            .await?;
        let supported = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
        if let Some(found) = applied
            .iter()
            .map(|(v,)| *v)
            .max()
            .filter(|v| *v > supported)
        {
            return Err(StoreError::SchemaTooNew {
                location: location.to_owned(),
                found,
                supported,
            });
        }
        let pending: Vec<(i64, String, String, Vec<u8>)> = MIGRATOR
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .filter(|m| !applied.iter().any(|(v,)| *v == m.version))
            .map(|m| {
                (
                    m.version,
                    m.description.to_string(),
                    m.sql.to_string(),
                    m.checksum.to_vec(),
                )
            })
            .collect();
        for (version, description, sql, checksum) in pending {
            tx.execute(sql.as_str()).await?;
            sqlx::query(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES ($1, $2, TRUE, $3, 0)",
            )
            .bind(version)
            .bind(description)
            .bind(checksum)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }

    /// After every secret was rewritten: moves the write-ahead log into the file and empties
    /// it, so that the replaced values are gone from disk, not only from the tables.
    async fn after_rewrite(&self) -> Result<(), StoreError> {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// The store file and the WAL files beside it.
fn store_files(path: &Path) -> Vec<PathBuf> {
    let mut files = vec![path.to_owned()];
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let f = PathBuf::from(name);
        if f.exists() {
            files.push(f);
        }
    }
    files
}

/// Makes the store's files 0600 when others could read them (a store created by an older
/// version, a copy, a restored backup). Files we may not change are left alone (doctor warns).
fn tighten(path: &Path) {
    for file in store_files(path) {
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0
            && std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).is_ok()
        {
            tracing::info!(file = %file.display(), from = format!("{mode:o}"), "tightened the store's mode to 600");
        }
    }
}

/// Why one attempt to open failed: a raw database error (maybe "busy", worth a retry) or a
/// verdict about the store itself.
enum OpenFailure {
    Sqlx(sqlx::Error),
    Store(StoreError),
}

impl From<sqlx::Error> for OpenFailure {
    fn from(e: sqlx::Error) -> Self {
        OpenFailure::Sqlx(e)
    }
}

impl From<StoreError> for OpenFailure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Database(inner) => match inner.downcast::<sqlx::Error>() {
                Ok(e) => OpenFailure::Sqlx(*e),
                Err(other) => OpenFailure::Store(StoreError::Database(other)),
            },
            other => OpenFailure::Store(other),
        }
    }
}

/// SQLITE_BUSY (5) or SQLITE_LOCKED (6), possibly extended codes.
fn is_busy(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .is_some_and(|c| matches!(c & 0xff, 5 | 6)),
        _ => false,
    }
}

/// An I/O error without the OS error number noise: "Not a directory", "Permission denied".
fn plain_io_error(e: &std::io::Error) -> String {
    let text = e.to_string();
    text.split(" (os error").next().unwrap_or(&text).to_owned()
}

fn classify_open_error(location: &str, e: &sqlx::Error) -> StoreError {
    let text = e.to_string();
    // SQLITE_NOTADB (26): the file exists but is not a database.
    let not_a_database = matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("26"))
        || text.contains("file is not a database");
    // SQLITE_READONLY (8) and its extended codes; SQLITE_CANTOPEN (14) for a file that
    // exists (its directory or mount is read-only, so the journal cannot be created).
    let code = match e {
        sqlx::Error::Database(db) => db.code().and_then(|c| c.parse::<i32>().ok()),
        _ => None,
    };
    let read_only = code.is_some_and(|c| c & 0xff == 8)
        || (code.is_some_and(|c| c & 0xff == 14)
            && Path::new(location.trim_start_matches("sqlite://")).exists());
    if not_a_database {
        StoreError::Corrupt {
            location: location.to_owned(),
            reason: "the file is not an SQLite database".to_owned(),
        }
    } else if read_only {
        StoreError::ReadOnly {
            location: location.to_owned(),
            reason: text,
        }
    } else {
        StoreError::Open {
            location: location.to_owned(),
            reason: format!("{text}; check the path and its permissions, or choose another"),
        }
    }
}

/// SQLite serialises every write transaction (`BEGIN IMMEDIATE`): listings need nothing more.
#[allow(clippy::unused_async)]
async fn serialize_listings(
    _tx: &mut Transaction<'static, Sqlite>,
    _source: &crate::model::ProviderName,
    _account: &crate::model::AccountUuid,
) -> Result<(), StoreError> {
    Ok(())
}

// In its own module so that the macro's imports do not collide with this file's.
mod sql_impl {
    use sqlx::Sqlite;

    // SQLite locks the whole database for a write transaction: no row lock clause.
    super::impl_sql_store!(super::SqliteStore, Sqlite, "");
    crate::store::sql_events::impl_sql_events!(super::SqliteStore, Sqlite);
    crate::store::sql_credentials::impl_sql_credentials!(super::SqliteStore, Sqlite);
    crate::store::sql_admin::impl_sql_admin!(super::SqliteStore, Sqlite);
    crate::store::sql_contents::impl_sql_contents!(super::SqliteStore, Sqlite, super::MIGRATOR, "");

    crate::store::sql_admin::impl_store_for_sql!(
        super::SqliteStore,
        "sqlite",
        location(store) = format!("sqlite://{}", store.path.display()),
        warnings(store) = store.permission_warning().into_iter().collect()
    );
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::model::Provider;
    use crate::store::{ProviderStore, Store, WriteOutcome};

    #[tokio::test]
    async fn creates_parent_directories_and_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/store.db");
        let store = SqliteStore::open(&path).await.unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
        let (journal,): (String,) = sqlx::query_as("PRAGMA journal_mode")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(journal, "wal");
        assert_eq!(store.location(), format!("sqlite://{}", path.display()));
    }

    #[tokio::test]
    async fn reopening_keeps_the_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(
            store
                .create_provider(&Provider::bitbucket_cloud())
                .await
                .unwrap(),
            WriteOutcome::Created
        );
        store.pool.close().await;
        let again = SqliteStore::open(&path).await.unwrap();
        assert_eq!(
            again.providers().await.unwrap(),
            [Provider::bitbucket_cloud()]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_opens_of_a_fresh_file_agree_on_one_schema() {
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("store.db");
            let opens = (0..8).map(|_| {
                let path = path.clone();
                tokio::spawn(async move { SqliteStore::open(&path).await })
            });
            let stores: Vec<_> = futures::future::join_all(opens)
                .await
                .into_iter()
                .map(|r| r.unwrap().unwrap())
                .collect();
            let (applied,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations")
                .fetch_one(&stores[0].pool)
                .await
                .unwrap();
            assert_eq!(applied, i64::try_from(MIGRATOR.iter().count()).unwrap());
        }
    }

    #[test]
    fn concurrent_opens_from_separate_processes_agree() {
        // Re-run this test binary as several processes, each opening the same fresh file.
        if let Ok(path) = std::env::var("GEMNASIUM_TEST_OPEN_PATH") {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime
                .block_on(SqliteStore::open(Path::new(&path)))
                .unwrap();
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let exe = std::env::current_exe().unwrap();
        let children: Vec<_> = (0..6)
            .map(|_| {
                std::process::Command::new(&exe)
                    .args([
                        "--exact",
                        "store::sqlite::tests::concurrent_opens_from_separate_processes_agree",
                        "--nocapture",
                    ])
                    .env("GEMNASIUM_TEST_OPEN_PATH", &path)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let output = child.wait_with_output().unwrap();
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let store = runtime.block_on(SqliteStore::open(&path)).unwrap();
        let (applied,): (i64,) = runtime
            .block_on(
                sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations").fetch_one(&store.pool),
            )
            .unwrap();
        assert_eq!(applied, i64::try_from(MIGRATOR.iter().count()).unwrap());
    }

    #[tokio::test]
    async fn a_newer_schema_is_refused_with_upgrade_advice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let store = SqliteStore::open(&path).await.unwrap();
        sqlx::query("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (99999999, 'future', TRUE, x'00', 0)")
            .execute(&store.pool)
            .await
            .unwrap();
        store.pool.close().await;
        let err = SqliteStore::open(&path).await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::SchemaTooNew {
                    found: 99_999_999,
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string().contains("upgrade gemnasium-bitbucket"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn garbage_and_foreign_databases_are_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.db");
        std::fs::write(
            &garbage,
            b"this is not a database at all, just some bytes ".repeat(200),
        )
        .unwrap();
        let err = SqliteStore::open(&garbage).await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("not an SQLite database"), "{err}");

        let foreign = dir.path().join("foreign.db");
        let pool = SqlitePool::connect_with(
            SqliteConnectOptions::new()
                .filename(&foreign)
                .create_if_missing(true),
        )
        .await
        .unwrap();
        sqlx::query("CREATE TABLE invoices (id INTEGER)")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let err = SqliteStore::open(&foreign).await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("tables: invoices"), "{err}");
    }

    #[tokio::test]
    async fn unusable_paths_say_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file.txt");
        std::fs::write(&file, "x").unwrap();
        let err = SqliteStore::open(&file.join("store.db")).await.unwrap_err();
        assert!(matches!(err, StoreError::Open { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("file.txt is a file, not a directory")
                && text.contains("another location"),
            "{text}"
        );
        let err = SqliteStore::open(dir.path()).await.unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
    }
}
