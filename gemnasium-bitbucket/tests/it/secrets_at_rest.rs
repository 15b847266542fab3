//! Secrets encrypted at rest, checked where an attacker with a copy would look: the SQLite
//! files' bytes and a `pg_dump`.

use std::path::{Path, PathBuf};

use gemnasium_bitbucket::model::{
    AccessToken, AccountInfo, ApiScopeSet, Client, ClientSecret, CredentialKind, CredentialName,
    CredentialScopes, HookRecord, Provider, ProviderName, Purpose, RefreshToken, RepoUuid,
    Repository, SecretText, Source, StoredCredential, TokenKey, TokenSet,
};
use gemnasium_bitbucket::store::{
    self, CredentialStore, DynStore, SecretKey, SqliteStore, Store, StoreError, StoreOptions,
    TokenStore, UnsealError, WorkspaceListing, WriteOutcome,
};

const CLIENT_SECRET: &str = "cs-5ecret-d8f1a0c4e7b94f21a9";
const ACCESS: &str = "at-access-0b9e7c31d5a84e6f92";
const REFRESH: &str = "rt-refresh-4c2a9e8b1f7d4c3a55";
const HOOK_SECRET: &str = "hs-hook-secret-7e3f5a1c9b2d8e4f";
const CREDENTIAL: &str = "ATATT-api-token-3d9c1e7a5b2f4c8e61";
const SECRETS: [&str; 5] = [CLIENT_SECRET, ACCESS, REFRESH, HOOK_SECRET, CREDENTIAL];

fn bb() -> ProviderName {
    "bitbucket.org".parse().unwrap()
}

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
        provider: bb(),
        purpose: Purpose::Sync,
        account: account().uuid,
    }
}

fn repo_uuid() -> RepoUuid {
    "{0a1b2c3d-0000-4000-8000-00000000000a}".parse().unwrap()
}

fn credential_name() -> CredentialName {
    "ci-bot".parse().unwrap()
}

/// A stored sync credential (an API token) whose token is [`CREDENTIAL`].
fn credential() -> StoredCredential {
    StoredCredential::new(
        bb(),
        credential_name(),
        CredentialKind::ApiToken {
            email: "ci@acme.example".into(),
            workspace: Some("acme".parse().unwrap()),
        },
        SecretText::new(CREDENTIAL).unwrap(),
        CredentialScopes::Api(ApiScopeSet::for_sync()),
        account().uuid,
        "jdoe".into(),
        None,
    )
}

/// A store holding one of each kind of secret.
async fn fill(store: &dyn Store) {
    let created = store
        .create_provider(&Provider::bitbucket_cloud())
        .await
        .unwrap();
    assert_eq!(created, WriteOutcome::Created);
    let client = Client::new(
        bb(),
        Purpose::Sync,
        "consumer-key".parse().unwrap(),
        ClientSecret::new(CLIENT_SECRET).unwrap(),
        Purpose::Sync.recommended_scopes(),
    );
    assert_eq!(
        store.create_client(&client).await.unwrap(),
        WriteOutcome::Created
    );
    store
        .put_token(
            &bb(),
            Purpose::Sync,
            &account(),
            &TokenSet {
                access_token: AccessToken::new(ACCESS).unwrap(),
                refresh_token: Some(RefreshToken::new(REFRESH).unwrap()),
                expires_at: None,
                scopes: "repository,webhook".parse().unwrap(),
            },
        )
        .await
        .unwrap();
    let source = Source::new(
        bb(),
        "Bitbucket Cloud".parse().unwrap(),
        gemnasium_bitbucket::model::ProviderKind::Bitbucket,
        gemnasium_bitbucket::model::ServiceUrl::parse("API", "https://api.bitbucket.org").unwrap(),
    );
    assert_eq!(
        store.create_source(&source).await.unwrap(),
        WriteOutcome::Created
    );
    let repo = Repository::new(repo_uuid(), "acme/app");
    store
        .record_listings(
            &bb(),
            &account().uuid,
            &[WorkspaceListing::new("acme", vec![repo])],
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let tracked = store.track(&bb(), &repo_uuid(), "acme/app").await.unwrap();
    assert_eq!(tracked, WriteOutcome::Created);
    let hook = HookRecord::new(
        "{0302255c-0b35-4e1c-a56a-f6e6a24ab2c9}".parse().unwrap(),
        "https://gem.example/hooks/bitbucket",
        SecretText::new(HOOK_SECRET).unwrap(),
        vec!["repo:push".into()],
    );
    store
        .record_hook(&bb(), &repo_uuid(), Some(&hook), chrono::Utc::now())
        .await
        .unwrap();
    store.add_credential(&credential()).await.unwrap();
}

/// Every secret reads back as written.
async fn assert_readable(store: &dyn Store) {
    let client = store.client(&bb(), Purpose::Sync).await.unwrap().unwrap();
    assert_eq!(client.secret.expose_secret(), CLIENT_SECRET);
    let token = store.token(&token_key()).await.unwrap().unwrap();
    assert_eq!(token.tokens.access_token.expose_secret(), ACCESS);
    assert_eq!(
        token.tokens.refresh_token.as_ref().unwrap().expose_secret(),
        REFRESH
    );
    let tracked = store
        .tracked_repository(&bb(), &repo_uuid())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tracked.hook.unwrap().secret.expose_secret(), HOOK_SECRET);
    let stored = store
        .credential(&bb(), &credential_name())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.secret.expose_secret(), CREDENTIAL);
}

