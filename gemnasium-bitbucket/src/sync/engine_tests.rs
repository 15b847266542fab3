//! Engine tests against the in-memory fake of the two Bitbucket traits.

use std::collections::BTreeSet;
use std::sync::Mutex;

use futures::FutureExt;

use super::*;
use crate::api::hooks::Hook;
use crate::model::{
    AccountUuid, HookEvents, HookUuid, Provider, ProviderName, RepoUuid, Repository, ServiceUrl,
    Source,
};
use crate::store::{MemoryStore, ProviderStore, RepoStore, SourceStore, WriteOutcome};
use crate::testing::FakeBitbucket;

fn bb() -> ProviderName {
    "bitbucket.org".parse().unwrap()
}

fn me() -> AccountUuid {
    "{00000000-0000-0000-0000-0000000000aa}".parse().unwrap()
}

fn repo(ws: &str, slug: &str, n: u32) -> Repository {
    let mut repo = Repository::new(
        format!("{{{n:08x}-0000-4000-8000-000000000000}}")
            .parse::<RepoUuid>()
            .unwrap(),
        format!("{ws}/{slug}"),
    );
    repo.is_private = true;
    repo.main_branch = Some("main".into());
    repo
}

fn fake(workspaces: &[&str]) -> FakeBitbucket {
    let fake = FakeBitbucket::new();
    for w in workspaces {
        fake.add_workspace(w);
    }
    fake
}

async fn store() -> MemoryStore {
    let store = MemoryStore::new();
    let p = Provider::bitbucket_cloud();
    assert_eq!(
        store.create_provider(&p).await.unwrap(),
        WriteOutcome::Created
    );
    let source = Source::new(
        p.name.clone(),
        "Bitbucket Cloud".parse().unwrap(),
        p.kind,
        p.api_url.clone(),
    );
    assert_eq!(
        store.create_source(&source).await.unwrap(),
        WriteOutcome::Created
    );
    store
}

fn live(repos: &[crate::store::StoredRepository]) -> BTreeSet<String> {
    repos
        .iter()
        .filter(|r| r.gone_since.is_none())
        .map(|r| r.repository.full_name.clone())
        .collect()
}

#[tokio::test]
async fn crawl_records_every_workspace_and_dedupes() {
    let fake = fake(&["beta", "acme", "empty", "acme"]);
    fake.set_repositories(
        "acme",
        Ok(vec![
            repo("acme", "a", 1),
            repo("acme", "b", 2),
            repo("acme", "a", 1),
        ]),
    );
    fake.set_repositories("beta", Ok(vec![repo("beta", "x", 3)]));
    let store = store().await;
    let report = crawl(
        &fake,
        &store,
        &bb(),
        &me(),
        &CrawlOptions::default(),
        &Quiet,
    )
    .await
    .unwrap();
    assert_eq!(report.repositories, 3);
    assert_eq!(report.changes.new, 3);
    assert_eq!(report.workspaces.len(), 3, "{report:?}");
    assert_eq!(report.failures().count(), 0);
    let again = crawl(
        &fake,
        &store,
        &bb(),
        &me(),
        &CrawlOptions::default(),
        &Quiet,
    )
    .await
    .unwrap();
    assert_eq!((again.changes.new, again.changes.unchanged), (0, 3));
}

#[tokio::test]
async fn a_failed_workspace_keeps_its_previous_list() {
    let fake = fake(&["acme", "beta"]);
    fake.set_repositories("acme", Ok(vec![repo("acme", "a", 1)]));
    fake.set_repositories("beta", Ok(vec![repo("beta", "x", 3)]));
    let store = store().await;
    let _ = crawl(
        &fake,
        &store,
        &bb(),
        &me(),
        &CrawlOptions::default(),
        &Quiet,
    )
    .await
    .unwrap();

    fake.set_repositories(
        "acme",
        Err(RemoteError::new(
            RemoteErrorKind::Other,
            "HTTP 500 after 6 attempts",
        )),
    );
    fake.set_repositories("beta", Ok(vec![]));
    let report = crawl(
        &fake,
        &store,
        &bb(),
        &me(),
        &CrawlOptions::default(),
        &Quiet,
    )
    .await
    .unwrap();
    let failures: Vec<_> = report.failures().map(|(s, _)| s.to_owned()).collect();
    assert_eq!(failures, ["acme"]);
    assert_eq!(report.changes.gone, 1, "beta was listed completely, empty");
    let stored = store.repositories(&bb(), None).await.unwrap();
    assert_eq!(live(&stored), BTreeSet::from(["acme/a".to_owned()]));
}

