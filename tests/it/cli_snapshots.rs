//! Snapshots of what people read: every command's `--help`, the human and `--json` outputs of
//! the list and show commands and of `doctor`. Temporary paths, ports, times and random ids are
//! redacted so that the snapshots are the same on every machine. The files are in
//! `it/snapshots/`; after an intended change, review and accept them with
//! `INSTA_UPDATE=always cargo test -p gemnasium-bitbucket-tests --test it cli_snapshots`
//! (or `cargo insta review`). Under CI a missing or different snapshot fails.

use std::collections::BTreeSet;

use crate::support::{run_cli as run, world, Sandbox, BIN};

/// Runs the program with `args` (fixed terminal width) and returns stdout + stderr.
fn help_of(args: &[&str]) -> String {
    let out = std::process::Command::new(BIN)
        .args(args)
        .arg("--help")
        .env("COLUMNS", "100")
        .env_remove("GEMNASIUM_STORE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?} --help failed");
    String::from_utf8(out.stdout).unwrap()
}

/// The subcommands a help text lists under `Commands:`.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_help_text() {
    let mut queue = vec![Vec::<String>::new()];
    let mut seen = BTreeSet::new();
    while let Some(path) = queue.pop() {
        let args: Vec<&str> = path.iter().map(String::as_str).collect();
        let help = help_of(&args);
        let name = if path.is_empty() {
            "help".to_owned()
        } else {
            format!("help-{}", path.join("-"))
        };
        insta::assert_snapshot!(name.clone(), help);
        assert!(
            help.contains("Example"),
            "`{}` --help has no example",
            path.join(" ")
        );
        seen.insert(name);
        for sub in subcommands(&help) {
            let mut next = path.clone();
            next.push(sub);
            queue.push(next);
        }
    }
    assert!(seen.len() > 30, "the walk found the command tree: {seen:?}");
}

/// Replaces what differs between runs and machines.
fn redacted(sandbox: &str, text: &str) -> String {
    let settings_free = text.replace(sandbox, "[SANDBOX]");
    let rules: [(&str, &str); 6] = [
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]"),
        (
            r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d| UTC)?",
            "[TIME]",
        ),
        (
            r"\{[0-9a-f]{8}-0000-4000-8000-[0-9a-f]{12}\}",
            "{[REPO-UUID]}",
        ),
        (r"\d+(\.\d+)?s\b", "[SECONDS]"),
        (r#""seconds": [0-9.e-]+"#, r#""seconds": "[SECONDS]""#),
        (r#""bytes": \d+"#, r#""bytes": "[BYTES]""#),
    ];
    let mut text = settings_free;
    for (pattern, replacement) in rules {
        text = regex::Regex::new(pattern)
            .unwrap()
            .replace_all(&text, replacement)
            .into_owned();
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_of_list_show_and_doctor() {
    let w = world().await;
    let s = &w.sandbox;
    // A listing to show: one sync (rate limits retried quickly), one tracked repository.
    let mut sync = s.cmd();
    sync.args([
        "repo-syncer",
        "sync",
        "bitbucket.org",
        "--retry-base-ms",
        "2",
    ]);
    assert_eq!(run(sync).await.0, 0);
    let mut track = s.cmd();
    track.args(["repo-syncer", "track", "bitbucket.org", "acme/r00"]);
    assert_eq!(run(track).await.0, 0);

    let commands: [(&str, &[&str]); 9] = [
        ("provider-list", &["auth", "provider", "list"]),
        (
            "provider-show",
            &["auth", "provider", "show", "bitbucket.org"],
        ),
        ("clients-list", &["auth", "clients", "list"]),
        (
            "clients-show",
            &["auth", "clients", "show", "bitbucket.org", "sync"],
        ),
        ("sources-list", &["repo-syncer", "sources", "list"]),
        (
            "sources-show",
            &["repo-syncer", "sources", "show", "bitbucket.org"],
        ),
        ("tokens-list", &["auth", "tokens", "list"]),
        (
            "repos-list",
            &["repo-syncer", "repos", "list", "bitbucket.org"],
        ),
        ("doctor", &["doctor", "--offline"]),
    ];
    let root = s.path().display().to_string();
    for (name, args) in commands {
        for json in [false, true] {
            let mut cmd = s.cmd();
            cmd.args(args).env("COLUMNS", "100");
            if json {
                cmd.arg("--json");
            }
            let (code, out, err) = run(cmd).await;
            assert!(code == 0 || name == "doctor", "{args:?}: {err}");
            let shown = format!("exit: {code}\n--- stdout\n{out}--- stderr\n{err}");
            let snapshot = format!("out-{name}{}", if json { "-json" } else { "" });
            insta::assert_snapshot!(snapshot, redacted(&root, &shown));
        }
    }
}

#[test]
fn the_seed_outputs_are_stable_too() {
    let s = Sandbox::seeded();
    let root = s.path().display().to_string();
    let out = s
        .cmd()
        .args(["auth", "clients", "list", "--json"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    insta::assert_snapshot!("out-seed-clients-json", redacted(&root, &text));
}
