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