#[tokio::test]
async fn workspace_filter_and_unknown_workspace() {
    let fake = fake(&["acme", "beta"]);
    fake.set_repositories("acme", Ok(vec![repo("acme", "a", 1)]));
    fake.set_repositories("beta", Ok(vec![repo("beta", "x", 3)]));
    let store = store().await;
    let only = CrawlOptions::new().workspace(Some("beta".into()));
    let report = crawl(&fake, &store, &bb(), &me(), &only, &Quiet)
        .await
        .unwrap();
    assert_eq!(report.repositories, 1);
    let wrong = CrawlOptions::new().workspace(Some("gamma".into()));
    let err = crawl(&fake, &store, &bb(), &me(), &wrong, &Quiet)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "workspace `gamma` is not among the account's workspaces (acme, beta); check the slug"
    );
}

#[tokio::test]
async fn dry_run_and_crash_before_write_leave_the_store_untouched() {
    struct CrashBeforeWrite;
    impl SyncObserver for CrashBeforeWrite {
        fn before_write(&self) {
            panic!("simulated crash between fetch and write");
        }
    }
    let fake = fake(&["acme"]);
    fake.set_repositories("acme", Ok(vec![repo("acme", "a", 1)]));
    let store = store().await;
    let _ = crawl(
        &fake,
        &store,
        &bb(),
        &me(),
        &CrawlOptions::default(),
        &Quiet,
    )
    .await
    .unwrap();
    fake.set_repositories("acme", Ok(vec![repo("acme", "z", 9)]));

    let dry = CrawlOptions::new().dry_run(true);
    let report = crawl(&fake, &store, &bb(), &me(), &dry, &Quiet)
        .await
        .unwrap();
    assert_eq!(report.repositories, 1);
    let crashed = std::panic::AssertUnwindSafe(crawl(
        &fake,
        &store,
        &bb(),
        &me(),
        &CrawlOptions::default(),
        &CrashBeforeWrite,
    ))
    .catch_unwind()
    .await;
    assert!(crashed.is_err());
    let stored = store.repositories(&bb(), None).await.unwrap();
    assert_eq!(live(&stored), BTreeSet::from(["acme/a".to_owned()]));
}

fn marker() -> HookMarker {
    HookMarker::new("test-installation")
}

fn desired() -> DesiredHook {
    DesiredHook::new(
        ServiceUrl::parse("hooks URL", "https://g.example/hooks/bitbucket").unwrap(),
        HookEvents::push(),
        marker(),
    )
}

fn leases() -> HookLeases {
    HookLeases::new()
}

async fn tracked_store(names: &[(&str, u32)]) -> MemoryStore {
    let store = store().await;
    for (name, n) in names {
        let (ws, slug) = name.split_once('/').unwrap();
        let r = repo(ws, slug, *n);
        assert_eq!(
            store.track(&bb(), &r.uuid, name).await.unwrap(),
            WriteOutcome::Created
        );
    }
    store
}

#[tokio::test]
async fn reconcile_creates_once_then_makes_zero_writes() {
    let fake = FakeBitbucket::new();
    let store = tracked_store(&[("acme/a", 1), ("acme/b", 2)]).await;
    let first = reconcile_all(&fake, &store, &bb(), &desired(), &leases(), &Quiet)
        .await
        .unwrap();
    assert_eq!((first.created, first.writes), (2, 2));
    let tracked = store.tracked(&bb()).await.unwrap();
    assert!(tracked.iter().all(|t| t.hook.as_ref().is_some_and(|h| h
        .secret
        .expose_secret()
        .len()
        == 48)));
    let before = fake.hook_writes();
    let second = reconcile_all(&fake, &store, &bb(), &desired(), &leases(), &Quiet)
        .await
        .unwrap();
    assert_eq!((second.unchanged, second.writes), (2, 0), "{second:?}");
    assert_eq!(fake.hook_writes(), before);
}

