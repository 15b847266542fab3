//! Conformance checks for [`RepoStore`](crate::store::RepoStore), written once and run on every backend by the store
//! conformance suite: each function takes a fresh, empty store.

use chrono::{DateTime, Duration, Utc};

use crate::model::{
    AccountUuid, HookRecord, Provider, ProviderName, RepoUuid, Repository, SecretText, Source,
};
use crate::store::{
    BudgetPolicy, HookLease, ListingState, Store, StoreError, WorkspaceListing, WriteOutcome,
};

/// Every check, by name, so a backend's suite can run them all.
pub const CHECKS: &[&str] = &[
    "listing_counts_new_updated_unchanged_gone",
    "listing_needs_its_source",
    "other_workspaces_and_accounts_are_untouched",
    "gone_repositories_come_back_as_new",
    "tracking_and_hooks",
    "deleting_the_source_forgets_its_repositories",
    "hook_leases_exclude_other_holders",
    "deliveries_find_their_hook",
    "listing_states_follow_full_and_incremental_listings",
    "proofs_of_hooks_keep_the_latest",
    "the_consumer_budget_is_shared_capped_and_atomic",
];

/// Runs the check called `name` on `store`.
pub async fn run(name: &str, store: &dyn Store) {
    match name {
        "listing_counts_new_updated_unchanged_gone" => listing_counts(store).await,
        "listing_needs_its_source" => listing_needs_its_source(store).await,
        "other_workspaces_and_accounts_are_untouched" => other_scopes_untouched(store).await,
        "gone_repositories_come_back_as_new" => gone_come_back(store).await,
        "tracking_and_hooks" => tracking_and_hooks(store).await,
        "deleting_the_source_forgets_its_repositories" => delete_source_forgets(store).await,
        "hook_leases_exclude_other_holders" => hook_leases(store).await,
        "deliveries_find_their_hook" => deliveries_find_their_hook(store).await,
        "listing_states_follow_full_and_incremental_listings" => listing_states(store).await,
        "proofs_of_hooks_keep_the_latest" => proofs_keep_the_latest(store).await,
        "the_consumer_budget_is_shared_capped_and_atomic" => consumer_budget(store).await,
        other => panic!("no repo conformance check named {other}"),
    }
}

fn bb() -> ProviderName {
    "bitbucket.org".parse().unwrap()
}

fn account(n: u8) -> AccountUuid {
    format!("{{0000000{n}-0000-0000-0000-000000000000}}")
        .parse()
        .unwrap()
}

fn repo(workspace: &str, slug: &str, n: u32) -> Repository {
    let mut repo = Repository::new(
        format!("{{{n:08x}-0000-4000-8000-000000000000}}")
            .parse::<RepoUuid>()
            .unwrap(),
        format!("{workspace}/{slug}"),
    );
    repo.is_private = n.is_multiple_of(2);
    repo.main_branch = Some("main".to_owned());
    repo.html_url = Some(format!("https://bitbucket.org/{workspace}/{slug}"));
    repo.updated_on = DateTime::from_timestamp(1_700_000_000 + i64::from(n), 0);
    repo.created_on = DateTime::from_timestamp(1_600_000_000, 123_456_000);
    repo.scm = Some("git".to_owned());
    repo.project_key = Some("PROJ".to_owned());
    repo.language = Some("rust".to_owned());
    repo.clone_https = Some(format!("https://bitbucket.org/{workspace}/{slug}.git"));
    repo.fork_of = n.is_multiple_of(3).then(|| "upstream/x".to_owned());
    repo
}

async fn with_source(store: &dyn Store) {
    let provider = Provider::bitbucket_cloud();
    assert_eq!(
        store.create_provider(&provider).await.unwrap(),
        WriteOutcome::Created
    );
    let source = Source::new(
        provider.name.clone(),
        "Bitbucket Cloud".parse().unwrap(),
        provider.kind,
        provider.api_url.clone(),
    );
    assert_eq!(
        store.create_source(&source).await.unwrap(),
        WriteOutcome::Created
    );
}

async fn record(
    store: &dyn Store,
    account_n: u8,
    workspace: &str,
    repositories: &[Repository],
    seen_at: DateTime<Utc>,
) -> Result<crate::store::ListingChanges, StoreError> {
    let listing = WorkspaceListing::new(workspace, repositories.to_vec());
    store
        .record_listings(&bb(), &account(account_n), &[listing], seen_at)
        .await
}

fn now() -> DateTime<Utc> {
    // Whole seconds: backends may store second precision.
    DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap()
}

