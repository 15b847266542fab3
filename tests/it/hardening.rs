//! What a hostile tester and a hostile network found (issue 9), each reproduced with the exact
//! command or payload, run as users run the program.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use gemnasium_bitbucket::testing::{MockBitbucket, MockConsumer, MockUser};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::support::{run_cli, world, Sandbox, BIN};

const KEY: &str = "hard-key";
const SECRET: &str = "hard-secret-6f1d-never-printed";

/// A sandbox configured against `bitbucket` with homepage https://gem.example.
async fn configured(
    bitbucket: &MockBitbucket,
    secret: &str,
    extra: &[&str],
) -> (Sandbox, i32, String, String) {
    let s = Sandbox::new();
    let mut cmd = s.cmd();
    cmd.args([
        "configure",
        "--homepage",
        "https://gem.example",
        "--key",
        KEY,
        "--secret-env",
        "BB_SECRET",
        "--yes",
        "--site-url",
        &bitbucket.uri(),
        "--api-url",
        &bitbucket.uri(),
    ])
    .args(extra)
    .env("BB_SECRET", secret)
    .write_stdin("");
    let (code, out, err) = run_cli(cmd).await;
    (s, code, out, err)
}

/// Runs the program with its standard output closed before it writes: it must exit 0, quietly.
fn with_closed_stdout(s: &Sandbox, args: &[&str]) {
    let mut child = std::process::Command::new(BIN)
        .args(args)
        .env("GEMNASIUM_STORE", s.store())
        .env("HOME", s.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{args:?}: {err}");
    assert!(
        !err.contains("panicked")
            && !err.contains("Broken pipe")
            && !err.contains("failed printing"),
        "{args:?}: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_ends_every_printing_command_quietly() {
    // Finding 6: `auth provider list | true`, `repos list | head -1`, `doctor --offline | true`,
    // `sync … --json | head -c 800` exited 101 with a backtrace.
    let w = world().await;
    let s = &w.sandbox;
    let sync = [
        "repo-syncer",
        "sync",
        "bitbucket.org",
        "--json",
        "--retry-base-ms",
        "2",
    ];
    let cases: [&[&str]; 5] = [
        &["auth", "provider", "list"],
        &["auth", "provider", "list", "--json"],
        &sync,
        &["repo-syncer", "repos", "list", "bitbucket.org"],
        &["doctor", "--offline"],
    ];
    for args in cases {
        tokio::task::block_in_place(|| with_closed_stdout(s, args));
    }
}

/// A token endpoint that answers `response` to everything, over the mock's own.
async fn broken_token_endpoint(bitbucket: &MockBitbucket, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path("/site/oauth2/access_token"))
        .respond_with(response)
        .with_priority(1)
        .mount(bitbucket.server())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_clear_acceptance_verifies_a_consumer() {
    // Finding 7: with the token endpoint broken, a wrong secret was "accepted".
    let faults = [
        ResponseTemplate::new(500).set_body_raw(
            "<html><body>Internal Server Error</body></html>",
            "text/html",
        ),
        ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"error": "invalid_grant", "error_description": "nope"}),
        ),
        ResponseTemplate::new(200).set_body_raw("", "application/json"),
        ResponseTemplate::new(200).set_body_raw("<html>maintenance</html>", "text/html"),
        ResponseTemplate::new(302).insert_header("Location", "https://elsewhere.example/login"),
        ResponseTemplate::new(503).set_body_json(serde_json::json!({"error": "invalid_grant"})),
    ];
    for fault in faults {
        let bitbucket = MockBitbucket::start().await;
        bitbucket.add_consumer(MockConsumer::new(KEY, SECRET));
        broken_token_endpoint(&bitbucket, fault).await;
        let (s, code, out, err) = configured(&bitbucket, "a-wrong-secret", &[]).await;
        assert_eq!(code, 0, "configure records, with a warning: {out}{err}");
        assert!(!out.contains("accepted by Bitbucket"), "{out}");
        assert!(err.contains("key and secret: unknown"), "{err}");

        let mut verify = s.cmd();
        verify.args(["auth", "clients", "verify", "bitbucket.org", "login"]);
        let (code, out, err) = run_cli(verify).await;
        assert_eq!(code, 1, "{out}{err}");
        assert!(out.contains("credentials:    UNKNOWN ("), "{out}");
        assert!(err.contains("could not all be read"), "{err}");

        let mut doctor = s.cmd();
        doctor.arg("doctor");
        let (code, out, _) = run_cli(doctor).await;
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("fail  consumer bitbucket.org/login"), "{out}");
        assert!(!out.contains("key and secret accepted"), "{out}");
    }
}

