//! Benchmark of `repo-syncer sync` against `bitbucket_sim` in a separate process.
//!
//! Build and run (release):
//! ```text
//! cargo build --release -p gemnasium-bitbucket-cli -p gemnasium-bitbucket-examples
//! target/release/sync_bench
//! ```
//! Reports (1) requests against the lower bound ceil(W/100) + Σ max(1, ceil(repos_w/100)),
//! (2) sync wall time against the critical path with 100 ms per request, (3) the sync process's
//! peak RSS for 10,000 repositories (GNU time's %M).
//!
//! `target/release/sync_bench scale` measures sync at scale instead (issue 13), each sync in its
//! own process (this binary with `--sync-child`, through the library, with a budget large enough
//! not to stop it), against the simulator with 100 ms per request: 10,000 repositories in 30
//! workspaces (first sync; a re-sync after 20 were touched and 3 deleted, incremental and in
//! full; an unchanged re-sync), 10,000 tracked repositories whose hooks deliveries proved, and
//! a first sync of 100,000 repositories.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context};
use gemnasium_bitbucket::model::{
    AccessToken, AccountInfo, Client, ClientSecret, Provider, Purpose, RefreshToken, ServiceUrl,
    Source, TokenSet,
};
use gemnasium_bitbucket::store::open;

struct Sim {
    child: Child,
    info: serde_json::Value,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Sim {
    /// Sends a change (`touch W S`, `delete W S`) and waits for its `ok`.
    fn change(&mut self, command: &str) -> anyhow::Result<()> {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().context("sim stdin")?;
        writeln!(stdin, "{command}")?;
        stdin.flush()?;
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        Ok(())
    }
}

fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::current_exe()?.with_file_name(name);
    if !path.exists() {
        bail!("{} is missing: cargo build --release -p gemnasium-bitbucket-cli -p gemnasium-bitbucket-examples", path.display());
    }
    Ok(path)
}

fn start_sim(spec: &str, latency_ms: u64) -> anyhow::Result<Sim> {
    let mut child = Command::new(sibling("bitbucket_sim")?)
        .args([spec, &latency_ms.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().context("sim stdout")?);
    stdout.read_line(&mut line)?;
    Ok(Sim {
        child,
        info: serde_json::from_str(&line)?,
        stdout,
    })
}

async fn prepare_store(dir: &Path, sim: &Sim) -> anyhow::Result<String> {
    let location = format!("sqlite://{}", dir.join("bench.db").display());
    let store = open(&location).await?;
    let uri = ServiceUrl::parse("sim", sim.info["uri"].as_str().context("uri")?)?;
    let provider = Provider::bitbucket_at(&uri, uri.clone());
    let _ = store.create_provider(&provider).await?;
    let _ = store
        .create_source(&Source::new(
            provider.name.clone(),
            "Bitbucket Cloud".parse()?,
            provider.kind,
            uri,
        ))
        .await?;
    let client = Client::new(
        provider.name.clone(),
        Purpose::Sync,
        "bench-key".parse()?,
        ClientSecret::new("bench-secret")?,
        "account,repository,webhook".parse()?,
    );
    let _ = store.create_client(&client).await?;
    let tokens = TokenSet {
        access_token: AccessToken::new(sim.info["access"].as_str().context("access")?)?,
        refresh_token: Some(RefreshToken::new(
            sim.info["refresh"].as_str().context("refresh")?,
        )?),
        expires_at: Some(chrono::Utc::now() + chrono::Duration::hours(2)),
        scopes: client.scopes.clone(),
    };
    let account = AccountInfo {
        uuid: sim.info["user"].as_str().context("user")?.parse()?,
        account_id: None,
        nickname: None,
        display_name: None,
    };
    let _ = store
        .put_token(&provider.name, Purpose::Sync, &account, &tokens)
        .await?;
    Ok(location)
}

/// Runs one sync; returns (summary JSON, process wall seconds, peak RSS in KiB if measurable).
fn run_sync(store: &str) -> anyhow::Result<(serde_json::Value, f64, Option<u64>)> {
    let cli = sibling("gemnasium-bitbucket")?;
    let time = Path::new("/usr/bin/time");
    let mut command = if time.exists() {
        let mut c = Command::new(time);
        c.args(["-f", "peak-rss-kib=%M"]).arg(&cli);
        c
    } else {
        Command::new(&cli)
    };
    command.args([
        "--store",
        store,
        "repo-syncer",
        "sync",
        "bitbucket.org",
        "--json",
    ]);
    let start = Instant::now();
    let output = command.output()?;
    let wall = start.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!("sync failed: {stderr}");
    }
    let rss = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak-rss-kib="))
        .and_then(|v| v.trim().parse().ok());
    Ok((serde_json::from_slice(&output.stdout)?, wall, rss))
}

