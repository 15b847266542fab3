//! A simulated Bitbucket Cloud in its own process (MockBitbucket), for benchmarks and manual
//! trials: serves the given workspaces with added latency until standard input closes.
//!
//! ```text
//! bitbucket_sim acme:200,beta:50,empty:0 100
//! ```
//! prints one JSON line `{"uri", "key", "access", "refresh", "user"}` (a consumer and a signed-in
//! user's tokens), then serves. Lines on standard input change repositories as Bitbucket would
//! (`touch WORKSPACE SLUG`, `delete WORKSPACE SLUG`); each is answered with `ok`.

use std::io::{BufRead, Write};

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
    // Serve until the parent closes our stdin, applying its changes.
    let bitbucket = std::sync::Arc::new(bitbucket);
    let mock = bitbucket.clone();
    tokio::task::spawn_blocking(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            match line.split_whitespace().collect::<Vec<_>>().as_slice() {
                ["touch", workspace, slug] => mock.touch_repository(workspace, slug),
                ["delete", workspace, slug] => mock.remove_repository(workspace, slug),
                _ => eprintln!("bitbucket_sim: unknown command {line:?}"),
            }
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "ok");
            let _ = out.flush();
        }
    })
    .await?;
    Ok(())
}