fn store_files(path: &Path) -> Vec<PathBuf> {
    ["", "-wal", "-shm", "-journal"]
        .iter()
        .map(|suffix| PathBuf::from(format!("{}{suffix}", path.display())))
        .filter(|p| p.exists())
        .collect()
}

/// Every byte SQLite keeps on disk for the store.
fn disk_bytes(path: &Path) -> Vec<u8> {
    store_files(path)
        .iter()
        .flat_map(|f| std::fs::read(f).unwrap())
        .collect()
}

fn leaked(bytes: &[u8]) -> Vec<&'static str> {
    SECRETS
        .into_iter()
        .filter(|s| bytes.windows(s.len()).any(|w| w == s.as_bytes()))
        .collect()
}

/// Every row of every table, as SQLite quotes the values (a logical snapshot: SQLite itself
/// rewrites its shared-memory index on every open).
async fn contents(path: &Path) -> Vec<String> {
    let raw = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", path.display()))
        .await
        .unwrap();
    let tables: Vec<(String,)> =
        sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(&raw)
            .await
            .unwrap();
    let mut rows = Vec::new();
    for (table,) in tables {
        let columns: Vec<(String,)> =
            sqlx::query_as(&format!("SELECT name FROM pragma_table_info('{table}')"))
                .fetch_all(&raw)
                .await
                .unwrap();
        let quoted: Vec<String> = columns
            .iter()
            .map(|(c,)| format!("quote(\"{c}\")"))
            .collect();
        let sql = format!(
            "SELECT '{table}: ' || {} FROM \"{table}\" ORDER BY 1",
            quoted.join(" || ', ' || ")
        );
        let found: Vec<(String,)> = sqlx::query_as(&sql).fetch_all(&raw).await.unwrap();
        rows.extend(found.into_iter().map(|(r,)| r));
    }
    raw.close().await;
    assert!(rows.len() > 5, "the snapshot sees the data: {rows:?}");
    rows
}

/// The stored credential's token column as it is on disk, read past the store.
async fn stored_credential_token(path: &Path) -> String {
    let raw = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", path.display()))
        .await
        .unwrap();
    let (token,): (String,) = sqlx::query_as("SELECT token FROM credentials")
        .fetch_one(&raw)
        .await
        .unwrap();
    raw.close().await;
    token
}

fn location(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

fn with_key(key: &SecretKey) -> StoreOptions {
    StoreOptions::new().secret_key(Some(key.clone()))
}

#[tokio::test]
async fn with_a_key_no_secret_reaches_the_sqlite_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let key = SecretKey::generate();
    let store = store::open_with(&location(&path), &with_key(&key))
        .await
        .unwrap();
    fill(store.as_ref()).await;
    assert_readable(store.as_ref()).await;
    let at_rest = store.secrets_at_rest().await.unwrap();
    assert_eq!(
        (at_rest.encrypted, at_rest.plain, at_rest.key_id.as_deref()),
        (5, 0, Some(key.id().as_str()))
    );
    // The files as they are while the store is open (WAL included) and after closing.
    assert_eq!(leaked(&disk_bytes(&path)), Vec::<&str>::new());
    drop(store);
    assert_eq!(leaked(&disk_bytes(&path)), Vec::<&str>::new());

    // The control: without a key the same data is in the file, so the search can find it.
    let plain_path = dir.path().join("plain.db");
    let plain = store::open(&location(&plain_path)).await.unwrap();
    fill(plain.as_ref()).await;
    assert_eq!(leaked(&disk_bytes(&plain_path)).len(), 5);
}

