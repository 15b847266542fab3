//! Configuration and token checks: providers, clients, sources, tokens.

use crate::model::{
    AccessToken, AccountInfo, Client, ClientSecret, Provider, ProviderName, Purpose, RefreshToken,
    ServiceUrl, Source, TokenKey, TokenSet, TokenState,
};
use crate::store::{
    ClientPatch, DynStore, ProviderPatch, SourcePatch, StoreError, Swap, WriteOutcome,
};

fn bb() -> ProviderName {
    "bitbucket.org".parse().unwrap()
}

fn url(s: &str) -> ServiceUrl {
    ServiceUrl::parse("URL", s).unwrap()
}

fn client(purpose: Purpose, key: &str) -> Client {
    Client::new(
        bb(),
        purpose,
        key.parse().unwrap(),
        ClientSecret::new(format!("secret-of-{key}")).unwrap(),
        purpose.recommended_scopes(),
    )
}

fn source(display: &str) -> Source {
    Source::new(
        bb(),
        display.parse().unwrap(),
        crate::model::ProviderKind::Bitbucket,
        url("https://api.bitbucket.org"),
    )
}

fn account(n: u8) -> AccountInfo {
    AccountInfo {
        uuid: format!("{{0000000{n}-0000-4000-8000-000000000000}}")
            .parse()
            .unwrap(),
        account_id: Some(format!("557058:{n}")),
        nickname: Some(format!("user{n}")),
        display_name: Some(format!("User {n}")),
    }
}

fn tokens(tag: &str) -> TokenSet {
    TokenSet {
        access_token: AccessToken::new(format!("access-{tag}")).unwrap(),
        refresh_token: Some(RefreshToken::new(format!("refresh-{tag}")).unwrap()),
        expires_at: chrono::DateTime::from_timestamp(2_000_000_000, 0),
        scopes: "repository,webhook".parse().unwrap(),
    }
}

fn key(purpose: Purpose, n: u8) -> TokenKey {
    TokenKey {
        provider: bb(),
        purpose,
        account: account(n).uuid,
    }
}

async fn with_provider(s: &DynStore) {
    assert_eq!(
        s.create_provider(&Provider::bitbucket_cloud())
            .await
            .unwrap(),
        WriteOutcome::Created
    );
}

/// A check of the conformance suite (see its name).
pub async fn provider_create_is_idempotent_and_conflicts(s: DynStore) {
    let p = Provider::bitbucket_cloud();
    assert_eq!(s.create_provider(&p).await.unwrap(), WriteOutcome::Created);
    assert_eq!(
        s.create_provider(&p).await.unwrap(),
        WriteOutcome::Unchanged
    );
    let other = p.clone().with_api_url(url("https://api.example.org"));
    let err = s.create_provider(&other).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    assert!(err.to_string().contains("bitbucket.org"), "{err}");
    assert_eq!(
        s.provider(&bb()).await.unwrap(),
        Some(p),
        "a conflict changes nothing"
    );
}

/// A check of the conformance suite (see its name).
pub async fn clients_and_sources_need_their_provider(s: DynStore) {
    let err = s
        .create_client(&client(Purpose::Login, "K"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::MissingProvider { .. }), "{err}");
    let err = s
        .create_source(&source("Bitbucket Cloud"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::MissingProvider { .. }), "{err}");
    assert!(s.clients(None).await.unwrap().is_empty());
    assert!(s.sources().await.unwrap().is_empty());
}