async fn listing_counts(store: &dyn Store) {
    with_source(store).await;
    let t0 = now();
    let first = vec![
        repo("acme", "a", 1),
        repo("acme", "b", 2),
        repo("acme", "c", 3),
    ];
    let changes = record(store, 1, "acme", &first, t0).await.unwrap();
    assert_eq!(
        (
            changes.new,
            changes.updated,
            changes.unchanged,
            changes.gone
        ),
        (3, 0, 0, 0)
    );

    let mut renamed = repo("acme", "b-renamed", 2);
    renamed.uuid = first[1].uuid.clone();
    let t1 = t0 + Duration::seconds(60);
    let second = vec![first[0].clone(), renamed.clone(), first[0].clone()];
    let changes = record(store, 1, "acme", &second, t1).await.unwrap();
    assert_eq!(
        (
            changes.new,
            changes.updated,
            changes.unchanged,
            changes.gone
        ),
        (0, 1, 1, 1)
    );

    let stored = store.repositories(&bb(), Some(&account(1))).await.unwrap();
    let names: Vec<_> = stored
        .iter()
        .map(|r| r.repository.full_name.as_str())
        .collect();
    assert_eq!(names, ["acme/a", "acme/b-renamed", "acme/c"]);
    let a = &stored[0];
    assert_eq!((a.first_seen, a.last_seen, a.gone_since), (t0, t1, None));
    assert_eq!(stored[1].repository, renamed);
    assert_eq!(stored[2].gone_since, Some(t1));
    assert_eq!(stored[2].last_seen, t0);
}

async fn listing_needs_its_source(store: &dyn Store) {
    let err = record(store, 1, "acme", &[repo("acme", "a", 1)], now())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    let err = store
        .track(&bb(), &repo("acme", "a", 1).uuid, "acme/a")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
}

async fn other_scopes_untouched(store: &dyn Store) {
    with_source(store).await;
    let t = now();
    record(store, 1, "acme", &[repo("acme", "a", 1)], t)
        .await
        .unwrap();
    record(store, 1, "beta", &[repo("beta", "x", 9)], t)
        .await
        .unwrap();
    record(store, 2, "acme", &[repo("acme", "a", 1)], t)
        .await
        .unwrap();
    // An empty but complete listing of acme for account 1 marks only that scope gone.
    let changes = record(store, 1, "acme", &[], t).await.unwrap();
    assert_eq!(changes.gone, 1);
    let live = |repos: Vec<crate::store::StoredRepository>| {
        repos.into_iter().filter(|r| r.gone_since.is_none()).count()
    };
    assert_eq!(
        live(store.repositories(&bb(), Some(&account(1))).await.unwrap()),
        1
    );
    assert_eq!(
        live(store.repositories(&bb(), Some(&account(2))).await.unwrap()),
        1
    );
    assert_eq!(store.repositories(&bb(), None).await.unwrap().len(), 3);
}

async fn gone_come_back(store: &dyn Store) {
    with_source(store).await;
    let t = now();
    let a = repo("acme", "a", 1);
    record(store, 1, "acme", std::slice::from_ref(&a), t)
        .await
        .unwrap();
    record(store, 1, "acme", &[], t).await.unwrap();
    let changes = record(store, 1, "acme", std::slice::from_ref(&a), t)
        .await
        .unwrap();
    assert_eq!((changes.new, changes.gone), (1, 0));
    let stored = store.repositories(&bb(), None).await.unwrap();
    assert_eq!(stored[0].gone_since, None);
}

async fn tracking_and_hooks(store: &dyn Store) {
    with_source(store).await;
    let a = repo("acme", "a", 1);
    assert_eq!(
        store.track(&bb(), &a.uuid, "acme/a").await.unwrap(),
        WriteOutcome::Created
    );
    assert_eq!(
        store.track(&bb(), &a.uuid, "acme/a").await.unwrap(),
        WriteOutcome::Unchanged
    );
    let hook = hook_record(1);
    assert_eq!(store.tracked(&bb()).await.unwrap()[0].checked_at, None);
    let t = now();
    store
        .record_hook(&bb(), &a.uuid, Some(&hook), t)
        .await
        .unwrap();
    let tracked = store.tracked(&bb()).await.unwrap();
    assert_eq!(tracked.len(), 1);
    assert_eq!(tracked[0].hook.as_ref(), Some(&hook));
    assert_eq!(tracked[0].checked_at, Some(t));
    let other = repo("acme", "b", 2);
    let err = store
        .record_hook(&bb(), &other.uuid, None, t)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    let removed = store.untrack(&bb(), &a.uuid).await.unwrap().unwrap();
    assert_eq!(removed.hook, Some(hook));
    assert!(store.untrack(&bb(), &a.uuid).await.unwrap().is_none());
    assert!(store.tracked(&bb()).await.unwrap().is_empty());
}

