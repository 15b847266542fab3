//! Regression tests for what probing Bitbucket Cloud (and reviews of our handling of it) found,
//! with the exact payloads Bitbucket sent. Each test fails if its behaviour regresses.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gemnasium_bitbucket::api::{
    ApiClient, ApiConfig, ApiError, Http, Rejection, RetryPolicy, StaticToken,
};
use gemnasium_bitbucket::doctor::{Finding, Problem, Status, Subject};
use gemnasium_bitbucket::model::{
    AccessToken, AccountInfo, AccountUuid, ClientSecret, Purpose, RefreshToken, Scope, ScopeSet,
    ServiceUrl, TokenKey, TokenSet,
};
use gemnasium_bitbucket::oauth::{Check, OAuthError, PendingAuthorization};
use gemnasium_bitbucket::provision::Configuration;
use gemnasium_bitbucket::service::{Credential, DoctorOptions, SignedIn, SyncOptions};
use gemnasium_bitbucket::store::MemoryStore;
use gemnasium_bitbucket::sync::{CrawlError, Quiet, RemoteErrorKind};
use gemnasium_bitbucket::testing::{MockBitbucket, MockConsumer, MockUser, Quirks};
use gemnasium_bitbucket::{Bitbucket, Error};
use serde_json::json;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "findings-key";
const SECRET: &str = "findings-secret";
/// `MockConsumer`'s registered callback is `{HOMEPAGE}/auth/auth/bitbucket.org`.
const HOMEPAGE: &str = "http://127.0.0.1";
const TOKEN_PATH: &str = "/site/oauth2/access_token";

/// A Bitbucket with jane and the consumer, and a handle whose store holds the documented set-up
/// with `recorded_secret` as the consumer's secret.
struct Site {
    mock: MockBitbucket,
    jane: AccountUuid,
    bitbucket: Bitbucket,
}

async fn open_site(recorded_secret: &str) -> Site {
    let mock = MockBitbucket::start().await;
    mock.add_consumer(MockConsumer::new(KEY, SECRET));
    let jane = mock.add_user(MockUser::new("jdoe").with_email("jane@example.com", true, true));
    mock.add_workspace("acme", &[&jane]);
    let bitbucket = Bitbucket::builder(Arc::new(MemoryStore::new()))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let homepage = ServiceUrl::parse("homepage URL", HOMEPAGE).unwrap();
    let config = Configuration::bitbucket_cloud(
        KEY.parse().unwrap(),
        ClientSecret::new(recorded_secret).unwrap(),
    )
    .with_provider(mock.provider().with_homepage(homepage).unwrap());
    let _ = bitbucket.apply(&config).await.unwrap();
    Site {
        mock,
        jane,
        bitbucket,
    }
}

impl Site {
    fn source(&self) -> gemnasium_bitbucket::model::ProviderName {
        "bitbucket.org".parse().unwrap()
    }

    /// Starts a sign-in and has jane grant it: the pending authorization and the callback URL.
    async fn authorized(&self, purpose: Purpose) -> (PendingAuthorization, String) {
        let pending = self
            .bitbucket
            .begin_login(&self.source(), purpose)
            .await
            .unwrap();
        let callback = self.mock.authorize(
            KEY,
            &self.jane,
            &pending.redirect_uri().to_string(),
            pending.state().expose_secret(),
        );
        (pending, callback)
    }

    async fn sign_in(&self, purpose: Purpose) -> Result<SignedIn, Error> {
        let (pending, callback) = self.authorized(purpose).await;
        self.bitbucket.complete_login(&pending, &callback).await
    }

