//! Sync credentials of the 2026 kinds (issue 12, parts 1–2), against `MockBitbucket`, which
//! models them as the facts file describes: workspace access tokens (Bearer, bound to one
//! workspace, refused `/2.0/user`) and API tokens (Basic `email:token`, scopes of their own
//! family, refused everywhere when scopeless).

use std::sync::Arc;

use chrono::{Duration, Utc};
use gemnasium_bitbucket::doctor::{Status, Subject};
use gemnasium_bitbucket::model::{
    AccountUuid, ClientSecret, CredentialKind, CredentialName, CredentialScopes, HookEvents,
    ProviderName, Scope, SecretText, ServiceUrl, StoredCredential,
};
use gemnasium_bitbucket::provision::Configuration;
use gemnasium_bitbucket::service::{Credential, DoctorOptions, NewCredential, SyncOptions};
use gemnasium_bitbucket::store::{DynStore, MemoryStore, WriteOutcome};
use gemnasium_bitbucket::sync::Quiet;
use gemnasium_bitbucket::testing::{MockBitbucket, MockConsumer, MockUser};
use gemnasium_bitbucket::{Bitbucket, Error};

const KEY: &str = "creds-consumer-key-0123456789abcd";
const SECRET: &str = "creds-consumer-secret";
const HOOKS_URL: &str = "https://gemnasium.example/hooks/bitbucket";
const EMAIL: &str = "jane@example.com";
const API_SCOPES: [&str; 6] = [
    "read:user:bitbucket",
    "read:workspace:bitbucket",
    "read:repository:bitbucket",
    "read:webhook:bitbucket",
    "write:webhook:bitbucket",
    "delete:webhook:bitbucket",
];

fn bb() -> ProviderName {
    "bitbucket.org".parse().unwrap()
}

fn name(n: &str) -> CredentialName {
    n.parse().unwrap()
}

fn secret(s: &str) -> SecretText {
    SecretText::new(s).unwrap()
}

/// Bitbucket with one consumer; jane admin of `acme/widget` and `acme/gadget`, rroe alone in
/// `other` with `other/secret`.
async fn bitbucket() -> (MockBitbucket, AccountUuid, AccountUuid) {
    let mock = MockBitbucket::start().await;
    mock.add_consumer(MockConsumer::new(KEY, SECRET));
    let jane = mock.add_user(MockUser::new("jdoe").with_email(EMAIL, true, true));
    let rroe = mock.add_user(MockUser::new("rroe").with_email("rroe@example.com", true, true));
    mock.add_workspace("acme", &[&jane]);
    mock.add_workspace("other", &[&rroe]);
    let _ = mock.add_repository("acme", "widget", &[&jane]);
    let _ = mock.add_repository("acme", "gadget", &[&jane]);
    let _ = mock.add_repository("other", "secret", &[&rroe]);
    (mock, jane, rroe)
}

async fn handle(mock: &MockBitbucket) -> Bitbucket {
    let store: DynStore = Arc::new(MemoryStore::new());
    let bitbucket = Bitbucket::builder(store).build().unwrap();
    let config =
        Configuration::bitbucket_cloud(KEY.parse().unwrap(), ClientSecret::new(SECRET).unwrap())
            .with_provider(mock.provider());
    bitbucket.apply(&config).await.unwrap();
    bitbucket
}

fn access(workspace: &str, token: &str) -> NewCredential {
    NewCredential::AccessToken {
        workspace: workspace.parse().unwrap(),
        token: secret(token),
    }
}

fn api(email: &str, token: &str, workspace: Option<&str>) -> NewCredential {
    NewCredential::ApiToken {
        email: email.to_owned(),
        token: secret(token),
        workspace: workspace.map(|w| w.parse().unwrap()),
    }
}

fn hooks() -> SyncOptions {
    let url = ServiceUrl::parse("hooks URL", HOOKS_URL).unwrap();
    SyncOptions::new().hooks(url, HookEvents::push())
}

/// Lists with `credential`, tracks `acme/widget`, installs hooks; returns the names listed.
async fn sync_and_hook(bitbucket: &Bitbucket, credential: &str) -> Vec<String> {
    let syncer = bitbucket
        .syncer(&bb(), Credential::Stored(name(credential)))
        .await
        .unwrap();
    let report = syncer.sync(&SyncOptions::new(), &Quiet).await.unwrap();
    assert!(report.complete(), "{report:?}");
    let mut listed: Vec<String> = syncer
        .repositories()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.repository.full_name)
        .collect();
    listed.sort();
    syncer.track(&["acme/widget".to_owned()]).await.unwrap();
    let report = syncer.sync(&hooks(), &Quiet).await.unwrap();
    assert!(report.complete(), "{report:?}");
    assert_eq!(report.hooks.as_ref().unwrap().created, 1, "{report:?}");
    // Idempotent: a second run finds our hook and changes nothing.
    let again = syncer.sync(&hooks(), &Quiet).await.unwrap();
    let summary = again.hooks.unwrap();
    assert_eq!((summary.created, summary.writes), (0, 0), "{summary:?}");
    listed
}

