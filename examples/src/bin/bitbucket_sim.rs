//! A simulated Bitbucket Cloud in its own process (MockBitbucket), for benchmarks and manual
//! trials: serves the given workspaces with added latency until standard input closes.
//!
//! ```text
//! bitbucket_sim acme:200,beta:50,empty:0 100
//! ```
//! prints one JSON line `{"uri", "key", "access", "refresh", "user"}` (a consumer and a signed-in
//! user's tokens), then serves.

use std::io::Read;

use anyhow::Context;
use gemnasium_bitbucket::testing::{MockBitbucket, MockConsumer, MockUser, Quirks};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let spec = args
        .next()
        .context("usage: bitbucket_sim WORKSPACE:REPOS[,…] [LATENCY_MS]")?;
    let latency_ms: u64 = args.next().map(|l| l.parse()).transpose()?.unwrap_or(100);
    let bitbucket = MockBitbucket::start().await;
    bitbucket.add_consumer(MockConsumer::new("bench-key", "bench-secret"));
    let user = bitbucket.add_user(MockUser::new("bench"));
    for entry in spec.split(',') {
        let (workspace, count) = entry.split_once(':').context("WORKSPACE:REPOS")?;
        bitbucket.add_workspace(workspace, &[&user]);
        for i in 0..count.parse::<usize>()? {
            bitbucket.add_repository(workspace, &format!("repo-{i:05}"), &[]);
        }
    }
    bitbucket.set_quirks(Quirks {
        latency: std::time::Duration::from_millis(latency_ms),
        ..Quirks::default()
    });
    let (access, refresh) = bitbucket.issue_tokens("bench-key", &user);
    println!(
        "{}",
        serde_json::json!({"uri": bitbucket.uri(), "key": "bench-key", "access": access, "refresh": refresh, "user": user})
    );
    // Serve until the parent closes our stdin.
    tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
    })
    .await?;
    Ok(())
}
