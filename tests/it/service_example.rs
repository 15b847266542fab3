//! The service example against the mock server, end to end over HTTP: sign-in and its
//! refusals, sync and tracking, webhook deliveries and their refusals, graceful shutdown.

use std::time::Duration;

use gemnasium_bitbucket_tests::rows;

use crate::stack::{query_param, Browser, Stack, StackOptions};

fn signed_in_as_jane() -> StackOptions {
    StackOptions {
        signed_in: Some("jdoe"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_sync_track_and_a_push_arrive_end_to_end() {
    let stack = Stack::start(signed_in_as_jane());
    let mut browser = Browser::new();

    let home = browser.get(&stack.service_url).await;
    assert!(home.body.contains("Sign in with Bitbucket"), "{home:?}");

    let signed_in = browser
        .get(&format!("{}/auth/auth/bitbucket.org", stack.service_url))
        .await;
    assert_eq!(signed_in.status, 200, "{signed_in:?}");
    assert!(
        signed_in
            .body
            .contains("Signed in as <b>Jane Doe</b> (jdoe)"),
        "{signed_in:?}"
    );
    assert!(signed_in.body.contains("jane@example.com"));

    // Repository access: the sync authorization lists the repositories at once.
    let repos = browser
        .get(&format!(
            "{}/auth/auth/bitbucket.org/sync",
            stack.service_url
        ))
        .await;
    assert!(repos.url.ends_with("/repositories"), "{repos:?}");
    assert!(repos.body.contains("listed 6 repositories"), "{repos:?}");
    assert!(repos.body.contains("acme/r00"));
    let tokens = rows(&stack.store()).tokens;
    assert_eq!(tokens.len(), 2, "a login and a sync token: {tokens:?}");

    let tracked = browser
        .post(
            &format!("{}/repositories/track", stack.service_url),
            &[("repo", "acme/r01")],
        )
        .await;
    assert!(
        tracked.body.contains("tracked (webhook installed)"),
        "{tracked:?}"
    );

    let push: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/_mock/push?repo=acme/r01", stack.mock_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let deliveries = push["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 1, "one hook of ours: {push}");
    assert_eq!(deliveries[0]["status"], 204, "{push}");
    assert_eq!(deliveries[0]["signed"], true, "{push}");
    let request_uuid = deliveries[0]["request_uuid"].as_str().unwrap().to_owned();
    assert!(
        !request_uuid.contains('{'),
        "sent without braces: {request_uuid}"
    );

    let events = browser.get(&format!("{}/events", stack.service_url)).await;
    assert!(events.body.contains(&request_uuid), "{events:?}");
    assert!(events.body.contains("acme/r01"));

    // Bitbucket retries with the same X-Request-UUID: accepted, not recorded twice.
    let again: serde_json::Value = reqwest::Client::new()
        .post(format!(
            "{}/_mock/redeliver?request_uuid={request_uuid}",
            stack.mock_url
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["status"], 200, "{again}");
    assert_eq!(again["attempt"], 2, "{again}");
    let events = browser.get(&format!("{}/events", stack.service_url)).await;
    assert_eq!(events.body.matches(&request_uuid).count(), 1, "{events:?}");

    // The CLI sees what the service stored.
    let out = stack
        .cli()
        .args(["repo-syncer", "repos", "list", "bitbucket.org"])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{listing}");
    assert!(listing.contains("acme/r01"), "{listing}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_missing_and_replayed_states_are_refused_and_nothing_is_stored() {
    let stack = Stack::start(signed_in_as_jane());
    let callback = format!(
        "{}/auth/auth/bitbucket.org/login/callback",
        stack.service_url
    );

    // Missing: no sign-in was started in this browser.
    let mut stranger = Browser::new();
    let page = stranger
        .get(&format!("{callback}?code=anything&state=anything"))
        .await;
    assert_eq!(page.status, 400, "{page:?}");
    assert!(
        page.body.contains("not started in this browser"),
        "{page:?}"
    );

    // Forged: the browser started a sign-in, but the callback carries another state.
    let mut browser = Browser::new();
    let (status, authorize) = browser
        .get_once(&format!("{}/auth/auth/bitbucket.org", stack.service_url))
        .await;
    assert_eq!(status, 303);
    let authorize = authorize.unwrap();
    assert!(authorize.starts_with(&stack.mock_url), "{authorize}");
    assert!(browser.cookies.contains_key("gbb_pending"));
    let (_, redirected) = browser.get_once(&authorize).await;
    let redirected = redirected.expect("the mock grants access at once");
    let real_state = query_param(&redirected, "state").unwrap();
    let code = query_param(&redirected, "code").unwrap();
    let forged = format!("{callback}?code={code}&state=forged-{real_state}");
    let page = browser.get(&forged).await;
    assert_eq!(page.status, 400, "{page:?}");
    assert!(page.body.contains("does not match"), "{page:?}");
    assert!(rows(&stack.store()).tokens.is_empty());

    // Replayed: the real callback after the forged one consumed the sign-in.
    let page = browser.get(&redirected).await;
    assert_eq!(page.status, 400, "{page:?}");
    assert!(page.body.contains("already used"), "{page:?}");
    assert!(rows(&stack.store()).tokens.is_empty(), "nothing stored");

    // A good sign-in, then its callback replayed: refused, still one token.
    let mut browser = Browser::new();
    let (_, authorize) = browser
        .get_once(&format!("{}/auth/auth/bitbucket.org", stack.service_url))
        .await;
    let (_, redirected) = browser.get_once(&authorize.unwrap()).await;
    let redirected = redirected.unwrap();
    let cookies = browser.cookies.clone();
    let page = browser.get(&redirected).await;
    assert_eq!(page.status, 200, "{page:?}");
    browser.cookies = cookies; // the attacker kept the old cookie too
    let page = browser.get(&redirected).await;
    assert_eq!(page.status, 400, "{page:?}");
    assert_eq!(rows(&stack.store()).tokens.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_denied_on_bitbucket_is_shown_as_such() {
    let stack = Stack::start(signed_in_as_jane());
    let mut browser = Browser::new();
    let (_, authorize) = browser
        .get_once(&format!("{}/auth/auth/bitbucket.org", stack.service_url))
        .await;
    let state = query_param(&authorize.unwrap(), "state").unwrap();
    let page = browser
        .get(&format!(
            "{}/auth/auth/bitbucket.org/login/callback?error=access_denied&error_description=denied&state={state}",
            stack.service_url
        ))
        .await;
    assert_eq!(page.status, 403, "{page:?}");
    assert!(page.body.contains("You denied access"), "{page:?}");
    assert!(rows(&stack.store()).tokens.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_and_tampered_deliveries_get_401_and_nothing_is_recorded() {
    let stack = Stack::start(signed_in_as_jane());
    let mut browser = Browser::new();
    browser
        .get(&format!(
            "{}/auth/auth/bitbucket.org/sync",
            stack.service_url
        ))
        .await;
    let out = stack
        .cli()
        .args(["repo-syncer", "track", "bitbucket.org", "acme/r00"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = stack
        .cli()
        .args([
            "repo-syncer",
            "sync",
            "bitbucket.org",
            "--hooks-url",
            &format!("{}/hooks/bitbucket", stack.service_url),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(rows(&stack.store()).tokens.len(), 1, "the sync token");

    // A genuine delivery, to copy its headers and body from.
    let push: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/_mock/push?repo=acme/r00", stack.mock_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let delivery = &push["deliveries"][0];
    assert_eq!(delivery["status"], 204, "{push}");
    let hook_uuid = delivery["hook_uuid"].as_str().unwrap();
    let body = serde_json::json!({"push": {"changes": []}, "repository": {"uuid": "{00000000-0000-4000-8000-000000000000}", "full_name": "acme/r00"}}).to_string();
    let send = |signature: Option<&str>, request_uuid: &str| {
        let mut request = reqwest::Client::new()
            .post(format!("{}/hooks/bitbucket", stack.service_url))
            .header("X-Event-Key", "repo:push")
            .header("X-Hook-UUID", hook_uuid)
            .header("X-Request-UUID", request_uuid)
            .header("Content-Type", "application/json")
            .body(body.clone());
        if let Some(signature) = signature {
            request = request.header("X-Hub-Signature", signature);
        }
        request.send()
    };
    let unsigned = send(None, "11111111-1111-4111-8111-111111111111")
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    let tampered = send(
        Some(&format!("sha256={}", "ab".repeat(32))),
        "22222222-2222-4222-8222-222222222222",
    )
    .await
    .unwrap();
    assert_eq!(tampered.status(), 401);

    let events = browser.get(&format!("{}/events", stack.service_url)).await;
    assert_eq!(
        events.body.matches("class=\"event\"").count(),
        1,
        "{events:?}"
    );
    assert!(!events.body.contains("11111111-1111"));
    assert!(!events.body.contains("22222222-2222"));
}

#[test]
fn the_service_stops_gracefully_on_sigterm() {
    let mut stack = Stack::start(StackOptions::default());
    let status = stack
        .service
        .terminate(Duration::from_secs(10))
        .expect("the service exits within 10 s of SIGTERM");
    assert!(status.success(), "{status:?}: {}", stack.service.logs());
    assert!(stack.service.logs().contains("shutting down"));
    let status = stack
        .mock
        .terminate(Duration::from_secs(10))
        .expect("the mock exits within 10 s of SIGTERM");
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mock_login_form_chooses_the_signed_in_user() {
    let stack = Stack::start(StackOptions::default());
    let mut browser = Browser::new();
    let form = browser
        .get(&format!("{}/auth/auth/bitbucket.org", stack.service_url))
        .await;
    assert!(form.url.starts_with(&stack.mock_url), "{form:?}");
    assert!(
        form.body.contains("Continue as Richard Roe (rroe)"),
        "{form:?}"
    );
    let return_to = form
        .body
        .split("name=\"return_to\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .replace("&amp;", "&");
    let page = browser
        .post(
            &format!("{}/_mock/sign-in", stack.mock_url),
            &[("user", "rroe"), ("return_to", &return_to)],
        )
        .await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(
        page.body.contains("Signed in as <b>Richard Roe</b> (rroe)"),
        "{page:?}"
    );
}
