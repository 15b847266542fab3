//! The store's hot reads and its write throughput, per backend, with and without secrets
//! encrypted at rest, against the same SELECT written directly with sqlx on the same database.
//!
//! - `lookup/<backend>/<plain|encrypted>/client` and `…/token`: one `client()` / `token()`;
//!   `lookup/<backend>/raw sqlx/client` and `…/token`: the equivalent bare query.
//!   Targets: encryption adds ≤ 10 %; the store stays within 1.5× of raw sqlx.
//! - `writers/<backend>/8x10 updates`: 8 tasks each making 10 changing `update_client` calls on
//!   one row (row locks serialise them); divide 80 by the time for updates per second.
//!
//! PostgreSQL runs when `DATABASE_URL` is set (each run in a fresh schema).

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use gemnasium_bitbucket::model::{
    AccessToken, AccountInfo, Client, ClientSecret, Provider, Purpose, RefreshToken, TokenKey,
    TokenSet,
};
use gemnasium_bitbucket::store::{
    ClientPatch, DynStore, SecretKey, SqliteStore, Store, WriteOutcome,
};

fn account() -> AccountInfo {
    AccountInfo {
        uuid: "{d1f4c2a0-0000-4000-8000-000000000001}".parse().unwrap(),
        account_id: None,
        nickname: Some("jdoe".into()),
        display_name: None,
    }
}

fn token_key() -> TokenKey {
    TokenKey {
        provider: Provider::bitbucket_cloud().name,
        purpose: Purpose::Sync,
        account: account().uuid,
    }
}

async fn fill(store: &dyn Store) {
    let provider = Provider::bitbucket_cloud();
    let _ = store.create_provider(&provider).await.unwrap();
    for purpose in Purpose::ALL {
        let client = Client::new(
            provider.name.clone(),
            purpose,
            "KEY".parse().unwrap(),
            // A 2026 consumer secret is about 76 characters.
            ClientSecret::new("S".repeat(76)).unwrap(),
            purpose.recommended_scopes(),
        );
        let _ = store.create_client(&client).await.unwrap();
    }
    // Bitbucket's access tokens exceed 2,500 characters since 2026.
    let tokens = TokenSet {
        access_token: AccessToken::new("a".repeat(2600)).unwrap(),
        refresh_token: Some(RefreshToken::new("r".repeat(400)).unwrap()),
        expires_at: None,
        scopes: "repository,webhook".parse().unwrap(),
    };
    store
        .put_token(&provider.name, Purpose::Sync, &account(), &tokens)
        .await
        .unwrap();
}

struct Backend {
    name: &'static str,
    plain: DynStore,
    encrypted: DynStore,
    raw: RawPool,
}

enum RawPool {
    Sqlite(sqlx::SqlitePool),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
}

const CLIENT_SQL: &str = "SELECT provider, purpose, key, secret, scopes, version FROM clients WHERE provider = $1 AND purpose = $2";
const TOKEN_SQL: &str = "SELECT provider, purpose, account_uuid, account_id, nickname, display_name, access_token, refresh_token, expires_at, scopes, state, version, created_at, refreshed_at, last_error, lease_until FROM tokens WHERE provider = $1 AND purpose = $2 AND account_uuid = $3";

type TokenTuple = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<i64>,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    Option<String>,
    Option<i64>,
);

impl RawPool {
    async fn client(&self) {
        match self {
            RawPool::Sqlite(pool) => {
                let _: (String, String, String, String, String, i64) = sqlx::query_as(CLIENT_SQL)
                    .bind("bitbucket.org")
                    .bind("sync")
                    .fetch_one(pool)
                    .await
                    .unwrap();
            }
            #[cfg(feature = "postgres")]
            RawPool::Postgres(pool) => {
                let _: (String, String, String, String, String, i64) = sqlx::query_as(CLIENT_SQL)
                    .bind("bitbucket.org")
                    .bind("sync")
                    .fetch_one(pool)
                    .await
                    .unwrap();
            }
        }
    }

    async fn token(&self) {
        let account = account().uuid.as_str().to_owned();
        match self {
            RawPool::Sqlite(pool) => {
                let _: TokenTuple = sqlx::query_as(TOKEN_SQL)
                    .bind("bitbucket.org")
                    .bind("sync")
                    .bind(account)
                    .fetch_one(pool)
                    .await
                    .unwrap();
            }
            #[cfg(feature = "postgres")]
            RawPool::Postgres(pool) => {
                let _: TokenTuple = sqlx::query_as(TOKEN_SQL)
                    .bind("bitbucket.org")
                    .bind("sync")
                    .bind(account)
                    .fetch_one(pool)
                    .await
                    .unwrap();
            }
        }
    }
}

