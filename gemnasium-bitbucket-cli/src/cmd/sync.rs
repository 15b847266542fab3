//! `repo-syncer repos list`, `sync`, `track` and `untrack`.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gemnasium_bitbucket::api::{ApiClient, ApiConfig, BearerAuth, ConsumerToken, ManagedToken};
use gemnasium_bitbucket::model::{AccountUuid, ProviderName, Purpose, Source, TokenKey};
use gemnasium_bitbucket::oauth::{http_client, TokenManager, TokenSettings};
use gemnasium_bitbucket::store::DynStore;
use gemnasium_bitbucket::sync::{
    crawl, reconcile_all, untrack, BitbucketRepos, CrawlOptions, CrawlReport, DesiredHook,
    HooksSummary, RemoteError, SyncObserver, WorkspaceRef,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use super::{parse, Ctx};
use crate::cli::WhoArgs;
use crate::error::{hinted, usage};
use crate::output::{print_json, print_outcome, print_table, warn};

/// The account whose listings a consumer's own (client-credentials) syncs are stored under.
const CONSUMER_ACCOUNT: &str = "{00000000-0000-0000-0000-000000000000}";

struct Access {
    repos: BitbucketRepos,
    account: AccountUuid,
}

async fn source_of(store: &DynStore, name: &str) -> anyhow::Result<Source> {
    let name = parse::<ProviderName>(name)?;
    store.source(&name).await?.ok_or_else(|| {
        hinted(
            format!("source `{name}` does not exist"),
            format!("create it with `repo-syncer sources create {name} \"Bitbucket Cloud\" bitbucket https://api.bitbucket.org` or run `configure`"),
        )
    })
}

/// Whose token the calls use: `--as-consumer`, `--account`, or the only stored sync account.
async fn access(store: &DynStore, source: &Source, who: &WhoArgs) -> anyhow::Result<Access> {
    let name = &source.provider;
    let provider = store.provider(name).await?.ok_or_else(|| {
        hinted(
            format!("provider `{name}` does not exist"),
            "run `configure`",
        )
    })?;
    let client = store.client(name, Purpose::Sync).await?.ok_or_else(|| {
        hinted(format!("no sync client for {name}"), format!("`auth clients create {name} sync KEY SECRET repository,webhook` or run `configure`"))
    })?;
    let http = http_client(Duration::from_secs(who.timeout));
    let (auth, account): (Arc<dyn BearerAuth>, AccountUuid) = if who.as_consumer {
        (
            Arc::new(ConsumerToken::new(http, provider, client)),
            CONSUMER_ACCOUNT.parse()?,
        )
    } else {
        let accounts: Vec<AccountUuid> = store
            .tokens(Some(name))
            .await?
            .into_iter()
            .filter(|t| t.key.purpose == Purpose::Sync)
            .map(|t| t.key.account)
            .collect();
        let account = match &who.account {
            Some(a) => {
                let a = parse::<AccountUuid>(a)?;
                if !accounts.contains(&a) {
                    return Err(hinted(format!("no stored sync token for account {a}"), "list tokens with `auth tokens list`"));
                }
                a
            }
            None => match accounts.as_slice() {
                [only] => only.clone(),
                [] => {
                    return Err(hinted(
                        format!("no account has authorized the sync client of {name}"),
                        format!("an account owner runs `auth login {name} sync --homepage URL`, or use --as-consumer with a private consumer"),
                    ))
                }
                many => {
                    let list: Vec<_> = many.iter().map(ToString::to_string).collect();
                    return Err(usage(format!("several accounts can sync ({}); choose one with --account UUID", list.join(", "))));
                }
            },
        };
        let manager = Arc::new(TokenManager::new(
            store.clone(),
            http,
            TokenSettings::default(),
        ));
        let key = TokenKey {
            provider: name.clone(),
            purpose: Purpose::Sync,
            account: account.clone(),
        };
        (Arc::new(ManagedToken { manager, key }), account)
    };
    let mut config = ApiConfig::new(source.api_url.clone());
    config.timeout = Duration::from_secs(who.timeout);
    config.retry.base_delay = Duration::from_millis(who.retry_base_ms);
    if let Some(path) = &who.ca_cert {
        config.extra_ca_pem = Some(std::fs::read(path).map_err(|e| {
            hinted(
                format!("cannot read the CA certificate {}: {e}", path.display()),
                "give a readable PEM file with --ca-cert",
            )
        })?);
    }
    let api = ApiClient::new(config, auth)?;
    Ok(Access {
        repos: BitbucketRepos::new(api),
        account,
    })
}

/// A progress bar on a terminal, nothing on a pipe.
struct Progress(ProgressBar);

impl Progress {
    fn new(json: bool) -> Self {
        let target = if std::io::stderr().is_terminal() && !json {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(0), target);
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} {msg:<32} [{bar:30}] {pos}/{len}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        Self(bar)
    }
}

