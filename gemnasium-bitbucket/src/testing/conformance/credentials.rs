//! Conformance checks for [`CredentialStore`](crate::store::CredentialStore): stored sync
//! credentials (access tokens and API tokens), run on every backend by the store conformance
//! suite; each function takes a fresh, empty store.

use chrono::{DateTime, Utc};

use crate::model::{
    ApiScopeSet, CredentialKind, CredentialName, CredentialScopes, Provider, ProviderName,
    ScopeSet, SecretText, ServiceUrl, StoredCredential,
};
use crate::store::{ConfigChange, DynStore, Entity, Removed, StoreError, WriteOutcome};

fn bb() -> ProviderName {
    "bitbucket.org".parse().unwrap()
}

/// A second provider, `bb.example`.
fn other_provider() -> Provider {
    let mut p = Provider::bitbucket_at(
        &ServiceUrl::parse("URL", "https://bb.example").unwrap(),
        ServiceUrl::parse("URL", "https://api.bb.example").unwrap(),
    );
    p.name = "bb.example".parse().unwrap();
    p
}

fn name(s: &str) -> CredentialName {
    s.parse().unwrap()
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + seconds, 0).expect("a valid time")
}

/// The token of credential `name` of `provider`: distinct per credential, long like Bitbucket's.
fn token(provider: &ProviderName, name: &str) -> String {
    format!("ATCTT3xFfGN0-{provider}-{name}-{}", "x".repeat(180))
}

/// A workspace access token of `provider`: OAuth-family scopes, an expiry, whole-second times.
fn access_token(provider: &ProviderName, n: &str) -> StoredCredential {
    let mut c = StoredCredential::new(
        provider.clone(),
        name(n),
        CredentialKind::AccessToken {
            workspace: "acme".parse().unwrap(),
        },
        SecretText::new(token(provider, n)).unwrap(),
        CredentialScopes::OAuth("repository,webhook,account".parse::<ScopeSet>().unwrap()),
        "{a0000000-0000-4000-8000-000000000001}".parse().unwrap(),
        "acme".to_owned(),
        Some(at(86_400)),
    );
    c.created_at = at(0);
    c
}

/// A personal API token of `provider`: API-family scopes (one this library does not know), no
/// expiry, optionally limited to a workspace.
fn api_token(provider: &ProviderName, n: &str, workspace: Option<&str>) -> StoredCredential {
    let mut c = StoredCredential::new(
        provider.clone(),
        name(n),
        CredentialKind::ApiToken {
            email: "ci@acme.example".to_owned(),
            workspace: workspace.map(|w| w.parse().unwrap()),
        },
        SecretText::new(token(provider, n)).unwrap(),
        CredentialScopes::Api(
            "read:repository:bitbucket,write:webhook:bitbucket,read:future-thing:bitbucket"
                .parse::<ApiScopeSet>()
                .unwrap(),
        ),
        "{b0000000-0000-4000-8000-000000000002}".parse().unwrap(),
        "ci-bot".to_owned(),
        None,
    );
    c.created_at = at(5);
    c
}

async fn with_providers(s: &DynStore) {
    for p in [Provider::bitbucket_cloud(), other_provider()] {
        assert_eq!(s.create_provider(&p).await.unwrap(), WriteOutcome::Created);
    }
}

/// How many secrets the store holds, encrypted or not (`None` when nothing is at rest).
async fn secrets_held(s: &DynStore) -> Option<usize> {
    let at_rest = s.secrets_at_rest().await.unwrap();
    at_rest
        .persisted
        .then_some(at_rest.encrypted + at_rest.plain)
}

