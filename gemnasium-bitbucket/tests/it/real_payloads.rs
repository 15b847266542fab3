//! Every real Bitbucket Cloud payload of `tests/fixtures/real/` (origin and quirks in its
//! `SOURCES.md`) fed to the code production runs on it, through the public API only, with the
//! values the library extracts checked against the file:
//!
//! - REST bodies are served by a mock at the endpoint the library calls, with the recorded
//!   status and headers when the cassette kept them (`*.response_headers.json`);
//! - token-endpoint bodies are served at the token URL, to a code exchange or a refresh;
//! - webhook deliveries go through `WebhookEvent::from_request` with their recorded headers.
//!   None of them was signed with a known secret, so each body is signed here, byte for byte.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gemnasium_bitbucket::api::hooks::HookRequest;
use gemnasium_bitbucket::api::repositories::{ListRepositories, WireRepository};
use gemnasium_bitbucket::api::user::confirmed_email;
use gemnasium_bitbucket::api::{
    ApiClient, ApiConfig, ApiError, AuthErrorKind, DeprecationObserver, Http, Page, RetryPolicy,
    StaticToken,
};
use gemnasium_bitbucket::model::{
    AccessToken, AccountInfo, AccountUuid, AuthorizationCode, CallbackUrl, Client, ClientSecret,
    HookUuid, Provider, Purpose, RefreshToken, Repository, ServiceUrl, TokenSet,
};
use gemnasium_bitbucket::oauth::{
    begin_authorization, fetch_identity, OAuthError, TokenManager, TokenSettings,
};
use gemnasium_bitbucket::store::{DynStore, MemoryStore};
use gemnasium_bitbucket::sync::{
    sign, BitbucketRepos, EventPayload, HookApi, RemoteError, RemoteErrorKind, RepositoryCatalogue,
    RepositoryRef, WebhookEvent,
};
use serde_json::{json, Map, Value};
use wiremock::matchers::{any, body_string_contains, method, path, query_param};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

// REST responses.
const REPOSITORIES_PAGE: &str = include_str!("../fixtures/real/repositories_page_codecov.json");
const REPOSITORIES_PAGE_HEADERS: &str =
    include_str!("../fixtures/real/repositories_page_codecov.response_headers.json");
const REPOSITORIES_EMPTY: &str =
    include_str!("../fixtures/real/repositories_page_empty_codecov.json");
const REPOSITORIES_EMPTY_HEADERS: &str =
    include_str!("../fixtures/real/repositories_page_empty_codecov.response_headers.json");
const REPOSITORIES_PAGE1_NEXT: &str =
    include_str!("../fixtures/real/repositories_page1_next_drone_go_scm.json");
const REPOSITORY: &str = include_str!("../fixtures/real/repository_codecov.json");
const REPOSITORY_HEADERS: &str =
    include_str!("../fixtures/real/repository_codecov.response_headers.json");
const USER: &str = include_str!("../fixtures/real/user_jenkins_bbs.json");
const USER_EMAILS: &str = include_str!("../fixtures/real/user_emails_drone_go_scm.json");
const USER_WORKSPACES: &str = include_str!("../fixtures/real/user_workspaces_drone_go_scm.json");
const LEGACY_TEAM: &str = include_str!("../fixtures/real/workspace_drone_go_scm.json");
const PERMISSIONS_WORKSPACES: &str =
    include_str!("../fixtures/real/user_permissions_workspaces_codecov.json");
const PERMISSIONS_WORKSPACES_HEADERS: &str =
    include_str!("../fixtures/real/user_permissions_workspaces_codecov.response_headers.json");
const PERMISSIONS_REPOSITORIES: &str =
    include_str!("../fixtures/real/user_permissions_repositories_codecov.json");
const PERMISSIONS_REPOSITORIES_HEADERS: &str =
    include_str!("../fixtures/real/user_permissions_repositories_codecov.response_headers.json");
const HOOK_CREATED: &str = include_str!("../fixtures/real/hook_created_codecov.json");
const HOOK_CREATED_HEADERS: &str =
    include_str!("../fixtures/real/hook_created_codecov.response_headers.json");
const HOOK_UPDATED: &str = include_str!("../fixtures/real/hook_updated_codecov.json");
const HOOK_UPDATED_HEADERS: &str =
    include_str!("../fixtures/real/hook_updated_codecov.response_headers.json");

// Error envelopes.
const MISSING_SCOPES: &str = include_str!("../fixtures/real/error_403_missing_scopes_weblate.json");
const FIELD_VALIDATION: &str =
    include_str!("../fixtures/real/error_400_field_validation_weblate.json");
const HOOK_NOT_FOUND: &str = include_str!("../fixtures/real/error_404_hook_not_found_codecov.json");
const HOOK_NOT_FOUND_HEADERS: &str =
    include_str!("../fixtures/real/error_404_hook_not_found_codecov.response_headers.json");
const V1_REMOVED: &str = include_str!(
    "../fixtures/real/error_410_resource_removed_v1_export_pull_requests_issue12.json"
);

// Token endpoint.
const TOKEN_REFRESHED: &str =
    include_str!("../fixtures/real/token_refresh_success_drone_go_scm.json");
const TOKEN_UNAUTHORIZED_CLIENT: &str =
    include_str!("../fixtures/real/token_error_400_unauthorized_client_drone_go_scm.json");
const TOKEN_NO_CALLBACK: &str =
    include_str!("../fixtures/real/token_error_400_no_callback_uri_bb_build_status_resource.json");
const TOKEN_NOT_AUTHENTICATED: &str = include_str!(
    "../fixtures/real/token_error_unauthorized_client_not_authenticated_p2_oauth2_issue96.json"
);

// Webhook deliveries.
const PUSH_CREATED: &str = include_str!("../fixtures/real/push_branch_created_abstruse.json");
const PUSH_CREATED_HEADERS: &str =
    include_str!("../fixtures/real/push_branch_created_abstruse.headers.json");
const REPO_UPDATED: &str = include_str!("../fixtures/real/repo_updated_abstruse.json");
const REPO_UPDATED_HEADERS: &str =
    include_str!("../fixtures/real/repo_updated_abstruse.headers.json");
