//! Repository sync end to end: ApiClient → BitbucketRepos → crawl / reconcile → store, against
//! MockBitbucket with Bitbucket's quirks switched on.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use gemnasium_bitbucket::api::{
    ApiClient, ApiConfig, ApiError, Http, PageQuery, RequestBudget, RetryPolicy, StaticToken,
};
use gemnasium_bitbucket::model::{
    AccessToken, AccountUuid, HookEvents, Provider, ServiceUrl, Source,
};
use gemnasium_bitbucket::store::{DynStore, MemoryStore};
use gemnasium_bitbucket::sync::{
    crawl, reconcile_all, untrack, BitbucketRepos, CrawlError, CrawlOptions, DesiredHook,
    HookLeases, HookMarker, Quiet, RemoteErrorKind,
};
use gemnasium_bitbucket::testing::{MockBitbucket, MockConsumer, MockUser, Quirks};

const KEY: &str = "k";

struct World {
    bitbucket: MockBitbucket,
    jane: AccountUuid,
    provider: Provider,
    store: DynStore,
    repos: BitbucketRepos,
}

async fn world(consumer: MockConsumer) -> World {
    let bitbucket = MockBitbucket::start().await;
    bitbucket.add_consumer(consumer);
    let jane = bitbucket.add_user(MockUser::new("jdoe"));
    let provider = bitbucket.provider();
    let store: DynStore = Arc::new(MemoryStore::new());
    let _ = store.create_provider(&provider).await.unwrap();
    let source = Source::new(
        provider.name.clone(),
        "Bitbucket Cloud".parse().unwrap(),
        provider.kind,
        provider.api_url.clone(),
    );
    let _ = store.create_source(&source).await.unwrap();
    let (access, _) = bitbucket.issue_tokens(KEY, &jane);
    let mut config = ApiConfig::new(provider.api_url.clone());
    config.retry = RetryPolicy::new(
        6,
        Duration::from_millis(2),
        Duration::from_millis(10),
        Duration::from_secs(10),
    );
    config.budget = Arc::new(RequestBudget::new(100_000, Duration::from_secs(3600)));
    let api = ApiClient::new(
        Http::with_defaults(),
        config,
        Arc::new(StaticToken(AccessToken::new(access).unwrap())),
    );
    World {
        bitbucket,
        jane,
        provider,
        store,
        repos: BitbucketRepos::new(api),
    }
}

/// acme: 23 repositories, beta: 4, empty: none; jane is admin of acme's first three.
fn populate(w: &World) {
    for ws in ["acme", "beta", "empty"] {
        w.bitbucket.add_workspace(ws, &[&w.jane]);
    }
    w.bitbucket.add_workspace("others", &[]);
    w.bitbucket.add_repository("others", "secret", &[]);
    for i in 0..23 {
        let admins: &[&AccountUuid] = if i < 3 { &[&w.jane] } else { &[] };
        w.bitbucket
            .add_repository("acme", &format!("r{i:02}"), admins);
    }
    for i in 0..4 {
        w.bitbucket.add_repository("beta", &format!("b{i}"), &[]);
    }
}

async fn listed(w: &World) -> BTreeSet<String> {
    w.store
        .repositories(&w.provider.name, Some(&w.jane))
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.gone_since.is_none())
        .map(|r| r.repository.full_name)
        .collect()
}

#[tokio::test]
async fn crawls_every_workspace_through_quirky_pagination() {
    let w = world(MockConsumer::new(KEY, "s")).await;
    populate(&w);
    w.bitbucket.set_quirks(Quirks {
        page_size: 5,
        next_on_last_page: true,
        unstable_order: true,
        ..Quirks::default()
    });
    let report = crawl(
        &w.repos,
        w.store.as_ref(),
        &w.provider.name,
        &w.jane,
        &CrawlOptions::default(),
        &Quiet,
    )
    .await
    .unwrap();
    assert_eq!(report.failures().count(), 0, "{report:?}");
    assert_eq!(report.workspaces.len(), 3, "members only: {report:?}");
    assert_eq!(
        report.repositories, 27,
        "the explicit sort keeps pages stable: nothing skipped, nothing twice"
    );
    let names = listed(&w).await;
    assert_eq!(names.len(), 27);
    assert!(
        names.contains("acme/r22") && names.contains("beta/b3") && !names.contains("others/secret")
    );
    let again = crawl(
        &w.repos,
        w.store.as_ref(),
        &w.provider.name,
        &w.jane,
        &CrawlOptions::default(),
        &Quiet,
    )
    .await
    .unwrap();
    assert_eq!((again.changes.new, again.changes.unchanged), (0, 27));
}