async fn sqlite(dir: &std::path::Path) -> Backend {
    let plain_path = dir.join("plain.db");
    let plain = SqliteStore::open(&plain_path).await.unwrap();
    let encrypted = SqliteStore::open(&dir.join("encrypted.db")).await.unwrap();
    encrypted
        .use_secret_key(Some(SecretKey::generate()))
        .await
        .unwrap();
    let (plain, encrypted): (DynStore, DynStore) = (Arc::new(plain), Arc::new(encrypted));
    fill(plain.as_ref()).await;
    fill(encrypted.as_ref()).await;
    let raw = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(4)
        .connect(&format!("sqlite://{}", plain_path.display()))
        .await
        .unwrap();
    Backend {
        name: "sqlite",
        plain,
        encrypted,
        raw: RawPool::Sqlite(raw),
    }
}

#[cfg(feature = "postgres")]
async fn postgres() -> Option<Backend> {
    use gemnasium_bitbucket::store::PostgresStore;
    let url = std::env::var("DATABASE_URL").ok()?;
    let schema = |tag: &str| format!("bench_{tag}_{:08x}", rand_suffix());
    let plain_schema = schema("plain");
    let plain = PostgresStore::connect_in_schema(&url, &plain_schema)
        .await
        .ok()?;
    let encrypted = PostgresStore::connect_in_schema(&url, &schema("sealed"))
        .await
        .ok()?;
    encrypted
        .use_secret_key(Some(SecretKey::generate()))
        .await
        .unwrap();
    let (plain, encrypted): (DynStore, DynStore) = (Arc::new(plain), Arc::new(encrypted));
    fill(plain.as_ref()).await;
    fill(encrypted.as_ref()).await;
    let options: sqlx::postgres::PgConnectOptions = url.parse().ok()?;
    let raw = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .connect_with(options.options([("search_path", plain_schema.as_str())]))
        .await
        .ok()?;
    Some(Backend {
        name: "postgres",
        plain,
        encrypted,
        raw: RawPool::Postgres(raw),
    })
}

#[cfg(feature = "postgres")]
fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() ^ (d.as_secs() as u32))
}

fn store_access(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut backends = vec![runtime.block_on(sqlite(dir.path()))];
    #[cfg(feature = "postgres")]
    backends.extend(runtime.block_on(postgres()));
    let provider = Provider::bitbucket_cloud().name;

    let mut lookup = c.benchmark_group("lookup");
    lookup.measurement_time(std::time::Duration::from_secs(4));
    for backend in &backends {
        for (mode, store) in [("plain", &backend.plain), ("encrypted", &backend.encrypted)] {
            lookup.bench_function(format!("{}/{mode}/client", backend.name), |b| {
                b.to_async(&runtime).iter(|| async {
                    store
                        .client(&provider, Purpose::Sync)
                        .await
                        .unwrap()
                        .unwrap()
                });
            });
            lookup.bench_function(format!("{}/{mode}/token", backend.name), |b| {
                b.to_async(&runtime)
                    .iter(|| async { store.token(&token_key()).await.unwrap().unwrap() });
            });
        }
        lookup.bench_function(format!("{}/raw sqlx/client", backend.name), |b| {
            b.to_async(&runtime).iter(|| backend.raw.client());
        });
        lookup.bench_function(format!("{}/raw sqlx/token", backend.name), |b| {
            b.to_async(&runtime).iter(|| backend.raw.token());
        });
    }
    lookup.finish();

    let mut writers = c.benchmark_group("writers");
    writers.sample_size(10);
    for backend in &backends {
        let store = backend.encrypted.clone();
        let provider = provider.clone();
        writers.bench_function(format!("{}/8x10 updates", backend.name), |b| {
            b.to_async(&runtime).iter(|| {
                let store = store.clone();
                let provider = provider.clone();
                async move {
                    let tasks: Vec<_> = (0..8)
                        .map(|writer| {
                            let store = store.clone();
                            let provider = provider.clone();
                            tokio::spawn(async move {
                                for n in 0..10 {
                                    let key = format!("KEY-{writer}-{n}").parse().unwrap();
                                    let patch = ClientPatch::new().key(key);
                                    let updated = store
                                        .update_client(&provider, Purpose::Sync, &patch)
                                        .await
                                        .unwrap();
                                    assert_eq!(updated.outcome, WriteOutcome::Updated);
                                }
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.unwrap();
                    }
                }
            });
        });
    }
    writers.finish();
}

criterion_group!(benches, store_access);
criterion_main!(benches);
