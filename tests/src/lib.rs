//! Shared helpers for the end-to-end tests in `it/`: they drive the real `gemnasium-bitbucket`
//! program (built in this package as `gemnasium-bitbucket-e2e`) and check what it stored through
//! the library.

use gemnasium_bitbucket::model::{Client, Provider, Source};
use gemnasium_bitbucket::store::{self, StoredToken};

/// Everything a store holds that the CLI can change, for "nothing changed" assertions.
#[derive(Debug, PartialEq, Eq)]
pub struct Rows {
    /// All providers.
    pub providers: Vec<Provider>,
    /// All clients (secrets included in the comparison).
    pub clients: Vec<Client>,
    /// All sources.
    pub sources: Vec<Source>,
    /// All stored tokens.
    pub tokens: Vec<StoredToken>,
}

/// Reads every row of the store at `location` through the library.
///
/// # Panics
/// When the store cannot be opened or read: the tests want to know.
#[must_use]
pub fn rows(location: &str) -> Rows {
    let location = location.to_owned();
    on_own_runtime(async move {
        let store = store::open(&location).await.expect("the store opens");
        Rows {
            providers: store.providers().await.expect("providers"),
            clients: store.clients(None).await.expect("clients"),
            sources: store.sources().await.expect("sources"),
            tokens: store.tokens(None).await.expect("tokens"),
        }
    })
}

/// Runs `work` to completion on a runtime of its own thread, so that helpers work from
/// synchronous and async tests alike.
fn on_own_runtime<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(work)
    })
    .join()
    .expect("the helper's thread")
}

/// Every row of every table of the SQLite store at `path`, as sorted text, read directly with
/// SQLite (no key needed, no migration run): for "nothing was written" assertions that must
/// hold even for an encrypted store opened without its key. Comparing file bytes instead is
/// flaky, because SQLite legitimately rewrites its `-shm` index, and checkpoints its `-wal`,
/// when a mere reader opens the file.
///
/// # Panics
/// When the file cannot be read as an SQLite database: the tests want to know.
#[must_use]
pub fn table_dump(path: &std::path::Path) -> Vec<String> {
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{ConnectOptions, Connection};
    let options = SqliteConnectOptions::new().filename(path).read_only(true);
    on_own_runtime(async move {
        let mut conn = options.connect().await.expect("the store opens");
        let tables: Vec<(String,)> =
            sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                .fetch_all(&mut conn)
                .await
                .expect("the table list");
        let mut dump = Vec::new();
        for (table,) in tables {
            let columns: Vec<(String,)> =
                sqlx::query_as(&format!("SELECT name FROM pragma_table_info('{table}')"))
                    .fetch_all(&mut conn)
                    .await
                    .expect("the column list");
            let row = columns
                .iter()
                .map(|(c,)| format!("quote(\"{c}\")"))
                .collect::<Vec<_>>()
                .join(" || '|' || ");
            let rows: Vec<(String,)> = sqlx::query_as(&format!("SELECT {row} FROM \"{table}\""))
                .fetch_all(&mut conn)
                .await
                .expect("the rows");
            let mut rows: Vec<String> = rows
                .into_iter()
                .map(|(r,)| format!("{table}: {r}"))
                .collect();
            rows.sort();
            dump.extend(rows);
        }
        conn.close().await.expect("closing");
        dump
    })
}

/// The README's Rust examples, compiled (and run, unless `no_run`) as doctests of this package
/// so that they cannot drift from the library.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