#[tokio::test]
async fn without_an_explicit_sort_the_unstable_order_would_skip_repositories() {
    // Documents why `repositories()` asks `sort=-updated_on`: the same walk without it misses
    // some repositories and sees others twice.
    let w = world(MockConsumer::new(KEY, "s")).await;
    populate(&w);
    w.bitbucket.set_quirks(Quirks {
        page_size: 5,
        unstable_order: true,
        ..Quirks::default()
    });
    let api = w.repos.api();
    let mut url = api.url(&["repositories", "acme"]);
    url.query_pairs_mut()
        .append_pair("pagelen", "5")
        .append_pair("role", "member");
    let items: Vec<serde_json::Value> = api
        .all_pages(url, &PageQuery::new(), |v: &serde_json::Value| {
            v["uuid"].to_string()
        })
        .await
        .unwrap();
    assert!(items.len() < 23, "unsorted walk saw {} of 23", items.len());
}

#[tokio::test]
async fn a_429_storm_and_500s_give_the_same_result_as_a_clean_run() {
    let clean = world(MockConsumer::new(KEY, "s")).await;
    populate(&clean);
    let _ = crawl(
        &clean.repos,
        clean.store.as_ref(),
        &clean.provider.name,
        &clean.jane,
        &CrawlOptions::default(),
        &Quiet,
    )
    .await
    .unwrap();
    let stormy = world(MockConsumer::new(KEY, "s")).await;
    populate(&stormy);
    stormy.bitbucket.set_quirks(Quirks {
        page_size: 4,
        rate_limit_every: Some(3),
        fail_every: Some(7),
        ..Quirks::default()
    });
    let report = crawl(
        &stormy.repos,
        stormy.store.as_ref(),
        &stormy.provider.name,
        &stormy.jane,
        &CrawlOptions::default(),
        &Quiet,
    )
    .await
    .unwrap();
    assert_eq!(report.failures().count(), 0, "{report:?}");
    assert_eq!(listed(&stormy).await, listed(&clean).await);
    assert!(stormy.repos.api().metrics().retries() > 0);
}

#[tokio::test]
async fn a_failed_workspace_keeps_its_previous_list_and_others_are_written() {
    let w = world(MockConsumer::new(KEY, "s")).await;
    populate(&w);
    let _ = crawl(
        &w.repos,
        w.store.as_ref(),
        &w.provider.name,
        &w.jane,
        &CrawlOptions::default(),
        &Quiet,
    )
    .await
    .unwrap();
    w.bitbucket.set_workspace_broken("acme", true);
    w.bitbucket.remove_repository("beta", "b0");
    let report = crawl(
        &w.repos,
        w.store.as_ref(),
        &w.provider.name,
        &w.jane,
        &CrawlOptions::default(),
        &Quiet,
    )
    .await
    .unwrap();
    let failed: Vec<_> = report
        .failures()
        .map(|(s, e)| (s.to_owned(), e.kind))
        .collect();
    assert_eq!(failed, [("acme".to_owned(), RemoteErrorKind::Other)]);
    assert_eq!(report.changes.gone, 1);
    let names = listed(&w).await;
    assert!(
        names.contains("acme/r00") && !names.contains("beta/b0"),
        "{names:?}"
    );
}

