//! Sync at scale (issue 13) through the `Bitbucket` handle against `MockBitbucket`: incremental
//! listings, partial responses, hooks proven by signed deliveries, and the request budget shared
//! by the accounts of one consumer.

use std::sync::Arc;
use std::time::Duration;

use gemnasium_bitbucket::api::repositories::{ListRepositories, REPOSITORY_FIELDS};
use gemnasium_bitbucket::model::{
    AccessToken, AccountInfo, AccountUuid, ClientSecret, HookEvents, ProviderName, Purpose,
    RefreshToken, RepoUuid, ServiceUrl, TokenSet,
};
use gemnasium_bitbucket::provision::Configuration;
use gemnasium_bitbucket::service::{Credential, SyncOptions, SyncReport};
use gemnasium_bitbucket::store::{DynStore, ListingKind, MemoryStore, StoredRepository};
use gemnasium_bitbucket::sync::{sign, ListingReason, Quiet, RemoteErrorKind, WorkspaceResult};
use gemnasium_bitbucket::testing::{MockBitbucket, MockConsumer, MockUser};
use gemnasium_bitbucket::Bitbucket;
use serde_json::Value;

const KEY: &str = "scale-key";
const SECRET: &str = "scale-secret";
const HOOKS_URL: &str = "https://gemnasium.example/hooks/bitbucket";
const PUSH: &str = include_str!("../fixtures/real/push_branch_created_abstruse.json");
const PUSH_HEADERS: &str =
    include_str!("../fixtures/real/push_branch_created_abstruse.headers.json");

struct Env {
    mock: MockBitbucket,
    store: DynStore,
    bitbucket: Bitbucket,
    source: ProviderName,
    jane: AccountUuid,
}

/// A consumer, jane with a stored sync token, and a handle whose consumer may send `limit`
/// requests per hour.
async fn env(limit: usize) -> Env {
    let mock = MockBitbucket::start().await;
    mock.add_consumer(MockConsumer::new(KEY, SECRET));
    let jane = mock.add_user(MockUser::new("jdoe"));
    let store: DynStore = Arc::new(MemoryStore::new());
    let bitbucket = Bitbucket::builder(store.clone())
        .request_budget(limit, Duration::from_secs(3600))
        .build()
        .unwrap();
    let configuration =
        Configuration::bitbucket_cloud(KEY.parse().unwrap(), ClientSecret::new(SECRET).unwrap())
            .with_provider(mock.provider());
    bitbucket.apply(&configuration).await.unwrap();
    let env = Env {
        source: mock.provider().name,
        mock,
        store,
        bitbucket,
        jane: jane.clone(),
    };
    give_token(&env, &jane).await;
    env
}

/// Stores a sync token for `user`, as if they had authorized the sync client.
async fn give_token(env: &Env, user: &AccountUuid) {
    let (access, refresh) = env.mock.issue_tokens(KEY, user);
    let tokens = TokenSet {
        access_token: AccessToken::new(access).unwrap(),
        refresh_token: Some(RefreshToken::new(refresh).unwrap()),
        expires_at: Some(chrono::Utc::now() + chrono::Duration::hours(2)),
        scopes: "account,repository,webhook".parse().unwrap(),
    };
    let account = AccountInfo {
        uuid: user.clone(),
        account_id: None,
        nickname: None,
        display_name: None,
    };
    let _ = env
        .store
        .put_token(&env.source, Purpose::Sync, &account, &tokens)
        .await
        .unwrap();
}

/// acme: 300 repositories, beta: 40, empty: none; jane is a member of all three.
fn populate(env: &Env) {
    for (workspace, count) in [("acme", 300), ("beta", 40), ("empty", 0)] {
        env.mock.add_workspace(workspace, &[&env.jane]);
        for i in 0..count {
            let _ = env
                .mock
                .add_repository(workspace, &format!("r{i:03}"), &[&env.jane]);
        }
    }
}

async fn sync_as(env: &Env, who: &AccountUuid, options: &SyncOptions) -> SyncReport {
    env.bitbucket
        .syncer(&env.source, Credential::Account(who.clone()))
        .await
        .unwrap()
        .sync(options, &Quiet)
        .await
        .unwrap()
}

async fn sync(env: &Env, options: &SyncOptions) -> SyncReport {
    sync_as(env, &env.jane, options).await
}

/// Each listed workspace's (slug, listing, reason).
fn outcomes(report: &SyncReport) -> Vec<(String, ListingKind, ListingReason)> {
    report
        .crawl
        .workspaces
        .iter()
        .filter_map(|w| match w {
            WorkspaceResult::Listed {
                slug,
                listing,
                reason,
                ..
            } => Some((slug.clone(), *listing, *reason)),
            WorkspaceResult::Failed { .. } => None,
        })
        .collect()
}

