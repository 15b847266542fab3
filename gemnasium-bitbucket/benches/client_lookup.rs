//! Client lookup through `SqliteStore::client` against the same SELECT written directly with
//! sqlx on the same file: the store's overhead (validation into model types, transaction).
//! Target: the store within 1.5× of raw sqlx.

use criterion::{criterion_group, criterion_main, Criterion};
use gemnasium_bitbucket::model::{Client, ClientSecret, Provider, Purpose};
use gemnasium_bitbucket::store::{ClientStore, ProviderStore, SqliteStore};
use sqlx::sqlite::SqlitePoolOptions;

fn client_lookup(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let provider = Provider::bitbucket_cloud();
    let store = runtime.block_on(async {
        let store = SqliteStore::open(&path).await.unwrap();
        let _ = store.create_provider(&provider).await.unwrap();
        for purpose in Purpose::ALL {
            let client = Client::new(
                provider.name.clone(),
                purpose,
                "KEY".parse().unwrap(),
                ClientSecret::new("SECRET".repeat(8)).unwrap(),
                purpose.recommended_scopes(),
            );
            let _ = store.create_client(&client).await.unwrap();
        }
        store
    });
    let raw = runtime
        .block_on(
            SqlitePoolOptions::new()
                .max_connections(4)
                .connect(&format!("sqlite://{}", path.display())),
        )
        .unwrap();

    let mut group = c.benchmark_group("client_lookup");
    group.measurement_time(std::time::Duration::from_secs(5));
    group.bench_function("SqliteStore::client", |b| {
        b.to_async(&runtime).iter(|| async {
            store
                .client(&provider.name, Purpose::Sync)
                .await
                .unwrap()
                .unwrap()
        });
    });
    group.bench_function("raw sqlx query", |b| {
        b.to_async(&runtime).iter(|| async {
            let row: (String, String, String, String, String) = sqlx::query_as(
                "SELECT provider, purpose, key, secret, scopes FROM clients WHERE provider = $1 AND purpose = $2",
            )
            .bind("bitbucket.org")
            .bind("sync")
            .fetch_one(&raw)
            .await
            .unwrap();
            row
        });
    });
    group.finish();
}

criterion_group!(benches, client_lookup);
criterion_main!(benches);