impl SyncObserver for Progress {
    fn workspaces_listed(&self, workspaces: &[WorkspaceRef]) {
        self.0.set_length(workspaces.len() as u64);
        self.0.set_message("listing repositories");
    }
    fn workspace_fetched(&self, slug: &str, _repositories: usize) {
        self.0.set_message(slug.to_owned());
        self.0.inc(1);
    }
    fn workspace_failed(&self, slug: &str, _error: &RemoteError) {
        self.0.set_message(format!("{slug} failed"));
        self.0.inc(1);
    }
    fn hook_reconciled(&self, full_name: &str) {
        self.0.set_message(full_name.to_owned());
        self.0.inc(1);
    }
}

#[allow(clippy::too_many_arguments)]
pub async fn sync(
    ctx: &Ctx,
    source_name: &str,
    who: &WhoArgs,
    workspace: Option<String>,
    hooks_url: Option<&str>,
    events: &str,
    dry_run: bool,
) -> anyhow::Result<()> {
    let desired = hooks_url
        .map(|u| {
            let url = url::Url::parse(u).map_err(|e| {
                hinted(
                    format!("invalid --hooks-url `{u}`: {e}"),
                    "give an absolute https URL",
                )
            })?;
            let events: Vec<String> = events
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(str::to_owned)
                .collect();
            if events.is_empty() {
                return Err(usage("--events is empty; give e.g. repo:push,repo:updated"));
            }
            Ok(DesiredHook::new(url, events))
        })
        .transpose()?;
    let store = ctx.open_store().await?;
    let source = source_of(&store, source_name).await?;
    let access = access(&store, &source, who).await?;
    let started = Instant::now();
    let progress = Progress::new(ctx.json);
    let options = CrawlOptions {
        workspace,
        dry_run,
        ..CrawlOptions::default()
    };
    let report = crawl(
        &access.repos,
        store.as_ref(),
        &source.provider,
        &access.account,
        &options,
        &progress,
    )
    .await
    .map_err(|e| {
        hinted(
            e.to_string(),
            "nothing was written; fix the cause and run sync again",
        )
    })?;
    let hooks = match (&desired, dry_run) {
        (Some(desired), false) => {
            progress.0.set_position(0);
            progress
                .0
                .set_length(store.tracked(&source.provider).await?.len() as u64);
            progress.0.set_message("webhooks");
            Some(
                reconcile_all(
                    &access.repos,
                    store.as_ref(),
                    &source.provider,
                    desired,
                    &progress,
                )
                .await?,
            )
        }
        _ => None,
    };
    progress.0.finish_and_clear();
    let metrics = access.repos.api().metrics();
    print_summary(
        ctx,
        &report,
        hooks.as_ref(),
        metrics.requests(),
        metrics.retries(),
        started.elapsed(),
        dry_run,
    )?;
    let failed: Vec<_> = report.failures().map(|(slug, _)| slug.to_owned()).collect();
    if !failed.is_empty() {
        return Err(hinted(
            format!(
                "{} workspace(s) could not be listed ({}); their previous lists were kept",
                failed.len(),
                failed.join(", ")
            ),
            "see the errors above; run sync again (only complete listings are written)",
        ));
    }
    if let Some(stopped) = hooks.as_ref().and_then(|h| h.stopped_by.as_ref()) {
        return Err(hinted(
            format!("webhook reconciliation stopped: {stopped}"),
            "run sync again later; it resumes with the repositories not yet checked",
        ));
    }
    Ok(())
}

