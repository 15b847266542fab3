//! `repo-syncer sync`, `repos list`, `track` and `untrack`.

use std::io::IsTerminal;

use gemnasium_bitbucket::model::ProviderName;
use gemnasium_bitbucket::service::{Credential, SyncOptions, SyncReport};
use gemnasium_bitbucket::store::ListingKind;
use gemnasium_bitbucket::sync::{
    RemoteError, RemoteErrorKind, SyncObserver, WorkspaceRef, WorkspaceResult,
};
use gemnasium_bitbucket::Bitbucket;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use super::{Access, Ctx};
use crate::cli::{RepoSyncerCommand, ReposCommand, WhoArgs};
use crate::error::{hinted, with_hint};
use crate::outln;
use crate::output::{print_json, print_outcome, print_table, warn};

/// The credential chosen on the command line (`None`: the library's default).
pub fn credential(who: &WhoArgs) -> Option<Credential> {
    if who.as_consumer {
        Some(Credential::Consumer)
    } else if let Some(name) = &who.credential {
        Some(Credential::Stored(name.clone()))
    } else {
        who.account.clone().map(Credential::Account)
    }
}

async fn chosen(
    bitbucket: &Bitbucket,
    source: &ProviderName,
    who: &WhoArgs,
) -> anyhow::Result<Credential> {
    Ok(match credential(who) {
        Some(c) => c,
        None => bitbucket.default_credential(source).await?,
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
        self.0
            .set_message(crate::output::escaped(slug).into_owned());
        self.0.inc(1);
    }
    fn workspace_failed(&self, slug: &str, _error: &RemoteError) {
        self.0
            .set_message(format!("{} failed", crate::output::escaped(slug)));
        self.0.inc(1);
    }
    fn hooks_started(&self, tracked: usize) {
        self.0.set_position(0);
        self.0.set_length(tracked as u64);
        self.0.set_message("webhooks");
    }
    fn hook_reconciled(&self, full_name: &str) {
        self.0
            .set_message(crate::output::escaped(full_name).into_owned());
        self.0.inc(1);
    }
}

pub async fn run(ctx: &Ctx, command: RepoSyncerCommand) -> anyhow::Result<()> {
    match command {
        RepoSyncerCommand::Sync {
            source,
            who,
            workspace,
            hooks_url,
            events,
            dry_run,
            time_limit,
            full,
        } => {
            let mut options = SyncOptions::new().dry_run(dry_run).full_listing(full);
            if let Some(w) = workspace {
                options = options.workspace(w);
            }
            if let Some(url) = hooks_url {
                options = options.hooks(url, events);
            }
            if let Some(limit) = time_limit.and_then(|l| l.to_std().ok()) {
                options = options.time_limit(limit);
            }
            sync(ctx, &source, &who, &options).await
        }
        RepoSyncerCommand::Repos {
            command:
                ReposCommand::List {
                    source,
                    who,
                    refresh,
                },
        } => list(ctx, &source, &who, refresh).await,
        RepoSyncerCommand::Track { source, full_names } => {
            let bitbucket = ctx.bitbucket(Access::Write, 30).await?;
            for tracked in bitbucket.track(&source, &full_names).await? {
                let outcome = if tracked.outcome.as_str() == "created" {
                    "tracked"
                } else {
                    "already tracked"
                };
                print_outcome(ctx.json, "repository", &tracked.full_name, outcome)?;
            }
            Ok(())
        }
        RepoSyncerCommand::Untrack {
            source,
            full_names,
            who,
            keep_hooks,
        } => {
            let bitbucket = ctx.bitbucket(Access::Write, 30).await?;
            bitbucket
                .untrack(&source, &full_names, credential(&who), keep_hooks)
                .await
                .map_err(|e| match e {
                    gemnasium_bitbucket::Error::Hook(_) => with_hint(
                        e,
                        "the repository stays tracked; retry, or pass --keep-hooks to leave the webhook on Bitbucket",
                    ),
                    other => other.into(),
                })?;
            for name in &full_names {
                print_outcome(ctx.json, "repository", name, "untracked")?;
            }
            Ok(())
        }
        RepoSyncerCommand::Sources { command } => super::sources::run(ctx, command).await,
    }
}

async fn sync(
    ctx: &Ctx,
    source: &ProviderName,
    who: &WhoArgs,
    options: &SyncOptions,
) -> anyhow::Result<()> {
    let bitbucket = ctx.bitbucket(Access::Write, 30).await?;
    let credential = chosen(&bitbucket, source, who).await?;
    let progress = Progress::new(ctx.json);
    let report = bitbucket
        .syncer(source, credential.clone())
        .await?
        .sync(options, &progress)
        .await?;
    progress.0.finish_and_clear();
    print_summary(ctx, &report, &credential, options.dry_run)?;
    if let Some(limited) = rate_limited(&report) {
        let message = match limited.resume_after {
            Some(t) => format!(
                "rate limited; resume after {}",
                t.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            None => "rate limited; resume later".to_owned(),
        };
        return Err(hinted(
            message,
            "run sync again then: only complete listings were written, and webhooks resume with the repositories not yet checked",
        ));
    }
    let failed: Vec<_> = report
        .crawl
        .failures()
        .map(|(slug, _)| slug.to_owned())
        .collect();
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
    if let Some(hooks) = &report.hooks {
        if let Some(stopped) = &hooks.stopped_by {
            return Err(hinted(
                format!("webhook reconciliation stopped: {stopped}"),
                "run sync again later; it resumes with the repositories not yet checked",
            ));
        }
        if !hooks.failed.is_empty() || !hooks.warnings.is_empty() {
            return Err(hinted(
                format!(
                    "webhooks of {} repositories could not be set (see above)",
                    hooks.failed.len() + hooks.warnings.len()
                ),
                "fix the cause (admin permission is needed on each repository) and run sync again",
            ));
        }
    }
    Ok(())
}

/// The rate limit that stopped part of the run (a workspace listing or the webhooks), the one
/// to wait longest for when several did.
fn rate_limited(report: &SyncReport) -> Option<&RemoteError> {
    report
        .crawl
        .failures()
        .map(|(_, e)| e)
        .chain(report.hooks.as_ref().and_then(|h| h.stopped_by.as_ref()))
        .filter(|e| e.kind == RemoteErrorKind::RateLimited)
        .max_by_key(|e| e.resume_after)
}

fn print_summary(
    ctx: &Ctx,
    report: &SyncReport,
    credential: &Credential,
    dry_run: bool,
) -> anyhow::Result<()> {
    let crawl = &report.crawl;
    let failures: Vec<_> = crawl
        .failures()
        .map(|(slug, e)| json!({"workspace": slug, "error": e.message}))
        .collect();
    let outcomes: Vec<_> = crawl
        .workspaces
        .iter()
        .filter_map(|w| match w {
            WorkspaceResult::Listed {
                slug,
                repositories,
                fetched,
                listing,
                reason,
            } => Some((slug, *repositories, *fetched, *listing, *reason)),
            _ => None,
        })
        .collect();
    let listing_word = |listing: ListingKind| match listing {
        ListingKind::Incremental => "incremental",
        _ => "full",
    };
    if ctx.json {
        let outcomes: Vec<_> = outcomes
            .iter()
            .map(|(slug, repositories, fetched, listing, reason)| {
                json!({"workspace": slug, "listing": listing_word(*listing), "reason": reason,
                       "repositories": repositories, "fetched": fetched})
            })
            .collect();
        return print_json(&json!({
            "dry_run": dry_run,
            "credential": credential,
            "complete": report.complete(),
            "workspaces": {"listed": crawl.workspaces.len() - failures.len(), "failed": failures,
                           "incremental": crawl.incremental, "outcomes": outcomes},
            "repositories": {"listed": crawl.repositories, "new": crawl.changes.new, "updated": crawl.changes.updated,
                             "unchanged": crawl.changes.unchanged, "gone": crawl.changes.gone},
            "hooks": report.hooks,
            "requests": report.requests, "retries": report.retries, "bytes": report.bytes,
            "seconds": report.seconds,
        }));
    }
    for (slug, error) in crawl.failures() {
        warn(format!("workspace {slug}: {error}"));
    }
    outln!(
        "workspaces: {} listed, {} failed; {} listed incrementally",
        crawl.workspaces.len() - failures.len(),
        failures.len(),
        crawl.incremental
    )?;
    for (slug, repositories, fetched, listing, reason) in &outcomes {
        outln!(
            "  {}: {} ({}), {fetched} of {repositories} repositories fetched",
            crate::output::escaped(slug),
            listing_word(*listing),
            reason.describe()
        )?;
    }
    let c = crawl.changes;
    outln!(
        "repositories: {} listed ({} new, {} updated, {} unchanged, {} gone){}",
        crawl.repositories,
        c.new,
        c.updated,
        c.unchanged,
        c.gone,
        if dry_run {
            " [dry run: nothing written]"
        } else {
            ""
        }
    )?;
    match &report.hooks {
        Some(h) => {
            for (repo, message) in &h.warnings {
                warn(format!("{repo}: {message}"));
            }
            for (repo, error) in &h.failed {
                warn(format!("{repo}: {error}"));
            }
            outln!(
                "hooks: {} created, {} updated, {} deleted, {} unchanged, {} skipped{}{}{}",
                h.created,
                h.updated,
                h.deleted,
                h.unchanged,
                h.warnings.len(),
                if h.proven > 0 {
                    format!(", {} proven by recent deliveries (not checked)", h.proven)
                } else {
                    String::new()
                },
                if h.busy > 0 {
                    format!(", {} left to a concurrent run", h.busy)
                } else {
                    String::new()
                },
                if h.remaining > 0 {
                    format!(", {} left for the next run", h.remaining)
                } else {
                    String::new()
                }
            )?;
        }
        None if dry_run => outln!("hooks: not touched (dry run)")?,
        None => outln!("hooks: not touched (pass --hooks-url to manage webhooks)")?,
    }
    outln!(
        "requests: {} ({} retries, {} bytes) in {:.1}s",
        report.requests,
        report.retries,
        report.bytes,
        report.seconds
    )?;
    Ok(())
}

async fn list(
    ctx: &Ctx,
    source: &ProviderName,
    who: &WhoArgs,
    refresh: bool,
) -> anyhow::Result<()> {
    let access = if refresh { Access::Write } else { Access::Read };
    let bitbucket = ctx.bitbucket(access, 30).await?;
    let store = bitbucket.store().clone();
    if store.source(source).await?.is_none() {
        return Err(gemnasium_bitbucket::Error::NoSource(source.clone()).into());
    }
    let account = if refresh {
        let credential = chosen(&bitbucket, source, who).await?;
        let syncer = bitbucket.syncer(source, credential.clone()).await?;
        let report = syncer
            .sync(&SyncOptions::new(), &Progress::new(ctx.json))
            .await?;
        for (slug, error) in report.crawl.failures() {
            warn(format!("workspace {slug}: {error} (previous list kept)"));
        }
        Some(bitbucket.listing_account(source, &credential).await?)
    } else {
        match credential(who) {
            Some(c) => Some(bitbucket.listing_account(source, &c).await?),
            None => None,
        }
    };
    let repos = store.repositories(source, account.as_ref()).await?;
    let tracked = store.tracked(source).await?;
    let tracking = |uuid| tracked.iter().find(|t| &t.uuid == uuid);
    if ctx.json {
        let rows: Vec<_> = repos.iter().map(|r| {
            let repo = &r.repository;
            json!({
                "full_name": repo.full_name, "uuid": repo.uuid, "account": r.account,
                "workspace": repo.workspace, "name": repo.name,
                "private": repo.is_private, "main_branch": repo.main_branch,
                "scm": repo.scm, "language": repo.language, "project_key": repo.project_key,
                "fork_of": repo.fork_of, "clone_https": repo.clone_https,
                "html_url": repo.html_url, "created_on": repo.created_on, "updated_on": repo.updated_on,
                "first_seen": r.first_seen, "last_seen": r.last_seen, "gone_since": r.gone_since,
                "tracked": tracking(&repo.uuid).is_some(),
                "hook": tracking(&repo.uuid).and_then(|t| t.hook.as_ref()).map(|h| &h.uuid),
            })
        }).collect();
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
    Ok(print_table(
        &["REPOSITORY", "VISIBILITY", "MAIN BRANCH", "TRACKING", "STATE", "LAST SEEN"],
        &rows,
        "no repositories listed yet; run `repo-syncer sync SOURCE` (or `repos list SOURCE --refresh`)",
    )?)
}
