use std::time::Duration;

use gemnasium_bitbucket::model::{Purpose, ServiceUrl};
use gemnasium_bitbucket::oauth::{verify_consumer, Check};
use gemnasium_bitbucket::testing::MockConsumer;

use super::support::{http, World, KEY, SECRET};

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
        (&v.credentials, &v.callback, &v.private),
        (&Check::Yes, &Check::Yes, &Check::No)
    );
    assert_eq!(v.granted, None);
    assert!(!v.has_problems());
    assert!(v.passed(), "{v:?}");
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
    assert_eq!(v.credentials, Check::No);
    assert!(v.has_problems());
    assert!(!v.passed());
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
    assert_eq!((&v.credentials, &v.private), (&Check::Yes, &Check::Yes));
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
    assert_eq!((&v.credentials, &v.callback), (&Check::Yes, &Check::No));
    assert!(v.has_problems());
}

#[tokio::test]
async fn unreachable_host_is_reported_not_raised() {
    let w = World::new().await;
    let mut provider = w.provider.clone();
    provider.token_url =
        ServiceUrl::parse("token URL", "http://127.0.0.1:9/site/oauth2/access_token").unwrap();
    let v = verify_consumer(
        &http(Duration::from_millis(500)),
        &provider,
        &w.client(Purpose::Login),
        &w.redirect(Purpose::Login),
    )
    .await;
    assert!(v.unreachable.is_some());
    assert!(!v.credentials.is_known(), "{v:?}");
    assert!(!v.passed());
}
