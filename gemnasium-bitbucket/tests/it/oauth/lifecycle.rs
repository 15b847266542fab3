//! Rotation, single-flight, cross-process leases, needs_reauth, idle refresh.

use std::sync::Arc;
use std::time::Duration;

use gemnasium_bitbucket::model::{
    AccessToken, AccountInfo, Purpose, RefreshToken, TokenKey, TokenSet, TokenState,
};
use gemnasium_bitbucket::oauth::{IdleOutcome, OAuthError, TokenManager, TokenSettings};
use gemnasium_bitbucket::store::{DynStore, SqliteStore};
use gemnasium_bitbucket::testing::MockConsumer;

use super::support::{World, KEY, SECRET};

fn settings() -> TokenSettings {
    let mut settings = TokenSettings::default();
    settings.poll = Duration::from_millis(10);
    settings
}

/// Stores a token for jane issued by the mock, already expired.
async fn expired_token(w: &World, store: &DynStore, purpose: Purpose) -> TokenKey {
    let (access, refresh) = w.bitbucket.issue_tokens(KEY, &w.jane);
    w.bitbucket.expire_access_tokens();
    let tokens = TokenSet {
        access_token: AccessToken::new(access).unwrap(),
        refresh_token: Some(RefreshToken::new(refresh).unwrap()),
        expires_at: Some(chrono::Utc::now() - chrono::Duration::seconds(1)),
        scopes: purpose.recommended_scopes(),
    };
    let account = AccountInfo {
        uuid: w.jane.clone(),
        account_id: None,
        nickname: Some("jdoe".into()),
        display_name: None,
    };
    store
        .put_token(&w.provider.name, purpose, &account, &tokens)
        .await
        .unwrap()
        .key
}

#[tokio::test]
async fn refresh_rotates_and_the_old_refresh_token_is_refused_afterwards() {
    let w = World::new().await;
    let store = w.store().await;
    let key = expired_token(&w, &store, Purpose::Sync).await;
    let old = store.token(&key).await.unwrap().unwrap().tokens;
    let manager = TokenManager::new(store.clone(), w.http.clone(), settings());
    let fresh = manager.access_token(&key).await.unwrap();
    assert_ne!(fresh, old.access_token);
    let stored = store.token(&key).await.unwrap().unwrap();
    assert_eq!(
        stored.tokens.access_token, fresh,
        "stored before being handed out"
    );
    assert_ne!(stored.tokens.refresh_token, old.refresh_token, "rotated");
    // Spending the old refresh token again fails: it died when it was used.
    let store2 = w.store().await;
    let key2 = store2
        .put_token(&w.provider.name, Purpose::Sync, &stored.account, &old)
        .await
        .unwrap()
        .key;
    let err = TokenManager::new(store2.clone(), w.http.clone(), settings())
        .access_token(&key2)
        .await
        .unwrap_err();
    assert!(matches!(err, OAuthError::NeedsReauth { .. }), "{err}");
    // A fresh token is handed out as is, without a request.
    let before = w.bitbucket.token_requests("refresh_token");
    assert_eq!(manager.access_token(&key).await.unwrap(), fresh);
    assert_eq!(w.bitbucket.token_requests("refresh_token"), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_callers_make_exactly_one_token_request() {
    let w = World::new().await;
    let store = w.store().await;
    let key = expired_token(&w, &store, Purpose::Sync).await;
    let manager = Arc::new(TokenManager::new(store.clone(), w.http.clone(), settings()));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (manager, key) = (manager.clone(), key.clone());
            tokio::spawn(async move { manager.access_token(&key).await })
        })
        .collect();
    let tokens: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    assert!(
        tokens.iter().all(|t| *t == tokens[0]),
        "everyone gets the one new token"
    );
    assert_eq!(w.bitbucket.token_requests("refresh_token"), 1);
}

