use gemnasium_bitbucket::model::Purpose;
use gemnasium_bitbucket::oauth::{begin_authorization, complete_login, OAuthError};
use gemnasium_bitbucket::testing::ScopeKey;

use crate::support::{World, KEY};

async fn sign_in(w: &World) -> Result<gemnasium_bitbucket::model::TokenSet, OAuthError> {
    let redirect = w.redirect(Purpose::Login);
    let client = w.client(Purpose::Login);
    let pending = begin_authorization(&w.provider, &client, &redirect, false).unwrap();
    let callback = w
        .bitbucket
        .authorize(KEY, &w.jane, &redirect, pending.state());
    let code = pending.code_from_callback(&callback).unwrap();
    pending.exchange(&w.http, &w.provider, &client, &code).await
}

#[tokio::test]
async fn exchange_with_basic_auth_and_the_same_redirect_uri() {
    let w = World::new().await;
    let tokens = sign_in(&w).await.unwrap();
    assert!(tokens.refresh_token.is_some());
    assert_eq!(
        tokens.scopes.to_string(),
        "account,email,repository,webhook"
    );
    let expires_in = tokens.expires_at.unwrap() - chrono::Utc::now();
    assert!(
        (7100..=7200).contains(&expires_in.num_seconds()),
        "{expires_in}"
    );
    assert_eq!(w.bitbucket.token_requests("authorization_code"), 1);
}

#[tokio::test]
async fn scope_and_legacy_scopes_keys_give_the_same_scopes() {
    for key in [ScopeKey::Scope, ScopeKey::Scopes] {
        let w = World::new().await;
        w.bitbucket.set_scope_key(key);
        let tokens = sign_in(&w).await.unwrap();
        assert_eq!(
            tokens.scopes.to_string(),
            "account,email,repository,webhook",
            "{key:?}"
        );
    }
}

#[tokio::test]
async fn a_different_redirect_uri_at_exchange_is_refused() {
    let w = World::new().await;
    let client = w.client(Purpose::Login);
    let pending =
        begin_authorization(&w.provider, &client, &w.redirect(Purpose::Login), false).unwrap();
    // Bitbucket saw the sync redirect URI at /authorize; we exchange with the login one.
    let callback = w
        .bitbucket
        .authorize(KEY, &w.jane, &w.redirect(Purpose::Sync), pending.state());
    let code = pending.code_from_callback(&callback).unwrap();
    let err = pending
        .exchange(&w.http, &w.provider, &client, &code)
        .await
        .unwrap_err();
    assert!(matches!(err, OAuthError::RedirectMismatch), "{err}");
    assert!(err.to_string().contains("same callback URL"), "{err}");
}

#[tokio::test]
async fn a_code_is_single_use() {
    let w = World::new().await;
    let redirect = w.redirect(Purpose::Login);
    let client = w.client(Purpose::Login);
    let pending = begin_authorization(&w.provider, &client, &redirect, false).unwrap();
    let callback = w
        .bitbucket
        .authorize(KEY, &w.jane, &redirect, pending.state());
    let code = pending.code_from_callback(&callback).unwrap();
    assert!(pending
        .exchange(&w.http, &w.provider, &client, &code)
        .await
        .unwrap()
        .refresh_token
        .is_some());
    let err = pending
        .exchange(&w.http, &w.provider, &client, &code)
        .await
        .unwrap_err();
    assert!(matches!(err, OAuthError::CodeRejected { .. }), "{err}");
    assert!(
        err.to_string().contains("start `auth login` again"),
        "{err}"
    );
}

#[tokio::test]
async fn complete_login_stores_the_tokens_under_the_account_uuid() {
    let w = World::new().await;
    let store = w.store().await;
    let client = w.client(Purpose::Login);
    let redirect = w.redirect(Purpose::Login);
    let pending = begin_authorization(&w.provider, &client, &redirect, false).unwrap();
    let callback = w
        .bitbucket
        .authorize(KEY, &w.jane, &redirect, pending.state());
    let (identity, stored) = complete_login(
        store.as_ref(),
        &w.http,
        &w.provider,
        &client,
        &pending,
        &callback,
    )
    .await
    .unwrap();
    assert_eq!(identity.uuid, w.jane);
    assert_eq!(identity.email.as_deref(), Some("jane@example.com"));
    assert_eq!(stored.key.account, w.jane);
    assert_eq!(stored.account.nickname.as_deref(), Some("jdoe"));
    assert_eq!(store.tokens(None).await.unwrap().len(), 1);
}