async fn delete_source_forgets(store: &dyn Store) {
    with_source(store).await;
    let a = repo("acme", "a", 1);
    record(store, 1, "acme", std::slice::from_ref(&a), now())
        .await
        .unwrap();
    assert_eq!(
        store.track(&bb(), &a.uuid, "acme/a").await.unwrap(),
        WriteOutcome::Created
    );
    store.delete_source(&bb()).await.unwrap();
    assert!(store.repositories(&bb(), None).await.unwrap().is_empty());
    assert!(store.tracked(&bb()).await.unwrap().is_empty());
}

fn hook_record(n: u32) -> HookRecord {
    HookRecord::new(
        format!("{{{n:08x}-0b35-4e1c-a56a-f6e6a24ab2c9}}")
            .parse()
            .unwrap(),
        "https://g.example/hooks/bitbucket",
        SecretText::new("x".repeat(64)).unwrap(),
        vec!["repo:push".to_owned(), "repo:updated".to_owned()],
    )
}

async fn hook_leases(store: &dyn Store) {
    with_source(store).await;
    let a = repo("acme", "a", 1);
    let t = now();
    let later = t + Duration::seconds(60);
    assert_eq!(
        store
            .claim_hook(&bb(), &a.uuid, "run-1", t, later)
            .await
            .unwrap(),
        HookLease::NotTracked
    );
    let _ = store.track(&bb(), &a.uuid, "acme/a").await.unwrap();
    assert_eq!(
        store
            .claim_hook(&bb(), &a.uuid, "run-1", t, later)
            .await
            .unwrap(),
        HookLease::Claimed
    );
    assert_eq!(
        store
            .claim_hook(&bb(), &a.uuid, "run-1", t, later)
            .await
            .unwrap(),
        HookLease::Claimed,
        "the holder may claim again"
    );
    assert_eq!(
        store
            .claim_hook(&bb(), &a.uuid, "run-2", t, later)
            .await
            .unwrap(),
        HookLease::Busy(later)
    );
    store.release_hook(&bb(), &a.uuid, "run-2").await.unwrap();
    assert!(
        matches!(
            store
                .claim_hook(&bb(), &a.uuid, "run-2", t, later)
                .await
                .unwrap(),
            HookLease::Busy(_)
        ),
        "only the holder releases"
    );
    assert_eq!(
        store
            .claim_hook(
                &bb(),
                &a.uuid,
                "run-2",
                later,
                later + Duration::seconds(60)
            )
            .await
            .unwrap(),
        HookLease::Claimed,
        "an expired claim is taken over"
    );
    store.release_hook(&bb(), &a.uuid, "run-2").await.unwrap();
    assert_eq!(
        store
            .claim_hook(&bb(), &a.uuid, "run-3", t, later)
            .await
            .unwrap(),
        HookLease::Claimed
    );
}

async fn deliveries_find_their_hook(store: &dyn Store) {
    with_source(store).await;
    let a = repo("acme", "a", 1);
    let _ = store.track(&bb(), &a.uuid, "acme/a").await.unwrap();
    let hook = hook_record(7);
    store
        .record_hook(&bb(), &a.uuid, Some(&hook), now())
        .await
        .unwrap();
    // As the X-Hook-UUID header carries it: without braces.
    let header: crate::model::HookUuid = hook.uuid.bare().parse().unwrap();
    let found = store.tracked_by_hook(&header).await.unwrap().unwrap();
    assert_eq!(found.uuid, a.uuid);
    assert_eq!(found.hook, Some(hook));
    assert_eq!(
        store
            .tracked_repository(&bb(), &a.uuid)
            .await
            .unwrap()
            .map(|t| t.full_name),
        Some("acme/a".to_owned())
    );
    let other = hook_record(8);
    assert!(store.tracked_by_hook(&other.uuid).await.unwrap().is_none());
}