    /// Stores a sync token for jane whose access token the mock does not know (so Bitbucket
    /// answers the ambiguous "invalid, expired, or not supported"), with a live refresh token,
    /// expiring at `expires_at`.
    async fn store_unknown_access_token(
        &self,
        expires_at: chrono::DateTime<chrono::Utc>,
    ) -> TokenKey {
        let (_, refresh) = self.mock.issue_tokens(KEY, &self.jane);
        let tokens = TokenSet {
            access_token: AccessToken::new("revoked-or-wrong-kind-of-token").unwrap(),
            refresh_token: Some(RefreshToken::new(refresh).unwrap()),
            expires_at: Some(expires_at),
            scopes: Purpose::Sync.recommended_scopes(),
        };
        let account = AccountInfo {
            uuid: self.jane.clone(),
            account_id: None,
            nickname: Some("jdoe".into()),
            display_name: None,
        };
        self.bitbucket
            .store()
            .put_token(&self.source(), Purpose::Sync, &account, &tokens)
            .await
            .unwrap()
            .key
    }
}

/// A REST client for `server` with a fixed token and `retry`.
fn api(server: &MockServer, retry: RetryPolicy) -> ApiClient {
    let mut config = ApiConfig::new(ServiceUrl::parse("API URL", &server.uri()).unwrap());
    config.retry = retry;
    ApiClient::new(
        Http::with_defaults(),
        config,
        Arc::new(StaticToken(AccessToken::new("tok").unwrap())),
    )
}

// (a) A 403 at /2.0/user naming API-token scopes: the words are kept verbatim and shown.
#[tokio::test]
async fn a_403_naming_scopes_keeps_the_words_bitbucket_sent() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/2.0/user"))
        .respond_with(ResponseTemplate::new(403).set_body_raw(
            r#"{"type":"error","error":{"message":"Your credentials lack one or more required privilege scopes.","detail":{"required":["read:user:bitbucket"],"granted":["read:repository:bitbucket"]}}}"#,
            "application/json",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let err = api(&server, RetryPolicy::default())
        .user()
        .get()
        .await
        .unwrap_err();
    match &err {
        ApiError::MissingScopes { required, granted } => {
            assert_eq!(required, &["read:user:bitbucket"]);
            assert_eq!(granted, &["read:repository:bitbucket"]);
        }
        other => panic!("expected MissingScopes, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("read:user:bitbucket") && text.contains("read:repository:bitbucket"),
        "{text}"
    );
    assert!(
        err.missing_boxes().is_empty(),
        "API-token scopes are no consumer checkbox"
    );
}

// (b) A token response granting a removed scope keeps every word, the unknown one included.
#[tokio::test]
async fn a_token_response_with_an_unknown_scope_keeps_all_five_words() {
    const GRANTED: &str = "project:write pullrequest account repository:write webhook";
    for key in ["scopes", "scope"] {
        let site = open_site(SECRET).await;
        // A real access token for jane, answered with Bitbucket's exact scope string.
        let (access, refresh) = site.mock.issue_tokens(KEY, &site.jane);
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .and(body_string_contains("grant_type=authorization_code"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": access, "refresh_token": refresh, "expires_in": 7200,
                "token_type": "bearer", "state": "authorization_code", key: GRANTED,
            })))
            .with_priority(1)
            .expect(1)
            .mount(site.mock.server())
            .await;
        let signed_in = site.sign_in(Purpose::Login).await.unwrap();
        let stored = site.bitbucket.tokens(None).await.unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].tokens, signed_in.token.tokens);
        let scopes: &ScopeSet = &stored[0].tokens.scopes;
        let known: Vec<Scope> = scopes.iter().collect();
        assert_eq!(
            known,
            [
                Scope::Account,
                Scope::PullRequest,
                Scope::RepositoryWrite,
                Scope::Webhook
            ],
            "{key}"
        );
        assert_eq!(
            scopes.unknown().collect::<Vec<_>>(),
            ["project:write"],
            "{key}"
        );
        let mut words: Vec<&str> = GRANTED.split(' ').collect();
        words.sort_unstable();
        let shown = scopes.to_space_separated();
        let mut kept: Vec<&str> = shown.split(' ').collect();
        kept.sort_unstable();
        assert_eq!(kept, words, "{key}");
    }
}