const PUSH_DELETED: &str = include_str!("../fixtures/real/push_branch_deleted_jenkins_bbs.json");
const PULLREQUEST_CREATED: &str =
    include_str!("../fixtures/real/pullrequest_created_jenkins_bbs.json");

// ---------------------------------------------------------------------------------------------
// Helpers

/// A mock answering 500 to anything not mounted, so an unexpected request fails the test.
async fn server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500).set_body_string("unexpected request"))
        .with_priority(u8::MAX)
        .mount(&server)
        .await;
    server
}

/// A REST client for `server` with one attempt per request: a request the mock does not
/// expect fails at once instead of being retried.
fn api(server: &MockServer) -> ApiClient {
    let mut config = ApiConfig::new(ServiceUrl::parse("API URL", &server.uri()).unwrap());
    config.retry = RetryPolicy::new(
        1,
        Duration::from_millis(1),
        Duration::from_millis(1),
        Duration::from_secs(1),
    );
    api_with(config)
}

fn api_with(config: ApiConfig) -> ApiClient {
    ApiClient::new(
        Http::with_defaults(),
        config,
        Arc::new(StaticToken(AccessToken::new("test-access-token").unwrap())),
    )
}

/// A JSON answer for a fixture recorded without its headers.
fn json_answer(status: u16, body: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.as_bytes().to_vec(), "application/json")
}

/// A `*.response_headers.json` file: the recorded status, request and headers.
struct Recording {
    status: u16,
    method: String,
    /// The request's path as the library writes it: `/2.0/…` (the cassettes used the old
    /// `https://bitbucket.org/api/2.0/…` form of the API's address).
    path: String,
    headers: Map<String, Value>,
}

impl Recording {
    fn read(file: &str) -> Self {
        let mut headers: Map<String, Value> = serde_json::from_str(file).unwrap();
        let status = headers.remove("_status").unwrap().as_u64().unwrap();
        let request = headers.remove("_request").unwrap();
        let (method, url) = request.as_str().unwrap().split_once(' ').unwrap();
        Self {
            status: u16::try_from(status).unwrap(),
            method: method.to_owned(),
            path: url
                .strip_prefix("https://bitbucket.org/api")
                .unwrap()
                .to_owned(),
            headers,
        }
    }

    /// The recorded answer with `body`. The framing headers are left out: they described the
    /// gzip-encoded, chunked transfer of the original, not the decoded body stored here.
    fn answer(&self, body: &str) -> ResponseTemplate {
        const FRAMING: [&str; 4] = [
            "content-length",
            "content-encoding",
            "transfer-encoding",
            "connection",
        ];
        let mut answer = ResponseTemplate::new(self.status).set_body_bytes(body.as_bytes());
        for (name, value) in &self.headers {
            if !FRAMING.contains(&name.to_ascii_lowercase().as_str()) {
                answer = answer.insert_header(name.as_str(), value.as_str().unwrap());
            }
        }
        answer
    }

    fn header(&self, name: &str) -> &str {
        self.headers[name].as_str().unwrap()
    }
}

/// Matches the recorded request: same method and path, whether a hook UUID in the path is
/// braced (`%7B…%7D`, as this library sends it) or bare (as the recording's client sent it).
struct SameRequest {
    method: String,
    path: String,
}

impl Match for SameRequest {
    fn matches(&self, request: &Request) -> bool {
        let unbraced = |p: &str| {
            p.replace(['{', '}'], "")
                .replace("%7B", "")
                .replace("%7D", "")
                .replace("%7b", "")
                .replace("%7d", "")
        };
        request.method.as_str() == self.method
            && unbraced(request.url.path()) == unbraced(&self.path)
    }
}

/// Serves `body` with the status and headers of `recording`, to the request it recorded.
async fn serve_recorded(server: &MockServer, body: &str, recording: &str) -> Recording {
    let recording = Recording::read(recording);
    Mock::given(SameRequest {
        method: recording.method.clone(),
        path: recording.path.clone(),
    })
    .respond_with(recording.answer(body))
    .mount(server)
    .await;
    recording
}

/// Serves `answer` to `GET {at}`.
async fn serve_get(server: &MockServer, at: &str, answer: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(answer)
        .mount(server)
        .await;
}

fn time(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
}

fn find<'a>(repositories: &'a [Repository], full_name: &str) -> &'a Repository {
    repositories
        .iter()
        .find(|r| r.full_name == full_name)
        .unwrap_or_else(|| panic!("{full_name} not listed"))
}

// ---------------------------------------------------------------------------------------------
// Repositories