async fn listing_states(store: &dyn Store) {
    with_source(store).await;
    let t0 = now();
    let first = vec![
        repo("acme", "a", 1),
        repo("acme", "b", 2),
        repo("acme", "c", 3),
    ];
    let _ = record(store, 1, "acme", &first, t0).await.unwrap();
    let states = store.listing_states(&bb(), &account(1)).await.unwrap();
    assert_eq!(states, [ListingState::new("acme", t0, t0, 3)]);
    assert!(store
        .listing_states(&bb(), &account(2))
        .await
        .unwrap()
        .is_empty());

    // An incremental listing: one changed, one new; the third is kept, not gone.
    let t1 = t0 + Duration::seconds(60);
    let mut changed = repo("acme", "b", 2);
    changed.name = "Bee".to_owned();
    let listing = WorkspaceListing::incremental("acme", vec![changed, repo("acme", "d", 4)], 4);
    let changes = store
        .record_listings(&bb(), &account(1), &[listing], t1)
        .await
        .unwrap();
    assert_eq!(
        (
            changes.new,
            changes.updated,
            changes.unchanged,
            changes.gone
        ),
        (1, 1, 2, 0),
        "{changes:?}"
    );
    let states = store.listing_states(&bb(), &account(1)).await.unwrap();
    assert_eq!(
        states,
        [ListingState::new("acme", t1, t0, 4)],
        "full_at kept"
    );
    let rows = store.repositories(&bb(), Some(&account(1))).await.unwrap();
    assert_eq!(rows.len(), 4);
    assert!(rows
        .iter()
        .all(|r| r.gone_since.is_none() && r.last_seen == t1));

    // A full listing again: what it lacks is gone, and both times move.
    let t2 = t1 + Duration::seconds(60);
    let changes = record(store, 1, "acme", &first[..2], t2).await.unwrap();
    assert_eq!(changes.gone, 2);
    let states = store.listing_states(&bb(), &account(1)).await.unwrap();
    assert_eq!(states, [ListingState::new("acme", t2, t2, 2)]);
    store.delete_source(&bb()).await.unwrap();
    let provider = Provider::bitbucket_cloud();
    let source = Source::new(
        provider.name.clone(),
        "Bitbucket Cloud".parse().unwrap(),
        provider.kind,
        provider.api_url.clone(),
    );
    let _ = store.create_source(&source).await.unwrap();
    assert!(store
        .listing_states(&bb(), &account(1))
        .await
        .unwrap()
        .is_empty());
}

async fn proofs_keep_the_latest(store: &dyn Store) {
    with_source(store).await;
    let r = repo("acme", "a", 1);
    let t0 = now();
    assert!(matches!(
        store.prove_hook(&bb(), &r.uuid, t0).await,
        Err(StoreError::NotFound { .. })
    ));
    let _ = store.track(&bb(), &r.uuid, &r.full_name).await.unwrap();
    let proven = || async {
        store
            .tracked_repository(&bb(), &r.uuid)
            .await
            .unwrap()
            .unwrap()
            .proven_at
    };
    assert_eq!(proven().await, None);
    store.prove_hook(&bb(), &r.uuid, t0).await.unwrap();
    store
        .prove_hook(&bb(), &r.uuid, t0 - Duration::seconds(30))
        .await
        .unwrap();
    assert_eq!(
        proven().await,
        Some(t0),
        "an older proof does not replace a newer one"
    );
    store
        .record_hook(&bb(), &r.uuid, Some(&hook_record(1)), t0)
        .await
        .unwrap();
    assert_eq!(proven().await, Some(t0), "a check keeps the proof");
}

async fn consumer_budget(store: &dyn Store) {
    let policy = BudgetPolicy::new(10, std::time::Duration::from_secs(3600), 6);
    let t0 = now();
    let take = |account: &'static str, want: u64, at: DateTime<Utc>| {
        let policy = policy.clone();
        async move {
            store
                .reserve_requests("bb/key", account, &policy, want, at)
                .await
                .unwrap()
        }
    };
    assert_eq!(take("a", 5, t0).await.granted, 5);
    assert_eq!(take("a", 5, t0).await.granted, 1, "a's cap is 6");
    let refused = take("a", 5, t0).await;
    assert_eq!(refused.granted, 0);
    assert!(refused
        .resume_at
        .is_some_and(|t| t > t0 + Duration::minutes(59)));
    assert_eq!(
        take("b", 5, t0).await.granted,
        4,
        "the consumer's limit is 10"
    );
    assert_eq!(take("c", 5, t0).await.granted, 0);
    assert_eq!(
        store
            .reserve_requests("other/key", "a", &policy, 5, t0)
            .await
            .unwrap()
            .granted,
        5,
        "another consumer has its own budget"
    );
    // An hour later everything was freed.
    assert_eq!(take("c", 5, t0 + Duration::minutes(62)).await.granted, 5);

    // Concurrent reservations never grant more than the limit.
    let policy = BudgetPolicy::new(40, std::time::Duration::from_secs(3600), 40);
    let grants = futures::future::join_all((0..16).map(|i| {
        let policy = policy.clone();
        async move {
            store
                .reserve_requests(
                    "race/key",
                    if i % 2 == 0 { "x" } else { "y" },
                    &policy,
                    5,
                    t0,
                )
                .await
                .unwrap()
                .granted
        }
    }))
    .await;
    assert_eq!(grants.iter().sum::<u64>(), 40, "{grants:?}");
}
