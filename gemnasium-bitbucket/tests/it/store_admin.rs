//! Declarative configuration (export, plan, apply) and store administration (migrate, status)
//! through the library, on every backend (issue 10, parts 2 and 3). PostgreSQL runs in a fresh
//! schema of `DATABASE_URL`'s database; without it these tests skip, except under CI.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::DateTime;
use gemnasium_bitbucket::declarative::{
    self, Change, Configuration, ConfigurationError, ExportSecrets,
};
use gemnasium_bitbucket::model::{
    AccessToken, AccountInfo, ApiScopeSet, Client, ClientSecret, CredentialKind, CredentialScopes,
    HookRecord, Provider, ProviderName, Purpose, RefreshToken, Repository, SecretText, ServiceUrl,
    Source, StoredCredential, TokenSet,
};
use gemnasium_bitbucket::store::{
    self, ConfigChange, DynStore, MemoryStore, MigrateError, SecretKey, SqliteStore, StoreContents,
    StoreError, WorkspaceListing,
};

fn name(s: &str) -> ProviderName {
    s.parse().unwrap()
}

fn url(s: &str) -> ServiceUrl {
    ServiceUrl::parse("URL", s).unwrap()
}

/// Two providers (one with a homepage and allowed workspaces), three clients, two sources.
fn configuration(secret: &str) -> Configuration {
    let cloud = Provider::bitbucket_cloud()
        .with_homepage(url("https://g.example"))
        .unwrap()
        .with_allowed_workspaces("acme,beta".parse().unwrap());
    let other = Provider::bitbucket_at(&url("https://bb.example"), url("https://api.bb.example"))
        .with_pkce(true);
    let mut other = other;
    other.name = name("bb.example");
    let client = |p: &ProviderName, purpose: Purpose, s: &str| {
        Client::new(
            p.clone(),
            purpose,
            "KEY".parse().unwrap(),
            ClientSecret::new(s).unwrap(),
            purpose.recommended_scopes(),
        )
    };
    let source = |p: &Provider| {
        Source::new(
            p.name.clone(),
            "Bitbucket".parse().unwrap(),
            p.kind,
            p.api_url.clone(),
        )
    };
    Configuration::new(
        vec![other.clone(), cloud.clone()],
        vec![
            client(&cloud.name, Purpose::Sync, secret),
            client(&cloud.name, Purpose::Login, secret),
            client(&other.name, Purpose::Sync, "other-secret"),
        ],
        vec![source(&cloud), source(&other)],
    )
    .unwrap()
}

