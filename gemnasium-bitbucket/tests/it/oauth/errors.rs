//! Every token-endpoint and REST error mapping, with the message that says what to do.

use gemnasium_bitbucket::api::{ApiError, Rejection};
use gemnasium_bitbucket::model::{AuthorizationCode, Purpose, ServiceUrl};
use gemnasium_bitbucket::oauth::{begin_authorization, fetch_identity, OAuthError};
use gemnasium_bitbucket::testing::{ExpiredWording, MockConsumer};

use super::support::{World, KEY, SECRET};

async fn exchange_bogus(w: &World, key: &str, secret: &str) -> OAuthError {
    let client = w.client_with(Purpose::Login, key, secret);
    let pending =
        begin_authorization(&w.provider, &client, &w.redirect(Purpose::Login), false).unwrap();
    pending
        .exchange(
            &w.http,
            &w.provider,
            &client,
            &AuthorizationCode::new("bogus").unwrap(),
        )
        .await
        .unwrap_err()
}

fn assert_clean(err: &OAuthError) {
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(SECRET), "secret leaked: {shown}");
    assert!(
        !shown.contains("at-") && !shown.contains("rt-"),
        "token leaked: {shown}"
    );
}

#[tokio::test]
async fn wrong_key_or_secret() {
    let w = World::new().await;
    for (key, secret) in [(KEY, "wrong-secret"), ("unknown-key", SECRET)] {
        let err = exchange_bogus(&w, key, secret).await;
        assert!(matches!(err, OAuthError::InvalidCredentials), "{err}");
        assert!(err.to_string().contains("copy both again"), "{err}");
        assert_clean(&err);
    }
}

#[tokio::test]
async fn consumer_without_callback() {
    let w = World::with_consumer(MockConsumer::new(KEY, SECRET).without_callback()).await;
    let err = exchange_bogus(&w, KEY, SECRET).await;
    assert!(matches!(err, OAuthError::NoCallbackUrl), "{err}");
    assert!(
        err.to_string().contains("/auth/auth/bitbucket.org"),
        "{err}"
    );
}

#[tokio::test]
async fn a_bogus_code_is_a_rejected_code() {
    let w = World::new().await;
    let err = exchange_bogus(&w, KEY, SECRET).await;
    assert!(matches!(err, OAuthError::CodeRejected { .. }), "{err}");
    assert_clean(&err);
}

#[tokio::test]
async fn expired_access_tokens_in_both_wordings_and_invalid_tokens() {
    for wording in [ExpiredWording::Legacy, ExpiredWording::Current] {
        let w = World::new().await;
        w.bitbucket.set_expired_wording(wording);
        let (access, _) = w.bitbucket.issue_tokens(KEY, &w.jane);
        w.bitbucket.expire_access_tokens();
        let err = fetch_identity(&w.api(&access)).await.unwrap_err();
        assert!(
            matches!(
                err,
                OAuthError::Api(ApiError::Unauthorized {
                    rejection: Rejection::Expired,
                    ..
                })
            ),
            "{wording:?}: {err:?}"
        );
        assert!(err.to_string().contains("expired"), "{err}");
        assert_clean(&err);
    }
    let w = World::new().await;
    let err = fetch_identity(&w.api("not-a-token")).await.unwrap_err();
    // Bitbucket's wording for an unknown token also contains "expired": it is ambiguous, not
    // a clear expiry (renewing helps only when the token is near its expiry).
    assert!(
        matches!(
            err,
            OAuthError::Api(ApiError::Unauthorized {
                rejection: Rejection::Ambiguous,
                ..
            })
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn missing_scopes_name_the_consumer_boxes() {
    let w = World::with_consumer(MockConsumer::new(KEY, SECRET).with_scopes("repository,webhook"))
        .await;
    let (access, _) = w.bitbucket.issue_tokens(KEY, &w.jane);
    let err = fetch_identity(&w.api(&access)).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, OAuthError::Api(ApiError::MissingScopes { .. })),
        "{text}"
    );
    assert!(
        text.contains("required account; granted repository webhook"),
        "{text}"
    );
    assert!(text.contains("tick: Account: Read"), "{text}");
}

#[tokio::test]
async fn unreachable_token_endpoint() {
    let w = World::new().await;
    let mut provider = w.provider.clone();
    provider.token_url = ServiceUrl::parse("token URL", "http://127.0.0.1:9/token").unwrap();
    let client = w.client(Purpose::Login);
    let pending =
        begin_authorization(&provider, &client, &w.redirect(Purpose::Login), false).unwrap();
    let err = pending
        .exchange(
            &w.http,
            &provider,
            &client,
            &AuthorizationCode::new("code").unwrap(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, OAuthError::Unreachable { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("cannot reach Bitbucket's token endpoint at http://127.0.0.1:9/token"),
        "{err}"
    );
}