#[tokio::test]
async fn a_missing_or_wrong_key_is_refused_naming_the_key_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let key = SecretKey::generate();
    let store = store::open_with(&location(&path), &with_key(&key))
        .await
        .unwrap();
    fill(store.as_ref()).await;
    drop(store);
    let before = contents(&path).await;

    match store::open(&location(&path)).await {
        Err(StoreError::SecretKeyRequired { key_id, .. }) => assert_eq!(key_id, key.id().as_str()),
        other => panic!("expected SecretKeyRequired, got {:?}", other.map(|_| ())),
    }
    let wrong = SecretKey::generate();
    let err = store::open_with(&location(&path), &with_key(&wrong))
        .await
        .map(|_| ())
        .unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(&err, StoreError::WrongSecretKey { expected, given, .. }
            if expected == key.id().as_str() && given == wrong.id().as_str()),
        "{message}"
    );
    assert!(!message.contains(&key.to_base64()) && !message.contains(&wrong.to_base64()));
    // Read-only opening refuses the same way.
    assert!(matches!(
        store::open_for_reading(&location(&path)).await.map(|_| ()),
        Err(StoreError::SecretKeyRequired { .. })
    ));
    assert_eq!(
        contents(&path).await,
        before,
        "a refused open changed the store"
    );

    let store = store::open_with(&location(&path), &with_key(&key))
        .await
        .unwrap();
    assert_readable(store.as_ref()).await;
}

#[tokio::test]
async fn tampered_or_moved_ciphertext_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let key = SecretKey::generate();
    let store = store::open_with(&location(&path), &with_key(&key))
        .await
        .unwrap();
    fill(store.as_ref()).await;
    drop(store);

    // Read without the key (the store opened bypassing the check), a credential's token fails
    // like every other secret, naming the key and never the value.
    let keyless = SqliteStore::open(&path).await.unwrap();
    for err in [
        keyless.token(&token_key()).await.unwrap_err(),
        keyless
            .credential(&bb(), &credential_name())
            .await
            .unwrap_err(),
    ] {
        assert!(
            matches!(&err, StoreError::Unseal(UnsealError::KeyRequired { key_id, .. })
                if key_id == key.id().as_str()),
            "{err}"
        );
        assert!(!err.to_string().contains(CREDENTIAL), "{err}");
    }
    let err = keyless.credentials(None).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Unseal(UnsealError::KeyRequired { what, .. }) if what == "credential"),
        "{err}"
    );
    drop(keyless);

    let raw = sqlx::SqlitePool::connect(&location(&path)).await.unwrap();
    // Moved: the access token's sealed value copied into the stored credential's column, then
    // the refresh token's into the access token's.
    sqlx::query("UPDATE credentials SET token = (SELECT access_token FROM tokens)")
        .execute(&raw)
        .await
        .unwrap();
    sqlx::query("UPDATE tokens SET access_token = refresh_token")
        .execute(&raw)
        .await
        .unwrap();
    // Altered: one character of the client secret's ciphertext changed.
    let (secret,): (String,) = sqlx::query_as("SELECT secret FROM clients")
        .fetch_one(&raw)
        .await
        .unwrap();
    let mut altered = secret.into_bytes();
    let last = altered.len() - 2;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    sqlx::query("UPDATE clients SET secret = $1")
        .bind(String::from_utf8(altered).unwrap())
        .execute(&raw)
        .await
        .unwrap();
    raw.close().await;

    let store = store::open_with(&location(&path), &with_key(&key))
        .await
        .unwrap();
    let err = store.token(&token_key()).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Unseal(UnsealError::Tampered { what }) if what == "access-token"),
        "{err}"
    );
    let err = store.client(&bb(), Purpose::Sync).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Unseal(UnsealError::Tampered { .. })),
        "{err}"
    );
    let err = store
        .credential(&bb(), &credential_name())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Unseal(UnsealError::Tampered { what }) if what == "credential"),
        "{err}"
    );
    assert!(err
        .to_string()
        .contains("altered or copied from another row"));
    // Re-encrypting cannot launder a tampered value either.
    assert!(store.reseal_secrets(Some(&key)).await.is_err());
}