fn env(pairs: &[(String, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.clone(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

async fn sqlite() -> (tempfile::TempDir, DynStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("store.db"))
        .await
        .unwrap();
    (dir, Arc::new(store))
}

/// The same test on the memory, SQLite and PostgreSQL stores.
macro_rules! on_every_backend {
    ($test:ident) => {
        mod $test {
            #[tokio::test]
            async fn memory() {
                super::$test(std::sync::Arc::new(super::MemoryStore::new())).await;
            }
            #[tokio::test]
            async fn sqlite() {
                let (_dir, store) = super::sqlite().await;
                super::$test(store).await;
            }
            #[tokio::test]
            async fn postgres() {
                if let Some(store) =
                    gemnasium_bitbucket::testing::conformance::postgres_for_tests().await
                {
                    super::$test(store).await;
                }
            }
        }
    };
}

#[tokio::test]
async fn export_then_apply_round_trips_with_references_and_with_secrets() {
    let source = MemoryStore::new();
    declarative::apply(&source, &configuration("s3cret-value"), false)
        .await
        .unwrap();
    let exported = Configuration::from_store(&source).await.unwrap();
    assert_eq!(exported, configuration("s3cret-value"));

    let text = exported.to_toml(ExportSecrets::References).unwrap();
    assert!(
        !text.contains("s3cret-value") && !text.contains("other-secret"),
        "{text}"
    );
    assert!(
        text.contains("homepage = \"https://g.example/\"")
            || text.contains("homepage = \"https://g.example\""),
        "{text}"
    );
    assert!(
        text.contains("allowed_workspaces = [\"acme\", \"beta\"]"),
        "{text}"
    );
    // Exporting twice gives the same bytes.
    let again = Configuration::from_store(&source).await.unwrap();
    assert_eq!(again.to_toml(ExportSecrets::References).unwrap(), text);

    let vars: Vec<(String, &str)> = exported
        .secret_variables()
        .into_iter()
        .zip(["other-secret", "s3cret-value", "s3cret-value"])
        .collect();
    assert_eq!(vars[0].0, "GEMNASIUM_SECRET_BB_EXAMPLE_SYNC");
    let read = Configuration::from_toml(&text, env(&vars)).unwrap();
    assert_eq!(read, exported);
    let target = MemoryStore::new();
    let plan = declarative::apply(&target, &read, false).await.unwrap();
    assert!(plan.applied);
    assert_eq!(plan.summary().create, 7, "{plan:?}");
    assert_eq!(Configuration::from_store(&target).await.unwrap(), exported);

    let literal = exported.to_toml(ExportSecrets::Included).unwrap();
    assert!(literal.contains("s3cret-value"));
    let read = Configuration::from_toml(&literal, |_| None).unwrap();
    assert_eq!(read, exported);
}

#[test]
fn unset_variables_fail_reading_and_are_all_named() {
    let text = configuration("x")
        .to_toml(ExportSecrets::References)
        .unwrap();
    let only_one = [("GEMNASIUM_SECRET_BB_EXAMPLE_SYNC".to_owned(), "v")];
    match Configuration::from_toml(&text, env(&only_one)) {
        Err(ConfigurationError::UnsetVariables { names }) => assert_eq!(
            names,
            [
                "GEMNASIUM_SECRET_BITBUCKET_ORG_LOGIN",
                "GEMNASIUM_SECRET_BITBUCKET_ORG_SYNC"
            ]
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_file_naming_a_missing_provider_or_a_duplicate_is_refused() {
    let text = "[[client]]\nprovider = \"bitbucket.org\"\npurpose = \"login\"\nkey = \"K\"\nsecret = \"S\"\nscopes = [\"account\"]\n";
    let e = Configuration::from_toml(text, |_| None).unwrap_err();
    assert!(
        matches!(e, ConfigurationError::MissingProvider { .. }),
        "{e}"
    );
    let full = configuration("s").to_toml(ExportSecrets::Included).unwrap();
    let doubled = format!("{full}\n{}", &full[full.find("[[source]]").unwrap()..]);
    let e = Configuration::from_toml(&doubled, |_| None).unwrap_err();
    assert!(matches!(e, ConfigurationError::Duplicate { .. }), "{e}");
    let e =
        Configuration::from_toml("[[provider]]\nname = \"x\"\nbogus = 1\n", |_| None).unwrap_err();
    assert!(e.to_string().contains("bogus"), "{e}");
}

async fn apply_is_idempotent_and_prunes_only_when_asked(store: DynStore) {
    let full = configuration("first");
    declarative::apply(store.as_ref(), &full, false)
        .await
        .unwrap();
    // A token of the client that pruning will delete: it goes with its client.
    store
        .put_token(
            &name("bb.example"),
            Purpose::Sync,
            &account(1),
            &tokens("a"),
        )
        .await
        .unwrap();
    let again = declarative::apply(store.as_ref(), &full, false)
        .await
        .unwrap();
    assert!(!again.applied);
    assert!(
        again.items.iter().all(|i| i.change == Change::Unchanged),
        "{again:?}"
    );

    // Only bitbucket.org, with a rotated secret.
    let smaller = Configuration::new(
        vec![full.providers()[1].clone()],
        full.clients()[1..]
            .iter()
            .map(|c| {
                let mut c = c.clone();
                c.secret = ClientSecret::new("rotated").unwrap();
                c
            })
            .collect(),
        vec![full.sources()[1].clone()],
    )
    .unwrap();
    let kept = declarative::apply(store.as_ref(), &smaller, false)
        .await
        .unwrap();
    let changes: Vec<_> = kept
        .items
        .iter()
        .map(|i| (i.key.as_str(), i.change))
        .collect();
    assert_eq!(
        changes,
        [
            ("bb.example", Change::Kept),
            ("bitbucket.org", Change::Unchanged),
            ("bb.example/sync", Change::Kept),
            ("bitbucket.org/login", Change::Update),
            ("bitbucket.org/sync", Change::Update),
            ("bb.example", Change::Kept),
            ("bitbucket.org", Change::Unchanged),
        ]
    );
    let secret = &kept.items[3].fields[0];
    assert_eq!(secret.field, "secret");
    assert_eq!(
        secret.to.as_deref(),
        Some(ClientSecret::new("rotated").unwrap().fingerprint().as_str())
    );
    assert_eq!(store.providers().await.unwrap().len(), 2);

    let pruned = declarative::apply(store.as_ref(), &smaller, true)
        .await
        .unwrap();
    assert_eq!(pruned.summary().delete, 3, "{pruned:?}");
    assert_eq!(
        Configuration::from_store(store.as_ref()).await.unwrap(),
        smaller
    );
    assert!(store
        .tokens(Some(&name("bb.example")))
        .await
        .unwrap()
        .is_empty());
}
on_every_backend!(apply_is_idempotent_and_prunes_only_when_asked);

async fn a_failing_change_writes_nothing(store: DynStore) {
    let full = configuration("s");
    let orphan = Client::new(
        name("nowhere.example"),
        Purpose::Login,
        "K".parse().unwrap(),
        ClientSecret::new("S").unwrap(),
        Purpose::Login.recommended_scopes(),
    );
    let e = store
        .apply_config(&[
            ConfigChange::PutProvider(full.providers()[0].clone()),
            ConfigChange::PutClient(full.clients()[0].clone()),
            ConfigChange::PutClient(orphan),
        ])
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::MissingProvider { .. }), "{e}");
    assert!(store.providers().await.unwrap().is_empty());
    assert!(store.clients(None).await.unwrap().is_empty());

    declarative::apply(store.as_ref(), &full, false)
        .await
        .unwrap();
    let before = Configuration::from_store(store.as_ref()).await.unwrap();
    // Deleting a provider that still has a client fails, and the deletion before it is undone.
    let e = store
        .apply_config(&[
            ConfigChange::DeleteSource(name("bb.example")),
            ConfigChange::DeleteProvider(name("bb.example")),
        ])
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::ProviderInUse { .. }), "{e}");
    assert_eq!(
        Configuration::from_store(store.as_ref()).await.unwrap(),
        before
    );
}
on_every_backend!(a_failing_change_writes_nothing);

fn account(n: u8) -> AccountInfo {
    AccountInfo {
        uuid: format!("{{0000000{n}-0000-4000-8000-000000000000}}")
            .parse()
            .unwrap(),
        account_id: Some(format!("557058:{n}")),
        nickname: Some(format!("user{n}")),
        display_name: None,
    }
}

fn tokens(tag: &str) -> TokenSet {
    TokenSet {
        access_token: AccessToken::new(format!("access-token-{tag}")).unwrap(),
        refresh_token: Some(RefreshToken::new(format!("refresh-token-{tag}")).unwrap()),
        expires_at: DateTime::from_timestamp(2_000_000_000, 0),
        scopes: "repository,webhook".parse().unwrap(),
    }
}

fn repo(workspace: &str, n: u32) -> Repository {
    let mut repo = Repository::new(
        format!("{{{n:08x}-0000-4000-8000-000000000000}}")
            .parse()
            .unwrap(),
        format!("{workspace}/r{n}"),
    );
    repo.updated_on = DateTime::from_timestamp(1_700_000_000 + i64::from(n), 123_456_000);
    repo.language = Some("rust".into());
    repo
}

/// Two stored sync credentials: a workspace access token with an expiry, and an API token of
/// the other provider without one.
fn credentials() -> [StoredCredential; 2] {
    [
        StoredCredential::new(
            name("bitbucket.org"),
            "acme-access".parse().unwrap(),
            CredentialKind::AccessToken {
                workspace: "acme".parse().unwrap(),
            },
            SecretText::new("access-token-credential-value").unwrap(),
            CredentialScopes::OAuth("repository,webhook".parse().unwrap()),
            "{0000000a-0000-4000-8000-00000000000a}".parse().unwrap(),
            "acme".into(),
            DateTime::from_timestamp(2_000_000_000, 0),
        ),
        StoredCredential::new(
            name("bb.example"),
            "ci-bot".parse().unwrap(),
            CredentialKind::ApiToken {
                email: "ci@acme.example".into(),
                workspace: None,
            },
            SecretText::new("api-token-credential-value").unwrap(),
            CredentialScopes::Api(ApiScopeSet::for_sync()),
            account(1).uuid,
            "user1".into(),
            None,
        ),
    ]
}

/// A store with a bit of everything: configuration, tokens in several states, stored sync
/// credentials of both kinds, repositories (one gone), tracked repositories with and without a
/// webhook, listing states, a deprecation.
async fn fill(store: &DynStore) {
    declarative::apply(store.as_ref(), &configuration("consumer-secret"), false)
        .await
        .unwrap();
    for credential in credentials() {
        store.add_credential(&credential).await.unwrap();
    }
    let bb = name("bitbucket.org");
    store
        .put_token(&bb, Purpose::Sync, &account(1), &tokens("one"))
        .await
        .unwrap();
    let stored = store
        .put_token(&bb, Purpose::Login, &account(2), &tokens("two"))
        .await
        .unwrap();
    let _ = store
        .mark_needs_reauth(&stored.key, stored.version, "refresh token revoked")
        .await
        .unwrap();
    let three = store
        .put_token(&bb, Purpose::Sync, &account(3), &tokens("three"))
        .await
        .unwrap();
    let _ = store
        .swap_token(&three.key, three.version, &tokens("three-b"))
        .await
        .unwrap();
    let seen = DateTime::from_timestamp(1_750_000_000, 0).unwrap();
    let acme = |n| (0..n).map(|i| repo("acme", i)).collect::<Vec<_>>();
    store
        .record_listings(
            &bb,
            &account(1).uuid,
            &[WorkspaceListing::new("acme", acme(4))],
            seen,
        )
        .await
        .unwrap();
    store
        .record_listings(
            &bb,
            &account(1).uuid,
            &[WorkspaceListing::new("acme", acme(3))],
            seen + chrono::Duration::hours(1),
        )
        .await
        .unwrap();
    for i in 0..2 {
        let r = repo("acme", i);
        let _ = store.track(&bb, &r.uuid, &r.full_name).await.unwrap();
    }
    let hook = HookRecord::new(
        "{0000000a-0b35-4e1c-a56a-f6e6a24ab2c9}".parse().unwrap(),
        "https://g.example/hooks/bitbucket",
        SecretText::new("hook-secret-value").unwrap(),
        vec!["repo:push".into()],
    );
    store
        .record_hook(&bb, &repo("acme", 0).uuid, Some(&hook), seen)
        .await
        .unwrap();
    store
        .prove_hook(&bb, &repo("acme", 0).uuid, seen)
        .await
        .unwrap();
    store
        .record_deprecation("CHANGE-2770", Some("https://example.com/change"), seen)
        .await
        .unwrap();
    store.set_doctor_reported_at(seen).await.unwrap();
    let _ = store.installation_id().await.unwrap();
}

fn summary(contents: &StoreContents) -> String {
    format!("{:?}", contents.counts())
}

#[tokio::test]
async fn migrate_sqlite_to_encrypted_postgres_and_back_is_equal() {
    let Some(url) = gemnasium_bitbucket::testing::conformance::postgres_url_for_tests() else {
        return;
    };
    let (_a, first) = sqlite().await;
    fill(&first).await;
    let original = first.export_contents().await.unwrap();
    assert_eq!(
        original.counts().gone_repositories,
        1,
        "{}",
        summary(&original)
    );
    assert_eq!(original.counts().hooks, 1);
    assert_eq!(original.counts().credentials, 2);
    assert_eq!(original.credentials.len(), 2, "{}", summary(&original));

    let key = SecretKey::generate();
    let schema = format!("t_{:016x}", rand::random::<u64>());
    let pg = store::PostgresStore::connect_in_schema(&url, &schema)
        .await
        .unwrap();
    pg.use_secret_key(Some(key.clone())).await.unwrap();
    let pg: DynStore = Arc::new(pg);
    let report = store::migrate(first.as_ref(), pg.as_ref(), false)
        .await
        .unwrap();
    assert_eq!(report.rows, original.counts());
    let sealed = pg.secrets_at_rest().await.unwrap();
    // 3 consumer secrets, 3 access and 3 refresh tokens, 2 stored credentials, 1 webhook secret.
    assert_eq!((sealed.encrypted, sealed.plain), (12, 0), "{sealed:?}");
    assert_eq!(pg.export_contents().await.unwrap(), original);
    let copied = pg.credentials(None).await.unwrap();
    assert_eq!(copied, original.credentials);
    assert_eq!(
        copied[1].secret.expose_secret(),
        "access-token-credential-value",
        "the token reads back through the target's key"
    );

    // Reopened with the key, copied into a plain SQLite store: equal to the first.
    let pg_again = store::PostgresStore::connect_in_schema(&url, &schema)
        .await
        .unwrap();
    pg_again.use_secret_key(Some(key)).await.unwrap();
    let (_b, last) = sqlite().await;
    store::migrate(&pg_again, last.as_ref(), false)
        .await
        .unwrap();
    assert_eq!(last.export_contents().await.unwrap(), original);
    assert_eq!(
        last.installation_id().await.unwrap(),
        first.installation_id().await.unwrap()
    );
    let status = store::status(last.as_ref()).await.unwrap();
    assert_eq!(status.rows, original.counts());
    assert_eq!(status.schema_version, status.supported_schema_version);
    assert!(status.schema_version.is_some());
}

async fn a_non_empty_target_is_refused_unless_replacing(target: DynStore) {
    let (_dir, source) = sqlite().await;
    fill(&source).await;
    declarative::apply(target.as_ref(), &configuration("other"), false)
        .await
        .unwrap();
    let before = target.export_contents().await.unwrap();
    let e = store::migrate(source.as_ref(), target.as_ref(), false)
        .await
        .unwrap_err();
    assert!(matches!(e, MigrateError::TargetNotEmpty { .. }), "{e}");
    assert!(
        e.to_string().contains("2 providers, 3 clients, 2 sources"),
        "{e}"
    );
    assert_eq!(target.export_contents().await.unwrap(), before);

    let report = store::migrate(source.as_ref(), target.as_ref(), true)
        .await
        .unwrap();
    assert_eq!(report.replaced.providers, 2);
    assert_eq!(report.rows.credentials, 2);
    assert_eq!(
        target.export_contents().await.unwrap(),
        source.export_contents().await.unwrap()
    );
    let e = store::migrate(target.as_ref(), target.as_ref(), true)
        .await
        .unwrap_err();
    assert!(matches!(e, MigrateError::SameStore { .. }), "{e}");
}
on_every_backend!(a_non_empty_target_is_refused_unless_replacing);

async fn an_import_that_breaks_a_rule_writes_nothing(target: DynStore) {
    let (_dir, source) = sqlite().await;
    fill(&source).await;
    declarative::apply(target.as_ref(), &configuration("other"), false)
        .await
        .unwrap();
    let before = target.export_contents().await.unwrap();
    let mut broken = source.export_contents().await.unwrap();
    // A token whose client is not copied.
    broken.clients.retain(|c| c.purpose != Purpose::Login);
    assert!(target.import_contents(&broken).await.is_err());
    assert_eq!(target.export_contents().await.unwrap(), before);
}
on_every_backend!(an_import_that_breaks_a_rule_writes_nothing);
