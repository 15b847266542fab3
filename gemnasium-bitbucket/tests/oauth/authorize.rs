use gemnasium_bitbucket::model::Purpose;
use gemnasium_bitbucket::oauth::{begin_authorization, callback_url, redirect_uri, OAuthError};

use crate::support::{World, KEY};

#[tokio::test]
async fn authorize_url_carries_client_state_and_redirect_but_no_scope() {
    let w = World::new().await;
    let redirect = w.redirect(Purpose::Login);
    let a = begin_authorization(&w.provider, &w.client(Purpose::Login), &redirect, false).unwrap();
    let url = a.url();
    assert!(url
        .as_str()
        .starts_with(&format!("{}/site/oauth2/authorize?", w.bitbucket.uri())));
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], KEY);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["redirect_uri"], redirect);
    assert_eq!(q["state"], a.state());
    assert!(a.state().len() >= 16, "state must be unguessable");
    assert!(
        !q.contains_key("scope"),
        "Bitbucket ignores scope: the consumer's boxes decide"
    );
    assert!(!q.contains_key("code_challenge"), "PKCE is opt-in");
    assert!(
        !format!("{a:?}").contains(a.state()),
        "Debug hides the state"
    );

    let b = begin_authorization(&w.provider, &w.client(Purpose::Login), &redirect, true).unwrap();
    let q: std::collections::HashMap<_, _> = b.url().query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(b.pkce_verifier().is_some());
    assert_ne!(a.state(), b.state());
}

#[tokio::test]
async fn callback_parsing_checks_state_and_reports_denial() {
    let w = World::new().await;
    let redirect = w.redirect(Purpose::Login);
    let a = begin_authorization(&w.provider, &w.client(Purpose::Login), &redirect, false).unwrap();
    let good = format!("{redirect}?code=abc123&state={}", a.state());
    assert_eq!(a.code_from_callback(&good).unwrap(), "abc123");
    assert_eq!(
        a.code_from_callback("  abc123\n").unwrap(),
        "abc123",
        "a bare code is accepted"
    );
    let forged = format!("{redirect}?code=abc123&state=forged");
    assert!(matches!(
        a.code_from_callback(&forged),
        Err(OAuthError::StateMismatch)
    ));
    let denied = format!("{redirect}?error=access_denied&state={}", a.state());
    assert!(matches!(
        a.code_from_callback(&denied),
        Err(OAuthError::AccessDenied)
    ));
    let no_code = format!("{redirect}?state={}", a.state());
    assert!(matches!(
        a.code_from_callback(&no_code),
        Err(OAuthError::MissingCode)
    ));
    assert!(matches!(
        a.code_from_callback("not a url or code"),
        Err(OAuthError::MissingCode)
    ));
}

#[test]
fn callback_and_redirect_uris() {
    let home =
        gemnasium_bitbucket::model::ServiceUrl::parse("homepage", "https://g.example/").unwrap();
    let cb = callback_url(&home, &"bitbucket.org".parse().unwrap()).unwrap();
    assert_eq!(cb, "https://g.example/auth/auth/bitbucket.org");
    assert_eq!(
        redirect_uri(&cb, Purpose::Login),
        "https://g.example/auth/auth/bitbucket.org/login/callback"
    );
    assert_eq!(
        redirect_uri(&format!("{cb}/"), Purpose::Sync),
        "https://g.example/auth/auth/bitbucket.org/sync/callback"
    );
}

#[tokio::test]
async fn the_mock_authorize_endpoint_redirects_with_code_and_state_or_shows_an_error_page() {
    use gemnasium_bitbucket::testing::MockConsumer;
    let w = World::with_consumer({
        let mut c = MockConsumer::new(KEY, crate::support::SECRET);
        c.callback = Some("http://127.0.0.1:1/auth/auth/bitbucket.org".to_owned());
        c
    })
    .await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let client = w.client(Purpose::Login);
    let pending =
        begin_authorization(&w.provider, &client, &w.redirect(Purpose::Login), false).unwrap();

    let page = no_redirects
        .get(pending.url().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "nobody signed in: the login page");

    w.bitbucket.sign_in_as(Some(&w.jane));
    let granted = no_redirects
        .get(pending.url().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(granted.status(), 302);
    let location = granted.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&w.redirect(Purpose::Login)),
        "{location}"
    );
    let code = pending.code_from_callback(&location).unwrap();
    let tokens = pending
        .exchange(&w.http, &w.provider, &client, &code)
        .await
        .unwrap();
    assert!(tokens.refresh_token.is_some());

    let elsewhere = begin_authorization(
        &w.provider,
        &client,
        "http://127.0.0.1:1/auth/auth/bitbucket.org-evil/cb",
        false,
    )
    .unwrap();
    let refused = no_redirects
        .get(elsewhere.url().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("Invalid redirect_uri"));
}