#[tokio::test]
async fn reconcile_deletes_duplicates_updates_events_and_leaves_foreign_hooks() {
    let fake = FakeBitbucket::new();
    let store = tracked_store(&[("acme/a", 1)]).await;
    let _ = reconcile_all(&fake, &store, &bb(), &desired(), &leases(), &Quiet)
        .await
        .unwrap();
    let copy_uuid: HookUuid = "{c0c0c0c0-0000-4000-8000-000000000000}".parse().unwrap();
    let foreign_uuid: HookUuid = "{f0f0f0f0-0000-4000-8000-000000000000}".parse().unwrap();
    {
        let mut list = fake.hooks_of("acme/a");
        let mut copy = list[0].clone();
        copy.uuid = copy_uuid.clone();
        copy.created_at = chrono::DateTime::from_timestamp(99_999, 0);
        list.push(copy);
        list[0].events.push("repo:fork".into());
        let mut foreign = Hook::new(
            foreign_uuid.clone(),
            "https://ci.example/x",
            vec!["repo:push".into()],
        );
        foreign.description = Some("CI".into());
        list.push(foreign);
        fake.set_hooks("acme/a", list);
    }
    let summary = reconcile_all(&fake, &store, &bb(), &desired(), &leases(), &Quiet)
        .await
        .unwrap();
    assert_eq!(
        (summary.updated, summary.deleted, summary.writes),
        (1, 1, 2),
        "{summary:?}"
    );
    let hooks = fake.hooks_of("acme/a");
    let uuids: Vec<_> = hooks.iter().map(|h| h.uuid.clone()).collect();
    assert_eq!(uuids.len(), 2);
    assert_ne!(uuids[0], copy_uuid);
    assert_eq!(uuids[1], foreign_uuid);
    assert_eq!(hooks[0].events, ["repo:push"]);
}

#[tokio::test]
async fn permission_errors_warn_and_rate_limits_resume_where_they_stopped() {
    let fake = FakeBitbucket::new();
    fake.fail_hooks(
        "acme/a",
        Some(RemoteError::new(
            RemoteErrorKind::PermissionDenied,
            "you need admin permission on acme/a",
        )),
    );
    fake.set_budget(Some(3)); // a: read (refused), b: read + create, then out
    let store = tracked_store(&[("acme/a", 1), ("acme/b", 2), ("acme/c", 3), ("acme/d", 4)]).await;
    let first = reconcile_all(&fake, &store, &bb(), &desired(), &leases(), &Quiet)
        .await
        .unwrap();
    assert_eq!(first.warnings.len(), 1, "{first:?}");
    assert_eq!(first.created, 1);
    assert_eq!(
        first.remaining, 2,
        "c (refused) and d (not reached): {first:?}"
    );
    assert!(first.failed.is_empty(), "{first:?}");
    assert_eq!(first.stopped_by.unwrap().kind, RemoteErrorKind::RateLimited);

    // The budget is back: the repositories never checked come first.
    fake.set_budget(None);
    let order = Mutex::new(Vec::new());
    struct Record<'a>(&'a Mutex<Vec<String>>);
    impl SyncObserver for Record<'_> {
        fn hook_reconciled(&self, name: &str) {
            self.0.lock().unwrap().push(name.to_owned());
        }
    }
    let second = reconcile_all(&fake, &store, &bb(), &desired(), &leases(), &Record(&order))
        .await
        .unwrap();
    assert_eq!(second.created, 2, "{second:?}");
    assert_eq!(
        order.lock().unwrap()[..2],
        ["acme/c".to_owned(), "acme/d".to_owned()]
    );
}