// (c) "Token is invalid, expired, or not supported for this endpoint." is ambiguous: it spends
// a (rotating) refresh token only when the stored token is at or near its expiry.
#[tokio::test]
async fn an_ambiguous_401_spends_no_refresh_unless_the_token_is_near_expiry() {
    let site = open_site(SECRET).await;
    let key = site
        .store_unknown_access_token(chrono::Utc::now() + chrono::Duration::hours(2))
        .await;
    let before = site.bitbucket.store().token(&key).await.unwrap().unwrap();
    let syncer = site
        .bitbucket
        .syncer(&site.source(), Credential::Account(site.jane.clone()))
        .await
        .unwrap();
    let err = syncer.api().user().get().await.unwrap_err();
    assert!(
        matches!(
            &err,
            ApiError::Unauthorized {
                rejection: Rejection::Ambiguous,
                message,
            } if message == "Token is invalid, expired, or not supported for this endpoint."
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("not near its expiry"), "{err}");
    // A whole sync stops the same way, still without spending the refresh token.
    let sync = syncer.sync(&SyncOptions::new(), &Quiet).await.unwrap_err();
    assert!(
        matches!(&sync, Error::Crawl(CrawlError::Workspaces(e)) if e.kind == RemoteErrorKind::Unauthorized),
        "{sync:?}"
    );
    assert_eq!(site.mock.token_requests("refresh_token"), 0);
    assert_eq!(site.mock.successful_refreshes(), 0);
    let after = site.bitbucket.store().token(&key).await.unwrap().unwrap();
    assert_eq!(after, before, "the stored token is left as it was");

    // Near expiry: when Bitbucket's answer arrives (after a second of latency), the token is
    // within the refresh margin, so the 401 is taken as "expired": one refresh, one retry.
    let site = open_site(SECRET).await;
    let margin = chrono::Duration::minutes(5);
    site.store_unknown_access_token(chrono::Utc::now() + margin + chrono::Duration::seconds(1))
        .await;
    site.mock.set_quirks(Quirks {
        latency: Duration::from_millis(2000),
        ..Quirks::default()
    });
    let syncer = site
        .bitbucket
        .syncer(&site.source(), Credential::Account(site.jane.clone()))
        .await
        .unwrap();
    let workspaces = syncer.api().workspaces().mine().await.unwrap();
    assert_eq!(workspaces.len(), 1);
    assert_eq!(site.mock.successful_refreshes(), 1);
    assert_eq!(site.mock.token_requests("refresh_token"), 1);
    assert_eq!(
        site.mock.api_requests(),
        2,
        "refused with the stored token, then answered with the refreshed one"
    );
}

/// The consumer findings of `doctor`.
fn consumer_findings(findings: Vec<Finding>) -> Vec<Finding> {
    findings
        .into_iter()
        .filter(|f| matches!(f.subject, Subject::Consumer { .. }))
        .collect()
}

// (d) A token endpoint that gives no OAuth answer proves nothing: verification is not passed,
// and doctor fails the consumer. A wrong secret is a clear "no".
#[tokio::test]
async fn verification_passes_only_on_a_clear_answer() {
    let html = "<html><body><h1>Bitbucket is down for maintenance</h1></body></html>";
    let unclear = [
        ("500 HTML", ResponseTemplate::new(500).set_body_raw(html, "text/html")),
        (
            "200 with an error body",
            ResponseTemplate::new(200).set_body_json(
                json!({"error": "invalid_grant", "error_description": "The authorization code is invalid or has expired."}),
            ),
        ),
        ("200 empty", ResponseTemplate::new(200)),
        ("200 HTML", ResponseTemplate::new(200).set_body_raw(html, "text/html")),
        ("400 HTML", ResponseTemplate::new(400).set_body_raw(html, "text/html")),
    ];
    for (what, answer) in unclear {
        let site = open_site(SECRET).await;
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(answer)
            .with_priority(1)
            .mount(site.mock.server())
            .await;
        let v = site
            .bitbucket
            .verify(&site.source(), Purpose::Login)
            .await
            .unwrap();
        assert!(
            matches!(&v.credentials, Check::Unknown(reason) if !reason.is_empty()),
            "{what}: {v:?}"
        );
        assert!(!v.passed(), "{what}: {v:?}");
        let findings =
            consumer_findings(site.bitbucket.doctor(&DoctorOptions::new()).await.unwrap());
        assert_eq!(findings.len(), 2, "{what}: one per client: {findings:?}");
        for f in &findings {
            assert_eq!(f.status, Status::Fail, "{what}: {f:?}");
            assert_eq!(f.problem, Some(Problem::ConsumerUnknown), "{what}: {f:?}");
        }
    }

    let wrong = open_site("not-the-secret").await;
    let v = wrong
        .bitbucket
        .verify(&wrong.source(), Purpose::Login)
        .await
        .unwrap();
    assert_eq!(v.credentials, Check::No, "{v:?}");
    let findings = consumer_findings(wrong.bitbucket.doctor(&DoctorOptions::new()).await.unwrap());
    assert!(
        findings.iter().all(|f| f.status == Status::Fail
            && matches!(f.problem, Some(Problem::ConsumerRefused { .. }))),
        "{findings:?}"
    );

    // And the same checks pass a consumer Bitbucket clearly accepts.
    let good = open_site(SECRET).await;
    let v = good
        .bitbucket
        .verify(&good.source(), Purpose::Login)
        .await
        .unwrap();
    assert!(v.passed(), "{v:?}");
    let findings = consumer_findings(good.bitbucket.doctor(&DoctorOptions::new()).await.unwrap());
    assert!(
        findings.iter().all(|f| f.status == Status::Pass),
        "{findings:?}"
    );
}

// (e) A Retry-After far in the future is not slept: the call fails at once, saying when to
// resume. Endless 5xx stop within the policy's total wait.
#[tokio::test]
async fn long_retry_after_fails_at_once_and_endless_5xx_stop_in_bounded_time() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/2.0/user"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "999999")
                .set_body_raw(
                    "Rate limit for this resource has been exceeded",
                    "text/plain",
                ),
        )
        .expect(1)
        .mount(&server)
        .await;
    let started = Instant::now();
    let err = api(&server, RetryPolicy::default())
        .user()
        .get()
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let ApiError::RateLimited {
        attempts: 1,
        resume_after: Some(resume_after),
    } = err
    else {
        panic!("expected RateLimited after one attempt, got {err:?}");
    };
    let ahead = (resume_after - chrono::Utc::now()).num_seconds();
    assert!((999_999 - 60..=999_999).contains(&ahead), "{ahead}");

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/2.0/user"))
        .respond_with(ResponseTemplate::new(503).set_body_raw("<html>busy</html>", "text/html"))
        .mount(&server)
        .await;
    let policy = RetryPolicy::new(
        1_000,
        Duration::from_millis(200),
        Duration::from_secs(1),
        Duration::from_secs(2),
    );
    let started = Instant::now();
    let err = api(&server, policy).user().get().await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert!(
        matches!(err, ApiError::Server { status: 503, attempts, .. } if attempts > 1),
        "{err:?}"
    );
    let requests = server.received_requests().await.unwrap().len();
    assert!(requests > 1, "503s are retried ({requests} requests)");
}