/// A check of the conformance suite (see its name).
pub async fn credentials_round_trip_in_order_and_are_deleted(s: DynStore) {
    with_providers(&s).await;
    let other = other_provider().name;
    let secrets_before = secrets_held(&s).await;
    // Added out of order; `a-z` sorts before `ab` by bytes (not by some locales' collation).
    let added = [
        api_token(&other, "ci-bot", None),
        api_token(&bb(), "ci-bot", Some("acme")),
        access_token(&bb(), "ab"),
        access_token(&bb(), "a-z"),
        api_token(&bb(), "api.9", None),
    ];
    for c in &added {
        s.add_credential(c).await.unwrap();
    }
    for c in &added {
        let read = s.credential(&c.provider, &c.name).await.unwrap();
        assert_eq!(
            read.as_ref(),
            Some(c),
            "{}/{} reads back",
            c.provider,
            c.name
        );
        let shown = format!("{read:?}");
        assert!(
            !shown.contains(c.secret.expose_secret()),
            "Debug shows no token: {shown}"
        );
    }
    assert_eq!(s.credential(&bb(), &name("nobody")).await.unwrap(), None);
    assert_eq!(
        s.credential(&"nowhere.org".parse().unwrap(), &name("ci-bot"))
            .await
            .unwrap(),
        None
    );

    let keys = |list: Vec<StoredCredential>| -> Vec<String> {
        list.into_iter()
            .map(|c| format!("{}/{}", c.provider, c.name))
            .collect()
    };
    // `bb.example` sorts before `bitbucket.org`.
    assert_eq!(
        keys(s.credentials(None).await.unwrap()),
        [
            "bb.example/ci-bot",
            "bitbucket.org/a-z",
            "bitbucket.org/ab",
            "bitbucket.org/api.9",
            "bitbucket.org/ci-bot",
        ]
    );
    assert_eq!(
        keys(s.credentials(Some(&bb())).await.unwrap()),
        [
            "bitbucket.org/a-z",
            "bitbucket.org/ab",
            "bitbucket.org/api.9",
            "bitbucket.org/ci-bot",
        ]
    );
    assert_eq!(
        s.credentials(Some(&other)).await.unwrap(),
        [added[0].clone()]
    );
    assert!(s
        .credentials(Some(&"nowhere.org".parse().unwrap()))
        .await
        .unwrap()
        .is_empty());

    // Their tokens are secrets like any other, and the store as a whole holds them.
    if let (Some(before), Some(after)) = (secrets_before, secrets_held(&s).await) {
        assert_eq!(after, before + added.len(), "each token counts as a secret");
    }
    assert_eq!(s.inventory().await.unwrap().rows.credentials, added.len());
    assert_eq!(
        s.export_contents().await.unwrap().credentials,
        s.credentials(None).await.unwrap()
    );

    // A credential made now keeps its time (to the second at least).
    let mut fresh = access_token(&other, "fresh");
    fresh.created_at = Utc::now();
    fresh.expires_at = None;
    s.add_credential(&fresh).await.unwrap();
    let read = s
        .credential(&other, &fresh.name)
        .await
        .unwrap()
        .expect("stored");
    assert!(
        (read.created_at - fresh.created_at)
            .num_milliseconds()
            .abs()
            < 1000,
        "{} vs {}",
        read.created_at,
        fresh.created_at
    );
    assert_eq!(read.expires_at, None);

    assert!(s.delete_credential(&bb(), &name("ab")).await.unwrap());
    assert!(
        !s.delete_credential(&bb(), &name("ab")).await.unwrap(),
        "deleting twice finds nothing"
    );
    assert!(!s.delete_credential(&bb(), &name("nobody")).await.unwrap());
    assert_eq!(s.credential(&bb(), &name("ab")).await.unwrap(), None);
    assert_eq!(
        keys(s.credentials(Some(&bb())).await.unwrap()),
        [
            "bitbucket.org/a-z",
            "bitbucket.org/api.9",
            "bitbucket.org/ci-bot"
        ]
    );
    // The same name of the other provider is another credential.
    assert_eq!(
        s.credential(&other, &name("ci-bot"))
            .await
            .unwrap()
            .as_ref(),
        Some(&added[0])
    );
    // Deleted, it can be added again (`delete` then `add` replaces a token).
    let mut replaced = access_token(&bb(), "ab");
    replaced.secret = SecretText::new("a-new-token-value").unwrap();
    s.add_credential(&replaced).await.unwrap();
    assert_eq!(
        s.credential(&bb(), &name("ab")).await.unwrap(),
        Some(replaced)
    );
}

