use gemnasium_bitbucket::oauth::fetch_identity;
use gemnasium_bitbucket::testing::{MockConsumer, MockUser};

use super::support::{World, KEY, SECRET};

async fn identity_of(user: MockUser, scopes: &str) -> gemnasium_bitbucket::oauth::Identity {
    let w = World::with_consumer(MockConsumer::new(KEY, SECRET).with_scopes(scopes)).await;
    let uuid = w.bitbucket.add_user(user);
    let (access, _) = w.bitbucket.issue_tokens(KEY, &uuid);
    let identity = fetch_identity(&w.api(&access)).await.unwrap();
    assert_eq!(identity.uuid, uuid);
    identity
}

#[tokio::test]
async fn primary_confirmed_address_across_pages() {
    // The mock pages emails two at a time with opaque cursors: the primary is on page 3.
    let user = MockUser::new("ann")
        .with_email("a@x.org", false, true)
        .with_email("b@x.org", false, false)
        .with_email("c@x.org", false, true)
        .with_email("d@x.org", false, true)
        .with_email("primary@x.org", true, true);
    let identity = identity_of(user, "account,email").await;
    assert_eq!(identity.email.as_deref(), Some("primary@x.org"));
    assert_eq!(identity.nickname.as_deref(), Some("ann"));
    assert!(identity.account_id.unwrap().starts_with("557058:"));
}

#[tokio::test]
async fn unconfirmed_primary_falls_back_to_a_confirmed_address() {
    let user = MockUser::new("bob")
        .with_email("primary@x.org", true, false)
        .with_email("second@x.org", false, true);
    assert_eq!(
        identity_of(user, "account,email").await.email.as_deref(),
        Some("second@x.org")
    );
}

#[tokio::test]
async fn no_confirmed_address_means_no_email() {
    let user = MockUser::new("cy")
        .with_email("primary@x.org", true, false)
        .with_email("other@x.org", false, false);
    assert_eq!(identity_of(user, "account,email").await.email, None);
    let nobody = MockUser::new("dee");
    assert_eq!(identity_of(nobody, "account,email").await.email, None);
}

#[tokio::test]
async fn without_the_email_scope_the_address_is_unknown_not_an_error() {
    let user = MockUser::new("eve").with_email("eve@x.org", true, true);
    assert_eq!(identity_of(user, "account").await.email, None);
}