// (f) A token endpoint answering more than 1 MiB is refused, not buffered.
#[tokio::test]
async fn an_oversized_token_response_is_refused() {
    let site = open_site(SECRET).await;
    let huge = format!(r#"{{"access_token":"{}"}}"#, "a".repeat(2 * 1024 * 1024));
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_raw(huge, "application/json"))
        .with_priority(1)
        .mount(site.mock.server())
        .await;
    let err = site.sign_in(Purpose::Login).await.unwrap_err();
    assert!(
        matches!(&err, Error::OAuth(OAuthError::TokenResponse { excerpt }) if excerpt.contains("larger than 1048576 bytes")),
        "{err:?}"
    );
    assert!(site.bitbucket.tokens(None).await.unwrap().is_empty());

    // The same without a Content-Length: a body that never ends is cut off at the limit, long
    // before the request timeout.
    let endless = endless_token_endpoint().await;
    let site = open_site(SECRET).await;
    let mut provider = site.mock.provider();
    provider.token_url = ServiceUrl::parse("token URL", &endless).unwrap();
    let (pending, callback) = site.authorized(Purpose::Login).await;
    let bitbucket = Bitbucket::builder(Arc::new(MemoryStore::new()))
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let config =
        Configuration::bitbucket_cloud(KEY.parse().unwrap(), ClientSecret::new(SECRET).unwrap())
            .with_provider(
                provider
                    .with_homepage(ServiceUrl::parse("homepage URL", HOMEPAGE).unwrap())
                    .unwrap(),
            );
    let _ = bitbucket.apply(&config).await.unwrap();
    let started = Instant::now();
    let err = bitbucket
        .complete_login(&pending, &callback)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(&err, Error::OAuth(OAuthError::TokenResponse { excerpt }) if excerpt.contains("larger than 1048576 bytes")),
        "{err:?}"
    );
}