async fn stored(env: &Env) -> Vec<StoredRepository> {
    env.store
        .repositories(&env.source, Some(&env.jane))
        .await
        .unwrap()
}

#[tokio::test]
async fn an_unchanged_resync_costs_w_plus_one_requests_and_a_fifth_of_the_bytes() {
    let env = env(10_000).await;
    populate(&env);
    let first = sync(&env, &SyncOptions::new()).await;
    assert!(first.complete(), "{first:?}");
    assert_eq!(first.crawl.repositories, 340);
    assert!(outcomes(&first)
        .iter()
        .all(|(_, kind, reason)| *kind == ListingKind::Full
            && *reason == ListingReason::FirstListing));

    let again = sync(&env, &SyncOptions::new()).await;
    let full = sync(&env, &SyncOptions::new().full_listing(true)).await;
    assert!(again.complete() && full.complete());
    assert!(
        again.requests <= 3 + 1,
        "W + 1 = 4 requests at most: {again:?}"
    );
    assert!(
        again.bytes * 5 <= full.bytes,
        "incremental {} bytes vs full {} bytes",
        again.bytes,
        full.bytes
    );
    assert_eq!(again.crawl.repositories, 340);
    assert_eq!(
        (again.crawl.changes.new, again.crawl.changes.gone),
        (0, 0),
        "{again:?}"
    );
    assert_eq!(again.crawl.changes.unchanged, 340);
    let kinds = outcomes(&again);
    assert!(kinds.contains(&(
        "acme".into(),
        ListingKind::Incremental,
        ListingReason::CountMatched
    )));
    assert!(kinds.contains(&(
        "beta".into(),
        ListingKind::Incremental,
        ListingReason::CountMatched
    )));
    assert!(outcomes(&full)
        .iter()
        .all(|(_, _, reason)| *reason == ListingReason::IncrementalOff));
    assert_eq!(stored(&env).await.len(), 340, "nothing lost or duplicated");
}

#[tokio::test]
async fn an_incremental_resync_sees_a_new_a_touched_a_renamed_and_a_moved_repository() {
    let env = env(10_000).await;
    populate(&env);
    let _ = sync(&env, &SyncOptions::new()).await;
    let before = stored(&env).await;
    let uuid_of = |name: &str| {
        before
            .iter()
            .find(|r| r.repository.full_name == name)
            .map(|r| r.repository.uuid.clone())
            .unwrap()
    };
    let renamed = uuid_of("acme/r007");
    let moved = uuid_of("acme/r100");

    let _ = env.mock.add_repository("beta", "fresh", &[&env.jane]);
    env.mock.touch_repository("beta", "fresh");
    env.mock.set_repository_name("acme", "r005", "Widget Five");
    env.mock.rename_repository("acme", "r007", "renamed");
    env.mock.move_repository("acme", "r100", "beta");

    let report = sync(&env, &SyncOptions::new()).await;
    assert!(report.complete(), "{report:?}");
    let kinds = outcomes(&report);
    assert!(
        kinds.contains(&(
            "beta".into(),
            ListingKind::Incremental,
            ListingReason::CountMatched
        )),
        "beta gained two (a new one and a moved one): {kinds:?}"
    );
    assert!(
        kinds.contains(&(
            "acme".into(),
            ListingKind::Full,
            ListingReason::CountMismatch
        )),
        "acme lost one, so it is listed in full: {kinds:?}"
    );
    let after = stored(&env).await;
    assert_eq!(after.len(), 341, "one new row, nothing duplicated");
    let find = |uuid: &RepoUuid| after.iter().find(|r| &r.repository.uuid == uuid).unwrap();
    assert_eq!(find(&renamed).repository.full_name, "acme/renamed");
    assert_eq!(find(&moved).repository.full_name, "beta/r100");
    assert!(find(&moved).gone_since.is_none(), "moved, not gone");
    assert!(after
        .iter()
        .any(|r| r.repository.full_name == "beta/fresh" && r.gone_since.is_none()));
    assert!(after
        .iter()
        .any(|r| r.repository.full_name == "acme/r005" && r.repository.name == "Widget Five"));
    assert!(after.iter().all(|r| r.gone_since.is_none()));
}

#[tokio::test]
async fn a_touch_alone_is_listed_incrementally_and_updated() {
    let env = env(10_000).await;
    populate(&env);
    let _ = sync(&env, &SyncOptions::new()).await;
    env.mock
        .set_repository_name("beta", "r003", "Renamed display");
    env.mock.rename_repository("acme", "r250", "moved-on");
    let report = sync(&env, &SyncOptions::new()).await;
    assert_eq!(report.crawl.incremental, 2, "{report:?}");
    assert!(report.requests <= 4, "{report:?}");
    assert_eq!(
        report.crawl.changes.updated, 2,
        "{:?}",
        report.crawl.changes
    );
    let after = stored(&env).await;
    assert_eq!(after.len(), 340);
    assert!(after
        .iter()
        .any(|r| r.repository.full_name == "acme/moved-on"));
    assert!(!after.iter().any(|r| r.repository.full_name == "acme/r250"));
}