#[tokio::test]
async fn untrack_removes_our_hook_and_keeps_tracking_if_bitbucket_refuses() {
    let fake = FakeBitbucket::new();
    let store = tracked_store(&[("acme/a", 1)]).await;
    let _ = reconcile_all(&fake, &store, &bb(), &desired(), &leases(), &Quiet)
        .await
        .unwrap();
    let uuid = repo("acme", "a", 1).uuid;

    fake.fail_hooks(
        "acme/a",
        Some(RemoteError::new(RemoteErrorKind::Other, "HTTP 503")),
    );
    assert!(
        untrack(&fake, &store, &bb(), &uuid, &marker(), false, &leases())
            .await
            .is_err()
    );
    assert_eq!(store.tracked(&bb()).await.unwrap().len(), 1);

    fake.fail_hooks("acme/a", None);
    assert!(
        untrack(&fake, &store, &bb(), &uuid, &marker(), false, &leases())
            .await
            .unwrap()
    );
    assert!(fake.hooks_of("acme/a").is_empty());
    assert!(store.tracked(&bb()).await.unwrap().is_empty());
    assert!(
        !untrack(&fake, &store, &bb(), &uuid, &marker(), false, &leases())
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_changed_url_moves_our_hook_and_untrack_removes_every_copy_of_ours() {
    // Issue 9, finding 9: sync with …/h, then …/other, then …/h left hooks at both URLs.
    let fake = FakeBitbucket::new();
    let store = tracked_store(&[("acme/a", 1)]).await;
    let at = |url: &str| {
        DesiredHook::new(
            ServiceUrl::parse("hooks URL", url).unwrap(),
            HookEvents::push(),
            marker(),
        )
    };
    for url in [
        "https://g.example/h",
        "https://g.example/other",
        "https://g.example/h",
    ] {
        let summary = reconcile_all(&fake, &store, &bb(), &at(url), &leases(), &Quiet)
            .await
            .unwrap();
        assert!(summary.complete(), "{summary:?}");
        let hooks = fake.hooks_of("acme/a");
        assert_eq!(hooks.len(), 1, "{hooks:?}");
        assert_eq!(hooks[0].url, url);
    }
    // A stray copy of ours (say, from a crashed run) is removed by untrack too.
    let mut list = fake.hooks_of("acme/a");
    let mut stray = list[0].clone();
    stray.uuid = "{5a5a5a5a-0000-4000-8000-000000000000}".parse().unwrap();
    stray.url = "https://g.example/old".into();
    list.push(stray);
    fake.set_hooks("acme/a", list);
    let uuid = repo("acme", "a", 1).uuid;
    assert!(
        untrack(&fake, &store, &bb(), &uuid, &marker(), false, &leases())
            .await
            .unwrap()
    );
    assert!(fake.hooks_of("acme/a").is_empty());
}

#[tokio::test]
async fn concurrent_runs_never_duplicate_a_hook() {
    let fake = std::sync::Arc::new(FakeBitbucket::new());
    let store =
        std::sync::Arc::new(tracked_store(&[("acme/a", 1), ("acme/b", 2), ("acme/c", 3)]).await);
    let runs: Vec<_> = (0..8)
        .map(|_| {
            let (fake, store) = (fake.clone(), store.clone());
            tokio::spawn(async move {
                reconcile_all(
                    &*fake,
                    &*store,
                    &bb(),
                    &desired(),
                    &HookLeases::new(),
                    &Quiet,
                )
                .await
                .unwrap()
            })
        })
        .collect();
    for run in futures::future::join_all(runs).await {
        let summary = run.unwrap();
        assert!(summary.failed.is_empty(), "{summary:?}");
    }
    for name in ["acme/a", "acme/b", "acme/c"] {
        assert_eq!(fake.hooks_of(name).len(), 1, "{name}");
    }
    // A later run finds every hook as desired.
    let after = reconcile_all(&*fake, &*store, &bb(), &desired(), &leases(), &Quiet)
        .await
        .unwrap();
    assert_eq!((after.unchanged, after.writes), (3, 0), "{after:?}");
}

#[tokio::test]
async fn a_listing_with_one_uuid_for_two_repositories_keeps_the_previous_list() {
    // Issue 9, finding 20: "2 listed … 250 gone", exit 0.
    let fake = fake(&["acme"]);
    let good: Vec<_> = (1..=5).map(|n| repo("acme", &format!("r{n}"), n)).collect();
    fake.set_repositories("acme", Ok(good));
    let store = store().await;
    let _ = crawl(
        &fake,
        &store,
        &bb(),
        &me(),
        &CrawlOptions::default(),
        &Quiet,
    )
    .await
    .unwrap();
    let mut bad: Vec<_> = (1..=5).map(|n| repo("acme", &format!("r{n}"), 1)).collect();
    bad.truncate(5);
    fake.set_repositories("acme", Ok(bad));
    let report = crawl(
        &fake,
        &store,
        &bb(),
        &me(),
        &CrawlOptions::default(),
        &Quiet,
    )
    .await
    .unwrap();
    let failures: Vec<_> = report
        .failures()
        .map(|(s, e)| (s.to_owned(), e.message.clone()))
        .collect();
    assert_eq!(failures.len(), 1, "{report:?}");
    assert!(failures[0].1.contains("share the uuid"), "{failures:?}");
    assert_eq!(report.changes.gone, 0);
    let stored = store.repositories(&bb(), None).await.unwrap();
    assert_eq!(live(&stored).len(), 5);
}