/// A token endpoint (one connection) that answers 200 with a chunked body that goes on for
/// 32 MiB and then stalls; returns its URL.
async fn endless_token_endpoint() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}{TOKEN_PATH}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        let head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
        let chunk = format!("10000\r\n{}\r\n", "a".repeat(0x10000));
        let mut sent = socket.write_all(head).await.is_ok()
            && socket
                .write_all(b"11\r\n{\"access_token\":\"\r\n")
                .await
                .is_ok();
        for _ in 0..512 {
            sent = sent && socket.write_all(chunk.as_bytes()).await.is_ok();
        }
        // A client that keeps reading past the limit waits here until its timeout.
        tokio::time::sleep(Duration::from_secs(15)).await;
    });
    url
}

// (g) A callback that is not this sign-in's redirect URI never reaches the token endpoint.
#[tokio::test]
async fn a_callback_on_another_url_is_refused_before_any_exchange() {
    let site = open_site(SECRET).await;
    let (pending, callback) = site.authorized(Purpose::Login).await;
    let expected = pending.redirect_uri().to_string();
    assert_eq!(
        expected,
        "http://127.0.0.1/auth/auth/bitbucket.org/login/callback"
    );
    let query = url::Url::parse(&callback)
        .unwrap()
        .query()
        .unwrap()
        .to_owned();
    for elsewhere in [
        "http://localhost/auth/auth/bitbucket.org/login/callback",
        "http://127.0.0.1:8080/auth/auth/bitbucket.org/login/callback",
        "https://127.0.0.1/auth/auth/bitbucket.org/login/callback",
        "http://127.0.0.1/auth/auth/bitbucket.org/sync/callback",
        "http://127.0.0.1/auth/auth/bitbucket.org/login/callback/evil",
        "http://evil@127.0.0.1/auth/auth/bitbucket.org/login/callback",
    ] {
        let err = site
            .bitbucket
            .complete_login(&pending, &format!("{elsewhere}?{query}"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::OAuth(OAuthError::WrongRedirect { expected: e }) if *e == expected),
            "{elsewhere}: {err:?}"
        );
    }
    assert_eq!(site.mock.token_requests("authorization_code"), 0);
    assert!(site.bitbucket.tokens(None).await.unwrap().is_empty());
    // The genuine callback, with the same code, still works: nothing was spent.
    let signed_in = site
        .bitbucket
        .complete_login(&pending, &callback)
        .await
        .unwrap();
    assert_eq!(signed_in.identity.uuid, site.jane);
    assert_eq!(site.mock.token_requests("authorization_code"), 1);
}
