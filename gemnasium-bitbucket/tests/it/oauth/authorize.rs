use gemnasium_bitbucket::model::{CallbackUrl, Purpose, RedirectUri, ServiceUrl};
use gemnasium_bitbucket::oauth::{begin_authorization, OAuthError};

use super::support::{World, KEY};

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
    assert_eq!(q["redirect_uri"], redirect.to_string());
    let state = a.state().expose_secret();
    assert_eq!(q["state"], state);
    assert!(state.len() >= 16, "state must be unguessable");
    assert!(
        !q.contains_key("scope"),
        "Bitbucket ignores scope: the consumer's boxes decide"
    );
    assert!(!q.contains_key("code_challenge"), "PKCE is opt-in");
    assert!(!format!("{a:?}").contains(state), "Debug hides the state");
    assert!(a.clone().into_parts().pkce_verifier.is_none());

    let b = begin_authorization(&w.provider, &w.client(Purpose::Login), &redirect, true).unwrap();
    let q: std::collections::HashMap<_, _> = b.url().query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(b.clone().into_parts().pkce_verifier.is_some());
    assert_ne!(a.state().expose_secret(), b.state().expose_secret());
}

#[tokio::test]
async fn callback_parsing_checks_state_and_reports_denial() {
    let w = World::new().await;
    let redirect = w.redirect(Purpose::Login);
    let a = begin_authorization(&w.provider, &w.client(Purpose::Login), &redirect, false).unwrap();
    let state = a.state().expose_secret();
    let good = format!("{redirect}?code=abc123&state={state}");
    assert_eq!(
        a.code_from_callback(&good).unwrap().expose_secret(),
        "abc123"
    );
    assert_eq!(
        a.code_from_callback("  abc123\n").unwrap().expose_secret(),
        "abc123",
        "a bare code is accepted"
    );
    let forged = format!("{redirect}?code=abc123&state=forged");
    assert!(matches!(
        a.code_from_callback(&forged),
        Err(OAuthError::StateMismatch)
    ));
    let denied = format!("{redirect}?error=access_denied&state={state}");
    assert!(matches!(
        a.code_from_callback(&denied),
        Err(OAuthError::AccessDenied)
    ));
    let no_code = format!("{redirect}?state={state}");
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
    let name = "bitbucket.org".parse().unwrap();
    let cb = CallbackUrl::new(
        &ServiceUrl::parse("homepage", "https://g.example/").unwrap(),
        &name,
    )
    .unwrap();
    assert_eq!(cb.to_string(), "https://g.example/auth/auth/bitbucket.org");
    assert_eq!(
        cb.redirect_uri(Purpose::Login).to_string(),
        "https://g.example/auth/auth/bitbucket.org/login/callback"
    );
    // A homepage with or without its trailing slash gives the same URLs.
    let bare = CallbackUrl::new(
        &ServiceUrl::parse("homepage", "https://g.example").unwrap(),
        &name,
    )
    .unwrap();
    assert_eq!(bare, cb);
    assert_eq!(
        bare.redirect_uri(Purpose::Sync).to_string(),
        "https://g.example/auth/auth/bitbucket.org/sync/callback"
    );
    // A query would break Bitbucket's prefix match of redirect URIs.
    let queried = ServiceUrl::parse("homepage", "https://g.example/?a=1").unwrap();
    assert!(CallbackUrl::new(&queried, &name).is_err());
}

#[tokio::test]
async fn the_mock_authorize_endpoint_redirects_with_code_and_state_or_shows_an_error_page() {
    use gemnasium_bitbucket::testing::MockConsumer;
    let w = World::with_consumer({
        let mut c = MockConsumer::new(KEY, super::support::SECRET);
        c.callback = Some(format!(
            "{}/auth/auth/bitbucket.org",
            super::support::HOMEPAGE
        ));
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
        location.starts_with(&w.redirect(Purpose::Login).to_string()),
        "{location}"
    );
    let code = pending.code_from_callback(&location).unwrap();
    let tokens = pending
        .exchange(&w.http, &w.provider, &client, &code)
        .await
        .unwrap();
    assert!(tokens.refresh_token.is_some());

    let evil =
        RedirectUri::try_from("http://127.0.0.1:1/auth/auth/bitbucket.org-evil/cb".to_owned())
            .unwrap();
    let elsewhere = begin_authorization(&w.provider, &client, &evil, false).unwrap();
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