#[tokio::test]
async fn encrypting_a_plain_store_then_rotating_and_decrypting_keeps_every_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let plain = store::open(&location(&path)).await.unwrap();
    fill(plain.as_ref()).await;
    drop(plain);

    let key = SecretKey::generate();
    // A key for a store that holds plain secrets: refused until they are encrypted.
    assert!(matches!(
        store::open_with(&location(&path), &with_key(&key))
            .await
            .map(|_| ()),
        Err(StoreError::PlainSecrets { count: 5, .. })
    ));
    let store = store::open(&location(&path)).await.unwrap();
    assert_eq!(store.reseal_secrets(Some(&key)).await.unwrap(), 5);
    assert_readable(store.as_ref()).await;
    drop(store);
    // secure_delete and the checkpoint leave no plain copy behind on disk.
    assert_eq!(leaked(&disk_bytes(&path)), Vec::<&str>::new());
    assert!(stored_credential_token(&path)
        .await
        .starts_with(&format!("enc:v1:{}:", key.id())));

    let new = SecretKey::generate();
    let store = store::open_with(&location(&path), &with_key(&key))
        .await
        .unwrap();
    assert_eq!(store.reseal_secrets(Some(&new)).await.unwrap(), 5);
    assert_readable(store.as_ref()).await;
    drop(store);
    assert!(stored_credential_token(&path)
        .await
        .starts_with(&format!("enc:v1:{}:", new.id())));
    assert!(matches!(
        store::open_with(&location(&path), &with_key(&key))
            .await
            .map(|_| ()),
        Err(StoreError::WrongSecretKey { .. })
    ));
    let store = store::open_with(&location(&path), &with_key(&new))
        .await
        .unwrap();
    assert_readable(store.as_ref()).await;

    assert_eq!(store.reseal_secrets(None).await.unwrap(), 5);
    drop(store);
    assert_eq!(stored_credential_token(&path).await, CREDENTIAL);
    let store = store::open(&location(&path)).await.unwrap();
    assert_readable(store.as_ref()).await;
    assert_eq!(store.secrets_at_rest().await.unwrap().key_id, None);
}

#[tokio::test]
async fn a_fresh_store_opened_with_a_key_records_it_and_a_second_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let first = SecretKey::generate();
    let store = SqliteStore::open(&path).await.unwrap();
    store.use_secret_key(Some(first.clone())).await.unwrap();
    let other = SqliteStore::open(&path).await.unwrap();
    assert!(matches!(
        other.use_secret_key(Some(SecretKey::generate())).await,
        Err(StoreError::WrongSecretKey { .. })
    ));
    assert!(matches!(
        other.use_secret_key(None).await,
        Err(StoreError::SecretKeyRequired { .. })
    ));
}

/// The dump an operator backs up holds no secret when the store has a key.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn with_a_key_no_secret_reaches_a_pg_dump() {
    let Some(url) = gemnasium_bitbucket::testing::conformance::postgres_url_for_tests() else {
        return;
    };
    let dump = |schema: String| {
        let out = std::process::Command::new("pg_dump")
            .args(["--no-owner", "--schema", &schema, &url])
            .output()
            .expect("pg_dump runs (package postgresql-client)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let key = SecretKey::generate();
    let sealed_schema = format!("t_{:016x}", rand::random::<u64>());
    let sealed = store::PostgresStore::connect_in_schema(&url, &sealed_schema)
        .await
        .unwrap();
    sealed.use_secret_key(Some(key.clone())).await.unwrap();
    let sealed: DynStore = std::sync::Arc::new(sealed);
    fill(sealed.as_ref()).await;
    assert_readable(sealed.as_ref()).await;
    let bytes = dump(sealed_schema.clone());
    assert!(String::from_utf8_lossy(&bytes).contains("enc:v1:"));
    assert_eq!(leaked(&bytes), Vec::<&str>::new());

    // The control: the same data without a key is in the dump.
    let plain_schema = format!("t_{:016x}", rand::random::<u64>());
    let plain: DynStore = std::sync::Arc::new(
        store::PostgresStore::connect_in_schema(&url, &plain_schema)
            .await
            .unwrap(),
    );
    fill(plain.as_ref()).await;
    assert_eq!(leaked(&dump(plain_schema)).len(), 5);

    // And the key is needed to read it back.
    let reopened = store::PostgresStore::connect_in_schema(&url, &sealed_schema)
        .await
        .unwrap();
    assert!(matches!(
        reopened.use_secret_key(None).await,
        Err(StoreError::SecretKeyRequired { .. })
    ));
}
