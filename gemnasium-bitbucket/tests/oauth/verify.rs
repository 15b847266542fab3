use std::time::Duration;

use gemnasium_bitbucket::model::{Purpose, ServiceUrl};
use gemnasium_bitbucket::oauth::{http_client, verify_consumer, Verdict};
use gemnasium_bitbucket::testing::MockConsumer;

use crate::support::{World, KEY, SECRET};

#[tokio::test]
async fn good_public_consumer() {
    let w = World::new().await;
    let v = verify_consumer(
        &w.http,
        &w.provider,
        &w.client(Purpose::Sync),
        &w.redirect(Purpose::Sync),
    )
    .await;
    assert_eq!(
        (v.credentials_valid, v.callback_set, v.private),
        (Verdict::Yes, Verdict::Yes, Verdict::No)
    );
    assert_eq!(v.granted, None);
    assert!(!v.has_problems());
    assert_eq!(w.bitbucket.api_requests(), 0, "no user, no API call");
}

#[tokio::test]
async fn wrong_credentials() {
    let w = World::new().await;
    let v = verify_consumer(
        &w.http,
        &w.provider,
        &w.client_with(Purpose::Sync, KEY, "nope"),
        &w.redirect(Purpose::Sync),
    )
    .await;
    assert_eq!(v.credentials_valid, Verdict::No);
    assert!(v.has_problems());
    assert_eq!(
        w.bitbucket.token_requests("client_credentials"),
        0,
        "no point trying further"
    );
}

#[tokio::test]
async fn private_consumer_reports_granted_and_missing_scopes() {
    let w = World::with_consumer(
        MockConsumer::new(KEY, SECRET)
            .private()
            .with_scopes("repository,account"),
    )
    .await;
    let v = verify_consumer(
        &w.http,
        &w.provider,
        &w.client(Purpose::Sync),
        &w.redirect(Purpose::Sync),
    )
    .await;
    assert_eq!(
        (v.credentials_valid, v.private),
        (Verdict::Yes, Verdict::Yes)
    );
    assert!(v.has_problems());
    assert_eq!(v.granted.unwrap().to_string(), "account,repository");
    assert_eq!(v.missing.unwrap().to_string(), "webhook");
}

#[tokio::test]
async fn consumer_without_callback() {
    let w = World::with_consumer(MockConsumer::new(KEY, SECRET).without_callback()).await;
    let v = verify_consumer(
        &w.http,
        &w.provider,
        &w.client(Purpose::Login),
        &w.redirect(Purpose::Login),
    )
    .await;
    assert_eq!(
        (v.credentials_valid, v.callback_set),
        (Verdict::Yes, Verdict::No)
    );
    assert!(v.has_problems());
}

#[tokio::test]
async fn unreachable_host_is_reported_not_raised() {
    let w = World::new().await;
    let mut provider = w.provider.clone();
    provider.token_url =
        ServiceUrl::parse("token URL", "http://127.0.0.1:9/site/oauth2/access_token").unwrap();
    let http = http_client(Duration::from_millis(500));
    let v = verify_consumer(
        &http,
        &provider,
        &w.client(Purpose::Login),
        &w.redirect(Purpose::Login),
    )
    .await;
    assert!(v.unreachable.is_some());
    assert_eq!(v.credentials_valid, Verdict::Unknown);
}