/// A check of the conformance suite (see its name).
pub async fn one_client_per_provider_and_purpose(s: DynStore) {
    with_provider(&s).await;
    assert_eq!(
        s.create_client(&client(Purpose::Login, "K")).await.unwrap(),
        WriteOutcome::Created
    );
    assert_eq!(
        s.create_client(&client(Purpose::Sync, "K")).await.unwrap(),
        WriteOutcome::Created
    );
    assert_eq!(
        s.create_client(&client(Purpose::Login, "K")).await.unwrap(),
        WriteOutcome::Unchanged
    );
    let err = s
        .create_client(&client(Purpose::Login, "OTHER"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    assert_eq!(
        s.client(&bb(), Purpose::Login).await.unwrap(),
        Some(client(Purpose::Login, "K"))
    );
    let purposes: Vec<_> = s
        .clients(Some(&bb()))
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.purpose)
        .collect();
    assert_eq!(purposes, [Purpose::Login, Purpose::Sync]);
    let elsewhere: ProviderName = "example.org".parse().unwrap();
    assert!(s.clients(Some(&elsewhere)).await.unwrap().is_empty());
}

/// A check of the conformance suite (see its name).
pub async fn one_source_per_provider(s: DynStore) {
    with_provider(&s).await;
    assert_eq!(
        s.create_source(&source("Bitbucket Cloud")).await.unwrap(),
        WriteOutcome::Created
    );
    assert_eq!(
        s.create_source(&source("Bitbucket Cloud")).await.unwrap(),
        WriteOutcome::Unchanged
    );
    let err = s.create_source(&source("Other name")).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    assert_eq!(s.sources().await.unwrap(), [source("Bitbucket Cloud")]);
}

/// Updates change only the fields they name; unchanged ones report it; versions count changes.
/// A check of the conformance suite (see its name).
pub async fn updates_report_not_found_unchanged_and_updated(s: DynStore) {
    let p = Provider::bitbucket_cloud();
    let api = || ProviderPatch::new().api_url(url("https://api.example.org"));
    assert!(matches!(
        s.update_provider(&bb(), &api()).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.update_client(
            &bb(),
            Purpose::Login,
            &ClientPatch::new().key("K2".parse().unwrap())
        )
        .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.update_source(
            &bb(),
            &SourcePatch::new().display_name("X".parse().unwrap())
        )
        .await,
        Err(StoreError::NotFound { .. })
    ));
    with_provider(&s).await;
    let same = s
        .update_provider(&bb(), &ProviderPatch::all_of(&p))
        .await
        .unwrap();
    assert_eq!((same.outcome, same.version), (WriteOutcome::Unchanged, 1));
    let moved = s.update_provider(&bb(), &api()).await.unwrap();
    assert_eq!((moved.outcome, moved.version), (WriteOutcome::Updated, 2));
    assert_eq!(
        moved.value,
        p.clone().with_api_url(url("https://api.example.org"))
    );
    let home = url("https://gem.example");
    let homed = s
        .update_provider(&bb(), &ProviderPatch::new().homepage(home.clone()))
        .await
        .unwrap();
    assert_eq!(homed.value.homepage, Some(home));
    assert_eq!(
        homed.value.api_url.to_string(),
        "https://api.example.org",
        "a patch keeps the fields it does not name"
    );
    assert_eq!(s.provider(&bb()).await.unwrap(), Some(homed.value));

    assert_eq!(
        s.create_client(&client(Purpose::Sync, "K")).await.unwrap(),
        WriteOutcome::Created
    );
    let unchanged = s
        .update_client(
            &bb(),
            Purpose::Sync,
            &ClientPatch::all_of(&client(Purpose::Sync, "K")),
        )
        .await
        .unwrap();
    assert_eq!(unchanged.outcome, WriteOutcome::Unchanged);
    let secret = ClientSecret::new("new secret ✓ with spaces & symbols").unwrap();
    let rotated = s
        .update_client(
            &bb(),
            Purpose::Sync,
            &ClientPatch::new().secret(secret.clone()),
        )
        .await
        .unwrap();
    assert_eq!(rotated.outcome, WriteOutcome::Updated);
    let scoped = s
        .update_client(
            &bb(),
            Purpose::Sync,
            &ClientPatch::new().scopes("repository,webhook,account".parse().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(scoped.version, 3);
    let stored = s.client(&bb(), Purpose::Sync).await.unwrap().unwrap();
    assert_eq!(
        stored.secret, secret,
        "the scopes update kept the new secret"
    );
    assert_eq!(stored.scopes.to_string(), "account,repository,webhook");
    assert_eq!(stored.key.as_str(), "K");

    assert_eq!(
        s.create_source(&source("A")).await.unwrap(),
        WriteOutcome::Created
    );
    let renamed = s
        .update_source(
            &bb(),
            &SourcePatch::new().display_name("B".parse().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(renamed.outcome, WriteOutcome::Updated);
    assert_eq!(s.source(&bb()).await.unwrap(), Some(source("B")));
}

/// Concurrent updates of different fields of one client lose nothing.
/// A check of the conformance suite (see its name).
pub async fn concurrent_updates_of_different_fields_lose_nothing(s: DynStore) {
    with_provider(&s).await;
    assert_eq!(
        s.create_client(&client(Purpose::Sync, "K")).await.unwrap(),
        WriteOutcome::Created
    );
    let mut tasks = Vec::new();
    for i in 0..16 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let patch = if i % 2 == 0 {
                ClientPatch::new().key(format!("K{i}").parse().unwrap())
            } else {
                ClientPatch::new().scopes(if i % 4 == 1 {
                    "account,repository,webhook".parse().unwrap()
                } else {
                    "repository,webhook,email".parse().unwrap()
                })
            };
            s.update_client(&bb(), Purpose::Sync, &patch).await.unwrap()
        }));
    }
    let results: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let changed = results
        .iter()
        .filter(|u| u.outcome == WriteOutcome::Updated)
        .count();
    let stored = s.client(&bb(), Purpose::Sync).await.unwrap().unwrap();
    let last = results.iter().max_by_key(|u| u.version).unwrap();
    assert_eq!(
        last.version,
        1 + i64::try_from(changed).unwrap(),
        "{results:?}"
    );
    assert_eq!(last.value, stored, "the last write is what is stored");
    assert_ne!(stored.key.as_str(), "K", "a key update survived");
    assert_ne!(
        stored.scopes.to_string(),
        "repository,webhook",
        "a scopes update survived"
    );
}

/// The installation id is created once and then stable.
/// A check of the conformance suite (see its name).
pub async fn installation_id_is_stable(s: DynStore) {
    let a = s.installation_id().await.unwrap();
    let b = s.installation_id().await.unwrap();
    assert_eq!(a, b);
    assert!(a.len() >= 16, "{a}");
}

/// A check of the conformance suite (see its name).
pub async fn deleting_a_used_provider_needs_cascade(s: DynStore) {
    let missing: ProviderName = "nowhere.org".parse().unwrap();
    assert!(matches!(
        s.delete_provider(&missing, true).await,
        Err(StoreError::NotFound { .. })
    ));
    with_provider(&s).await;
    assert_eq!(
        s.create_client(&client(Purpose::Login, "K")).await.unwrap(),
        WriteOutcome::Created
    );
    assert_eq!(
        s.create_client(&client(Purpose::Sync, "K")).await.unwrap(),
        WriteOutcome::Created
    );
    assert_eq!(
        s.create_source(&source("S")).await.unwrap(),
        WriteOutcome::Created
    );
    let _ = s
        .put_token(&bb(), Purpose::Sync, &account(1), &tokens("a"))
        .await
        .unwrap();
    let err = s.delete_provider(&bb(), false).await.unwrap_err();
    match &err {
        StoreError::ProviderInUse {
            clients, sources, ..
        } => assert_eq!((*clients, *sources), (2, 1)),
        other => panic!("expected ProviderInUse, got {other}"),
    }
    assert!(err.to_string().contains("cascade"), "{err}");
    assert_eq!(
        s.clients(None).await.unwrap().len(),
        2,
        "refused delete changes nothing"
    );
    let removed = s.delete_provider(&bb(), true).await.unwrap();
    assert_eq!(
        (removed.clients, removed.sources, removed.tokens),
        (2, 1, 1)
    );
    assert!(s.providers().await.unwrap().is_empty());
    assert!(s.clients(None).await.unwrap().is_empty());
    assert!(s.sources().await.unwrap().is_empty());
    assert!(s.tokens(None).await.unwrap().is_empty());
    // An unused provider needs no cascade.
    with_provider(&s).await;
    assert_eq!(
        s.delete_provider(&bb(), false).await.unwrap(),
        crate::store::Removed::default()
    );
}

/// A check of the conformance suite (see its name).
pub async fn deleting_a_client_drops_its_tokens(s: DynStore) {
    with_provider(&s).await;
    assert!(matches!(
        s.delete_client(&bb(), Purpose::Login).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(
        s.create_client(&client(Purpose::Login, "K")).await.unwrap(),
        WriteOutcome::Created
    );
    assert_eq!(
        s.create_client(&client(Purpose::Sync, "K")).await.unwrap(),
        WriteOutcome::Created
    );
    let _ = s
        .put_token(&bb(), Purpose::Login, &account(1), &tokens("l"))
        .await
        .unwrap();
    let _ = s
        .put_token(&bb(), Purpose::Sync, &account(1), &tokens("s"))
        .await
        .unwrap();
    s.delete_client(&bb(), Purpose::Login).await.unwrap();
    let left: Vec<_> = s
        .tokens(None)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.key.purpose)
        .collect();
    assert_eq!(left, [Purpose::Sync]);
}

/// A check of the conformance suite (see its name).
pub async fn tokens_are_versioned_compare_and_swap(s: DynStore) {
    with_provider(&s).await;
    let err = s
        .put_token(&bb(), Purpose::Sync, &account(1), &tokens("a"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound { .. }),
        "put_token needs its client: {err}"
    );
    assert_eq!(
        s.create_client(&client(Purpose::Sync, "K")).await.unwrap(),
        WriteOutcome::Created
    );
    let first = s
        .put_token(&bb(), Purpose::Sync, &account(1), &tokens("a"))
        .await
        .unwrap();
    assert_eq!((first.version, first.state), (1, TokenState::Active));
    assert_eq!(first.account, account(1));
    assert_eq!(
        s.token(&key(Purpose::Sync, 1)).await.unwrap(),
        Some(first.clone())
    );

    let Swap::Swapped(second) = s
        .swap_token(&key(Purpose::Sync, 1), 1, &tokens("b"))
        .await
        .unwrap()
    else {
        panic!("first swap must win")
    };
    assert_eq!(second.version, 2);
    assert_eq!(second.tokens, tokens("b"));
    assert!(second.refreshed_at.is_some());
    // The loser of a race sees the winner's tokens and writes nothing.
    match s
        .swap_token(&key(Purpose::Sync, 1), 1, &tokens("c"))
        .await
        .unwrap()
    {
        Swap::Stale(Some(current)) => assert_eq!(current.tokens, tokens("b")),
        other => panic!("expected a stale swap, got {other:?}"),
    }
    assert!(matches!(
        s.swap_token(&key(Purpose::Sync, 9), 1, &tokens("x"))
            .await
            .unwrap(),
        Swap::Stale(None)
    ));

    assert!(matches!(
        s.mark_needs_reauth(&key(Purpose::Sync, 1), 1, "old")
            .await
            .unwrap(),
        Swap::Stale(_)
    ));
    let Swap::Swapped(dead) = s
        .mark_needs_reauth(&key(Purpose::Sync, 1), 2, "Invalid refresh_token")
        .await
        .unwrap()
    else {
        panic!("mark must win")
    };
    assert_eq!((dead.state, dead.version), (TokenState::NeedsReauth, 3));
    assert_eq!(dead.last_error.as_deref(), Some("Invalid refresh_token"));
    // A new authorization replaces it and makes it usable again.
    let fresh = s
        .put_token(&bb(), Purpose::Sync, &account(1), &tokens("d"))
        .await
        .unwrap();
    assert_eq!(
        (fresh.state, fresh.version, fresh.last_error),
        (TokenState::Active, 4, None)
    );

    // Leases: one claimer at a time, until it swaps, releases, or the lease runs out.
    let now = chrono::DateTime::from_timestamp(1_900_000_000, 0).unwrap();
    let until = now + chrono::Duration::seconds(30);
    let Swap::Swapped(leased) = s
        .claim_refresh(&key(Purpose::Sync, 1), 4, now, until)
        .await
        .unwrap()
    else {
        panic!("the first claim wins")
    };
    assert_eq!((leased.version, leased.lease_until), (5, Some(until)));
    assert_eq!(
        leased.tokens,
        tokens("d"),
        "a claim does not touch the tokens"
    );
    assert!(
        matches!(
            s.claim_refresh(&key(Purpose::Sync, 1), 5, now, until)
                .await
                .unwrap(),
            Swap::Stale(_)
        ),
        "a running lease blocks"
    );
    let later = until + chrono::Duration::seconds(1);
    let Swap::Swapped(taken_over) = s
        .claim_refresh(
            &key(Purpose::Sync, 1),
            5,
            later,
            later + chrono::Duration::seconds(30),
        )
        .await
        .unwrap()
    else {
        panic!("an expired lease can be taken over")
    };
    let Swap::Swapped(released) = s
        .release_refresh(&key(Purpose::Sync, 1), taken_over.version)
        .await
        .unwrap()
    else {
        panic!("the holder releases")
    };
    assert_eq!(released.lease_until, None);
    let Swap::Swapped(leased) = s
        .claim_refresh(&key(Purpose::Sync, 1), released.version, now, until)
        .await
        .unwrap()
    else {
        panic!("claimable again")
    };
    let Swap::Swapped(refreshed) = s
        .swap_token(&key(Purpose::Sync, 1), leased.version, &tokens("e"))
        .await
        .unwrap()
    else {
        panic!("the holder swaps")
    };
    assert_eq!(
        (refreshed.lease_until, refreshed.tokens.clone()),
        (None, tokens("e"))
    );

    assert!(s.delete_token(&key(Purpose::Sync, 1)).await.unwrap());
    assert!(!s.delete_token(&key(Purpose::Sync, 1)).await.unwrap());
}

/// A check of the conformance suite (see its name).
pub async fn long_tokens_and_odd_secrets_round_trip(s: DynStore) {
    with_provider(&s).await;
    let mut c = client(Purpose::Sync, "K");
    c.secret = ClientSecret::new("ünïcødé 'quotes' \"double\" ; DROP TABLE clients; --").unwrap();
    assert_eq!(s.create_client(&c).await.unwrap(), WriteOutcome::Created);
    assert_eq!(s.client(&bb(), Purpose::Sync).await.unwrap(), Some(c));
    let long = TokenSet {
        access_token: AccessToken::new("a".repeat(3000)).unwrap(),
        refresh_token: Some(RefreshToken::new("r".repeat(3000)).unwrap()),
        expires_at: None,
        scopes: "repository".parse().unwrap(),
    };
    let stored = s
        .put_token(&bb(), Purpose::Sync, &account(2), &long)
        .await
        .unwrap();
    assert_eq!(stored.tokens, long);
    assert_eq!(
        s.token(&key(Purpose::Sync, 2))
            .await
            .unwrap()
            .unwrap()
            .tokens,
        long
    );
}

/// A check of the conformance suite (see its name).
pub async fn lists_are_ordered(s: DynStore) {
    for name in ["zeta.org", "alpha.org", "bitbucket.org"] {
        let mut p = Provider::bitbucket_cloud();
        p.name = name.parse().unwrap();
        assert_eq!(s.create_provider(&p).await.unwrap(), WriteOutcome::Created);
    }
    let names: Vec<_> = s
        .providers()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name.to_string())
        .collect();
    assert_eq!(names, ["alpha.org", "bitbucket.org", "zeta.org"]);
}

/// A check of the conformance suite (see its name).
pub async fn concurrent_creates_agree(s: DynStore) {
    with_provider(&s).await;
    let same = (0..16).map(|_| {
        let s = s.clone();
        tokio::spawn(async move { s.create_client(&client(Purpose::Login, "K")).await })
    });
    let results: Vec<_> = futures::future::join_all(same)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    assert_eq!(
        results
            .iter()
            .filter(|o| **o == WriteOutcome::Created)
            .count(),
        1,
        "{results:?}"
    );
    assert_eq!(
        results
            .iter()
            .filter(|o| **o == WriteOutcome::Unchanged)
            .count(),
        15
    );

    let different = (0..16).map(|i| {
        let s = s.clone();
        tokio::spawn(async move {
            s.create_client(&client(Purpose::Sync, &format!("K{i}")))
                .await
        })
    });
    let results: Vec<_> = futures::future::join_all(different)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let created = results
        .iter()
        .filter(|r| matches!(r, Ok(WriteOutcome::Created)))
        .count();
    let conflicts = results
        .iter()
        .filter(|r| matches!(r, Err(StoreError::Conflict { .. })))
        .count();
    assert_eq!((created, conflicts), (1, 15), "{results:?}");
}
