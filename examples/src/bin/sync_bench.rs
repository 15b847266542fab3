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
    BufReader::new(child.stdout.take().context("sim stdout")?).read_line(&mut line)?;
    Ok(Sim {
        child,
        info: serde_json::from_str(&line)?,
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