#[tokio::test]
async fn a_workspace_access_token_syncs_its_workspace_with_hooks_and_never_asks_for_the_user() {
    let (mock, _, _) = bitbucket().await;
    let bitbucket = handle(&mock).await;
    let token = mock.add_access_token("acme", "repository,webhook", Some(Duration::days(90)));
    let expires = Utc::now() + Duration::days(90);

    let stored = bitbucket
        .add_credential(
            &bb(),
            name("acme-bot"),
            access("acme", &token),
            Some(expires),
        )
        .await
        .unwrap()
        .credential;
    assert_eq!(stored.identity, "acme");
    assert!(matches!(stored.kind, CredentialKind::AccessToken { .. }));
    let CredentialScopes::OAuth(scopes) = &stored.scopes else {
        panic!(
            "access tokens hold OAuth-family scopes: {:?}",
            stored.scopes
        );
    };
    assert!(scopes.contains(Scope::Repository) && scopes.contains(Scope::Webhook));
    assert_eq!(stored.expires_at, Some(expires));
    assert!(
        !format!("{stored:?}").contains(&token),
        "Debug leaks the token"
    );

    let listed = sync_and_hook(&bitbucket, "acme-bot").await;
    assert_eq!(listed, ["acme/gadget", "acme/widget"]);
    let installed = mock.hooks("acme/widget");
    assert_eq!(installed.len(), 1, "{installed:?}");
    assert_eq!(installed[0]["url"], HOOKS_URL);

    let asked = mock.requests_with(&token);
    assert!(!asked.is_empty());
    assert!(
        asked.iter().all(|r| !r.contains("/2.0/user")),
        "an access token asked for the user: {asked:?}"
    );
    assert!(
        asked.iter().any(|r| r == "GET /2.0/workspaces/acme"),
        "{asked:?}"
    );
}

#[tokio::test]
async fn an_api_token_syncs_every_workspace_of_its_account_with_hooks() {
    let (mock, jane, _) = bitbucket().await;
    let bitbucket = handle(&mock).await;
    let token = mock.add_api_token(&jane, &API_SCOPES, Some(Duration::days(365)), None);

    let stored = bitbucket
        .add_credential(&bb(), name("jane-api"), api(EMAIL, &token, None), None)
        .await
        .unwrap()
        .credential;
    assert_eq!(stored.account, jane);
    assert_eq!(stored.identity, "jdoe");
    let CredentialScopes::Api(scopes) = &stored.scopes else {
        panic!("API tokens hold API-token scopes: {:?}", stored.scopes);
    };
    for proven in [
        "read:user:bitbucket",
        "read:workspace:bitbucket",
        "read:repository:bitbucket",
        "read:webhook:bitbucket",
    ] {
        assert!(
            scopes.contains(&proven.parse().unwrap()),
            "{proven} in {scopes}"
        );
    }

    let listed = sync_and_hook(&bitbucket, "jane-api").await;
    assert_eq!(listed, ["acme/gadget", "acme/widget"]);
    assert_eq!(mock.hooks("acme/widget").len(), 1);
    // Listings are recorded under the account the token acts as.
    assert_eq!(
        bitbucket
            .listing_account(&bb(), &Credential::Stored(name("jane-api")))
            .await
            .unwrap(),
        jane
    );
}