/// A check of the conformance suite (see its name).
pub async fn credential_names_are_unique_per_provider_and_need_it(s: DynStore) {
    let missing = access_token(&bb(), "ci-bot");
    match s.add_credential(&missing).await {
        Err(StoreError::MissingProvider { provider }) => assert_eq!(provider, bb()),
        other => panic!("expected MissingProvider, got {other:?}"),
    }
    with_providers(&s).await;
    assert!(
        s.credentials(None).await.unwrap().is_empty(),
        "a refused add writes nothing"
    );

    let first = access_token(&bb(), "ci-bot");
    s.add_credential(&first).await.unwrap();
    // Identical or not, a second add under the same name is refused and changes nothing.
    let mut different = api_token(&bb(), "ci-bot", None);
    different.secret = SecretText::new("another-token-value").unwrap();
    for again in [first.clone(), different] {
        let err = s.add_credential(&again).await.unwrap_err();
        match &err {
            StoreError::Conflict { entity, key } => {
                assert_eq!(
                    (*entity, key.as_str()),
                    (Entity::Credential, "bitbucket.org/ci-bot")
                );
            }
            other => panic!("expected Conflict, got {other}"),
        }
        let message = err.to_string();
        assert!(
            message.contains("credential `bitbucket.org/ci-bot`"),
            "{message}"
        );
        assert!(
            !message.contains(again.secret.expose_secret())
                && !format!("{err:?}").contains(again.secret.expose_secret()),
            "no token in errors: {message}"
        );
        assert_eq!(
            s.credentials(None).await.unwrap(),
            std::slice::from_ref(&first),
            "a conflicting add changes nothing"
        );
    }
    // The same name under another provider is allowed.
    let elsewhere = access_token(&other_provider().name, "ci-bot");
    s.add_credential(&elsewhere).await.unwrap();
    assert_eq!(s.credentials(None).await.unwrap().len(), 2);
}

/// A check of the conformance suite (see its name).
pub async fn deleting_a_provider_with_credentials_needs_cascade(s: DynStore) {
    with_providers(&s).await;
    let credential = access_token(&bb(), "ci-bot");
    s.add_credential(&credential).await.unwrap();
    s.add_credential(&api_token(&bb(), "api", None))
        .await
        .unwrap();
    let kept = api_token(&other_provider().name, "api", None);
    s.add_credential(&kept).await.unwrap();

    let err = s.delete_provider(&bb(), false).await.unwrap_err();
    match &err {
        StoreError::ProviderInUse {
            provider,
            clients,
            sources,
            credentials,
        } => assert_eq!(
            (provider, *clients, *sources, *credentials),
            (&bb(), 0, 0, 2)
        ),
        other => panic!("expected ProviderInUse, got {other}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("2 stored credential(s)") && message.contains("cascade"),
        "{message}"
    );
    // A configuration plan cannot delete it either.
    let err = s
        .apply_config(&[ConfigChange::DeleteProvider(bb())])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::ProviderInUse { credentials: 2, .. }),
        "{err}"
    );
    assert!(s.provider(&bb()).await.unwrap().is_some());
    assert_eq!(
        s.credentials(Some(&bb())).await.unwrap().len(),
        2,
        "a refused delete changes nothing"
    );

    let removed = s.delete_provider(&bb(), true).await.unwrap();
    assert_eq!(
        removed,
        Removed {
            credentials: 2,
            ..Removed::default()
        }
    );
    assert!(s.provider(&bb()).await.unwrap().is_none());
    assert!(s.credentials(Some(&bb())).await.unwrap().is_empty());
    assert_eq!(s.credential(&bb(), &credential.name).await.unwrap(), None);
    // Nothing dangles: the provider made again has none, and the other provider kept its own.
    assert_eq!(
        s.create_provider(&Provider::bitbucket_cloud())
            .await
            .unwrap(),
        WriteOutcome::Created
    );
    assert!(s.credentials(Some(&bb())).await.unwrap().is_empty());
    assert_eq!(s.credentials(None).await.unwrap(), [kept]);
    assert_eq!(s.inventory().await.unwrap().rows.credentials, 1);
}