fn lower_bound(repos: &[usize]) -> usize {
    repos.len().div_ceil(100) + repos.iter().map(|r| r.div_ceil(100).max(1)).sum::<usize>()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--sync-child") => return scale::child(&args[1..]).await,
        Some("scale") => return scale::run().await,
        _ => {}
    }
    let dir = tempfile::tempdir()?;
    let latency_ms = 100;
    let repos = [200usize, 50, 0];
    let mut sim = start_sim("acme:200,beta:50,empty:0", latency_ms)?;
    let store = prepare_store(dir.path(), &sim).await?;
    let (summary, wall, _) = run_sync(&store)?;
    drop(sim.child.stdin.take());
    let _ = sim.child.wait();
    let requests = summary["requests"].as_u64().unwrap_or_default();
    let sync_seconds = summary["seconds"].as_f64().unwrap_or_default();
    let bound = lower_bound(&repos);
    // One request lists the workspaces, then the longest workspace's pages run in sequence.
    let critical = latency_ms as f64 / 1000.0
        * (1 + repos
            .iter()
            .map(|r| r.div_ceil(100).max(1))
            .max()
            .unwrap_or(1)) as f64;
    println!("3 workspaces, 250 repositories, {latency_ms} ms per request:");
    println!("  requests: {requests} (lower bound {bound})");
    println!("  sync time: {sync_seconds:.3}s vs critical path {critical:.3}s = {:.2}x (process incl. start-up: {wall:.3}s)", sync_seconds / critical);

    let dir = tempfile::tempdir()?;
    let mut sim = start_sim("big1:5000,big2:5000,empty:0", 0)?;
    let store = prepare_store(dir.path(), &sim).await?;
    let (summary, wall, rss) = run_sync(&store)?;
    drop(sim.child.stdin.take());
    let _ = sim.child.wait();
    println!("10,000 repositories:");
    println!(
        "  listed {} in {wall:.2}s with {} requests",
        summary["repositories"]["listed"], summary["requests"]
    );
    match rss {
        Some(kib) => println!(
            "  peak RSS of the sync process: {:.1} MiB",
            kib as f64 / 1024.0
        ),
        None => println!("  peak RSS: /usr/bin/time not available"),
    }
    Ok(())
}

mod scale {
    //! The scale mode (issue 13).

    use std::path::Path;
    use std::process::Command;
    use std::time::{Duration, Instant};

    use anyhow::{bail, Context};
    use gemnasium_bitbucket::model::{HookEvents, HookRecord, SecretText, ServiceUrl};
    use gemnasium_bitbucket::service::SyncOptions;
    use gemnasium_bitbucket::store::open;
    use gemnasium_bitbucket::sync::Quiet;
    use gemnasium_bitbucket::Bitbucket;

    use super::{prepare_store, start_sim};

    const HOOKS_URL: &str = "https://gemnasium.example/hooks/bitbucket";

    /// One sync, in this process: `STORE full|incremental hooks|nohooks`; prints its numbers.
    pub async fn child(args: &[String]) -> anyhow::Result<()> {
        let [store, mode, hooks] = args else {
            bail!("usage: sync_bench --sync-child STORE full|incremental hooks|nohooks");
        };
        let bitbucket = Bitbucket::builder(open(store).await?)
            .request_budget(1_000_000, Duration::from_secs(3600))
            .build()?;
        let source = "bitbucket.org".parse()?;
        let credential = bitbucket.default_credential(&source).await?;
        let mut options = SyncOptions::new().full_listing(mode == "full");
        if hooks == "hooks" {
            options = options.hooks(ServiceUrl::parse("hooks", HOOKS_URL)?, HookEvents::push());
        }
        let report = bitbucket
            .syncer(&source, credential)
            .await?
            .sync(&options, &Quiet)
            .await?;
        if !report.complete() {
            bail!("incomplete sync: {report:?}");
        }
        println!(
            "{}",
            serde_json::json!({"requests": report.requests, "bytes": report.bytes,
                "seconds": report.seconds, "incremental": report.crawl.incremental,
                "repositories": report.crawl.repositories, "gone": report.crawl.changes.gone,
                "proven": report.hooks.as_ref().map(|h| h.proven)})
        );
        Ok(())
    }

    struct Run {
        summary: serde_json::Value,
        wall: f64,
        rss_mib: Option<f64>,
    }

