//! Wall time of one `auth clients create` process (a fresh row each run, SQLite store) against
//! the `sqlite3` command-line shell inserting one row into a table of the same shape, in the
//! same run. Target: at most 3× sqlite3. Needs `sqlite3` on PATH.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const RUNS: usize = 30;
const WARM_UP: usize = 3;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn timed(mut command: Command) -> Duration {
    let start = Instant::now();
    let output = command.output().expect("the command runs");
    let elapsed = start.elapsed();
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    elapsed
}

fn ours(bin: &str, store: &str, provider: usize) -> Command {
    let mut command = Command::new(bin);
    command.args([
        "--store",
        store,
        "auth",
        "clients",
        "create",
        &format!("p{provider}.example"),
        "login",
        "KEY",
        "SECRET",
        "account,email",
    ]);
    command
}

fn sqlite3(db: &Path, provider: usize) -> Command {
    let mut command = Command::new("sqlite3");
    command.arg(db).arg(format!(
        "INSERT INTO clients VALUES ('p{provider}.example', 'login', 'KEY', 'SECRET', 'account,email');"
    ));
    command
}

fn main() {
    // `cargo bench` passes `--bench`; a plain `cargo test` of benches passes nothing to skip.
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let bin = env!("CARGO_BIN_EXE_gemnasium-bitbucket");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = format!("sqlite://{}", dir.path().join("store.db").display());
    let total = WARM_UP + RUNS;
    for i in 0..total {
        let mut command = Command::new(bin);
        command.args([
            "--store",
            &store,
            "auth",
            "provider",
            "create",
            &format!("p{i}.example"),
            "bitbucket",
            "https://bitbucket.org/site/oauth2/authorize",
            "https://bitbucket.org/site/oauth2/access_token",
        ]);
        timed(command);
    }
    let db = dir.path().join("plain.db");
    let mut setup = Command::new("sqlite3");
    setup.arg(&db).arg(
        "PRAGMA journal_mode=WAL; CREATE TABLE clients (provider TEXT NOT NULL, purpose TEXT NOT NULL, key TEXT NOT NULL, secret TEXT NOT NULL, scopes TEXT NOT NULL, PRIMARY KEY (provider, purpose));",
    );
    timed(setup);

    let (mut ours_times, mut sqlite_times) = (Vec::new(), Vec::new());
    for i in 0..total {
        // Interleaved so that machine noise hits both alike.
        let a = timed(ours(bin, &store, i));
        let b = timed(sqlite3(&db, i));
        if i >= WARM_UP {
            ours_times.push(a);
            sqlite_times.push(b);
        }
    }
    let (a, b) = (median(ours_times), median(sqlite_times));
    println!("auth clients create (one process, SQLite store): median {a:?} over {RUNS} runs");
    println!("sqlite3 inserting one row:                       median {b:?} over {RUNS} runs");
    println!(
        "ratio: {:.2}x (target <= 3x)",
        a.as_secs_f64() / b.as_secs_f64()
    );
}
