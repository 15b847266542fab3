//! Engine tests against an in-memory fake of the two Bitbucket traits.
#![cfg(test)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use futures::FutureExt;
use url::Url;

use super::*;
use crate::model::{AccountUuid, Provider, ProviderName, RepoUuid, Repository, Source};
use crate::store::{MemoryStore, ProviderStore, RepoStore, SourceStore, WriteOutcome};

#[derive(Default)]
struct Fake {
    workspaces: Vec<WorkspaceRef>,
    repos: BTreeMap<String, Result<Vec<Repository>, RemoteError>>,
    hooks: Mutex<BTreeMap<String, Vec<Hook>>>,
    hook_errors: Mutex<BTreeMap<String, RemoteError>>,
    writes: AtomicUsize,
    next_id: AtomicUsize,
    /// Fail with RateLimited after this many hook calls (reads and writes).
    budget: Option<usize>,
    calls: AtomicUsize,
}

impl Fake {
    fn spend(&self, full_name: &str) -> Result<(), RemoteError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if self.budget.is_some_and(|b| n >= b) {
            return Err(RemoteError::new(
                RemoteErrorKind::RateLimited,
                "rate limited",
            ));
        }
        match self.hook_errors.lock().unwrap().get(full_name) {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl RepositoryCatalogue for Fake {
    async fn workspaces(&self) -> Result<Vec<WorkspaceRef>, RemoteError> {
        Ok(self.workspaces.clone())
    }
    async fn repositories(&self, workspace: &str) -> Result<Vec<Repository>, RemoteError> {
        self.repos.get(workspace).cloned().unwrap_or(Ok(vec![]))
    }
}

#[async_trait]
impl HookApi for Fake {
    async fn hooks(&self, full_name: &str) -> Result<Vec<Hook>, RemoteError> {
        self.spend(full_name)?;
        Ok(self
            .hooks
            .lock()
            .unwrap()
            .get(full_name)
            .cloned()
            .unwrap_or_default())
    }
    async fn create_hook(
        &self,
        full_name: &str,
        hook: &HookRequest<'_>,
    ) -> Result<Hook, RemoteError> {
        self.spend(full_name)?;
        self.writes.fetch_add(1, Ordering::SeqCst);
        let n = self.next_id.fetch_add(1, Ordering::SeqCst);
        let created = Hook {
            uuid: format!("{{hook-{n}}}"),
            url: hook.url.to_owned(),
            description: Some(hook.description.to_owned()),
            active: hook.active,
            events: hook.events.clone(),
            secret_set: hook.secret.is_some(),
            created_at: chrono::DateTime::from_timestamp(1_000 + n as i64, 0),
        };
        self.hooks
            .lock()
            .unwrap()
            .entry(full_name.into())
            .or_default()
            .push(created.clone());
        Ok(created)
    }
    async fn update_hook(
        &self,
        full_name: &str,
        uuid: &str,
        hook: &HookRequest<'_>,
    ) -> Result<Hook, RemoteError> {
        self.spend(full_name)?;
        self.writes.fetch_add(1, Ordering::SeqCst);
        let mut all = self.hooks.lock().unwrap();
        let h = all
            .get_mut(full_name)
            .and_then(|hs| hs.iter_mut().find(|h| h.uuid == uuid))
            .ok_or_else(|| RemoteError::new(RemoteErrorKind::NotFound, "no such hook"))?;
        h.events = hook.events.clone();
        h.active = hook.active;
        // Omitting the secret keeps it, as Bitbucket does.
        h.secret_set = h.secret_set || hook.secret.is_some();
        Ok(h.clone())
    }
    async fn delete_hook(&self, full_name: &str, uuid: &str) -> Result<(), RemoteError> {
        self.spend(full_name)?;
        self.writes.fetch_add(1, Ordering::SeqCst);
        let mut all = self.hooks.lock().unwrap();
        let hs = all.entry(full_name.into()).or_default();
        let before = hs.len();
        hs.retain(|h| h.uuid != uuid);
        if hs.len() == before {
            return Err(RemoteError::new(RemoteErrorKind::NotFound, "no such hook"));
        }
        Ok(())
    }
}

fn bb() -> ProviderName {
    "bitbucket.org".parse().unwrap()
}

fn me() -> AccountUuid {
    "{00000000-0000-0000-0000-0000000000aa}".parse().unwrap()
}

fn repo(ws: &str, slug: &str, n: u32) -> Repository {
    Repository {
        uuid: format!("{{{n:08x}-0000-4000-8000-000000000000}}")
            .parse::<RepoUuid>()
            .unwrap(),
        full_name: format!("{ws}/{slug}"),
        workspace: ws.into(),
        name: slug.into(),
        is_private: true,
        main_branch: Some("main".into()),
        html_url: None,
        updated_on: None,
    }
}

fn ws(slug: &str) -> WorkspaceRef {
    WorkspaceRef {
        slug: slug.into(),
        uuid: None,
    }
}

async fn store() -> MemoryStore {
    let store = MemoryStore::new();
    let p = Provider::bitbucket_cloud();
    assert_eq!(
        store.create_provider(&p).await.unwrap(),
        WriteOutcome::Created
    );
    let source = Source {
        provider: p.name.clone(),
        display_name: "Bitbucket Cloud".parse().unwrap(),
        kind: p.kind,
        api_url: p.api_url.clone(),
    };
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
    let mut fake = Fake {
        workspaces: vec![ws("beta"), ws("acme"), ws("empty"), ws("acme")],
        ..Fake::default()
    };
    fake.repos.insert(
        "acme".into(),
        Ok(vec![
            repo("acme", "a", 1),
            repo("acme", "b", 2),
            repo("acme", "a", 1),
        ]),
    );
    fake.repos
        .insert("beta".into(), Ok(vec![repo("beta", "x", 3)]));
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
    let mut fake = Fake {
        workspaces: vec![ws("acme"), ws("beta")],
        ..Fake::default()
    };
    fake.repos
        .insert("acme".into(), Ok(vec![repo("acme", "a", 1)]));
    fake.repos
        .insert("beta".into(), Ok(vec![repo("beta", "x", 3)]));
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

    fake.repos.insert(
        "acme".into(),
        Err(RemoteError::new(
            RemoteErrorKind::Other,
            "HTTP 500 after 6 attempts",
        )),
    );
    fake.repos.insert("beta".into(), Ok(vec![]));
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
    let mut fake = Fake {
        workspaces: vec![ws("acme"), ws("beta")],
        ..Fake::default()
    };
    fake.repos
        .insert("acme".into(), Ok(vec![repo("acme", "a", 1)]));
    fake.repos
        .insert("beta".into(), Ok(vec![repo("beta", "x", 3)]));
    let store = store().await;
    let only = CrawlOptions {
        workspace: Some("beta".into()),
        ..CrawlOptions::default()
    };
    let report = crawl(&fake, &store, &bb(), &me(), &only, &Quiet)
        .await
        .unwrap();
    assert_eq!(report.repositories, 1);
    let wrong = CrawlOptions {
        workspace: Some("gamma".into()),
        ..CrawlOptions::default()
    };
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
    let mut fake = Fake {
        workspaces: vec![ws("acme")],
        ..Fake::default()
    };
    fake.repos
        .insert("acme".into(), Ok(vec![repo("acme", "a", 1)]));
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
    fake.repos
        .insert("acme".into(), Ok(vec![repo("acme", "z", 9)]));

    let dry = CrawlOptions {
        dry_run: true,
        ..CrawlOptions::default()
    };
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

fn desired() -> DesiredHook {
    DesiredHook::new(
        Url::parse("https://g.example/hooks/bitbucket").unwrap(),
        ["repo:push".to_owned()],
    )
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
    let fake = Fake::default();
    let store = tracked_store(&[("acme/a", 1), ("acme/b", 2)]).await;
    let first = reconcile_all(&fake, &store, &bb(), &desired(), &Quiet)
        .await
        .unwrap();
    assert_eq!((first.created, first.writes), (2, 2));
    let tracked = store.tracked(&bb()).await.unwrap();
    assert!(tracked.iter().all(|t| t.hook.as_ref().is_some_and(|h| h
        .secret
        .expose_secret()
        .len()
        == 48)));
    let before = fake.writes.load(Ordering::SeqCst);
    let second = reconcile_all(&fake, &store, &bb(), &desired(), &Quiet)
        .await
        .unwrap();
    assert_eq!((second.unchanged, second.writes), (2, 0), "{second:?}");
    assert_eq!(fake.writes.load(Ordering::SeqCst), before);
}

#[tokio::test]
async fn reconcile_deletes_duplicates_updates_events_and_leaves_foreign_hooks() {
    let fake = Fake::default();
    let store = tracked_store(&[("acme/a", 1)]).await;
    let _ = reconcile_all(&fake, &store, &bb(), &desired(), &Quiet)
        .await
        .unwrap();
    {
        let mut hooks = fake.hooks.lock().unwrap();
        let list = hooks.get_mut("acme/a").unwrap();
        let mut copy = list[0].clone();
        copy.uuid = "{copy}".into();
        copy.created_at = chrono::DateTime::from_timestamp(99_999, 0);
        list.push(copy);
        list[0].events.push("issue:created".into());
        list.push(Hook {
            uuid: "{foreign}".into(),
            url: "https://ci.example/x".into(),
            ..list[0].clone()
        });
    }
    let summary = reconcile_all(&fake, &store, &bb(), &desired(), &Quiet)
        .await
        .unwrap();
    assert_eq!(
        (summary.updated, summary.deleted, summary.writes),
        (1, 1, 2),
        "{summary:?}"
    );
    let hooks = fake.hooks.lock().unwrap()["acme/a"].clone();
    let uuids: Vec<_> = hooks.iter().map(|h| h.uuid.as_str()).collect();
    assert_eq!(uuids, ["{hook-0}", "{foreign}"]);
    assert_eq!(hooks[0].events, ["repo:push"]);
}

#[tokio::test]
async fn permission_errors_warn_and_rate_limits_resume_where_they_stopped() {
    let mut fake = Fake::default();
    fake.hook_errors.lock().unwrap().insert(
        "acme/a".into(),
        RemoteError::new(
            RemoteErrorKind::PermissionDenied,
            "you need admin permission on acme/a",
        ),
    );
    fake.budget = Some(3); // b: read + create = 2 calls, c: read = 3rd call, then out
    let store = tracked_store(&[("acme/a", 1), ("acme/b", 2), ("acme/c", 3), ("acme/d", 4)]).await;
    let first = reconcile_all(&fake, &store, &bb(), &desired(), &Quiet)
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
    fake.budget = None;
    fake.calls.store(0, Ordering::SeqCst);
    let order = Mutex::new(Vec::new());
    struct Record<'a>(&'a Mutex<Vec<String>>);
    impl SyncObserver for Record<'_> {
        fn hook_reconciled(&self, name: &str) {
            self.0.lock().unwrap().push(name.to_owned());
        }
    }
    let second = reconcile_all(&fake, &store, &bb(), &desired(), &Record(&order))
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
    let fake = Fake::default();
    let store = tracked_store(&[("acme/a", 1)]).await;
    let _ = reconcile_all(&fake, &store, &bb(), &desired(), &Quiet)
        .await
        .unwrap();
    let uuid = repo("acme", "a", 1).uuid;

    fake.hook_errors.lock().unwrap().insert(
        "acme/a".into(),
        RemoteError::new(RemoteErrorKind::Other, "HTTP 503"),
    );
    assert!(untrack(&fake, &store, &bb(), &uuid, false).await.is_err());
    assert_eq!(store.tracked(&bb()).await.unwrap().len(), 1);

    fake.hook_errors.lock().unwrap().clear();
    assert!(untrack(&fake, &store, &bb(), &uuid, false).await.unwrap());
    assert!(fake.hooks.lock().unwrap()["acme/a"].is_empty());
    assert!(store.tracked(&bb()).await.unwrap().is_empty());
    assert!(!untrack(&fake, &store, &bb(), &uuid, false).await.unwrap());
}
