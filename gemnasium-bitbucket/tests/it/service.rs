//! A service's whole flow through the `Bitbucket` handle only: record the set-up, sign a user
//! in, track a repository, sync its webhook, receive a signed delivery. `MockBitbucket` plays
//! Bitbucket; the store is a `MemoryStore`.

use std::sync::Arc;

use gemnasium_bitbucket::model::{
    AccountUuid, ClientSecret, HookEvents, ProviderName, Purpose, RepoUuid, ServiceUrl,
};
use gemnasium_bitbucket::oauth::PendingAuthorization;
use gemnasium_bitbucket::provision::Configuration;
use gemnasium_bitbucket::service::{Credential, SyncOptions};
use gemnasium_bitbucket::store::{DynStore, MemoryStore};
use gemnasium_bitbucket::sync::{sign, EventPayload, Quiet};
use gemnasium_bitbucket::testing::{MockBitbucket, MockConsumer, MockUser};
use gemnasium_bitbucket::Bitbucket;
use serde_json::Value;

const KEY: &str = "service-consumer-key";
const SECRET: &str = "service-consumer-secret";
/// Gemnasium's homepage: `MockConsumer`'s registered callback is `{this}/auth/auth/bitbucket.org`.
const HOMEPAGE: &str = "http://127.0.0.1";
const HOOKS_URL: &str = "https://gemnasium.example/hooks/bitbucket";
/// A real `repo:push` delivery (see `tests/fixtures/real/SOURCES.md`) and its headers.
const PUSH: &str = include_str!("../fixtures/real/push_branch_created_abstruse.json");
const PUSH_HEADERS: &str =
    include_str!("../fixtures/real/push_branch_created_abstruse.headers.json");
/// The fixture's `X-Request-UUID`.
const REQUEST_UUID: &str = "69c56047-577b-46f9-a1dd-9c4e27273bc1";

/// Bitbucket with one consumer, jane, and her workspace `acme` holding `widget` (she is admin).
async fn bitbucket_with_jane() -> (MockBitbucket, AccountUuid) {
    let mock = MockBitbucket::start().await;
    mock.add_consumer(MockConsumer::new(KEY, SECRET));
    let jane = mock.add_user(MockUser::new("jdoe").with_email("jane@example.com", true, true));
    mock.add_workspace("acme", &[&jane]);
    let _ = mock.add_repository("acme", "widget", &[&jane]);
    (mock, jane)
}

/// The browser's round trip: Bitbucket's consent page redirects to our callback with a code.
async fn consent(
    mock: &MockBitbucket,
    jane: &AccountUuid,
    pending: &PendingAuthorization,
) -> String {
    mock.sign_in_as(Some(jane));
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = browser.get(pending.url().clone()).send().await.unwrap();
    assert_eq!(answer.status(), 302, "{:?}", answer.text().await);
    answer.headers()["location"].to_str().unwrap().to_owned()
}

/// The real push payload, moved to repository `uuid`/`full_name`.
fn push_about(uuid: &RepoUuid, full_name: &str) -> Vec<u8> {
    let mut payload: Value = serde_json::from_str(PUSH).unwrap();
    payload["repository"]["uuid"] = uuid.as_str().into();
    payload["repository"]["full_name"] = full_name.into();
    serde_json::to_vec(&payload).unwrap()
}

