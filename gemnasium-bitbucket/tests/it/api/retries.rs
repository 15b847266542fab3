use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use gemnasium_bitbucket::api::{ApiError, PageQuery};
use serde_json::{json, Value};
use wiremock::matchers::{header, path};
use wiremock::{Mock, ResponseTemplate};

use super::support::{client, client_with, config, server};

fn list() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"values": [{"uuid": "{a}"}, {"uuid": "{b}"}]}))
}

fn rate_limited() -> ResponseTemplate {
    // Bitbucket's 429: plain text, no Retry-After.
    ResponseTemplate::new(429).set_body_raw(
        "Rate limit for this resource has been exceeded",
        "text/plain",
    )
}

async fn uuids(api: &gemnasium_bitbucket::api::ApiClient) -> Result<Vec<String>, ApiError> {
    let items: Vec<Value> = api
        .all_pages(api.url(&["things"]), &PageQuery::new(), |v: &Value| {
            v["uuid"].to_string()
        })
        .await?;
    Ok(items
        .iter()
        .map(|v| v["uuid"].as_str().unwrap().to_owned())
        .collect())
}

#[tokio::test]
async fn a_429_storm_and_500s_give_the_same_result_as_a_clean_run() {
    let clean = server().await;
    Mock::given(path("/2.0/things"))
        .respond_with(list())
        .mount(&clean)
        .await;
    let (api, _) = client(&clean);
    let expected = uuids(&api).await.unwrap();

    let stormy = server().await;
    Mock::given(path("/2.0/things"))
        .respond_with(rate_limited())
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&stormy)
        .await;
    Mock::given(path("/2.0/things"))
        .respond_with(ResponseTemplate::new(503).set_body_string("<html>busy</html>"))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&stormy)
        .await;
    Mock::given(path("/2.0/things"))
        .respond_with(list())
        .with_priority(3)
        .mount(&stormy)
        .await;
    let (api, _) = client(&stormy);
    assert_eq!(uuids(&api).await.unwrap(), expected);
    assert_eq!((api.metrics().requests(), api.metrics().retries()), (4, 3));
}

#[tokio::test]
async fn retries_run_out_into_typed_errors() {
    let s = server().await;
    Mock::given(path("/2.0/things"))
        .respond_with(rate_limited())
        .mount(&s)
        .await;
    let (api, _) = client(&s);
    let err = uuids(&api).await.unwrap_err();
    assert!(
        matches!(
            err,
            ApiError::RateLimited {
                attempts: 4,
                resume_after: None
            }
        ),
        "no Retry-After, so no resume time is made up: {err}"
    );
    assert!(
        err.to_string()
            .contains("rate limited by Bitbucket after 4 attempt(s)"),
        "{err}"
    );

    let s = server().await;
    Mock::given(path("/2.0/things"))
        .respond_with(ResponseTemplate::new(502).set_body_string("Bad gateway"))
        .mount(&s)
        .await;
    let (api, _) = client(&s);
    let err = uuids(&api).await.unwrap_err();
    assert!(
        matches!(
            err,
            ApiError::Server {
                status: 502,
                attempts: 4,
                ..
            }
        ),
        "{err}"
    );

    let mut cfg = config(&s);
    cfg.api_url =
        gemnasium_bitbucket::model::ServiceUrl::parse("API URL", "http://127.0.0.1:9").unwrap();
    let (api, _) = client_with(cfg);
    let err = uuids(&api).await.unwrap_err();
    assert!(
        matches!(err, ApiError::Network { attempts: 4, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn retry_after_is_honoured_and_pauses_the_client() {
    let s = server().await;
    Mock::given(path("/2.0/things"))
        .respond_with(rate_limited().insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&s)
        .await;
    Mock::given(path("/2.0/things"))
        .respond_with(list())
        .with_priority(2)
        .mount(&s)
        .await;
    let mut cfg = config(&s);
    cfg.retry.max_delay = Duration::from_secs(5);
    let (api, _) = client_with(cfg);
    let start = Instant::now();
    assert_eq!(uuids(&api).await.unwrap().len(), 2);
    assert!(
        start.elapsed() >= Duration::from_millis(950),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_then_retried() {
    let s = server().await;
    let expired = ResponseTemplate::new(401).set_body_json(json!({"type": "error", "error": {"message": "OAuth2 access token expired. Use your refresh token."}}));
    Mock::given(path("/2.0/things"))
        .and(header("authorization", "Bearer test-access-token-1"))
        .respond_with(expired.clone())
        .mount(&s)
        .await;
    Mock::given(path("/2.0/things"))
        .and(header("authorization", "Bearer test-access-token-2"))
        .respond_with(list())
        .mount(&s)
        .await;
    let (api, auth) = client(&s);
    assert_eq!(uuids(&api).await.unwrap().len(), 2);
    assert_eq!(auth.refreshes.load(Ordering::SeqCst), 1);

    // A token that stays refused after one refresh is an error, not a loop.
    let s = server().await;
    Mock::given(path("/2.0/things"))
        .respond_with(expired)
        .mount(&s)
        .await;
    let (api, auth) = client(&s);
    let err = uuids(&api).await.unwrap_err();
    assert!(matches!(err, ApiError::Unauthorized { .. }), "{err}");
    assert_eq!(auth.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(s.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn the_budget_paces_a_long_run() {
    // Real time with a short window: paused time would let tokio auto-advance past reqwest's
    // timeout while the mock server works on its own thread. (budget.rs tests the arithmetic
    // with paused time.)
    let s = server().await;
    Mock::given(path("/2.0/things"))
        .respond_with(list())
        .mount(&s)
        .await;
    let mut cfg = config(&s);
    cfg.budget = std::sync::Arc::new(gemnasium_bitbucket::api::RequestBudget::new(
        2,
        Duration::from_millis(400),
    ));
    // A budget wait is one wait: it must fit under the cap of one wait to be slept (a longer
    // one fails at once, saying when to resume).
    cfg.retry.max_delay = Duration::from_secs(1);
    let (api, _) = client_with(cfg);
    let start = Instant::now();
    for _ in 0..3 {
        assert_eq!(uuids(&api).await.unwrap().len(), 2);
    }
    assert!(
        start.elapsed() >= Duration::from_millis(390),
        "the third request waited: {:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_budget_wait_longer_than_one_wait_fails_at_once_saying_when_to_resume() {
    let s = server().await;
    Mock::given(path("/2.0/things"))
        .respond_with(list())
        .mount(&s)
        .await;
    let mut cfg = config(&s);
    cfg.budget = std::sync::Arc::new(gemnasium_bitbucket::api::RequestBudget::new(
        1,
        Duration::from_secs(3600),
    ));
    let (api, _) = client_with(cfg);
    assert_eq!(uuids(&api).await.unwrap().len(), 2);
    let start = Instant::now();
    let err = uuids(&api).await.unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    let ApiError::RateLimited {
        attempts: 0,
        resume_after: Some(resume_after),
    } = err
    else {
        panic!("expected RateLimited before any attempt, got {err:?}");
    };
    let ahead = (resume_after - chrono::Utc::now()).num_seconds();
    assert!((3590..=3600).contains(&ahead), "{ahead}");
    assert_eq!(
        s.received_requests().await.unwrap().len(),
        1,
        "no request sent over budget"
    );
}