fn print_summary(
    ctx: &Ctx,
    report: &CrawlReport,
    hooks: Option<&HooksSummary>,
    requests: u64,
    retries: u64,
    elapsed: Duration,
    dry_run: bool,
) -> anyhow::Result<()> {
    let failures: Vec<_> = report
        .failures()
        .map(|(slug, e)| json!({"workspace": slug, "error": e.message}))
        .collect();
    if ctx.json {
        return print_json(&json!({
            "dry_run": dry_run,
            "workspaces": {"listed": report.workspaces.len() - failures.len(), "failed": failures},
            "repositories": {"listed": report.repositories, "new": report.changes.new, "updated": report.changes.updated,
                             "unchanged": report.changes.unchanged, "gone": report.changes.gone},
            "hooks": hooks,
            "requests": requests, "retries": retries, "seconds": elapsed.as_secs_f64(),
        }));
    }
    for (slug, error) in report.failures() {
        warn(format!("workspace {slug}: {error}"));
    }
    println!(
        "workspaces: {} listed, {} failed",
        report.workspaces.len() - failures.len(),
        failures.len()
    );
    let c = report.changes;
    println!(
        "repositories: {} listed ({} new, {} updated, {} unchanged, {} gone){}",
        report.repositories,
        c.new,
        c.updated,
        c.unchanged,
        c.gone,
        if dry_run {
            " [dry run: nothing written]"
        } else {
            ""
        }
    );
    match hooks {
        Some(h) => {
            for (repo, message) in &h.warnings {
                warn(format!("{repo}: {message}"));
            }
            for (repo, error) in &h.failed {
                warn(format!("{repo}: {error}"));
            }
            println!(
                "hooks: {} created, {} updated, {} deleted, {} unchanged, {} skipped{}",
                h.created,
                h.updated,
                h.deleted,
                h.unchanged,
                h.warnings.len(),
                if h.remaining > 0 {
                    format!(", {} left for the next run", h.remaining)
                } else {
                    String::new()
                }
            );
        }
        None if dry_run => println!("hooks: not touched (dry run)"),
        None => println!("hooks: not touched (pass --hooks-url to manage webhooks)"),
    }
    println!(
        "requests: {requests} ({retries} retries) in {:.1}s",
        elapsed.as_secs_f64()
    );
    Ok(())
}

pub async fn list(
    ctx: &Ctx,
    source_name: &str,
    who: &WhoArgs,
    refresh: bool,
) -> anyhow::Result<()> {
    let store = ctx.open_store().await?;
    let source = source_of(&store, source_name).await?;
    let account = if refresh {
        let access = access(&store, &source, who).await?;
        let report = crawl(
            &access.repos,
            store.as_ref(),
            &source.provider,
            &access.account,
            &CrawlOptions::default(),
            &Progress::new(ctx.json),
        )
        .await?;
        for (slug, error) in report.failures() {
            warn(format!("workspace {slug}: {error} (previous list kept)"));
        }
        Some(access.account)
    } else {
        who.account
            .as_deref()
            .map(parse::<AccountUuid>)
            .transpose()?
    };
    let repos = store
        .repositories(&source.provider, account.as_ref())
        .await?;
    let tracked = store.tracked(&source.provider).await?;
    let tracking = |uuid| tracked.iter().find(|t| &t.uuid == uuid);
    if ctx.json {
        let rows: Vec<_> = repos.iter().map(|r| json!({
            "full_name": r.repository.full_name, "uuid": r.repository.uuid, "account": r.account,
            "private": r.repository.is_private, "main_branch": r.repository.main_branch,
            "html_url": r.repository.html_url, "updated_on": r.repository.updated_on,
            "last_seen": r.last_seen, "gone_since": r.gone_since,
            "tracked": tracking(&r.repository.uuid).is_some(),
            "hook": tracking(&r.repository.uuid).and_then(|t| t.hook.as_ref()).map(|h| &h.uuid),
        })).collect();
        return print_json(&rows);
    }
    let rows: Vec<Vec<String>> = repos
        .iter()
        .map(|r| {
            let t = tracking(&r.repository.uuid);
            vec![
                r.repository.full_name.clone(),
                if r.repository.is_private {
                    "private"
                } else {
                    "public"
                }
                .to_owned(),
                r.repository
                    .main_branch
                    .clone()
                    .unwrap_or_else(|| "-".to_owned()),
                match t {
                    Some(t) if t.hook.is_some() => "tracked, hook set".to_owned(),
                    Some(_) => "tracked".to_owned(),
                    None => "-".to_owned(),
                },
                if r.gone_since.is_some() {
                    "gone"
                } else {
                    "listed"
                }
                .to_owned(),
                r.last_seen.format("%Y-%m-%d %H:%M").to_string(),
            ]
        })
        .collect();
    print_table(
        &["REPOSITORY", "VISIBILITY", "MAIN BRANCH", "TRACKING", "STATE", "LAST SEEN"],
        &rows,
        "no repositories listed yet; run `repo-syncer sync SOURCE` (or `repos list SOURCE --refresh`)",
    );
    Ok(())
}