#[tokio::test]
async fn a_recorded_repositories_page_becomes_stored_repositories() {
    let s = server().await;
    serve_recorded(&s, REPOSITORIES_PAGE, REPOSITORIES_PAGE_HEADERS).await;
    let listing = api(&s)
        .repositories()
        .list("codecov", &ListRepositories::default())
        .await
        .unwrap();
    assert_eq!(listing.size, Some(5));
    let names: Vec<&str> = listing
        .repositories
        .iter()
        .map(|r| r.full_name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "codecov/ci-repo",
            "codecov/private",
            "codecov/coverage.py",
            "codecov/integration-test-repo",
            "codecov/test-bb-integration-public",
        ]
    );

    let ci = find(&listing.repositories, "codecov/ci-repo");
    assert_eq!(ci.uuid.as_str(), "{a980e378-088f-48a8-9850-98923f497546}");
    // 2019 repositories carry no `workspace` object: the slug comes from `full_name`.
    assert_eq!(
        (ci.workspace.as_str(), ci.name.as_str()),
        ("codecov", "ci-repo")
    );
    assert!(!ci.is_private);
    assert_eq!(ci.main_branch.as_deref(), Some("master"));
    assert_eq!(ci.scm.as_deref(), Some("git"));
    // `"language": ""` means "not set".
    assert_eq!(ci.language, None);
    assert_eq!(ci.project_key.as_deref(), Some("PROJ"));
    assert_eq!(ci.fork_of, None);
    assert_eq!(
        ci.html_url.as_deref(),
        Some("https://bitbucket.org/codecov/ci-repo")
    );
    // The recorded clone URL names the account that listed it (`ThiagoCodecov@`); it is
    // stored without, since whoever clones brings their own credentials.
    assert_eq!(
        ci.clone_https.as_deref(),
        Some("https://bitbucket.org/codecov/ci-repo.git")
    );
    assert_eq!(
        ci.updated_on,
        Some(time("2016-08-22T13:01:12.956929+00:00"))
    );
    assert_eq!(
        ci.created_on,
        Some(time("2014-09-22T00:31:02.553308+00:00"))
    );

    let private = find(&listing.repositories, "codecov/private");
    assert!(private.is_private);
    assert_eq!(private.language.as_deref(), Some("python"));

    // The Mercurial fork: `mainbranch` is a `named_branch` (only its name is read), the clone
    // URL has no `.git`, and `parent` names what it forks.
    let hg = find(&listing.repositories, "codecov/coverage.py");
    assert_eq!(hg.uuid.as_str(), "{d08f4587-489f-4b55-abad-3d4f396d9862}");
    assert_eq!(hg.scm.as_deref(), Some("hg"));
    assert_eq!(hg.main_branch.as_deref(), Some("default"));
    assert_eq!(hg.fork_of.as_deref(), Some("ned/coveragepy"));
    assert_eq!(
        hg.clone_https.as_deref(),
        Some("https://bitbucket.org/codecov/coverage.py")
    );
    assert_eq!(
        hg.updated_on,
        Some(time("2015-05-18T14:03:10.877986+00:00"))
    );

    let public = find(&listing.repositories, "codecov/test-bb-integration-public");
    assert_eq!(public.language.as_deref(), Some("markdown"));
    assert_eq!(
        public.created_on,
        Some(time("2019-10-04T14:47:42.067409+00:00"))
    );
}

#[tokio::test]
async fn a_recorded_empty_page_is_an_empty_complete_listing() {
    let s = server().await;
    serve_recorded(&s, REPOSITORIES_EMPTY, REPOSITORIES_EMPTY_HEADERS).await;
    let repositories = api(&s);
    let repositories = repositories.repositories();
    let listing = repositories
        .list("thiagocodecovbanana", &ListRepositories::default())
        .await
        .unwrap();
    assert!(listing.repositories.is_empty());
    assert_eq!(listing.size, Some(0));
    let recent = repositories
        .list_since(
            "thiagocodecovbanana",
            Utc::now(),
            &ListRepositories::recent(10),
        )
        .await
        .unwrap();
    assert!(recent.repositories.is_empty() && recent.exhausted);
    assert_eq!(recent.size, Some(0));
}

#[tokio::test]
async fn a_first_page_with_next_is_read_and_next_followed_only_on_the_api_origin() {
    let s = server().await;
    serve_get(
        &s,
        "/2.0/repositories/atlassian",
        json_answer(200, REPOSITORIES_PAGE1_NEXT),
    )
    .await;
    let api = api(&s);
    // The page as the paginator reads each one (`get_json` into a `Page`).
    let first: Page<WireRepository> = api
        .get_json(api.url(&["repositories", "atlassian"]))
        .await
        .unwrap();
    // `size` counts the whole workspace (735), not this one-item page; `next` is kept verbatim.
    assert_eq!(first.size, Some(735));
    assert_eq!(
        first.next.as_deref(),
        Some("https://api.bitbucket.org/2.0/repositories/atlassian?pagelen=1&page=2")
    );
    assert_eq!(first.values.len(), 1);
    let repo = first.values[0].clone().into_repository().unwrap();
    assert_eq!(repo.uuid.as_str(), "{c179f544-ba1f-4ea9-bd8f-2b2c1efa4046}");
    assert_eq!(repo.full_name, "atlassian/stash-example-plugin");
    // Here the slug comes from the `workspace` object (the `owner` is still `type: team`).
    assert_eq!(repo.workspace, "atlassian");
    assert_eq!(repo.name, "stash-example-plugin");
    assert!(!repo.is_private);
    assert_eq!(repo.main_branch.as_deref(), Some("master"));
    assert_eq!(repo.language, None);
    assert_eq!(repo.project_key.as_deref(), Some("PROJ"));
    assert_eq!(
        repo.clone_https.as_deref(),
        Some("https://bitbucket.org/atlassian/stash-example-plugin.git")
    );
    assert_eq!(
        repo.updated_on,
        Some(time("2018-04-01T16:36:35.970175+00:00"))
    );
    assert_eq!(
        repo.created_on,
        Some(time("2013-04-15T03:05:05.595458+00:00"))
    );
    // The recorded `next` is on api.bitbucket.org, not on the configured API (this server):
    // the listing is refused before anything, credentials included, is sent there.
    let err = api
        .repositories()
        .list("atlassian", &ListRepositories::recent(1))
        .await
        .unwrap_err();
    match err {
        ApiError::ForeignOrigin { url, expected } => {
            assert_eq!(url, "https://api.bitbucket.org/2.0/repositories/atlassian");
            assert_eq!(expected, s.uri());
        }
        other => panic!("expected ForeignOrigin, got {other:?}"),
    }
}

#[tokio::test]
async fn a_next_link_is_followed_verbatim() {
    // The same page, its `next` moved to this server's origin: the cursor (`pagelen=1&page=2`)
    // is sent as Bitbucket wrote it, not rebuilt from our own query. Page 2 is the recorded
    // empty page, which ends the listing.
    let s = server().await;
    let page1 = REPOSITORIES_PAGE1_NEXT.replace("https://api.bitbucket.org", &s.uri());
    Mock::given(method("GET"))
        .and(path("/2.0/repositories/atlassian"))
        .and(query_param("pagelen", "1"))
        .and(query_param("page", "2"))
        .respond_with(json_answer(200, REPOSITORIES_EMPTY))
        .with_priority(1)
        .mount(&s)
        .await;
    serve_get(&s, "/2.0/repositories/atlassian", json_answer(200, &page1)).await;
    let listing = api(&s)
        .repositories()
        .list("atlassian", &ListRepositories::default())
        .await
        .unwrap();
    assert_eq!(listing.size, Some(735), "the first page's announcement");
    assert_eq!(listing.repositories.len(), 1);
    assert_eq!(
        listing.repositories[0].full_name,
        "atlassian/stash-example-plugin"
    );
}

