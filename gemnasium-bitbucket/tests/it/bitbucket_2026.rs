//! Bitbucket as it is in 2026 (issue 12, parts 3–5), against `MockBitbucket`: sign-in limited
//! to workspaces, the deprecation guard, and webhooks as Bitbucket sends them now (redeliveries,
//! event keys once, rate-limit headers).

use std::sync::Arc;
use std::time::{Duration, Instant};

use gemnasium_bitbucket::api::hooks::HookRequest;
use gemnasium_bitbucket::api::{
    ApiClient, ApiConfig, ApiError, Http, RequestBudget, RetryPolicy, StaticToken,
};
use gemnasium_bitbucket::doctor::{Status, Subject};
use gemnasium_bitbucket::model::{
    AccessToken, AccountUuid, ClientSecret, HookEvents, ProviderName, Purpose, ServiceUrl,
    WorkspaceSet,
};
use gemnasium_bitbucket::oauth::PendingAuthorization;
use gemnasium_bitbucket::provision::Configuration;
use gemnasium_bitbucket::service::{Credential, DoctorOptions, SyncOptions, WebhookError};
use gemnasium_bitbucket::store::{DynStore, MemoryStore, ProviderPatch};
use gemnasium_bitbucket::sync::{sign, Quiet};
use gemnasium_bitbucket::testing::{MockBitbucket, MockConsumer, MockUser};
use gemnasium_bitbucket::{Bitbucket, Error};
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

const KEY: &str = "issue12-consumer-key-0123456789ab";
const SECRET: &str = "issue12-consumer-secret";
const HOMEPAGE: &str = "http://127.0.0.1";
const HOOKS_URL: &str = "https://gemnasium.example/hooks/bitbucket";
const PUSH: &str = include_str!("../fixtures/real/push_branch_created_abstruse.json");
const CHANGE_URL: &str = "https://developer.atlassian.com/cloud/bitbucket/changelog#CHANGE-2770";

fn bb() -> ProviderName {
    "bitbucket.org".parse().unwrap()
}

/// Bitbucket with one consumer; jane in `acme` (admin of `acme/widget`), rroe only in `other`.
async fn bitbucket() -> (MockBitbucket, AccountUuid, AccountUuid) {
    let mock = MockBitbucket::start().await;
    mock.add_consumer(MockConsumer::new(KEY, SECRET));
    let jane = mock.add_user(MockUser::new("jdoe").with_email("jane@example.com", true, true));
    let rroe = mock.add_user(MockUser::new("rroe").with_email("rroe@example.com", true, true));
    mock.add_workspace("acme", &[&jane]);
    mock.add_workspace("other", &[&rroe]);
    let _ = mock.add_repository("acme", "widget", &[&jane]);
    (mock, jane, rroe)
}

async fn handle(mock: &MockBitbucket, allowed: &str) -> Bitbucket {
    let store: DynStore = Arc::new(MemoryStore::new());
    let bitbucket = Bitbucket::builder(store).build().unwrap();
    let homepage = ServiceUrl::parse("homepage URL", HOMEPAGE).unwrap();
    let provider = mock
        .provider()
        .with_homepage(homepage)
        .unwrap()
        .with_allowed_workspaces(allowed.parse().unwrap());
    let config =
        Configuration::bitbucket_cloud(KEY.parse().unwrap(), ClientSecret::new(SECRET).unwrap())
            .with_provider(provider);
    bitbucket.apply(&config).await.unwrap();
    bitbucket
}

/// The browser's round trip: `user` consents, Bitbucket redirects with a code.
async fn consent(
    mock: &MockBitbucket,
    user: &AccountUuid,
    pending: &PendingAuthorization,
) -> String {
    mock.sign_in_as(Some(user));
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = browser.get(pending.url().clone()).send().await.unwrap();
    assert_eq!(answer.status(), 302);
    answer.headers()["location"].to_str().unwrap().to_owned()
}

async fn sign_in(
    bitbucket: &Bitbucket,
    mock: &MockBitbucket,
    user: &AccountUuid,
    purpose: Purpose,
) -> Result<(), Error> {
    let pending = bitbucket.begin_login(&bb(), purpose).await.unwrap();
    let callback = consent(mock, user, &pending).await;
    bitbucket
        .complete_login(&pending, &callback)
        .await
        .map(|_| ())
}