pub async fn track(ctx: &Ctx, source_name: &str, full_names: &[String]) -> anyhow::Result<()> {
    let store = ctx.open_store().await?;
    let source = source_of(&store, source_name).await?;
    let listed = store.repositories(&source.provider, None).await?;
    let mut found = Vec::new();
    for name in full_names {
        let repo = listed
            .iter()
            .find(|r| &r.repository.full_name == name && r.gone_since.is_none())
            .ok_or_else(|| {
                hinted(
                    format!(
                        "repository `{name}` is not in the last listing of {}; nothing was tracked",
                        source.provider
                    ),
                    format!(
                        "check the name (workspace/slug), or run `repo-syncer sync {}` first",
                        source.provider
                    ),
                )
            })?;
        found.push(repo);
    }
    for repo in found {
        let outcome = store
            .track(
                &source.provider,
                &repo.repository.uuid,
                &repo.repository.full_name,
            )
            .await?;
        print_outcome(
            ctx.json,
            "repository",
            &repo.repository.full_name,
            if outcome.as_str() == "created" {
                "tracked"
            } else {
                "already tracked"
            },
        )?;
    }
    Ok(())
}

pub async fn untrack_all(
    ctx: &Ctx,
    source_name: &str,
    full_names: &[String],
    who: &WhoArgs,
    keep_hooks: bool,
) -> anyhow::Result<()> {
    let store = ctx.open_store().await?;
    let source = source_of(&store, source_name).await?;
    let tracked = store.tracked(&source.provider).await?;
    let mut found = Vec::new();
    for name in full_names {
        found.push(
            tracked
                .iter()
                .find(|t| &t.full_name == name)
                .ok_or_else(|| {
                    hinted(
                        format!("repository `{name}` is not tracked; nothing was changed"),
                        format!("see `repo-syncer repos list {}`", source.provider),
                    )
                })?,
        );
    }
    let needs_bitbucket = !keep_hooks && found.iter().any(|t| t.hook.is_some());
    let access = if needs_bitbucket {
        Some(access(&store, &source, who).await?)
    } else {
        None
    };
    for repo in found {
        match &access {
            Some(access) => {
                untrack(
                    &access.repos,
                    store.as_ref(),
                    &source.provider,
                    &repo.uuid,
                    false,
                )
                .await
                .map_err(|e| {
                    hinted(
                        format!(
                            "cannot remove the webhook of {}: {e}; it stays tracked",
                            repo.full_name
                        ),
                        "retry, or pass --keep-hooks to leave the webhook on Bitbucket",
                    )
                })?;
            }
            None => {
                let _ = store.untrack(&source.provider, &repo.uuid).await?;
            }
        }
        print_outcome(ctx.json, "repository", &repo.full_name, "untracked")?;
    }
    Ok(())
}

/// Removes our webhook from every tracked repository of `provider`'s source (for `sources
/// delete`). All or nothing from the user's view: the first failure stops and explains.
pub async fn remove_all_hooks(
    store: &DynStore,
    provider: &ProviderName,
    who: &WhoArgs,
) -> anyhow::Result<usize> {
    let Some(source) = store.source(provider).await? else {
        return Ok(0);
    };
    let with_hooks: Vec<_> = store
        .tracked(provider)
        .await?
        .into_iter()
        .filter(|t| t.hook.is_some())
        .collect();
    if with_hooks.is_empty() {
        return Ok(0);
    }
    let access = access(store, &source, who).await.map_err(|e| {
        hinted(
            format!(
                "cannot reach Bitbucket to remove {} webhook(s) ({e:#}); nothing was deleted",
                with_hooks.len()
            ),
            "fix access and retry, or pass --keep-hooks to leave the webhooks on Bitbucket",
        )
    })?;
    for repo in &with_hooks {
        untrack(&access.repos, store.as_ref(), provider, &repo.uuid, false)
            .await
            .map_err(|e| {
                hinted(
                    format!(
                        "cannot remove the webhook of {} ({e}); the source was not deleted",
                        repo.full_name
                    ),
                    "retry, or pass --keep-hooks to leave the webhooks on Bitbucket",
                )
            })?;
    }
    Ok(with_hooks.len())
}