#[tokio::test]
async fn a_recorded_single_repository() {
    // The library lists repositories but fetches none alone; the single-repository body has the
    // listing's shape and goes through the same parser.
    let s = server().await;
    serve_recorded(&s, REPOSITORY, REPOSITORY_HEADERS).await;
    let api = api(&s);
    let wire: WireRepository = api
        .get_json(api.url(&["repositories", "ThiagoCodecov", "example-python"]))
        .await
        .unwrap();
    assert_eq!(
        wire.updated_on.as_deref(),
        Some("2018-11-06T12:53:06.821726+00:00")
    );
    let repo = wire.into_repository().unwrap();
    assert_eq!(repo.uuid.as_str(), "{a8c50527-2c3a-480e-afe1-7700e2b00074}");
    assert_eq!(repo.full_name, "ThiagoCodecov/example-python");
    // A personal repository of 2018: no `workspace` object and no `project`; the workspace
    // is the first half of `full_name` (the `owner.username` is not read).
    assert_eq!(
        (repo.workspace.as_str(), repo.name.as_str()),
        ("ThiagoCodecov", "example-python")
    );
    assert_eq!(repo.project_key, None);
    assert!(repo.is_private);
    assert_eq!(repo.main_branch.as_deref(), Some("master"));
    assert_eq!(repo.scm.as_deref(), Some("git"));
    assert_eq!(repo.language, None);
    assert_eq!(repo.fork_of, None);
    assert_eq!(
        repo.html_url.as_deref(),
        Some("https://bitbucket.org/ThiagoCodecov/example-python")
    );
    assert_eq!(
        repo.clone_https.as_deref(),
        Some("https://bitbucket.org/ThiagoCodecov/example-python.git")
    );
    assert_eq!(
        repo.created_on,
        Some(time("2018-11-06T12:53:06.587605+00:00"))
    );
    assert_eq!(
        repo.updated_on,
        Some(time("2018-11-06T12:53:06.821726+00:00"))
    );
}