#[tokio::test]
async fn sign_in_by_a_non_member_is_refused_with_nothing_stored_and_a_member_is_accepted() {
    let (mock, jane, rroe) = bitbucket().await;
    let bitbucket = handle(&mock, "acme,acme-labs").await;

    for purpose in [Purpose::Login, Purpose::Sync] {
        let err = sign_in(&bitbucket, &mock, &rroe, purpose)
            .await
            .unwrap_err();
        let Error::WorkspaceNotAllowed { account, required } = &err else {
            panic!("expected WorkspaceNotAllowed, got {err:?}");
        };
        assert_eq!(account, "rroe");
        assert_eq!(required.to_list(), "acme,acme-labs");
        let message = err.to_string();
        assert!(message.contains("acme, acme-labs"), "{message}");
        assert!(message.contains("nothing was stored"), "{message}");
        assert!(bitbucket.store().tokens(None).await.unwrap().is_empty());
    }

    sign_in(&bitbucket, &mock, &jane, Purpose::Login)
        .await
        .unwrap();
    let stored = bitbucket.store().tokens(None).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].key.account, jane);

    // Unset means anyone with a Bitbucket account, as before.
    let lifted = bitbucket
        .update_provider(
            &bb(),
            &ProviderPatch::new().allowed_workspaces(WorkspaceSet::anyone()),
        )
        .await
        .unwrap();
    assert!(lifted.value.allowed_workspaces.is_empty());
    sign_in(&bitbucket, &mock, &rroe, Purpose::Login)
        .await
        .unwrap();
    assert_eq!(bitbucket.store().tokens(None).await.unwrap().len(), 2);
}

#[tokio::test]
async fn doctor_warns_when_anyone_can_sign_in() {
    let (mock, _, _) = bitbucket().await;
    for (allowed, status, words) in [
        ("", Status::Warn, "anyone with a Bitbucket account"),
        ("acme", Status::Pass, "limited to members of acme"),
    ] {
        let bitbucket = handle(&mock, allowed).await;
        let findings = bitbucket
            .doctor(&DoctorOptions::new().offline(true))
            .await
            .unwrap();
        let found = findings
            .iter()
            .find(|f| f.message.contains(words))
            .unwrap_or_else(|| panic!("no finding about {words:?}: {findings:#?}"));
        assert_eq!(found.status, status);
    }
}

#[tokio::test]
async fn a_retired_endpoint_names_its_change_and_url_and_doctor_reports_it_once() {
    let (mock, jane, _) = bitbucket().await;
    let bitbucket = handle(&mock, "acme").await;
    sign_in(&bitbucket, &mock, &jane, Purpose::Sync)
        .await
        .unwrap();
    Mock::given(method("GET"))
        .and(path("/2.0/user/workspaces"))
        .respond_with(ResponseTemplate::new(410).set_body_json(serde_json::json!({
            "type": "error", "error": {
                "message": "CHANGE-2770 - Functionality has been deprecated",
                "detail": "Please read the changelog entry for more details.",
                "data": {"announcement_url": CHANGE_URL}}})))
        .with_priority(1)
        .mount(mock.server())
        .await;

    let syncer = bitbucket
        .syncer(&bb(), Credential::Account(jane))
        .await
        .unwrap();
    let err = syncer.sync(&SyncOptions::new(), &Quiet).await.unwrap_err();
    let message = err.to_string();
    assert!(message.contains("CHANGE-2770"), "{message}");
    assert!(message.contains(CHANGE_URL), "{message}");

    let seen = bitbucket.store().deprecations().await.unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].change, "CHANGE-2770");
    assert_eq!(seen[0].announcement.as_deref(), Some(CHANGE_URL));

    let offline = DoctorOptions::new().offline(true);
    let first = bitbucket.doctor(&offline).await.unwrap();
    let reported: Vec<_> = first
        .iter()
        .filter(|f| f.subject == Subject::Deprecations)
        .collect();
    assert_eq!(reported.len(), 1, "{reported:#?}");
    assert_eq!(reported[0].status, Status::Fail);
    assert!(reported[0].message.contains("CHANGE-2770"), "{reported:?}");
    assert!(reported[0].message.contains(CHANGE_URL), "{reported:?}");

    let second = bitbucket.doctor(&offline).await.unwrap();
    let again: Vec<_> = second
        .iter()
        .filter(|f| f.subject == Subject::Deprecations)
        .collect();
    assert_eq!(again.len(), 1, "{again:#?}");
    assert_eq!(
        again[0].status,
        Status::Pass,
        "reported once, not again: {again:?}"
    );
}