    fn sync(store: &str, mode: &str, hooks: &str) -> anyhow::Result<Run> {
        let me = std::env::current_exe()?;
        let time = Path::new("/usr/bin/time");
        let mut command = if time.exists() {
            let mut c = Command::new(time);
            c.args(["-f", "peak-rss-kib=%M"]).arg(&me);
            c
        } else {
            Command::new(&me)
        };
        command.args(["--sync-child", store, mode, hooks]);
        let start = Instant::now();
        let output = command.output()?;
        let wall = start.elapsed().as_secs_f64();
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            bail!("sync failed: {stderr}");
        }
        let rss_mib = stderr
            .lines()
            .find_map(|l| l.strip_prefix("peak-rss-kib="))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(|kib| kib / 1024.0);
        let line = String::from_utf8_lossy(&output.stdout);
        let summary = serde_json::from_str(line.lines().last().context("no summary")?)?;
        Ok(Run {
            summary,
            wall,
            rss_mib,
        })
    }

    fn show(label: &str, run: &Run) {
        println!(
            "  {label}: {} requests, {:.1} KiB received, {:.2}s ({:.2}s in sync), peak RSS {}, {} incremental workspaces",
            run.summary["requests"],
            run.summary["bytes"].as_f64().unwrap_or_default() / 1024.0,
            run.wall,
            run.summary["seconds"].as_f64().unwrap_or_default(),
            run.rss_mib
                .map_or_else(|| "n/a".to_owned(), |m| format!("{m:.1} MiB")),
            run.summary["incremental"],
        );
    }

    fn spec(prefix: &str, workspaces: usize, total: usize) -> (String, Vec<(String, usize)>) {
        let list: Vec<(String, usize)> = (0..workspaces)
            .map(|i| {
                let n = total / workspaces + usize::from(i < total % workspaces);
                (format!("{prefix}{i:03}"), n)
            })
            .collect();
        let spec = list
            .iter()
            .map(|(w, n)| format!("{w}:{n}"))
            .collect::<Vec<_>>()
            .join(",");
        (spec, list)
    }

    fn copy_store(from: &Path, to: &Path) -> anyhow::Result<()> {
        for suffix in ["", "-wal", "-shm"] {
            let source = from.with_file_name(format!("bench.db{suffix}"));
            if source.exists() {
                std::fs::copy(&source, to.join(format!("bench.db{suffix}")))?;
            }
        }
        Ok(())
    }

    pub async fn run() -> anyhow::Result<()> {
        let latency = 100;
        let (spec10k, workspaces) = spec("w", 30, 10_000);
        let w = workspaces.len();
        let mut sim = start_sim(&spec10k, latency)?;
        let dir = tempfile::tempdir()?;
        let store = prepare_store(dir.path(), &sim).await?;
        println!("10,000 repositories in {w} workspaces, {latency} ms per request:");
        let first = sync(&store, "incremental", "nohooks")?;
        show("first sync", &first);

        let copy = tempfile::tempdir()?;
        copy_store(&dir.path().join("bench.db"), copy.path())?;
        let store_copy = format!("sqlite://{}", copy.path().join("bench.db").display());
        for (ws, _) in workspaces.iter().take(20) {
            sim.change(&format!("touch {ws} repo-00005"))?;
        }
        for (ws, _) in workspaces.iter().skip(20).take(3) {
            sim.change(&format!("delete {ws} repo-00007"))?;
        }
        let resync = sync(&store, "incremental", "nohooks")?;
        show("re-sync after 20 touched, 3 deleted (incremental)", &resync);
        let full = sync(&store_copy, "full", "nohooks")?;
        show("the same re-sync without the incremental path", &full);
        let unchanged = sync(&store, "incremental", "nohooks")?;
        show("unchanged re-sync", &unchanged);
        let ratio = full.summary["bytes"].as_f64().unwrap_or_default()
            / unchanged.summary["bytes"].as_f64().unwrap_or(1.0).max(1.0);
        println!(
            "  unchanged re-sync: {} requests (W + 1 = {}), {ratio:.1}x fewer bytes than a full listing",
            unchanged.summary["requests"],
            w + 1
        );

        // 10,000 tracked repositories whose hooks a signed delivery proved (recorded as the
        // webhook receiver would).
        {
            let opened = open(&store).await?;
            let source = "bitbucket.org".parse()?;
            let url = HOOKS_URL.to_owned();
            let now = chrono::Utc::now();
            for (i, row) in opened.repositories(&source, None).await?.iter().enumerate() {
                if row.gone_since.is_some() {
                    continue;
                }
                let repo = &row.repository;
                let _ = opened.track(&source, &repo.uuid, &repo.full_name).await?;
                let hook = HookRecord::new(
                    format!("{{{i:08x}-0000-4000-8000-000000000000}}").parse()?,
                    url.clone(),
                    SecretText::new("bench-secret-0123456789abcdef")?,
                    vec!["repo:push".to_owned()],
                );
                opened
                    .record_hook(&source, &repo.uuid, Some(&hook), now)
                    .await?;
                opened.prove_hook(&source, &repo.uuid, now).await?;
            }
        }
        let without = sync(&store, "incremental", "nohooks")?;
        let with = sync(&store, "incremental", "hooks")?;
        println!(
            "  re-sync with 10,000 tracked repositories proven by deliveries: {} requests in all, {} for hooks, {} skipped as proven",
            with.summary["requests"],
            with.summary["requests"].as_u64().unwrap_or_default()
                - without.summary["requests"].as_u64().unwrap_or_default(),
            with.summary["proven"]
        );
        drop(sim.child.stdin.take());
        let _ = sim.child.wait();

        let (spec100k, workspaces) = spec("x", 100, 100_000);
        let mut sim = start_sim(&spec100k, latency)?;
        let dir = tempfile::tempdir()?;
        let store = prepare_store(dir.path(), &sim).await?;
        println!(
            "100,000 repositories in {} workspaces, {latency} ms per request:",
            workspaces.len()
        );
        let first = sync(&store, "incremental", "nohooks")?;
        show("first sync", &first);
        drop(sim.child.stdin.take());
        let _ = sim.child.wait();
        Ok(())
    }
}