/// The real delivery headers, with `X-Hook-UUID` set to `hook` (bare, as Bitbucket sends it)
/// and `X-Hub-Signature` to `signature`, if any.
fn delivery_headers(hook: &str, signature: Option<String>) -> Vec<(String, String)> {
    let recorded: serde_json::Map<String, Value> = serde_json::from_str(PUSH_HEADERS).unwrap();
    let mut headers: Vec<(String, String)> = recorded
        .into_iter()
        .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
        .filter(|(k, _)| k != "X-Hook-UUID")
        .collect();
    headers.push(("X-Hook-UUID".into(), hook.into()));
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

/// The documented set-up for the mock's consumer, with Gemnasium's homepage recorded (the
/// redirect URIs derive from it).
fn configuration(mock: &MockBitbucket) -> Configuration {
    let homepage = ServiceUrl::parse("homepage URL", HOMEPAGE).unwrap();
    let provider = mock.provider().with_homepage(homepage).unwrap();
    Configuration::bitbucket_cloud(KEY.parse().unwrap(), ClientSecret::new(SECRET).unwrap())
        .with_provider(provider)
}

/// Asserts that `acme/widget` holds exactly one hook, ours, with a secret; returns its uuid.
fn one_hook_of_ours(mock: &MockBitbucket) -> String {
    let hooks = mock.hooks("acme/widget");
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert_eq!(hooks[0]["url"].as_str(), Some(HOOKS_URL), "{hooks:?}");
    assert_eq!(hooks[0]["secret_set"].as_bool(), Some(true), "{hooks:?}");
    hooks[0]["uuid"].as_str().unwrap().to_owned()
}

/// `body` with another commit pushed.
fn tampered(body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(body.to_vec()).unwrap();
    let forged = text.replacen("5fe88c29cc", "0000000000", 1);
    assert_ne!(forged, text);
    forged.into_bytes()
}

#[tokio::test]
async fn a_service_signs_in_tracks_syncs_its_webhook_and_receives_a_signed_delivery() {
    let (mock, jane) = bitbucket_with_jane().await;
    let store: DynStore = Arc::new(MemoryStore::new());
    let bitbucket = Bitbucket::builder(store).build().unwrap();
    let source: ProviderName = "bitbucket.org".parse().unwrap();
    bitbucket.apply(&configuration(&mock)).await.unwrap();

    // Jane authorizes the sync client in her browser.
    let pending = bitbucket.begin_login(&source, Purpose::Sync).await.unwrap();
    let callback = consent(&mock, &jane, &pending).await;
    let signed_in = bitbucket.complete_login(&pending, &callback).await.unwrap();
    assert_eq!(signed_in.identity.uuid, jane);

    // List her repositories, track one, then sync again with webhooks.
    let credential = Credential::Account(jane);
    let syncer = bitbucket.syncer(&source, credential).await.unwrap();
    let listed = syncer.sync(&SyncOptions::new(), &Quiet).await.unwrap();
    assert_eq!(listed.crawl.repositories, 1);
    let widget = ["acme/widget".to_owned()];
    bitbucket.track(&source, &widget).await.unwrap();
    let hooks_url = ServiceUrl::parse("hooks URL", HOOKS_URL).unwrap();
    let with_hooks = SyncOptions::new().hooks(hooks_url, HookEvents::push());
    let synced = syncer.sync(&with_hooks, &Quiet).await.unwrap();
    assert!(synced.complete(), "{synced:?}");
    assert_eq!(synced.hooks.map(|h| h.created), Some(1));
    let ours = one_hook_of_ours(&mock);

    // Bitbucket delivers a push, signed with the secret the sync recorded.
    let tracked = bitbucket.store().tracked(&source).await.unwrap().remove(0);
    let hook = tracked.hook.expect("the sync recorded our hook");
    assert_eq!(hook.uuid.as_str(), ours);
    let body = push_about(&tracked.uuid, &tracked.full_name);
    let signature = sign(hook.secret.expose_secret().as_bytes(), &body);
    let signed = delivery_headers(hook.uuid.bare(), Some(signature));
    let delivery = bitbucket.receive_webhook(lookup(&signed), &body).await;
    let delivery = delivery.unwrap();
    assert_eq!(delivery.event.event_key, "repo:push");
    assert_eq!(delivery.repository.full_name, "acme/widget");
    assert_eq!(delivery.event.hook_uuid, Some(hook.uuid.clone()));
    assert_eq!(delivery.event.request_uuid.bare(), REQUEST_UUID);
    let EventPayload::Push { changes, .. } = &delivery.event.payload else {
        panic!("not a push: {delivery:?}");
    };
    assert_eq!(changes.len(), 1);

    // A tampered body (another commit pushed), or a delivery without a signature: 401.
    let forged = tampered(&body);
    let forged = bitbucket.receive_webhook(lookup(&signed), &forged).await;
    assert_eq!(forged.map_err(|e| e.status()).err(), Some(401));
    let unsigned = delivery_headers(hook.uuid.bare(), None);
    let unsigned = bitbucket.receive_webhook(lookup(&unsigned), &body).await;
    assert_eq!(unsigned.map_err(|e| e.status()).err(), Some(401));
}