/// `X-Event-Key`, `X-Hook-UUID` (bare), `X-Request-UUID`, `X-Attempt-Number` and, when given,
/// `X-Hub-Signature`, as Bitbucket sends them.
fn headers(
    hook: &str,
    request: &str,
    attempt: u32,
    signature: Option<String>,
) -> Vec<(String, String)> {
    let mut headers = vec![
        ("X-Event-Key".to_owned(), "repo:push".to_owned()),
        ("X-Hook-UUID".to_owned(), hook.to_owned()),
        ("X-Request-UUID".to_owned(), request.to_owned()),
        ("X-Attempt-Number".to_owned(), attempt.to_string()),
        ("Content-Type".to_owned(), "application/json".to_owned()),
    ];
    headers.extend(signature.map(|s| ("X-Hub-Signature".to_owned(), s)));
    headers
}

fn lookup<'a>(headers: &'a [(String, String)]) -> impl Fn(&str) -> Option<&'a str> + 'a {
    move |name| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[tokio::test]
async fn a_redelivered_webhook_is_processed_once() {
    let (mock, jane, _) = bitbucket().await;
    let bitbucket = handle(&mock, "acme").await;
    sign_in(&bitbucket, &mock, &jane, Purpose::Sync)
        .await
        .unwrap();
    let syncer = bitbucket
        .syncer(&bb(), Credential::Account(jane))
        .await
        .unwrap();
    syncer.sync(&SyncOptions::new(), &Quiet).await.unwrap();
    bitbucket
        .track(&bb(), &["acme/widget".to_owned()])
        .await
        .unwrap();
    let hooks_url = ServiceUrl::parse("hooks URL", HOOKS_URL).unwrap();
    let events: HookEvents = "repo:push,repo:updated".parse().unwrap();
    let synced = syncer
        .sync(&SyncOptions::new().hooks(hooks_url, events), &Quiet)
        .await
        .unwrap();
    assert!(synced.complete(), "{synced:?}");
    let hook = mock.hooks("acme/widget");
    assert_eq!(hook.len(), 1);
    assert_eq!(
        hook[0]["events"],
        serde_json::json!(["repo:push", "repo:updated"])
    );

    let tracked = bitbucket.store().tracked(&bb()).await.unwrap().remove(0);
    let record = tracked.hook.unwrap();
    let mut payload: Value = serde_json::from_str(PUSH).unwrap();
    payload["repository"]["uuid"] = tracked.uuid.as_str().into();
    payload["repository"]["full_name"] = tracked.full_name.clone().into();
    let body = serde_json::to_vec(&payload).unwrap();
    let signature = || Some(sign(record.secret.expose_secret().as_bytes(), &body));
    let request = "0b7a1c7e-6f3d-4c21-9a55-1d2e3f405162";

    // An unsigned copy first: refused, and it marks nothing as seen.
    let unsigned = headers(record.uuid.bare(), request, 1, None);
    let refused = bitbucket.receive_webhook(lookup(&unsigned), &body).await;
    assert_eq!(refused.map_err(|e| e.status()).err(), Some(401));

    let first = headers(record.uuid.bare(), request, 1, signature());
    let delivery = bitbucket
        .receive_webhook(lookup(&first), &body)
        .await
        .unwrap();
    assert_eq!(delivery.event.attempt, Some(1));

    // Bitbucket's retry (slow answer): same X-Request-UUID, attempt 2.
    let retry = headers(record.uuid.bare(), request, 2, signature());
    let err = bitbucket
        .receive_webhook(lookup(&retry), &body)
        .await
        .unwrap_err();
    let WebhookError::Duplicate { attempt, .. } = &err else {
        panic!("expected a duplicate, got {err:?}");
    };
    assert_eq!(*attempt, Some(2));
    assert_eq!(
        err.status(),
        200,
        "answered 2xx so that Bitbucket stops retrying"
    );
    assert!(err.to_string().contains("already received"), "{err}");

    // Processing failed: forgotten, so the next attempt is processed.
    bitbucket.forget_delivery(&delivery).await.unwrap();
    let third = headers(record.uuid.bare(), request, 3, signature());
    assert!(bitbucket
        .receive_webhook(lookup(&third), &body)
        .await
        .is_ok());
    // Another delivery (another id) is processed.
    let other = headers(
        record.uuid.bare(),
        "1c8b2d8f-7a4e-4d32-8b66-2e3f40516273",
        1,
        signature(),
    );
    assert!(bitbucket
        .receive_webhook(lookup(&other), &body)
        .await
        .is_ok());
}

fn api(mock_uri: &str, token: &str, budget: Arc<RequestBudget>, retry: RetryPolicy) -> ApiClient {
    let mut config = ApiConfig::new(ServiceUrl::parse("API URL", mock_uri).unwrap());
    config.budget = budget;
    config.retry = retry;
    ApiClient::new(
        Http::with_defaults(),
        config,
        Arc::new(StaticToken(AccessToken::new(token).unwrap())),
    )
}

#[tokio::test]
async fn duplicate_event_keys_are_sent_once() {
    let (mock, jane, _) = bitbucket().await;
    let (access, _) = mock.issue_tokens(KEY, &jane);
    // The mock refuses a repeated key as Bitbucket does: the check below can fail.
    let raw = reqwest::Client::new()
        .post(format!("{}/2.0/repositories/acme/widget/hooks", mock.uri()))
        .bearer_auth(&access)
        .json(
            &serde_json::json!({"description": "d", "url": HOOKS_URL, "active": true,
            "events": ["repo:push", "repo:push"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    assert!(mock.hooks("acme/widget").is_empty());

    let client = api(
        &mock.uri(),
        &access,
        Arc::new(RequestBudget::bitbucket_default()),
        RetryPolicy::default(),
    );
    let created = client
        .hooks("acme/widget")
        .unwrap()
        .create(&HookRequest::new(
            "gemnasium",
            HOOKS_URL,
            ["repo:push", "repo:updated", "repo:push"].map(str::to_owned),
            None,
        ))
        .await
        .unwrap();
    assert_eq!(created.events, ["repo:push", "repo:updated"]);
    let updated = client
        .hooks("acme/widget")
        .unwrap()
        .update(
            &created.uuid,
            &HookRequest::new(
                "gemnasium",
                HOOKS_URL,
                ["repo:updated", "repo:updated"].map(str::to_owned),
                None,
            ),
        )
        .await
        .unwrap();
    assert_eq!(updated.events, ["repo:updated"]);
}

#[tokio::test]
async fn rate_limit_headers_feed_the_budget_and_a_reset_is_honoured_within_the_cap() {
    let (mock, jane, _) = bitbucket().await;
    let (access, _) = mock.issue_tokens(KEY, &jane);
    // Access tokens get these headers on scaled endpoints.
    Mock::given(method("GET"))
        .and(path("/2.0/user/workspaces"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-RateLimit-Limit", "5")
                .insert_header("X-RateLimit-Resource", "api")
                .insert_header("X-RateLimit-NearLimit", "true")
                .set_body_json(serde_json::json!({"pagelen": 100, "values": []})),
        )
        .with_priority(1)
        .mount(mock.server())
        .await;
    let budget = Arc::new(RequestBudget::new(1_000, Duration::from_secs(3600)));
    let client = api(&mock.uri(), &access, budget.clone(), RetryPolicy::default());
    assert!(client.workspaces().mine().await.unwrap().is_empty());
    assert_eq!(budget.limit(), 5, "X-RateLimit-Limit adopted");
    assert_eq!(budget.try_acquire().await, Ok(()), "a fifth of 5 is left");
    assert!(
        budget.try_acquire().await.is_err(),
        "near the limit: four fifths counted as spent"
    );

    // A 429 whose X-RateLimit-Reset is within the cap of one wait: waited, then retried.
    let (mock, jane, _) = bitbucket().await;
    let (access, _) = mock.issue_tokens(KEY, &jane);
    Mock::given(method("GET"))
        .and(path("/2.0/user/workspaces"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("X-RateLimit-Reset", "1")
                .set_body_raw(
                    "Rate limit for this resource has been exceeded",
                    "text/plain",
                ),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(mock.server())
        .await;
    let policy = RetryPolicy::new(
        3,
        Duration::from_millis(10),
        Duration::from_secs(5),
        Duration::from_secs(10),
    );
    let client = api(
        &mock.uri(),
        &access,
        Arc::new(RequestBudget::bitbucket_default()),
        policy.clone(),
    );
    let started = Instant::now();
    let listed = client.workspaces().mine().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );

    // A reset past the cap is not slept: the call ends at once, saying when to resume.
    Mock::given(method("GET"))
        .and(path("/2.0/user/workspaces"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("X-RateLimit-Reset", "600")
                .set_body_raw(
                    "Rate limit for this resource has been exceeded",
                    "text/plain",
                ),
        )
        .with_priority(1)
        .mount(mock.server())
        .await;
    let started = Instant::now();
    let err = client.workspaces().mine().await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let ApiError::RateLimited {
        resume_after: Some(at),
        ..
    } = err
    else {
        panic!("expected RateLimited with a time, got {err:?}");
    };
    let ahead = (at - chrono::Utc::now()).num_seconds();
    assert!((590..=600).contains(&ahead), "{ahead}");
}