async fn race_two_managers(w: &World, a: DynStore, b: DynStore, key: &TokenKey) {
    let ma = TokenManager::new(a, w.http.clone(), settings());
    let mb = TokenManager::new(b, w.http.clone(), settings());
    let (ta, tb) = tokio::join!(ma.access_token(key), mb.access_token(key));
    assert_eq!(
        ta.unwrap(),
        tb.unwrap(),
        "the loser uses the winner's token"
    );
    assert_eq!(
        w.bitbucket.token_requests("refresh_token"),
        1,
        "the refresh token is spent once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_sharing_a_store_spend_the_refresh_token_once() {
    // Two managers (two "processes", each with its own single-flight) over one store.
    let w = World::new().await;
    let shared = w.store().await;
    let key = expired_token(&w, &shared, Purpose::Sync).await;
    race_two_managers(&w, shared.clone(), shared, &key).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_sqlite_handles_on_one_file_spend_the_refresh_token_once() {
    let w = World::new().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let a: DynStore = Arc::new(SqliteStore::open(&path).await.unwrap());
    let b: DynStore = Arc::new(SqliteStore::open(&path).await.unwrap());
    w.fill(&a).await;
    let key = expired_token(&w, &a, Purpose::Sync).await;
    race_two_managers(&w, a, b, &key).await;
}

#[tokio::test]
async fn a_dead_refresh_token_means_needs_reauth_without_retrying() {
    let w = World::new().await;
    let store = w.store().await;
    let key = expired_token(&w, &store, Purpose::Sync).await;
    w.bitbucket.revoke_refresh_tokens(&w.jane);
    let manager = TokenManager::new(store.clone(), w.http.clone(), settings());
    let err = manager.access_token(&key).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, OAuthError::NeedsReauth { .. }), "{text}");
    assert!(
        text.contains("sync token of jdoe")
            && text.contains("Invalid refresh_token")
            && text.contains("must sign in again"),
        "{text}"
    );
    let stored = store.token(&key).await.unwrap().unwrap();
    assert_eq!(stored.state, TokenState::NeedsReauth);
    assert!(stored.last_error.unwrap().contains("Invalid refresh_token"));
    assert_eq!(w.bitbucket.token_requests("refresh_token"), 1);
    // The next call fails at once, with no request.
    assert!(matches!(
        manager.access_token(&key).await,
        Err(OAuthError::NeedsReauth { .. })
    ));
    assert_eq!(w.bitbucket.token_requests("refresh_token"), 1);
}

#[tokio::test]
async fn a_401_expired_refreshes_once_even_for_many_callers() {
    let w = World::new().await;
    let store = w.store().await;
    let (access, refresh) = w.bitbucket.issue_tokens(KEY, &w.jane);
    let tokens = TokenSet {
        access_token: AccessToken::new(access).unwrap(),
        refresh_token: Some(RefreshToken::new(refresh).unwrap()),
        // We believe it is valid for an hour; Bitbucket says it expired.
        expires_at: Some(chrono::Utc::now() + chrono::Duration::hours(1)),
        scopes: Purpose::Sync.recommended_scopes(),
    };
    let account = AccountInfo {
        uuid: w.jane.clone(),
        account_id: None,
        nickname: None,
        display_name: None,
    };
    let key = store
        .put_token(&w.provider.name, Purpose::Sync, &account, &tokens)
        .await
        .unwrap()
        .key;
    let manager = TokenManager::new(store, w.http.clone(), settings());
    let first = manager
        .after_expired(&key, &tokens.access_token)
        .await
        .unwrap();
    let second = manager
        .after_expired(&key, &tokens.access_token)
        .await
        .unwrap();
    assert_eq!(
        first, second,
        "a second caller with the same rejected token gets the new one"
    );
    assert_eq!(w.bitbucket.token_requests("refresh_token"), 1);
}

#[tokio::test]
async fn client_credentials_tokens_are_re_granted_on_expiry() {
    let w = World::with_consumer(MockConsumer::new(KEY, SECRET).private()).await;
    let store = w.store().await;
    let cc = TokenSet {
        access_token: AccessToken::new("expired-app-token").unwrap(),
        refresh_token: None,
        expires_at: Some(chrono::Utc::now() - chrono::Duration::seconds(5)),
        scopes: Purpose::Sync.recommended_scopes(),
    };
    let account = AccountInfo {
        uuid: "{00000000-0000-4000-8000-0000000000cc}".parse().unwrap(),
        account_id: None,
        nickname: Some("app".into()),
        display_name: None,
    };
    let key = store
        .put_token(&w.provider.name, Purpose::Sync, &account, &cc)
        .await
        .unwrap()
        .key;
    let manager = TokenManager::new(store.clone(), w.http.clone(), settings());
    let fresh = manager.access_token(&key).await.unwrap();
    assert_ne!(fresh.expose_secret(), "expired-app-token");
    assert_eq!(w.bitbucket.token_requests("client_credentials"), 1);
    assert_eq!(w.bitbucket.token_requests("refresh_token"), 0);
}

#[tokio::test]
async fn idle_refresh_keeps_old_tokens_alive_and_skips_recent_ones() {
    let w = World::new().await;
    let store = w.store().await;
    let key = expired_token(&w, &store, Purpose::Sync).await;
    let manager = TokenManager::new(store.clone(), w.http.clone(), settings());
    let recent = manager
        .refresh_idle(chrono::Duration::days(30))
        .await
        .unwrap();
    assert_eq!(recent.len(), 1);
    assert_eq!(recent[0].outcome, IdleOutcome::SkippedRecent);
    let all = manager
        .refresh_idle(chrono::Duration::zero())
        .await
        .unwrap();
    assert_eq!(all[0].outcome, IdleOutcome::Refreshed, "{all:?}");
    assert_eq!(w.bitbucket.successful_refreshes(), 1);
    assert!(store
        .token(&key)
        .await
        .unwrap()
        .unwrap()
        .refreshed_at
        .is_some());
}