#[tokio::test]
async fn missing_scopes_and_retired_endpoints_are_explained() {
    let w = world(MockConsumer::new(KEY, "s").with_scopes("repository,webhook")).await;
    populate(&w);
    let err = crawl(
        &w.repos,
        w.store.as_ref(),
        &w.provider.name,
        &w.jane,
        &CrawlOptions::default(),
        &Quiet,
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, CrawlError::Workspaces(_)), "{text}");
    assert!(
        text.contains("required account") && text.contains("tick: Account: Read"),
        "{text}"
    );

    let err = w
        .repos
        .api()
        .get_json::<serde_json::Value>(w.repos.api().url(&["repositories"]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApiError::Retired { .. }) && err.to_string().contains("CHANGE-2770"),
        "{err}"
    );
}

#[tokio::test]
async fn webhooks_are_created_once_duplicates_removed_foreign_ones_kept_and_untrack_cleans_up() {
    let w = world(MockConsumer::new(KEY, "s")).await;
    populate(&w);
    let _ = crawl(
        &w.repos,
        w.store.as_ref(),
        &w.provider.name,
        &w.jane,
        &CrawlOptions::default(),
        &Quiet,
    )
    .await
    .unwrap();
    let stored = w.store.repositories(&w.provider.name, None).await.unwrap();
    for name in ["acme/r00", "acme/r01", "acme/r05"] {
        let repo = stored
            .iter()
            .find(|r| r.repository.full_name == name)
            .unwrap();
        let _ = w
            .store
            .track(&w.provider.name, &repo.repository.uuid, name)
            .await
            .unwrap();
    }
    let ours = "https://g.example/hooks/bitbucket";
    w.bitbucket
        .add_hook("acme/r01", "https://ci.example/hook", &["repo:push"]);
    w.bitbucket.add_hook("acme/r01", ours, &["repo:push"]);
    w.bitbucket.add_hook(
        "acme/r01",
        &format!("{ours}/"),
        &["repo:push", "issue:created"],
    );
    let marker = HookMarker::new(w.store.installation_id().await.unwrap());
    let desired = DesiredHook::new(
        ServiceUrl::parse("hooks URL", ours).unwrap(),
        HookEvents::push(),
        marker.clone(),
    );

    let first = reconcile_all(
        &w.repos,
        w.store.as_ref(),
        &w.provider.name,
        &desired,
        &HookLeases::new(),
        &Quiet,
    )
    .await
    .unwrap();
    assert_eq!(
        (first.created, first.updated, first.deleted),
        (1, 1, 1),
        "{first:?}"
    );
    assert_eq!(first.warnings.len(), 1, "r05: jane is not admin: {first:?}");
    assert!(first.warnings[0].1.contains("administrator"), "{first:?}");
    let r01 = w.bitbucket.hooks("acme/r01");
    let urls: Vec<_> = r01
        .iter()
        .map(|h| h["url"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        urls,
        ["https://ci.example/hook", ours],
        "foreign hook kept, one of ours"
    );
    assert_eq!(r01[1]["secret_set"], true);

    let writes = w.bitbucket.hook_writes();
    let second = reconcile_all(
        &w.repos,
        w.store.as_ref(),
        &w.provider.name,
        &desired,
        &HookLeases::new(),
        &Quiet,
    )
    .await
    .unwrap();
    assert_eq!((second.unchanged, second.writes), (2, 0), "{second:?}");
    assert_eq!(
        w.bitbucket.hook_writes(),
        writes,
        "zero write requests on the second run"
    );

    let tracked = w.store.tracked(&w.provider.name).await.unwrap();
    let r00 = tracked.iter().find(|t| t.full_name == "acme/r00").unwrap();
    assert!(untrack(
        &w.repos,
        w.store.as_ref(),
        &w.provider.name,
        &r00.uuid,
        &marker,
        false,
        &HookLeases::new(),
    )
    .await
    .unwrap());
    assert!(
        w.bitbucket.hooks("acme/r00").is_empty(),
        "our hook removed from Bitbucket"
    );
    let still: Vec<_> = w.store.tracked(&w.provider.name).await.unwrap();
    assert!(still.iter().all(|t| t.full_name != "acme/r00"), "{still:?}");
}
