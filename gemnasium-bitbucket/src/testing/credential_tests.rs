//! Access tokens and API tokens on the mock, driven over HTTP (facts §5, §7, §9, §10).

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{MockBitbucket, MockConsumer, MockUser};
use crate::model::AccountUuid;

const INVALID: &str = "Token is invalid, expired, or not supported for this endpoint.";
const LACKS: &str = "Your credentials lack one or more required privilege scopes.";
const JANE: &str = "jane@example.com";

/// jane: member of `acme` (admin of `acme/widget`) and `beta`; rroe: member of `other` only.
/// `acme/gizmo` has no admin at all.
async fn mock() -> (MockBitbucket, AccountUuid, AccountUuid) {
    let mock = MockBitbucket::start().await;
    mock.add_consumer(MockConsumer::new("KEY", "SECRET"));
    let jane = mock.add_user(
        MockUser::new("jdoe")
            .with_email("old@example.com", false, true)
            .with_email(JANE, true, true),
    );
    let rroe = mock.add_user(MockUser::new("rroe").with_email("rroe@example.com", true, true));
    mock.add_workspace("acme", &[&jane]);
    mock.add_workspace("beta", &[&jane]);
    mock.add_workspace("other", &[&rroe]);
    let _ = mock.add_repository("acme", "widget", &[&jane]);
    let _ = mock.add_repository("acme", "gizmo", &[]);
    let _ = mock.add_repository("beta", "tool", &[&jane]);
    let _ = mock.add_repository("other", "gadget", &[&rroe]);
    (mock, jane, rroe)
}

enum Auth<'a> {
    Bearer(&'a str),
    Basic(&'a str, &'a str),
    Raw(&'a str),
}

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn call(mock: &MockBitbucket, method: Method, path: &str, auth: Auth<'_>) -> Answer {
    let mut request =
        reqwest::Client::new().request(method.clone(), format!("{}{path}", mock.uri()));
    request = match auth {
        Auth::Bearer(token) => request.bearer_auth(token),
        Auth::Basic(user, token) => request.basic_auth(user, Some(token)),
        Auth::Raw(header) => request.header("Authorization", header),
    };
    if method == Method::POST || method == Method::PUT {
        request = request.json(
            &json!({"url": "https://gemnasium.example/hooks", "description": "g",
            "active": true, "events": ["repo:push"], "secret": "s3cret"}),
        );
    }
    let response = request.send().await.expect("the mock answers");
    Answer {
        status: response.status(),
        headers: response.headers().clone(),
        text: response.text().await.expect("a body"),
    }
}

async fn get(mock: &MockBitbucket, path: &str, auth: Auth<'_>) -> Answer {
    call(mock, Method::GET, path, auth).await
}

fn error(message: &str) -> Value {
    json!({"type": "error", "error": {"message": message}})
}

fn lacks(required: &str, granted: &[&str]) -> Value {
    json!({"type": "error", "error": {"message": LACKS,
        "detail": {"required": [required], "granted": granted}}})
}

fn assert_invalid(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.text);
    assert_eq!(answer.json(), error(INVALID));
}

fn assert_challenge(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.text);
    assert_eq!(answer.text, "");
    assert_eq!(
        answer.header("www-authenticate"),
        Some("Basic realm=\"Bitbucket.org HTTP\"")
    );
}

