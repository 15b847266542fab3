use base64::Engine;
use gemnasium_bitbucket::model::{Purpose, TokenSet};
use gemnasium_bitbucket::oauth::{begin_authorization, OAuthError};
use gemnasium_bitbucket::testing::ScopeKey;
use gemnasium_bitbucket::Bitbucket;

use super::support::{World, KEY, SECRET};

async fn sign_in(w: &World) -> Result<TokenSet, OAuthError> {
    let redirect = w.redirect(Purpose::Login);
    let client = w.client(Purpose::Login);
    let pending = begin_authorization(&w.provider, &client, &redirect, false).unwrap();
    let callback = w.bitbucket.authorize(
        KEY,
        &w.jane,
        &redirect.to_string(),
        pending.state().expose_secret(),
    );
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
    // The consumer authenticates with HTTP Basic, never with its secret in the form body; the
    // exchange repeats the redirect URI sent to /authorize.
    let requests = w.bitbucket.server().received_requests().await.unwrap();
    let exchange = requests
        .iter()
        .find(|r| r.url.path() == "/site/oauth2/access_token")
        .unwrap();
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:{SECRET}"))
    );
    assert_eq!(exchange.headers["authorization"].to_str().unwrap(), basic);
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&exchange.body)
        .into_owned()
        .collect();
    assert!(!form.iter().any(|(k, _)| k == "client_secret"), "{form:?}");
    assert!(
        form.contains(&(
            "redirect_uri".to_owned(),
            w.redirect(Purpose::Login).to_string()
        )),
        "{form:?}"
    );
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
    // Bitbucket saw the sync redirect URI at /authorize; we exchange with the login one. (The
    // callback is given as its query alone: as a whole URL it would be refused before any
    // exchange, being on another path than this sign-in's redirect URI.)
    let callback = w.bitbucket.authorize(
        KEY,
        &w.jane,
        &w.redirect(Purpose::Sync).to_string(),
        pending.state().expose_secret(),
    );
    let query = url::Url::parse(&callback)
        .unwrap()
        .query()
        .unwrap()
        .to_owned();
    let code = pending.code_from_callback(&query).unwrap();
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
    let callback = w.bitbucket.authorize(
        KEY,
        &w.jane,
        &redirect.to_string(),
        pending.state().expose_secret(),
    );
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
    assert!(err.to_string().contains("start the sign-in again"), "{err}");
}

#[tokio::test]
async fn complete_login_stores_the_tokens_under_the_account_uuid() {
    let w = World::new().await;
    let store = w.store().await;
    let bitbucket = Bitbucket::builder(store.clone()).build().unwrap();
    let client = w.client(Purpose::Login);
    let redirect = w.redirect(Purpose::Login);
    let pending = begin_authorization(&w.provider, &client, &redirect, false).unwrap();
    let callback = w.bitbucket.authorize(
        KEY,
        &w.jane,
        &redirect.to_string(),
        pending.state().expose_secret(),
    );
    let signed_in = bitbucket.complete_login(&pending, &callback).await.unwrap();
    assert_eq!(signed_in.identity.uuid, w.jane);
    assert_eq!(
        signed_in.identity.email.as_deref(),
        Some("jane@example.com")
    );
    let stored = signed_in.token;
    assert_eq!(stored.key.account, w.jane);
    assert_eq!(stored.key.purpose, Purpose::Login);
    assert_eq!(stored.account.nickname.as_deref(), Some("jdoe"));
    let all = store.tokens(None).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        all[0].tokens, stored.tokens,
        "what was stored is what was returned"
    );
}