#[tokio::test]
async fn a_deletion_forces_the_full_fallback_and_marks_the_repository_gone() {
    let env = env(10_000).await;
    populate(&env);
    let _ = sync(&env, &SyncOptions::new()).await;
    env.mock.remove_repository("beta", "r010");
    let report = sync(&env, &SyncOptions::new()).await;
    let kinds = outcomes(&report);
    assert!(kinds.contains(&(
        "beta".into(),
        ListingKind::Full,
        ListingReason::CountMismatch
    )));
    assert!(kinds.contains(&(
        "acme".into(),
        ListingKind::Incremental,
        ListingReason::CountMatched
    )));
    assert_eq!(report.crawl.changes.gone, 1);
    let gone: Vec<_> = stored(&env)
        .await
        .into_iter()
        .filter(|r| r.gone_since.is_some())
        .map(|r| r.repository.full_name)
        .collect();
    assert_eq!(gone, ["beta/r010"]);
    // A full listing is due again after its age, even when the counts match.
    let aged = sync(
        &env,
        &SyncOptions::new().full_after(chrono::Duration::zero()),
    )
    .await;
    assert!(outcomes(&aged)
        .iter()
        .all(|(_, kind, reason)| *kind == ListingKind::Full
            && *reason == ListingReason::FullListingDue));
}

#[tokio::test]
async fn clock_skew_within_the_margin_loses_nothing() {
    let env = env(10_000).await;
    populate(&env);
    // Bitbucket's clock runs 3 minutes behind ours: a change right after our listing started
    // carries a date before it.
    env.mock.set_clock_skew(chrono::Duration::minutes(-3));
    let _ = sync(&env, &SyncOptions::new()).await;
    env.mock.set_repository_name("acme", "r123", "Skewed");
    let report = sync(&env, &SyncOptions::new()).await;
    assert_eq!(report.crawl.incremental, 2, "{report:?}");
    assert!(stored(&env)
        .await
        .iter()
        .any(|r| r.repository.full_name == "acme/r123" && r.repository.name == "Skewed"));
}

#[tokio::test]
async fn partial_responses_parse_lose_no_stored_field_and_cost_fewer_bytes() {
    let env = env(10_000).await;
    populate(&env);
    let report = sync(&env, &SyncOptions::new()).await;
    assert!(report.complete());
    for row in stored(&env).await {
        let r = row.repository;
        assert!(
            r.main_branch.is_some()
                && r.html_url.is_some()
                && r.updated_on.is_some()
                && r.created_on.is_some()
                && r.scm.is_some()
                && r.project_key.is_some()
                && r.language.is_some()
                && r.clone_https.is_some()
                && r.is_private
                && r.workspace == r.full_name.split('/').next().unwrap(),
            "{r:?}"
        );
    }
    let syncer = env
        .bitbucket
        .syncer(&env.source, Credential::Account(env.jane.clone()))
        .await
        .unwrap();
    let api = syncer.api();
    let bytes = |before: u64| api.metrics().bytes() - before;
    let start = api.metrics().bytes();
    let trimmed = api
        .repositories()
        .list("acme", &ListRepositories::default())
        .await
        .unwrap();
    let trimmed_bytes = bytes(start);
    let mut everything = ListRepositories::default();
    everything.fields = "next,size,values";
    let start = api.metrics().bytes();
    let whole = api.repositories().list("acme", &everything).await.unwrap();
    let whole_bytes = bytes(start);
    assert_eq!(
        trimmed.repositories, whole.repositories,
        "nothing stored is lost"
    );
    assert_eq!(trimmed.size, Some(300));
    assert!(
        trimmed_bytes < whole_bytes,
        "{trimmed_bytes} vs {whole_bytes}"
    );
    assert!(REPOSITORY_FIELDS.contains("values.links.clone.href"));
}

/// The real push delivery's headers for hook `hook`, signed over `body` with `secret`.
fn delivery(hook: &str, body: &[u8], secret: &[u8]) -> Vec<(String, String)> {
    let recorded: serde_json::Map<String, Value> = serde_json::from_str(PUSH_HEADERS).unwrap();
    let mut headers: Vec<(String, String)> = recorded
        .into_iter()
        .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
        .filter(|(k, _)| k != "X-Hook-UUID" && k != "X-Request-UUID")
        .collect();
    headers.push(("X-Hook-UUID".into(), hook.trim_matches(['{', '}']).into()));
    headers.push(("X-Request-UUID".into(), uuid_like()));
    headers.push(("X-Hub-Signature".into(), sign(secret, body)));
    headers
}