fn slugs(page: &Value) -> Vec<String> {
    page["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|v| v["slug"].as_str().expect("a slug").to_owned())
        .collect()
}

#[tokio::test]
async fn an_access_token_sees_its_own_workspace_and_is_refused_the_user_endpoints() {
    let (mock, _, _) = mock().await;
    let token = mock.add_access_token("acme", "repository,webhook", Some(Duration::days(30)));

    let own = get(&mock, "/2.0/workspaces/acme", Auth::Bearer(&token)).await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text);
    let body = own.json();
    assert_eq!(body["type"], "workspace");
    assert_eq!(body["slug"], "acme");
    assert_eq!(body["uuid"], "{ws-acme}");
    assert_eq!(body["is_private"], true);
    assert!(body["name"].is_string() && body["created_on"].is_string());
    assert_eq!(
        body["links"]["self"]["href"],
        format!("{}/2.0/workspaces/acme", mock.uri())
    );
    // The same uuid as everywhere else, and usable as the identifier.
    let by_uuid = get(&mock, "/2.0/workspaces/%7Bws-acme%7D", Auth::Bearer(&token)).await;
    assert_eq!(by_uuid.json()["slug"], "acme");

    let other = get(&mock, "/2.0/workspaces/other", Auth::Bearer(&token)).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    assert_eq!(other.json(), error("No workspace with identifier 'other'."));

    for path in ["/2.0/user", "/2.0/user/emails", "/2.0/user/workspaces"] {
        assert_invalid(&get(&mock, path, Auth::Bearer(&token)).await);
    }
    // The list of every workspace stays retired, whoever asks.
    assert_eq!(
        get(&mock, "/2.0/workspaces", Auth::Bearer(&token))
            .await
            .status,
        StatusCode::GONE
    );
}

#[tokio::test]
async fn an_access_token_lists_its_repositories_with_rate_limit_headers() {
    let (mock, jane, _) = mock().await;
    let token = mock.add_access_token("acme", "repository", None);

    let page = get(
        &mock,
        "/2.0/repositories/acme?pagelen=100",
        Auth::Bearer(&token),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let mut listed = slugs(&page.json());
    listed.sort();
    assert_eq!(listed, ["gizmo", "widget"]);
    assert_eq!(page.header("x-ratelimit-limit"), Some("1000"));
    assert_eq!(page.header("x-ratelimit-resource"), Some("api-repository"));
    assert_eq!(page.header("x-ratelimit-nearlimit"), None);

    let other = get(&mock, "/2.0/repositories/other", Auth::Bearer(&token)).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    assert_eq!(other.json(), error("No workspace with identifier 'other'."));

    mock.set_rate_limit_near(true);
    let near = get(&mock, "/2.0/repositories/acme", Auth::Bearer(&token)).await;
    assert_eq!(near.header("x-ratelimit-nearlimit"), Some("true"));

    // OAuth consumers never get these headers (facts §9), nor do access tokens elsewhere.
    let (oauth, _) = mock.issue_tokens("KEY", &jane);
    let page = get(&mock, "/2.0/repositories/acme", Auth::Bearer(&oauth)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.header("x-ratelimit-limit"), None);
    let probe = get(&mock, "/2.0/workspaces/acme", Auth::Bearer(&token)).await;
    assert_eq!(probe.header("x-ratelimit-limit"), None);

    // Without `repository`, the listing is refused for scopes.
    let hooks_only = mock.add_access_token("acme", "webhook", None);
    let refused = get(&mock, "/2.0/repositories/acme", Auth::Bearer(&hooks_only)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.json(), lacks("repository", &["webhook"]));
}

#[tokio::test]
async fn an_access_token_manages_hooks_of_its_workspace_with_the_webhook_scope() {
    let (mock, _, _) = mock().await;
    let token = mock.add_access_token("acme", "repository,webhook", None);
    // No admin list needed: the bot manages every repository of its workspace.
    let created = call(
        &mock,
        Method::POST,
        "/2.0/repositories/acme/gizmo/hooks",
        Auth::Bearer(&token),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(mock.hooks("acme/gizmo").len(), 1);
    let uid = created.json()["uuid"].as_str().unwrap().to_owned();
    let path = format!("/2.0/repositories/acme/gizmo/hooks/{uid}");
    let gone = call(&mock, Method::DELETE, &path, Auth::Bearer(&token)).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.text);

    let elsewhere = call(
        &mock,
        Method::POST,
        "/2.0/repositories/other/gadget/hooks",
        Auth::Bearer(&token),
    )
    .await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND);
    assert!(mock.hooks("other/gadget").is_empty());

    let repository_only = mock.add_access_token("acme", "repository", None);
    let refused = call(
        &mock,
        Method::POST,
        "/2.0/repositories/acme/widget/hooks",
        Auth::Bearer(&repository_only),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.json(), lacks("webhook", &["repository"]));
    assert!(mock.hooks("acme/widget").is_empty());
}

