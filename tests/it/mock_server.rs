//! `gemnasium-bitbucket mock-server` as a person runs it.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::stack::spawn_and_read;
use crate::support::BIN;

#[test]
fn prints_its_url_and_the_configure_values_within_10_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut command = Command::new(BIN);
    command.args(["mock-server", "--port", "0", "--workspaces", "acme:3"]);
    let (mut mock, url) = spawn_and_read(
        command,
        dir.path().join("mock.log"),
        "mock Bitbucket listening on ",
        Duration::from_secs(10),
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let port: u16 = url
        .strip_prefix("http://127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("not http://127.0.0.1:PORT: {url}"));
    assert_ne!(port, 0);
    // The whole banner, once the process has printed it.
    let status = mock
        .terminate(Duration::from_secs(10))
        .expect("exits on SIGTERM");
    assert!(status.success());
}

/// The banner's `VAR=value program args…` lines, as (VAR, value, args).
fn printed_commands(banner: &str) -> Vec<(String, String, Vec<String>)> {
    banner
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let (var, value) = words.next()?.split_once('=')?;
            if !var.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                return None;
            }
            let args = words.skip(1).map(str::to_owned).collect(); // less the program name
            Some((var.to_owned(), value.to_owned(), args))
        })
        .collect()
}

#[test]
fn the_printed_credential_commands_store_tokens_that_sync() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(BIN);
    command.args(["mock-server", "--port", "0", "--workspaces", "acme:3"]);
    let (mut mock, _) = spawn_and_read(
        command,
        dir.path().join("mock.log"),
        "Deliver a signed repo:push",
        Duration::from_secs(10),
    );
    let log = mock.printed();
    let base = log
        .lines()
        .find_map(|l| l.strip_prefix("mock Bitbucket listening on "))
        .unwrap()
        .trim()
        .to_owned();
    let store = format!("sqlite://{}", dir.path().join("store.db").display());
    let cli = || {
        let mut cmd = Command::new(BIN);
        cmd.env("GEMNASIUM_STORE", &store)
            .env("HOME", dir.path())
            .env_remove("GEMNASIUM_SECRET_KEY");
        cmd
    };
    let ok = |out: std::process::Output| {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{text}");
        text
    };
    ok(cli()
        .args([
            "configure",
            "--homepage",
            "https://g.example",
            "--site-url",
            &base,
        ])
        .args(["--api-url", &base, "--key", "mock-consumer-key"])
        .args(["--secret-env", "S", "--yes", "--sync-only"])
        .env("S", "mock-consumer-secret")
        .output()
        .unwrap());
    let commands = printed_commands(&log);
    let adds: Vec<_> = commands
        .iter()
        .filter(|(var, _, _)| var == "ACCESS_TOKEN" || var == "API_TOKEN")
        .collect();
    assert_eq!(adds.len(), 2, "{log}");
    for (var, value, args) in adds {
        let out = ok(cli().args(args).env(var, value).output().unwrap());
        assert!(out.contains("stored"), "{out}");
    }
    // The access token lists its workspace in one request (no `/2.0/user/workspaces`, which
    // Bitbucket refuses it); the API token asks for its account's workspaces first.
    for (name, requests) in [("acme-bot", 1), ("jdoe-api", 2)] {
        let out = ok(cli()
            .args(["repo-syncer", "sync", "bitbucket.org", "--credential", name])
            .output()
            .unwrap());
        assert!(out.contains("repositories: 3 listed"), "{name}: {out}");
        assert!(
            out.contains(&format!("requests: {requests} ")),
            "{name}: {out}"
        );
    }
    assert!(mock.terminate(Duration::from_secs(10)).is_some());
}

#[test]
fn the_json_banner_has_the_configure_values() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(BIN);
    command.args([
        "mock-server",
        "--port",
        "0",
        "--json",
        "--callback",
        "http://127.0.0.1:9/auth/auth/bitbucket.org",
    ]);
    let (_mock, first) = spawn_and_read(
        command,
        dir.path().join("mock.log"),
        "",
        Duration::from_secs(10),
    );
    assert_eq!(first, "{", "pretty JSON starts the output");
}

#[test]
fn a_bad_workspace_spec_is_one_clear_error() {
    let out = Command::new(BIN)
        .args(["mock-server", "--workspaces", "acme"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not SLUG:COUNT"), "{err}");
}

#[test]
fn an_unknown_signed_in_user_is_refused_with_the_known_ones() {
    let out = Command::new(BIN)
        .args(["mock-server", "--port", "0", "--signed-in", "nobody"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("jdoe, rroe"), "{err}");
}