/// Adds `new` as `name`, expecting a refusal whose message contains every one of `words`, and
/// nothing stored.
async fn refused(bitbucket: &Bitbucket, new: NewCredential, words: &[&str]) {
    let err = bitbucket
        .add_credential(&bb(), name("candidate"), new, None)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, Error::CredentialRefused { .. }),
        "{err:?}: {message}"
    );
    for word in words {
        assert!(message.contains(word), "{word:?} not in: {message}");
    }
    assert!(message.contains("not stored"), "{message}");
    assert!(bitbucket.credentials(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn access_tokens_that_are_wrong_for_another_workspace_short_of_scopes_or_expired_are_refused()
{
    let (mock, _, _) = bitbucket().await;
    let bitbucket = handle(&mock).await;
    refused(
        &bitbucket,
        access("acme", "not-a-real-token"),
        &["refused the access token", "Token is invalid"],
    )
    .await;

    let others = mock.add_access_token("other", "repository,webhook", None);
    refused(
        &bitbucket,
        access("acme", &others),
        &["cannot see workspace `acme`", "--workspace"],
    )
    .await;

    let read_only = mock.add_access_token("acme", "repository", None);
    refused(
        &bitbucket,
        access("acme", &read_only),
        &["webhook", "Webhooks: Read and write"],
    )
    .await;

    let no_repos = mock.add_access_token("acme", "webhook", None);
    refused(
        &bitbucket,
        access("acme", &no_repos),
        &["list repositories", "repository"],
    )
    .await;

    let expired = mock.add_access_token("acme", "repository,webhook", None);
    mock.expire_credential(&expired);
    refused(
        &bitbucket,
        access("acme", &expired),
        &["refused the access token", "expired"],
    )
    .await;

    for token in [&others, &read_only, &no_repos, &expired] {
        assert!(
            mock.requests_with(token)
                .iter()
                .all(|r| !r.contains("/2.0/user")),
            "an access token asked for the user"
        );
    }
}

#[tokio::test]
async fn api_tokens_with_a_wrong_email_no_scopes_short_scopes_another_workspace_or_expired_are_refused(
) {
    let (mock, jane, _) = bitbucket().await;
    let bitbucket = handle(&mock).await;
    let good = mock.add_api_token(&jane, &API_SCOPES, None, None);
    refused(
        &bitbucket,
        api(EMAIL, "not-a-real-api-token", None),
        &[
            "refused the API token for jane@example.com",
            "401 with an empty body",
        ],
    )
    .await;
    refused(
        &bitbucket,
        api("someone@example.com", &good, None),
        &["refused the API token for someone@example.com", "email"],
    )
    .await;

    let scopeless = mock.add_api_token(&jane, &[], None, None);
    refused(
        &bitbucket,
        api(EMAIL, &scopeless, None),
        &["API token with scopes", "Token is invalid"],
    )
    .await;

    let no_repos = mock.add_api_token(
        &jane,
        &["read:user:bitbucket", "read:workspace:bitbucket"],
        None,
        None,
    );
    refused(
        &bitbucket,
        api(EMAIL, &no_repos, None),
        &["read:repository:bitbucket", "list repositories"],
    )
    .await;

    let limited = mock.add_api_token(&jane, &API_SCOPES, None, Some("acme"));
    refused(
        &bitbucket,
        api(EMAIL, &limited, Some("other")),
        &["cannot see workspace `other`"],
    )
    .await;

    let expired = mock.add_api_token(&jane, &API_SCOPES, None, None);
    mock.expire_credential(&expired);
    refused(
        &bitbucket,
        api(EMAIL, &expired, None),
        &["refused the API token", "expired"],
    )
    .await;

    // The good one, for comparison, is accepted; a second one of the same name is refused.
    bitbucket
        .add_credential(&bb(), name("jane-api"), api(EMAIL, &good, None), None)
        .await
        .unwrap();
    // The same again is a re-run, not an error, and asks Bitbucket nothing.
    let asked = mock.requests_with(&good).len();
    let again = bitbucket
        .add_credential(&bb(), name("jane-api"), api(EMAIL, &good, None), None)
        .await
        .unwrap();
    assert_eq!(again.outcome, WriteOutcome::Unchanged);
    assert_eq!(mock.requests_with(&good).len(), asked);
    // Another token under the same name is refused, nothing changed.
    let other = mock.add_api_token(&jane, &API_SCOPES, None, None);
    let err = bitbucket
        .add_credential(&bb(), name("jane-api"), api(EMAIL, &other, None), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::CredentialExists { .. }), "{err:?}");
    assert_eq!(bitbucket.credentials(None).await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_api_token_without_webhook_write_is_named_by_the_first_sync_with_hooks() {
    let (mock, jane, _) = bitbucket().await;
    let bitbucket = handle(&mock).await;
    let reader = mock.add_api_token(&jane, &API_SCOPES[..4], None, None);
    bitbucket
        .add_credential(&bb(), name("reader"), api(EMAIL, &reader, None), None)
        .await
        .unwrap();
    let syncer = bitbucket
        .syncer(&bb(), Credential::Stored(name("reader")))
        .await
        .unwrap();
    syncer.sync(&SyncOptions::new(), &Quiet).await.unwrap();
    syncer.track(&["acme/widget".to_owned()]).await.unwrap();
    let report = syncer.sync(&hooks(), &Quiet).await.unwrap();
    assert!(!report.complete());
    let summary = report.hooks.unwrap();
    let failures = format!("{summary:?}");
    assert!(failures.contains("write:webhook:bitbucket"), "{failures}");
    assert!(mock.hooks("acme/widget").is_empty());
}

#[tokio::test]
async fn expiry_is_seen_coming_refused_when_past_and_a_dead_token_is_reported_clearly() {
    let (mock, jane, _) = bitbucket().await;
    let bitbucket = handle(&mock).await;
    let token = mock.add_access_token("acme", "repository,webhook", None);

    let past = Utc::now() - Duration::hours(1);
    let err = bitbucket
        .add_credential(&bb(), name("late"), access("acme", &token), Some(past))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::CredentialExpired { .. }), "{err:?}");
    assert!(
        mock.requests_with(&token).is_empty(),
        "checked before any request"
    );

    let soon = Utc::now() + Duration::days(10);
    bitbucket
        .add_credential(&bb(), name("soon"), access("acme", &token), Some(soon))
        .await
        .unwrap();
    let unknown = mock.add_api_token(&jane, &API_SCOPES, None, None);
    bitbucket
        .add_credential(&bb(), name("unknown"), api(EMAIL, &unknown, None), None)
        .await
        .unwrap();
    // One stored when it was still valid, now past its expiry.
    let dead = StoredCredential::new(
        bb(),
        name("dead"),
        CredentialKind::AccessToken {
            workspace: "acme".parse().unwrap(),
        },
        secret("expired-token"),
        CredentialScopes::OAuth("repository".parse().unwrap()),
        jane.clone(),
        "acme".to_owned(),
        Some(past),
    );
    bitbucket.store().add_credential(&dead).await.unwrap();

    let findings = bitbucket
        .doctor(&DoctorOptions::new().offline(true))
        .await
        .unwrap();
    let status = |n: &str| {
        findings
            .iter()
            .find(|f| {
                f.subject
                    == Subject::Credential {
                        provider: bb(),
                        name: name(n),
                    }
            })
            .map(|f| (f.status, f.message.clone()))
            .unwrap_or_else(|| panic!("no finding for {n}: {findings:#?}"))
    };
    let (s, m) = status("soon");
    assert_eq!(s, Status::Warn, "{m}");
    assert!(
        m.contains("expires in 9 day(s)") || m.contains("expires in 10 day(s)"),
        "{m}"
    );
    assert_eq!(status("unknown").0, Status::Warn);
    let (s, m) = status("dead");
    assert_eq!(s, Status::Fail, "{m}");
    assert!(m.contains("expired"), "{m}");

    // The dead one is not sent to Bitbucket at all.
    let err = bitbucket
        .syncer(&bb(), Credential::Stored(name("dead")))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::CredentialExpired { .. }), "{err:?}");

    // Online, doctor asks Bitbucket whether each live credential is still accepted.
    let online = bitbucket.doctor(&DoctorOptions::new()).await.unwrap();
    let accepted = online
        .iter()
        .filter(|f| {
            f.subject
                == Subject::Credential {
                    provider: bb(),
                    name: name("soon"),
                }
        })
        .any(|f| f.status == Status::Pass && f.message.contains("accepted by Bitbucket"));
    assert!(accepted, "{online:#?}");
    bitbucket
        .verify_credential(&bb(), &name("unknown"))
        .await
        .unwrap();

    // Revoked or expired on Bitbucket's side: verify and doctor say so, and the sync fails
    // saying Bitbucket refused it.
    mock.expire_credential(&token);
    let err = bitbucket
        .verify_credential(&bb(), &name("soon"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::CredentialRejected { .. }), "{err:?}");
    assert!(err.to_string().contains("Token is invalid"), "{err}");
    let online = bitbucket.doctor(&DoctorOptions::new()).await.unwrap();
    let rejected = online.iter().any(|f| {
        f.subject
            == Subject::Credential {
                provider: bb(),
                name: name("soon"),
            }
            && f.status == Status::Fail
            && f.message.contains("no longer accepts")
    });
    assert!(rejected, "{online:#?}");
    let syncer = bitbucket
        .syncer(&bb(), Credential::Stored(name("soon")))
        .await
        .unwrap();
    let report = syncer.sync(&SyncOptions::new(), &Quiet).await;
    let shown = match report {
        Ok(r) => format!("{:?}", r.crawl.failures().collect::<Vec<_>>()),
        Err(e) => e.to_string(),
    };
    assert!(shown.contains("Token is invalid"), "{shown}");
    assert!(!shown.contains(&token), "the token leaked: {shown}");
}

#[tokio::test]
async fn unknown_credentials_and_deletion_say_what_is_wrong() {
    let (mock, _, _) = bitbucket().await;
    let bitbucket = handle(&mock).await;
    let err = bitbucket
        .syncer(&bb(), Credential::Stored(name("ghost")))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoCredential { .. }), "{err:?}");
    assert!(err.to_string().contains("ghost"));
    let err = bitbucket
        .delete_credential(&bb(), &name("ghost"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoCredential { .. }), "{err:?}");

    let token = mock.add_access_token("acme", "repository,webhook", None);
    bitbucket
        .add_credential(&bb(), name("acme-bot"), access("acme", &token), None)
        .await
        .unwrap();
    bitbucket
        .delete_credential(&bb(), &name("acme-bot"))
        .await
        .unwrap();
    assert!(bitbucket.credentials(None).await.unwrap().is_empty());
}