#[tokio::test]
async fn an_expired_access_token_is_refused_everywhere() {
    let (mock, _, _) = mock().await;
    let token = mock.add_access_token("acme", "repository,webhook", Some(Duration::days(1)));
    assert_eq!(
        get(&mock, "/2.0/workspaces/acme", Auth::Bearer(&token))
            .await
            .status,
        StatusCode::OK
    );
    mock.expire_credential(&token);
    assert_invalid(&get(&mock, "/2.0/workspaces/acme", Auth::Bearer(&token)).await);
    let listing = get(&mock, "/2.0/repositories/acme", Auth::Bearer(&token)).await;
    assert_invalid(&listing);
    assert_eq!(listing.header("x-ratelimit-limit"), None);

    let born_expired = mock.add_access_token("acme", "repository", Some(Duration::seconds(-1)));
    assert_invalid(&get(&mock, "/2.0/repositories/acme", Auth::Bearer(&born_expired)).await);
}

#[tokio::test]
async fn an_api_token_authenticates_as_its_user_with_the_account_email() {
    let (mock, jane, _) = mock().await;
    let token = mock.add_api_token(
        &jane,
        &["read:user:bitbucket", "read:workspace:bitbucket"],
        Some(Duration::days(365)),
        None,
    );
    let me = get(&mock, "/2.0/user", Auth::Basic(JANE, &token)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.json()["uuid"], jane.as_str());
    let emails = get(&mock, "/2.0/user/emails", Auth::Basic(JANE, &token)).await;
    assert_eq!(emails.status, StatusCode::OK, "{}", emails.text);
    let workspaces = get(&mock, "/2.0/user/workspaces", Auth::Basic(JANE, &token)).await;
    let workspaces = workspaces.json();
    let listed: Vec<&str> = workspaces["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["workspace"]["slug"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["acme", "beta"]);
    assert_eq!(
        get(&mock, "/2.0/workspaces/beta", Auth::Basic(JANE, &token))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        get(&mock, "/2.0/workspaces/other", Auth::Basic(JANE, &token))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Nothing implies anything: no repository word, no listing.
    let listing = get(&mock, "/2.0/repositories/acme", Auth::Basic(JANE, &token)).await;
    assert_eq!(listing.status, StatusCode::FORBIDDEN);
    assert_eq!(
        listing.json(),
        lacks(
            "read:repository:bitbucket",
            &["read:user:bitbucket", "read:workspace:bitbucket"]
        )
    );
    // Email case does not matter; any other address, or another user's, does.
    assert_eq!(
        get(&mock, "/2.0/user", Auth::Basic("Jane@Example.com", &token))
            .await
            .status,
        StatusCode::OK
    );
    for email in [
        "old@example.com",
        "rroe@example.com",
        "x-bitbucket-api-token-auth",
    ] {
        assert_challenge(&get(&mock, "/2.0/user", Auth::Basic(email, &token)).await);
    }
}

#[tokio::test]
async fn unknown_or_malformed_basic_credentials_get_a_bare_challenge() {
    let (mock, jane, _) = mock().await;
    let api = mock.add_api_token(&jane, &["read:user:bitbucket"], None, None);
    assert_challenge(&get(&mock, "/2.0/user", Auth::Basic(JANE, "ATATTnot-a-token")).await);
    assert_challenge(&get(&mock, "/2.0/user", Auth::Raw("Basic !!!not-base64")).await);
    assert_challenge(&get(&mock, "/2.0/user", Auth::Raw("Basic bm8tY29sb24=")).await);
    // Each kind in the other's header.
    let (oauth, _) = mock.issue_tokens("KEY", &jane);
    assert_challenge(&get(&mock, "/2.0/user", Auth::Basic(JANE, &oauth)).await);
    let access = mock.add_access_token("acme", "repository", None);
    assert_challenge(&get(&mock, "/2.0/repositories/acme", Auth::Basic(JANE, &access)).await);
    assert_invalid(&get(&mock, "/2.0/user", Auth::Bearer(&api)).await);
}

#[tokio::test]
async fn a_scopeless_or_expired_api_token_is_refused_everywhere() {
    let (mock, jane, _) = mock().await;
    let scopeless = mock.add_api_token(&jane, &[], None, None);
    for path in [
        "/2.0/user",
        "/2.0/user/workspaces",
        "/2.0/workspaces/acme",
        "/2.0/repositories/acme",
        "/2.0/repositories/acme/widget/hooks",
    ] {
        assert_invalid(&get(&mock, path, Auth::Basic(JANE, &scopeless)).await);
    }
    let expiring = mock.add_api_token(
        &jane,
        &["read:user:bitbucket"],
        Some(Duration::days(1)),
        None,
    );
    assert_eq!(
        get(&mock, "/2.0/user", Auth::Basic(JANE, &expiring))
            .await
            .status,
        StatusCode::OK
    );
    mock.expire_credential(&expiring);
    assert_invalid(&get(&mock, "/2.0/user", Auth::Basic(JANE, &expiring)).await);
}

#[tokio::test]
async fn api_token_hook_calls_need_their_own_words_and_repository_admin() {
    let (mock, jane, rroe) = mock().await;
    let words = ["read:repository:bitbucket", "read:webhook:bitbucket"];
    let read_only = mock.add_api_token(&jane, &words, None, None);
    let hooks = "/2.0/repositories/acme/widget/hooks";
    let listed = get(&mock, hooks, Auth::Basic(JANE, &read_only)).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let refused = call(&mock, Method::POST, hooks, Auth::Basic(JANE, &read_only)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.json(), lacks("write:webhook:bitbucket", &words));
    assert!(mock.hooks("acme/widget").is_empty());

    let writer = mock.add_api_token(
        &jane,
        &["write:webhook:bitbucket", "read:webhook:bitbucket"],
        None,
        None,
    );
    let created = call(&mock, Method::POST, hooks, Auth::Basic(JANE, &writer)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let uid = created.json()["uuid"].as_str().unwrap().to_owned();
    let one = format!("{hooks}/{uid}");
    let kept = call(&mock, Method::DELETE, &one, Auth::Basic(JANE, &writer)).await;
    assert_eq!(kept.status, StatusCode::FORBIDDEN);
    assert_eq!(
        kept.json(),
        lacks(
            "delete:webhook:bitbucket",
            &["write:webhook:bitbucket", "read:webhook:bitbucket"]
        )
    );
    assert_eq!(mock.hooks("acme/widget").len(), 1);

    // The user's own permissions still apply: jane does not administer acme/gizmo.
    let not_admin = call(
        &mock,
        Method::POST,
        "/2.0/repositories/acme/gizmo/hooks",
        Auth::Basic(JANE, &writer),
    )
    .await;
    assert_eq!(not_admin.status, StatusCode::FORBIDDEN);
    assert_eq!(
        not_admin.json()["error"]["message"],
        "You must be an administrator of this repository to manage its webhooks."
    );
    let rroes = mock.add_api_token(&rroe, &["read:repository:bitbucket"], None, None);
    let invisible = get(
        &mock,
        "/2.0/repositories/acme",
        Auth::Basic("rroe@example.com", &rroes),
    )
    .await;
    assert_eq!(invisible.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_api_token_limited_to_a_workspace_sees_no_other() {
    let (mock, jane, _) = mock().await;
    let token = mock.add_api_token(
        &jane,
        &[
            "read:user:bitbucket",
            "read:workspace:bitbucket",
            "read:repository:bitbucket",
            "read:webhook:bitbucket",
        ],
        None,
        Some("acme"),
    );
    let auth = || Auth::Basic(JANE, &token);
    assert_eq!(get(&mock, "/2.0/user", auth()).await.status, StatusCode::OK);
    let page = get(&mock, "/2.0/repositories/acme", auth()).await;
    assert_eq!(page.status, StatusCode::OK);
    // No rate-limit headers for API tokens (facts §9).
    assert_eq!(page.header("x-ratelimit-limit"), None);
    let beta = get(&mock, "/2.0/repositories/beta", auth()).await;
    assert_eq!(beta.status, StatusCode::NOT_FOUND);
    assert_eq!(beta.json(), error("No workspace with identifier 'beta'."));
    assert_eq!(
        get(&mock, "/2.0/workspaces/beta", auth()).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&mock, "/2.0/repositories/beta/tool/hooks", auth())
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let mine = get(&mock, "/2.0/user/workspaces", auth()).await.json();
    assert_eq!(mine["values"].as_array().unwrap().len(), 1);
    assert_eq!(mine["values"][0]["workspace"]["slug"], "acme");
}

#[tokio::test]
async fn requests_with_records_every_request_a_token_presented() {
    let (mock, jane, _) = mock().await;
    let access = mock.add_access_token("acme", "repository", None);
    let _ = get(&mock, "/2.0/workspaces/acme", Auth::Bearer(&access)).await;
    let _ = get(
        &mock,
        "/2.0/repositories/acme?pagelen=100",
        Auth::Bearer(&access),
    )
    .await;
    let _ = get(&mock, "/2.0/user", Auth::Bearer(&access)).await; // refused
    let _ = get(&mock, "/2.0/snippets", Auth::Bearer(&access)).await; // no such endpoint
    assert_eq!(
        mock.requests_with(&access),
        [
            "GET /2.0/workspaces/acme",
            "GET /2.0/repositories/acme",
            "GET /2.0/user",
            "GET /2.0/snippets"
        ]
    );

    let api = mock.add_api_token(&jane, &["read:user:bitbucket"], None, None);
    let _ = get(&mock, "/2.0/user", Auth::Basic("wrong@example.com", &api)).await;
    let _ = get(&mock, "/2.0/user/workspaces", Auth::Basic(JANE, &api)).await; // lacks a word
    let _ = get(&mock, "/2.0/user", Auth::Bearer(&api)).await; // wrong header
    assert_eq!(
        mock.requests_with(&api),
        ["GET /2.0/user", "GET /2.0/user/workspaces", "GET /2.0/user"]
    );
    assert!(mock.requests_with("never-issued").is_empty());
}

#[tokio::test]
async fn oauth_tokens_probe_workspaces_of_their_user() {
    let (mock, jane, _) = mock().await;
    let (token, _) = mock.issue_tokens("KEY", &jane);
    assert_eq!(
        get(&mock, "/2.0/workspaces/beta", Auth::Bearer(&token))
            .await
            .status,
        StatusCode::OK
    );
    let other = get(&mock, "/2.0/workspaces/other", Auth::Bearer(&token)).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    mock.add_consumer(MockConsumer::new("NARROW", "S").with_scopes("repository"));
    let (narrow, _) = mock.issue_tokens("NARROW", &jane);
    let refused = get(&mock, "/2.0/workspaces/acme", Auth::Bearer(&narrow)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        refused.json()["error"]["detail"]["required"],
        json!(["account"])
    );
    mock.expire_credential(&token);
    let expired = get(&mock, "/2.0/user", Auth::Bearer(&token)).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert!(expired.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("expired"));
}

#[tokio::test]
#[should_panic(expected = "no workspace `nowhere`")]
async fn an_access_token_of_no_workspace_is_a_test_bug() {
    let (mock, _, _) = mock().await;
    let _ = mock.add_access_token("nowhere", "repository", None);
}

#[tokio::test]
#[should_panic(expected = "has no email address")]
async fn an_api_token_of_a_user_without_email_is_a_test_bug() {
    let mock = MockBitbucket::start().await;
    let nobody = mock.add_user(MockUser::new("nobody"));
    let _ = mock.add_api_token(&nobody, &["read:user:bitbucket"], None, None);
}