#[tokio::test]
async fn legacy_repository_permissions_are_refused_as_a_repository_listing() {
    // `/2.0/user/permissions/repositories` was removed (CHANGE-2770) and is never called. Its
    // `repository_permission` values nest the repository under `.repository`, so were the
    // shape served where repositories are listed, it is refused as malformed rather than
    // misread as repositories.
    let s = server().await;
    let recording = Recording::read(PERMISSIONS_REPOSITORIES_HEADERS);
    assert_eq!(
        (recording.method.as_str(), recording.path.as_str()),
        ("GET", "/2.0/user/permissions/repositories")
    );
    serve_get(
        &s,
        "/2.0/repositories/ThiagoCodecov",
        recording.answer(PERMISSIONS_REPOSITORIES),
    )
    .await;
    let err = api(&s)
        .repositories()
        .list("ThiagoCodecov", &ListRepositories::default())
        .await
        .unwrap_err();
    match &err {
        ApiError::Malformed {
            status,
            content_type,
            excerpt,
        } => {
            assert_eq!(*status, 200);
            assert_eq!(content_type, "application/json; charset=utf-8");
            assert!(excerpt.contains("missing field `uuid`"), "{excerpt}");
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
    assert_eq!(RemoteErrorKind::Other, RemoteError::from(err).kind);
}

// ---------------------------------------------------------------------------------------------
// The signed-in account and its workspaces

#[tokio::test]
async fn a_user_and_their_emails_become_an_identity() {
    let s = server().await;
    serve_get(&s, "/2.0/user", json_answer(200, USER)).await;
    serve_get(&s, "/2.0/user/emails", json_answer(200, USER_EMAILS)).await;
    let api = api(&s);

    let user = api.user().get().await.unwrap();
    assert_eq!(user.uuid.as_str(), "{c5716604-73d9-4ad4-a3dd-a75485652c57}");
    // The account id comes from `account_id` (`557058:…`), not from the hand-edited links,
    // which say `57058:` in places.
    assert_eq!(
        user.account_id.as_deref(),
        Some("557058:7d868a72-5091-4ffe-9f31-22d89142d9f6")
    );
    assert_eq!(user.nickname.as_deref(), Some("amuniz"));
    // Display data is kept as sent, mis-encoding included: the library does not guess.
    assert_eq!(user.display_name.as_deref(), Some("Antonio MuÃ±iz"));

    let emails = api.user().emails().await.unwrap();
    let listed: Vec<(&str, bool, bool)> = emails
        .iter()
        .map(|e| (e.email.as_str(), e.is_primary, e.is_confirmed))
        .collect();
    assert_eq!(
        listed,
        [
            ("secondary@example.com", false, true),
            ("primary@example.com", true, true),
        ]
    );
    // Both are confirmed; the primary one wins although it is listed second.
    assert_eq!(confirmed_email(&emails), Some("primary@example.com"));

    let identity = fetch_identity(&api).await.unwrap();
    assert_eq!(identity.uuid, user.uuid);
    assert_eq!(identity.email.as_deref(), Some("primary@example.com"));
    assert_eq!(identity.shown(), "amuniz");
}

#[tokio::test]
async fn workspace_memberships_are_read_through_workspace_access() {
    let s = server().await;
    serve_get(
        &s,
        "/2.0/user/workspaces",
        json_answer(200, USER_WORKSPACES),
    )
    .await;
    let api = api(&s);
    let mine = api.workspaces().mine().await.unwrap();
    assert_eq!(mine.len(), 1);
    // A `workspace_access` wrapping a `workspace_base` (no name): slug and uuid are under
    // `.workspace`, `administrator` beside it.
    assert_eq!(mine[0].slug(), "atlassian");
    assert_eq!(
        mine[0].uuid(),
        Some("{d5bb8c49-f033-4498-910e-7e4b546b04ee}")
    );
    assert_eq!(mine[0].administrator, Some(true));

    let listed = BitbucketRepos::new(api).workspaces().await.unwrap();
    let listed: Vec<(&str, Option<&str>)> = listed
        .iter()
        .map(|w| (w.slug.as_str(), w.uuid.as_deref()))
        .collect();
    assert_eq!(
        listed,
        [("atlassian", Some("{d5bb8c49-f033-4498-910e-7e4b546b04ee}"))]
    );
}

#[tokio::test]
async fn legacy_workspace_memberships_parse_as_memberships_without_admin_flag() {
    // `/2.0/user/permissions/workspaces` was removed (CHANGE-2770) and is never called. Its
    // `workspace_membership` values also hold the workspace under `.workspace`, so were the
    // shape served at `/2.0/user/workspaces`, it parses: the slugs and uuids are right, but
    // `administrator` is unknown, since `permission: owner` is not read. `added_on` without a
    // timezone (or null) is not read either, so it cannot fail the listing.
    let s = server().await;
    let recording = Recording::read(PERMISSIONS_WORKSPACES_HEADERS);
    assert_eq!(recording.path, "/2.0/user/permissions/workspaces");
    serve_get(
        &s,
        "/2.0/user/workspaces",
        recording.answer(PERMISSIONS_WORKSPACES),
    )
    .await;
    let mine = api(&s).workspaces().mine().await.unwrap();
    let slugs: Vec<(&str, Option<&str>)> = mine.iter().map(|w| (w.slug(), w.uuid())).collect();
    assert_eq!(
        slugs,
        [
            (
                "thiagorramostestnumbar3",
                Some("{d7c73e87-90ab-450f-bb5f-39e6a5870456}")
            ),
            (
                "thiagorramostest2",
                Some("{33b5f87a-bda0-40c2-ba1b-9eb892492290}")
            ),
            (
                "thiagorramosanotherw",
                Some("{11e04628-2c7b-4d89-9319-e7eed8818e56}")
            ),
            (
                "thiagorramosworkspace",
                Some("{727d78e8-7431-4532-9519-1e5fe2b61d4b}")
            ),
            (
                "thiagocodecovbanana",
                Some("{68f2da06-b2f8-4f00-92fa-32bd60df9d27}")
            ),
            // The personal workspace: its uuid is the user's.
            (
                "ThiagoCodecov",
                Some("{9a01f37b-b1b2-40c5-8c5e-1a39f4b5e645}")
            ),
        ]
    );
    assert!(mine.iter().all(|w| w.administrator.is_none()));
}

#[tokio::test]
async fn a_legacy_team_served_as_a_workspace() {
    // A `/2.0/teams/atlassian` body (`type: team`, `\/`-escaped URLs) where the library asks
    // `/2.0/workspaces/{slug}`. It parses, but a team's `name` is its old account name
    // (`atlassian`); the display name (`Atlassian`) is under `display_name`, which is not read.
    // A modern workspace's `name` is its display name.
    let s = server().await;
    serve_get(
        &s,
        "/2.0/workspaces/atlassian",
        json_answer(200, LEGACY_TEAM),
    )
    .await;
    let workspace = api(&s).workspaces().get("atlassian").await.unwrap();
    assert_eq!(workspace.slug, "atlassian");
    assert_eq!(
        workspace.uuid.as_deref(),
        Some("{02b941e3-cfaa-40f9-9a58-cec53e20bdc3}")
    );
    assert_eq!(workspace.name.as_deref(), Some("atlassian"));
}

// ---------------------------------------------------------------------------------------------
// Webhooks of a repository

const HOOK_URL: &str = "http://requestbin.net/r/1ecyaj51";
const HOOK_UUID: &str = "{4742f092-8397-4677-8876-5e9a06f10f98}";

#[tokio::test]
async fn a_recorded_hook_creation() {
    let s = server().await;
    let recording = serve_recorded(&s, HOOK_CREATED, HOOK_CREATED_HEADERS).await;
    assert_eq!(recording.status, 201);
    let api = api(&s);
    let request = HookRequest::new(
        "a",
        HOOK_URL,
        ["repo:push".to_owned(), "issue:created".to_owned()],
        None,
    );
    let hook = api
        .hooks("ThiagoCodecov/example-python")
        .unwrap()
        .create(&request)
        .await
        .unwrap();
    assert_eq!(hook.uuid.as_str(), HOOK_UUID);
    // The uuid is read from the body; it is the one the `Location` header names.
    let location = recording.header("Location");
    assert!(
        location.ends_with(&format!("/hooks/%7B{}%7D", hook.uuid.bare())),
        "{location}"
    );
    assert_eq!(hook.url, HOOK_URL);
    assert_eq!(hook.description.as_deref(), Some("a"));
    assert!(hook.active);
    // Events as Bitbucket answered them, in its order, including `issue:created`, which
    // Bitbucket has since removed (HookEvents refuses it for new hooks; a listing keeps it).
    assert_eq!(hook.events, ["issue:created", "repo:push"]);
    // A 2018 hook has no `secret_set`: read as "no secret".
    assert!(!hook.secret_set);
    // `created_at` ends in `Z`, unlike the repositories' `+00:00`.
    assert_eq!(hook.created_at, Some(time("2018-11-07T14:45:47.900077Z")));
}

#[tokio::test]
async fn a_recorded_hook_update() {
    let s = server().await;
    let recording = serve_recorded(&s, HOOK_UPDATED, HOOK_UPDATED_HEADERS).await;
    assert_eq!((recording.status, recording.method.as_str()), (200, "PUT"));
    let api = api(&s);
    let uuid: HookUuid = HOOK_UUID.parse().unwrap();
    let request = HookRequest::new("new_name", HOOK_URL, ["issue:updated".to_owned()], None);
    let hook = api
        .hooks("ThiagoCodecov/example-python")
        .unwrap()
        .update(&uuid, &request)
        .await
        .unwrap();
    assert_eq!(hook.uuid, uuid);
    assert_eq!(hook.description.as_deref(), Some("new_name"));
    assert_eq!(hook.events, ["issue:updated"]);
    assert_eq!(hook.url, HOOK_URL);
    assert!(hook.active && !hook.secret_set);
    // Replacing a hook keeps its creation time.
    assert_eq!(hook.created_at, Some(time("2018-11-07T14:45:47.900077Z")));
}

#[tokio::test]
async fn a_recorded_404_on_hook_delete_is_not_found() {
    let s = server().await;
    let recording = serve_recorded(&s, HOOK_NOT_FOUND, HOOK_NOT_FOUND_HEADERS).await;
    assert_eq!(
        (recording.status, recording.method.as_str()),
        (404, "DELETE")
    );
    let api = api(&s);
    let bad: HookUuid = "4742f011-8397-aa77-8876-5e9a06f10f98".parse().unwrap();
    let err = api
        .hooks("ThiagoCodecov/example-python")
        .unwrap()
        .delete(&bad)
        .await
        .unwrap_err();
    // Bitbucket's message names the repository, not the hook; it is passed on verbatim.
    match &err {
        ApiError::NotFound { message } => {
            assert_eq!(message, "example-python is not a valid hook");
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "not found: example-python is not a valid hook"
    );
    // Through the sync engine's view: NotFound, which untrack and reconcile take as "already
    // gone".
    let remote = BitbucketRepos::new(api)
        .delete_hook("ThiagoCodecov/example-python", &bad)
        .await
        .unwrap_err();
    assert_eq!(remote.kind, RemoteErrorKind::NotFound);
}

// ---------------------------------------------------------------------------------------------
// Error envelopes

/// POSTs `{}` to `/2.0/{segments}`, answered by `answer`.
async fn post_answered(segments: &[&str], answer: ResponseTemplate) -> ApiError {
    let s = server().await;
    let at = format!("/2.0/{}", segments.join("/"));
    Mock::given(method("POST"))
        .and(path(at.as_str()))
        .respond_with(answer)
        .mount(&s)
        .await;
    let api = api(&s);
    api.send_json::<Value>(reqwest::Method::POST, api.url(segments), &json!({}))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn missing_scopes_keep_bitbucket_s_words() {
    // Weblate's mock left the status at 200; Bitbucket answers this body with 403.
    let err = post_answered(
        &["repositories", "WeblateOrg", "test", "pullrequests"],
        json_answer(403, MISSING_SCOPES),
    )
    .await;
    match &err {
        ApiError::MissingScopes { required, granted } => {
            // Old-style words, verbatim.
            assert_eq!(required, &["pullrequest:write"]);
            assert_eq!(granted, &["pullrequest"]);
        }
        other => panic!("expected MissingScopes, got {other:?}"),
    }
    assert_eq!(err.missing_boxes(), ["Pull requests: Write"]);
    assert_eq!(
        err.to_string(),
        "the credentials lack scopes Bitbucket requires: required pullrequest:write; granted pullrequest (consumer permissions to tick: Pull requests: Write)"
    );
    assert_eq!(RemoteError::from(err).kind, RemoteErrorKind::MissingScopes);
}

#[tokio::test]
async fn a_field_validation_error_is_a_bad_request() {
    // `error.fields` (field → messages) is not read: the message already says the same.
    let err = post_answered(
        &["repositories", "WeblateOrg", "weblate", "forks"],
        json_answer(400, FIELD_VALIDATION),
    )
    .await;
    match &err {
        ApiError::BadRequest { message } => {
            assert_eq!(
                message,
                "name: weblate already has a repository with this name."
            );
        }
        other => panic!("expected BadRequest, got {other:?}"),
    }
}

/// Records the deprecations the client reports.
#[derive(Debug, Default)]
struct Deprecations(Mutex<Vec<String>>);

#[async_trait]
impl DeprecationObserver for Deprecations {
    async fn deprecation_seen(&self, change: &str, _announcement: Option<&str>) {
        self.0.lock().unwrap().push(change.to_owned());
    }
}

#[tokio::test]
async fn the_1_0_api_removal_is_retired_without_a_change_reference() {
    let s = server().await;
    let at = "/1.0/repositories/sshaw/export-pull-requests/pullrequests";
    serve_get(&s, at, json_answer(410, V1_REMOVED)).await;
    let deprecations = Arc::new(Deprecations::default());
    let mut config = ApiConfig::new(ServiceUrl::parse("API URL", &s.uri()).unwrap());
    config.retry = RetryPolicy::new(1, Duration::ZERO, Duration::ZERO, Duration::ZERO);
    config.deprecations = Some(deprecations.clone());
    let api = api_with(config);
    let url = url::Url::parse(&format!("{}{at}", s.uri())).unwrap();
    let err = api.get_json::<Value>(url).await.unwrap_err();
    match &err {
        ApiError::Retired {
            message,
            change,
            announcement,
        } => {
            assert_eq!(message, "Resource removed");
            // The 2019 removal of API 1.0 names no CHANGE-NNNN, and its notice's address is
            // in the text of `detail` (a string, with `\n\n`), not in `data.announcement_url`:
            // it is found there.
            assert_eq!(*change, None);
            assert_eq!(
                announcement.as_deref(),
                Some("https://developer.atlassian.com/cloud/bitbucket/deprecation-notice-v1-apis/")
            );
        }
        other => panic!("expected Retired, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "Bitbucket retired this endpoint: Resource removed; see https://developer.atlassian.com/cloud/bitbucket/deprecation-notice-v1-apis/"
    );
    // Only a 410 naming a CHANGE-NNNN is a deprecation to remember.
    assert!(deprecations.0.lock().unwrap().is_empty());
    assert_eq!(RemoteError::from(err).kind, RemoteErrorKind::Retired);
}

// ---------------------------------------------------------------------------------------------
// Token endpoint

const TOKEN_PATH: &str = "/site/oauth2/access_token";

/// Bitbucket's site (OAuth endpoints) and API both on `server`.
fn provider(server: &MockServer) -> Provider {
    let url = ServiceUrl::parse("URL", &server.uri()).unwrap();
    Provider::bitbucket_at(&url, url.clone())
}

fn client(provider: &Provider, purpose: Purpose) -> Client {
    Client::new(
        provider.name.clone(),
        purpose,
        "consumer-key".parse().unwrap(),
        ClientSecret::new("consumer-secret").unwrap(),
        purpose.recommended_scopes(),
    )
}

#[tokio::test]
async fn a_refresh_answer_rotates_the_stored_tokens() {
    let s = server().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=old-refresh-token"))
        .respond_with(json_answer(200, TOKEN_REFRESHED))
        .expect(1)
        .mount(&s)
        .await;
    let provider = provider(&s);
    let store: DynStore = Arc::new(MemoryStore::new());
    let _ = store.create_provider(&provider).await.unwrap();
    let _ = store
        .create_client(&client(&provider, Purpose::Sync))
        .await
        .unwrap();
    let account = AccountInfo {
        uuid: AccountUuid::derived("real-payloads"),
        account_id: None,
        nickname: Some("jdoe".into()),
        display_name: None,
    };
    let expired = TokenSet {
        access_token: AccessToken::new("old-access-token").unwrap(),
        refresh_token: Some(RefreshToken::new("old-refresh-token").unwrap()),
        expires_at: Some(Utc::now() - chrono::Duration::seconds(1)),
        scopes: "repository,webhook".parse().unwrap(),
    };
    let key = store
        .put_token(&provider.name, Purpose::Sync, &account, &expired)
        .await
        .unwrap()
        .key;

    let before = Utc::now();
    let manager = TokenManager::new(
        store.clone(),
        Http::with_defaults(),
        TokenSettings::default(),
    );
    let access = manager.access_token(&key).await.unwrap();
    let after = Utc::now();
    assert_eq!(access.expose_secret(), "9698fa6a8113b3");
    let stored = store.token(&key).await.unwrap().unwrap().tokens;
    assert_eq!(stored.access_token, access);
    assert_eq!(
        stored
            .refresh_token
            .as_ref()
            .map(RefreshToken::expose_secret),
        Some("3a2bfce4cb9b0f"),
        "the rotated refresh token is stored"
    );
    // `expires_in: 7200` from the time of the answer.
    let expires = stored.expires_at.unwrap();
    let lifetime = chrono::Duration::seconds(7200);
    assert!(
        expires >= before + lifetime && expires <= after + lifetime,
        "{expires}"
    );
    // This answer names no `scopes` (nor `scope`): per RFC 6749 §5.1 that means the scope
    // granted before, so the previous `repository webhook` is kept, not emptied.
    assert_eq!(stored.scopes.to_string(), "repository,webhook");
}

#[tokio::test]
async fn token_endpoint_refusals_say_what_to_fix() {
    // (fixture, statuses served, expected error, what it means for a caller). The issue that
    // quoted the "must be authenticated" body gave no status: both OAuth statuses are tried.
    type Check = fn(&OAuthError) -> bool;
    let cases: [(&str, &str, &[u16], Check, AuthErrorKind); 3] = [
        (
            "unauthorized_client (HTTP 400, not 401)",
            TOKEN_UNAUTHORIZED_CLIENT,
            &[400],
            |e| matches!(e, OAuthError::InvalidCredentials),
            AuthErrorKind::Reauthorize,
        ),
        (
            "no callback uri",
            TOKEN_NO_CALLBACK,
            &[400],
            |e| matches!(e, OAuthError::NoCallbackUrl),
            AuthErrorKind::Configuration,
        ),
        (
            "unauthorized_client, not authenticated",
            TOKEN_NOT_AUTHENTICATED,
            &[400, 401],
            |e| matches!(e, OAuthError::NoClientAuthentication),
            AuthErrorKind::Configuration,
        ),
    ];
    for (name, body, statuses, expected, kind) in cases {
        for &status in statuses {
            let s = server().await;
            Mock::given(method("POST"))
                .and(path(TOKEN_PATH))
                .and(body_string_contains("grant_type=authorization_code"))
                .respond_with(json_answer(status, body))
                .mount(&s)
                .await;
            let provider = provider(&s);
            let client = client(&provider, Purpose::Login);
            let home = ServiceUrl::parse("homepage URL", "https://gemnasium.example").unwrap();
            let redirect = CallbackUrl::new(&home, &provider.name)
                .unwrap()
                .redirect_uri(Purpose::Login);
            let pending = begin_authorization(&provider, &client, &redirect, false).unwrap();
            let err = pending
                .exchange(
                    &Http::with_defaults(),
                    &provider,
                    &client,
                    &AuthorizationCode::new("a-code").unwrap(),
                )
                .await
                .unwrap_err();
            assert!(expected(&err), "{name} ({status}): {err:?}");
            assert_eq!(err.auth_kind(), kind, "{name} ({status})");
            assert!(!err.to_string().contains("consumer-secret"), "{err}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Webhook deliveries

const SECRET: &[u8] = b"real-payloads-test-secret";

/// A recorded `*.headers.json` as header lines. A number (`X-Attempt-Number: 1` in the source)
/// becomes its text, as it travels on the wire.
fn recorded_headers(file: &str) -> Vec<(String, String)> {
    let map: Map<String, Value> = serde_json::from_str(file).unwrap();
    map.into_iter()
        .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
        .collect()
}

/// The headers a delivery recorded without its headers needs: its event key and a request id.
fn minimal_headers(event_key: &str, request_uuid: &str) -> Vec<(String, String)> {
    vec![
        ("X-Event-Key".to_owned(), event_key.to_owned()),
        ("X-Request-UUID".to_owned(), request_uuid.to_owned()),
    ]
}

/// `body` received with `headers`, signed (over its exact bytes) as a hook with our secret
/// would have it.
fn deliver(headers: &[(String, String)], body: &str) -> WebhookEvent {
    let signature = sign(SECRET, body.as_bytes());
    let header = |name: &str| {
        if name.eq_ignore_ascii_case("X-Hub-Signature") {
            return Some(signature.as_str());
        }
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    WebhookEvent::from_request(SECRET, header, body.as_bytes()).unwrap()
}

/// The recorded abstruse deliveries' account: a 2017 actor with `username` (no longer read),
/// no `account_id` and no `nickname`.
fn assert_izak(event: &WebhookEvent) {
    let actor = event.actor.as_ref().unwrap();
    assert_eq!(
        actor.uuid.as_ref().map(AccountUuid::as_str),
        Some("{89aa91f6-b254-4f9f-9fd6-ab5fdf729bca}")
    );
    assert_eq!(actor.display_name.as_deref(), Some("Izak"));
    assert_eq!((&actor.account_id, &actor.nickname), (&None, &None));
}

#[tokio::test]
async fn the_first_push_to_a_new_repository() {
    let event = deliver(&recorded_headers(PUSH_CREATED_HEADERS), PUSH_CREATED);
    assert_eq!(event.event_key, "repo:push");
    assert_eq!(
        event.request_uuid.as_str(),
        "{69c56047-577b-46f9-a1dd-9c4e27273bc1}"
    );
    // `X-Hook-UUID` comes bare; it equals the braced uuid the hooks API lists.
    let hook = event.hook_uuid.as_ref().unwrap();
    assert_eq!(hook.bare(), "0302255c-f4f0-4232-916b-bef521fbdd08");
    assert_eq!(
        *hook,
        "{0302255c-f4f0-4232-916b-bef521fbdd08}".parse().unwrap()
    );
    assert_eq!(event.attempt, Some(1));
    assert_izak(&event);
    let EventPayload::Push {
        repository,
        changes,
    } = &event.payload
    else {
        panic!("not a push: {event:?}")
    };
    assert_repository(
        repository,
        "{555997f5-1f4c-4afa-9c63-71e3ee5d725b}",
        "Izak88/test",
        "test",
    );
    assert_eq!(changes.len(), 1);
    let change = &changes[0];
    // A branch created: `"old": null`, `"created": true` (and no parents in its commits).
    assert!(change.created && !change.closed && !change.forced && !change.truncated);
    assert_eq!(change.old, None);
    let new = change.new.as_ref().unwrap();
    assert_eq!((new.kind.as_str(), new.name.as_str()), ("branch", "master"));
    assert_eq!(new.target, "5fe88c29cc81b6c25d82f2b772a6ec77c8b91505");
}

#[tokio::test]
async fn a_repository_update() {
    let event = deliver(&recorded_headers(REPO_UPDATED_HEADERS), REPO_UPDATED);
    assert_eq!(event.event_key, "repo:updated");
    // The test author reused the push's headers: the same `X-Request-UUID`, which a receiver
    // would take for a redelivery of the push. Bitbucket gives each delivery its own.
    assert_eq!(
        event.request_uuid.as_str(),
        "{69c56047-577b-46f9-a1dd-9c4e27273bc1}"
    );
    assert_eq!(event.attempt, Some(1));
    assert_izak(&event);
    // Only the repository is read (a sync re-reads it); `changes.updated_on` is not.
    let EventPayload::RepositoryUpdated { repository } = &event.payload else {
        panic!("not repo:updated: {event:?}")
    };
    assert_repository(
        repository,
        "{555997f5-1f4c-4afa-9c63-71e3ee5d725b}",
        "Izak88/test",
        "test",
    );
}

#[tokio::test]
async fn a_push_deleting_a_branch() {
    let headers = minimal_headers("repo:push", "2f1c5e7a-0000-4000-8000-000000000001");
    let event = deliver(&headers, PUSH_DELETED);
    assert_eq!((&event.hook_uuid, event.attempt), (&None, None));
    // A 2025 actor: `account_id` and `nickname` (here a full name), no `username`.
    let actor = event.actor.as_ref().unwrap();
    assert_eq!(
        actor.uuid.as_ref().map(AccountUuid::as_str),
        Some("{7d3a178a-a087-4756-b2da-2f9eadf50ba8}")
    );
    assert_eq!(
        actor.account_id.as_deref(),
        Some("557058:270a1f96-cd27-4013-ade6-85df2ab9820c")
    );
    assert_eq!(actor.nickname.as_deref(), Some("Nikolas Falco"));
    assert_eq!(actor.display_name.as_deref(), Some("Nikolas Falco"));
    let EventPayload::Push {
        repository,
        changes,
    } = &event.payload
    else {
        panic!("not a push: {event:?}")
    };
    // The repository is known by uuid and `full_name`; its `workspace` object (slug `nfalco79`,
    // not `amuniz`) is not read.
    assert_repository(
        repository,
        "{3deb8c29-778a-450c-8f69-3e50a18079df}",
        "amuniz/test-repos",
        "test-repos",
    );
    assert_eq!(changes.len(), 1);
    let change = &changes[0];
    // A branch deleted: `"new": null`, `"closed": true`, and no `links` or `commits`.
    assert!(change.closed && !change.created && !change.forced && !change.truncated);
    assert_eq!(change.new, None);
    let old = change.old.as_ref().unwrap();
    assert_eq!(
        (old.kind.as_str(), old.name.as_str()),
        ("branch", "feature/test")
    );
    assert_eq!(old.target, "174561d625c9623b60d8aba09b7f08ddc9df45cd");
}

#[tokio::test]
async fn a_pull_request_event_keeps_its_repository() {
    let headers = minimal_headers(
        "pullrequest:created",
        "2f1c5e7a-0000-4000-8000-000000000002",
    );
    let event = deliver(&headers, PULLREQUEST_CREATED);
    assert_eq!(event.event_key, "pullrequest:created");
    let actor = event.actor.as_ref().unwrap();
    assert_eq!(
        actor.uuid.as_ref().map(AccountUuid::as_str),
        Some("{f70f195e-ade1-4961-9f89-547541377b80}")
    );
    assert_eq!(actor.display_name.as_deref(), Some("Stephen Connolly"));
    assert_eq!(actor.nickname, None);
    // Only the repository of other events is read, so the pull request's short 12-character
    // commit hashes cannot be mistaken for full ones.
    let EventPayload::Other {
        repository: Some(repository),
    } = &event.payload
    else {
        panic!("expected another event with a repository: {event:?}")
    };
    assert_repository(
        repository,
        "{708c9715-0ecc-4a5d-87ed-63c4ba48ea06}",
        "cloudbeers/temp",
        "temp",
    );
    assert_eq!(event.repository(), Some(repository));
}

/// The repository a delivery names: its uuid, `full_name` and `name`, as the fixture has them.
fn assert_repository(repository: &RepositoryRef, uuid: &str, full_name: &str, name: &str) {
    assert_eq!(repository.uuid.as_str(), uuid);
    assert_eq!(repository.full_name, full_name);
    assert_eq!(repository.name.as_deref(), Some(name));
}