/// Starts `auth login`, reads the authorization URL it prints; returns the child and the
/// query of that URL.
fn start_login(
    s: &Sandbox,
    args: &[&str],
) -> (
    std::process::Child,
    std::collections::HashMap<String, String>,
) {
    let mut child = std::process::Command::new(BIN)
        .args(["auth", "login"])
        .args(args)
        .env("GEMNASIUM_STORE", s.store())
        .env("HOME", s.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = url::Url::parse(line.trim()).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    (child, url.query_pairs().into_owned().collect())
}

fn finish(mut child: std::process::Child, pasted: &str) -> (i32, String) {
    writeln!(child.stdin.take().unwrap(), "{pasted}").unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_uses_the_recorded_homepage_and_accepts_only_its_redirect_uri() {
    let bitbucket = MockBitbucket::start().await;
    let mut consumer = MockConsumer::new(KEY, SECRET);
    consumer.callback = Some("https://gem.example/auth/auth/bitbucket.org".into());
    bitbucket.add_consumer(consumer);
    let jane = bitbucket.add_user(MockUser::new("jdoe").with_email("jane@example.com", true, true));
    let (s, code, out, err) = configured(&bitbucket, SECRET, &["--no-verify"]).await;
    assert_eq!(code, 0, "{out}{err}");

    // Finding 11: each of these, with the real code and state, stored a token.
    let redirect = "https://gem.example/auth/auth/bitbucket.org/login/callback";
    for (i, bad) in [
        "https://evil.example/auth/auth/bitbucket.org/login/callback",
        "https://gem.example@evil.example/auth/auth/bitbucket.org/login/callback",
        "http://gem.example/auth/auth/bitbucket.org/login/callback",
        "https://gem.example:8443/auth/auth/bitbucket.org/login/callback",
        "https://gem.example/auth/auth/bitbucket.org/sync/callback",
        "https://gem.example/evil/callback",
        "javascript:alert(1)//gem.example/auth/auth/bitbucket.org/login/callback",
    ]
    .into_iter()
    .enumerate()
    {
        // Issue 8: no --homepage; `configure` recorded it.
        let (child, query) =
            tokio::task::block_in_place(|| start_login(&s, &["bitbucket.org", "login"]));
        assert_eq!(query["redirect_uri"], redirect);
        let granted =
            url::Url::parse(&bitbucket.authorize(KEY, &jane, redirect, &query["state"])).unwrap();
        let pasted = format!("{bad}?{}", granted.query().unwrap());
        let (code, err) = tokio::task::block_in_place(|| finish(child, &pasted));
        assert_eq!(code, 1, "{bad}: {err}");
        assert!(
            err.contains("not on this sign-in's redirect URI"),
            "{bad}: {err}"
        );
        assert_eq!(
            bitbucket.token_requests("authorization_code"),
            0,
            "case {i}: the code reached the token endpoint"
        );
        assert!(s.rows().tokens.is_empty(), "{bad}");
    }

    let (child, query) =
        tokio::task::block_in_place(|| start_login(&s, &["bitbucket.org", "login"]));
    let granted = bitbucket.authorize(KEY, &jane, redirect, &query["state"]);
    let (code, err) = tokio::task::block_in_place(|| finish(child, &granted));
    assert_eq!(code, 0, "{err}");
    assert_eq!(s.rows().tokens.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_endless_errors_end_a_sync_in_bounded_time() {
    // Finding 10: `Retry-After: 999999` meant silence for minutes; `Retry-After: 20` with
    // `--timeout 5` took 100 s.
    for (response, expected) in [
        (
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "999999")
                .set_body_raw(
                    "Rate limit for this resource has been exceeded",
                    "text/plain",
                ),
            "resume after",
        ),
        (
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "20")
                .set_body_raw(
                    "Rate limit for this resource has been exceeded",
                    "text/plain",
                ),
            "resume after",
        ),
        (
            ResponseTemplate::new(503).set_body_raw("<html>busy</html>", "text/html"),
            "HTTP 503",
        ),
    ] {
        let w = world().await;
        Mock::given(path("/2.0/user/workspaces"))
            .respond_with(response)
            .with_priority(1)
            .mount(w.bitbucket.server())
            .await;
        let mut sync = w.sandbox.cmd();
        sync.args([
            "repo-syncer",
            "sync",
            "bitbucket.org",
            "--timeout",
            "5",
            "-vv",
        ]);
        let started = Instant::now();
        let (code, out, err) = run_cli(sync).await;
        let took = started.elapsed();
        assert_eq!(code, 1, "{out}{err}");
        assert!(took < Duration::from_secs(60), "took {took:?}");
        assert!(err.contains(expected), "{err}");
        if expected == "resume after" {
            assert!(err.contains("rate limited"), "{err}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bitbucket_data_cannot_drive_the_terminal() {
    // Finding 12: names with ESC sequences or U+202E were printed raw.
    let w = world().await;
    w.bitbucket.set_repository_name(
        "acme",
        "r01",
        "evil\u{1b}]0;pwned\u{7}\u{1b}[2J\u{202e}name",
    );
    w.bitbucket.add_workspace("ev\u{202e}il", &[&w.jane]);
    w.bitbucket.add_repository("ev\u{202e}il", "x", &[]);
    let mut sync = w.sandbox.cmd();
    sync.args([
        "repo-syncer",
        "sync",
        "bitbucket.org",
        "--retry-base-ms",
        "2",
    ]);
    let (code, out, err) = run_cli(sync).await;
    assert_eq!(code, 0, "{out}{err}");
    let mut list = w.sandbox.cmd();
    list.args(["repo-syncer", "repos", "list", "bitbucket.org"]);
    let (code, out, err) = run_cli(list).await;
    assert_eq!(code, 0, "{err}");
    for raw in ['\u{1b}', '\u{202e}', '\u{7}'] {
        assert!(!out.contains(raw) && !err.contains(raw), "{out:?}");
    }
    assert!(out.contains("ev\\u{202e}il/x"), "{out}");
    let mut json = w.sandbox.cmd();
    json.args(["repo-syncer", "repos", "list", "bitbucket.org", "--json"]);
    let (_, out, _) = run_cli(json).await;
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert!(
        rows.iter()
            .any(|r| r["name"] == "evil\u{1b}]0;pwned\u{7}\u{1b}[2J\u{202e}name"),
        "JSON stays exact: {out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hook_urls_and_events_are_checked_before_any_request() {
    // Finding 13: these were installed, or reached Bitbucket and ended as a warning with exit 0.
    let w = world().await;
    let before = w.bitbucket.rest_requests() + w.bitbucket.api_requests();
    for (flag, value, why) in [
        ("--hooks-url", "http://g.example/h", "plain http"),
        ("--hooks-url", "https://u:p@g.example/h", "credentials"),
        ("--hooks-url", "https://g.example/h#fragment", "fragment"),
        ("--hooks-url", "javascript:x", "scheme `javascript`"),
        ("--hooks-url", "ftp://g.example/h", "scheme `ftp`"),
        (
            "--events",
            "repo:bogus",
            "unknown webhook event `repo:bogus`",
        ),
        ("--events", "issue:created", "removed Issues"),
    ] {
        let mut sync = w.sandbox.cmd();
        sync.args(["repo-syncer", "sync", "bitbucket.org", flag, value]);
        if flag == "--events" {
            sync.args(["--hooks-url", "https://g.example/h"]);
        }
        let (code, out, err) = run_cli(sync).await;
        assert_eq!(code, 1, "{value}: {out}{err}");
        assert!(err.contains(why), "{value}: {err}");
        assert!(!err.contains("p@"), "{err}");
    }
    assert_eq!(
        w.bitbucket.rest_requests() + w.bitbucket.api_requests(),
        before,
        "no request was made"
    );
}

#[test]
fn help_never_shows_secret_environment_values() {
    // Finding 15: `[env: GEMNASIUM_STORE=postgres://postgres:PgPassW0rd-XYZ@…]`.
    let s = Sandbox::new();
    for args in [
        vec!["--help"],
        vec!["auth", "--help"],
        vec!["auth", "login", "--help"],
        vec!["repo-syncer", "sync", "--help"],
        vec!["doctor", "--help"],
    ] {
        let out = s
            .cmd()
            .args(&args)
            .env(
                "GEMNASIUM_STORE",
                "postgres://postgres:PgPassW0rd-XYZ@db.example/gemnasium",
            )
            .env("GEMNASIUM_HOMEPAGE", "https://secret-homepage.example")
            .env("GEMNASIUM_CA_CERT", "/etc/secret-ca.pem")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        for secret in ["PgPassW0rd-XYZ", "secret-homepage", "secret-ca"] {
            assert!(!text.contains(secret), "{args:?}: {text}");
        }
        assert!(
            text.contains("Example"),
            "every help has an example: {args:?}: {text}"
        );
    }
}

/// Runs the program as `nobody` (when we are root, permission bits do not stop us).
fn as_nobody(s: &Sandbox, store: &str, args: &[&str]) -> (i32, String, String) {
    let root = std::process::Command::new("id").arg("-u").output().unwrap();
    let mut cmd = if String::from_utf8_lossy(&root.stdout).trim() == "0" {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN]);
        c
    } else {
        std::process::Command::new(BIN)
    };
    let out = cmd
        .args(args)
        .env("GEMNASIUM_STORE", store)
        .env("HOME", s.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_read_only_store_can_be_read_and_refuses_writes_clearly() {
    // Finding 18: a 0444 file in a 0555 directory could not even be listed.
    let s = Sandbox::seeded();
    let dir = s.path().join("ro");
    std::fs::create_dir(&dir).unwrap();
    // The store as a process left it: the WAL files beside it hold the latest writes.
    for suffix in ["", "-wal", "-shm"] {
        let from = s.path().join(format!("store.db{suffix}"));
        if from.exists() {
            std::fs::copy(&from, dir.join(format!("store.db{suffix}"))).unwrap();
            std::fs::set_permissions(
                dir.join(format!("store.db{suffix}")),
                std::fs::Permissions::from_mode(0o444),
            )
            .unwrap();
        }
    }
    std::fs::set_permissions(s.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    let store = format!("sqlite://{}", dir.join("store.db").display());
    let (code, out, err) = as_nobody(&s, &store, &["auth", "provider", "list"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("bitbucket.org"), "{out}");
    let (code, out, err) = as_nobody(&s, &store, &["doctor", "--offline"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("pass  store"), "{out}");
    let (code, out, err) = as_nobody(
        &s,
        &store,
        &[
            "auth",
            "provider",
            "update",
            "bitbucket.org",
            "--pkce",
            "true",
        ],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("cannot be written"), "{err}");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn world_readable_stores_are_reported_and_tightened_on_write() {
    // Finding 19: a 0644 store (and its -wal) stayed readable and doctor passed it.
    let s = Sandbox::seeded();
    let db = s.path().join("store.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = s.cmd().args(["doctor", "--offline"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("warn  store") && text.contains("mode 644"),
        "{text}"
    );
    s.cmd()
        .args([
            "auth",
            "provider",
            "update",
            "bitbucket.org",
            "--pkce",
            "true",
        ])
        .assert()
        .success();
    let mode = std::fs::metadata(&db).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // A new store's directories are private too.
    let fresh = s.path().join("new/deeper/store.db");
    s.cmd()
        .args([
            "--store",
            &format!("sqlite://{}", fresh.display()),
            "auth",
            "provider",
            "list",
        ])
        .assert()
        .success();
    let dir_mode = std::fs::metadata(fresh.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_syncs_and_an_untrack_leave_exactly_the_hooks_they_should() {
    // Finding 9: concurrent syncs duplicated hooks; a sync racing an untrack left a hook on an
    // untracked repository.
    let w = world().await;
    let mut list = w.sandbox.cmd();
    list.args([
        "repo-syncer",
        "sync",
        "bitbucket.org",
        "--retry-base-ms",
        "2",
    ]);
    assert_eq!(run_cli(list).await.0, 0);
    let mut track = w.sandbox.cmd();
    track.args(["repo-syncer", "track", "bitbucket.org", "acme/r00"]);
    assert_eq!(run_cli(track).await.0, 0);
    w.bitbucket
        .set_quirks(gemnasium_bitbucket::testing::Quirks {
            latency: Duration::from_millis(150),
            ..Default::default()
        });
    let sync = || {
        let mut cmd = w.sandbox.cmd();
        cmd.args([
            "repo-syncer",
            "sync",
            "bitbucket.org",
            "--hooks-url",
            "https://g.example/hooks",
            "--retry-base-ms",
            "2",
        ]);
        run_cli(cmd)
    };
    let runs = futures::future::join_all((0..4).map(|_| sync())).await;
    for (code, out, err) in &runs {
        assert_eq!(*code, 0, "{out}{err}");
    }
    assert_eq!(
        w.bitbucket.hooks("acme/r00").len(),
        1,
        "one hook, whatever the races"
    );

    // A sync and an untrack at the same time: the repository ends untracked and hookless.
    let mut untrack = w.sandbox.cmd();
    untrack.args([
        "repo-syncer",
        "untrack",
        "bitbucket.org",
        "acme/r00",
        "--retry-base-ms",
        "2",
    ]);
    let (racing, untracked) = tokio::join!(sync(), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        run_cli(untrack).await
    });
    assert_eq!(untracked.0, 0, "{}{}", untracked.1, untracked.2);
    assert_eq!(racing.0, 0, "{}{}", racing.1, racing.2);
    assert!(
        w.bitbucket.hooks("acme/r00").is_empty(),
        "{:?}",
        w.bitbucket.hooks("acme/r00")
    );
}