fn uuid_like() -> String {
    let n: u128 = rand_u128();
    let h = format!("{n:032x}");
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

fn rand_u128() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    (u128::from(h.finish()) << 64) | u128::from(h.finish().rotate_left(17))
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
async fn a_hook_proven_by_a_signed_delivery_is_skipped_one_with_a_bad_signature_is_not() {
    let env = env(10_000).await;
    env.mock.add_workspace("acme", &[&env.jane]);
    for slug in ["proven", "forged"] {
        let _ = env.mock.add_repository("acme", slug, &[&env.jane]);
    }
    let _ = sync(&env, &SyncOptions::new()).await;
    env.bitbucket
        .track(&env.source, &["acme/proven".into(), "acme/forged".into()])
        .await
        .unwrap();
    let hooks_url = ServiceUrl::parse("hooks URL", HOOKS_URL).unwrap();
    let with_hooks = SyncOptions::new().hooks(hooks_url, HookEvents::push());
    let first = sync(&env, &with_hooks).await;
    assert_eq!(first.hooks.as_ref().unwrap().created, 2, "{first:?}");

    let tracked = env.store.tracked(&env.source).await.unwrap();
    for repo in &tracked {
        let hook = repo.hook.as_ref().unwrap();
        let mut payload: Value = serde_json::from_str(PUSH).unwrap();
        payload["repository"]["uuid"] = repo.uuid.as_str().into();
        payload["repository"]["full_name"] = repo.full_name.as_str().into();
        let body = serde_json::to_vec(&payload).unwrap();
        let secret = if repo.full_name == "acme/proven" {
            hook.secret.expose_secret().as_bytes().to_vec()
        } else {
            b"not the hook's secret".to_vec()
        };
        let headers = delivery(hook.uuid.as_str(), &body, &secret);
        let received = env.bitbucket.receive_webhook(lookup(&headers), &body).await;
        assert_eq!(
            received.is_ok(),
            repo.full_name == "acme/proven",
            "{}: {received:?}",
            repo.full_name
        );
    }
    let proofs: Vec<_> = env
        .store
        .tracked(&env.source)
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.full_name, t.proven_at.is_some()))
        .collect();
    assert_eq!(
        proofs,
        [("acme/forged".into(), false), ("acme/proven".into(), true)]
    );

    let before = env.mock.rest_requests();
    let again = sync(&env, &with_hooks).await;
    let hooks = again.hooks.unwrap();
    assert_eq!((hooks.proven, hooks.unchanged), (1, 1), "{hooks:?}");
    // The workspace list, acme's listing, and forged's hooks: proven's are not listed.
    assert_eq!(env.mock.rest_requests() - before, 3);
    // With proofs ignored, both are checked.
    let all = sync(
        &env,
        &with_hooks.clone().proven_within(chrono::Duration::zero()),
    )
    .await;
    assert_eq!(all.hooks.unwrap().unchanged, 2);
}

#[tokio::test]
async fn two_accounts_on_one_consumer_share_its_budget() {
    // 8 requests per hour for the consumer: with two accounts, each may take 4.
    let env = env(8).await;
    let joe = env.mock.add_user(MockUser::new("joe"));
    give_token(&env, &joe).await;
    env.mock.add_workspace("big", &[&env.jane]);
    for i in 0..450 {
        let _ = env.mock.add_repository("big", &format!("r{i:03}"), &[]);
    }
    env.mock.add_workspace("small", &[&joe]);
    let _ = env.mock.add_repository("small", "one", &[]);

    // Jane's listing needs 6 requests: she is stopped at her share, cleanly.
    let jane = sync(&env, &SyncOptions::new()).await;
    assert_eq!(jane.requests, 4, "{jane:?}");
    let (slug, error) = jane.crawl.failures().next().unwrap();
    assert_eq!(slug, "big");
    assert_eq!(error.kind, RemoteErrorKind::RateLimited);
    assert!(error.resume_after.is_some(), "{error:?}");
    assert!(error.message.contains("resume after"), "{error}");
    assert!(
        stored(&env).await.is_empty(),
        "an incomplete listing is not written"
    );

    // Joe is not starved by her.
    let joe_report = sync_as(&env, &joe, &SyncOptions::new()).await;
    assert!(joe_report.complete(), "{joe_report:?}");
    assert_eq!(joe_report.crawl.repositories, 1);

    // The consumer's budget is now spent: a new sync stops before sending anything.
    let syncer = env
        .bitbucket
        .syncer(&env.source, Credential::Account(env.jane.clone()))
        .await
        .unwrap();
    let refused = syncer.sync(&SyncOptions::new(), &Quiet).await.unwrap_err();
    assert!(refused.to_string().contains("resume after"), "{refused}");
    assert_eq!(syncer.api().metrics().requests(), 0);
}
