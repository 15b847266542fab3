//! `configure`, `auth clients verify`, `auth login`, `auth tokens …` and `doctor` against
//! `MockBitbucket`, run as users run them.

use std::io::{BufRead, BufReader, Write};
use std::process::{Output, Stdio};

use gemnasium_bitbucket::model::{Purpose, TokenState};
use gemnasium_bitbucket::testing::{MockBitbucket, MockConsumer, MockUser};

use crate::support::{configure_against, Sandbox, BIN};

const KEY: &str = "mock-key";
const SECRET: &str = "mock-secret-9c1e-never-printed";

/// Runs a prepared command off the async runtime (the mock serves on it meanwhile).
async fn run(mut cmd: assert_cmd::Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

async fn mock(consumer: MockConsumer) -> MockBitbucket {
    let bitbucket = MockBitbucket::start().await;
    bitbucket.add_consumer(consumer);
    bitbucket
}

fn configure(s: &Sandbox, bitbucket: &MockBitbucket, extra: &[&str]) -> assert_cmd::Command {
    configure_against(s, bitbucket, KEY, SECRET, extra)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configure_non_interactive_end_to_end_and_rerun() {
    let bitbucket = mock(MockConsumer::new(KEY, SECRET)).await;
    let s = Sandbox::new();
    let out = run(configure(&s, &bitbucket, &[])).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    for fragment in [
        "Name:          Gemnasium Enterprise",
        "Callback URL:  https://g.example/auth/auth/bitbucket.org",
        "URL:           https://g.example",
        "Permissions:   Account: Read, Account: Email, Repositories: Read, Webhooks: Read and write",
        "provider bitbucket.org: created",
        "client bitbucket.org/login: created",
        "client bitbucket.org/sync: created",
        "source bitbucket.org: created",
        "key and secret: accepted by Bitbucket",
        "auth login bitbucket.org sync",
    ] {
        assert!(stdout.contains(fragment), "missing {fragment:?} in:\n{stdout}");
    }
    let rows = s.rows();
    assert_eq!(
        rows.providers[0].token_url.to_string(),
        format!("{}/site/oauth2/access_token", bitbucket.uri())
    );
    assert_eq!(rows.clients.len(), 2);
    assert_eq!(rows.clients[0].scopes.to_string(), "account,email");
    assert_eq!(rows.clients[1].scopes.to_string(), "repository,webhook");
    assert_eq!(rows.sources[0].display_name.as_str(), "Bitbucket Cloud");
    assert_eq!(
        bitbucket.token_requests("authorization_code"),
        1,
        "verified with a made-up code"
    );

    let again = run(configure(&s, &bitbucket, &[])).await;
    let (stdout, _) = text(&again);
    assert!(again.status.success());
    assert_eq!(stdout.matches(": unchanged").count(), 4, "{stdout}");
    assert_eq!(s.rows(), rows, "re-running duplicates nothing");
    assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configure_login_only_and_sync_only() {
    let bitbucket = mock(MockConsumer::new(KEY, SECRET)).await;
    let login = Sandbox::new();
    assert!(run(configure(&login, &bitbucket, &["--login-only"]))
        .await
        .status
        .success());
    let rows = login.rows();
    assert_eq!(
        rows.clients.iter().map(|c| c.purpose).collect::<Vec<_>>(),
        [Purpose::Login]
    );
    assert!(rows.sources.is_empty());

    let sync = Sandbox::new();
    let out = run(configure(&sync, &bitbucket, &["--sync-only"])).await;
    assert!(out.status.success());
    let rows = sync.rows();
    assert_eq!(
        rows.clients.iter().map(|c| c.purpose).collect::<Vec<_>>(),
        [Purpose::Sync]
    );
    assert_eq!(rows.sources.len(), 1);
    assert!(text(&out)
        .0
        .contains("Permissions:   Repositories: Read, Webhooks: Read and write"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configure_refuses_wrong_credentials_and_records_nothing() {
    let bitbucket = mock(MockConsumer::new(KEY, "the-real-secret")).await;
    let s = Sandbox::new();
    let out = run(configure(&s, &bitbucket, &[])).await;
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("refused the consumer key and secret")
            && stderr.contains("nothing was recorded"),
        "{stderr}"
    );
    assert!(s.rows().providers.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configure_offline_records_and_says_verification_was_skipped() {
    let s = Sandbox::new();
    let mut cmd = s.cmd();
    cmd.args([
        "configure",
        "--homepage",
        "https://g.example",
        "--key",
        KEY,
        "--secret-env",
        "BB_SECRET",
        "--yes",
    ])
    .args([
        "--site-url",
        "http://127.0.0.1:9",
        "--api-url",
        "http://127.0.0.1:9",
        "--timeout",
        "2",
    ])
    .env("BB_SECRET", SECRET)
    .write_stdin("");
    let out = run(cmd).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("Consumer verification: skipped (unreachable"),
        "{stdout}"
    );
    assert_eq!(s.rows().clients.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configure_without_a_terminal_fails_at_once_listing_the_flags() {
    let s = Sandbox::new();
    let mut cmd = s.cmd();
    cmd.arg("configure").write_stdin("");
    let out = run(cmd).await;
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for flag in [
        "--homepage URL",
        "--key KEY",
        "--secret-env VAR or --secret-stdin",
    ] {
        assert!(stderr.contains(flag), "{flag}: {stderr}");
    }
    let mut cmd = s.cmd();
    cmd.args(["configure", "--homepage", "https://g.example", "--yes"])
        .write_stdin("");
    let (_, stderr) = text(&run(cmd).await);
    assert!(
        stderr.contains("--key KEY") && !stderr.contains("--homepage URL"),
        "{stderr}"
    );
}

/// A sandbox whose provider points at `bitbucket`, with both clients.
async fn provisioned(bitbucket: &MockBitbucket, secret: &str) -> Sandbox {
    let s = Sandbox::new();
    let mut cmd = configure(&s, bitbucket, &["--no-verify"]);
    cmd.env("BB_SECRET", secret);
    let out = run(cmd).await;
    assert!(out.status.success(), "{:?}", text(&out));
    s
}

async fn verify(s: &Sandbox, purpose: &str) -> (i32, String) {
    let mut cmd = s.cmd();
    cmd.args(["auth", "clients", "verify", "bitbucket.org", purpose]);
    let out = run(cmd).await;
    let (stdout, stderr) = text(&out);
    (out.status.code().unwrap(), format!("{stdout}{stderr}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_good_wrong_private_and_callbackless_consumers() {
    let good = mock(MockConsumer::new(KEY, SECRET)).await;
    let (code, out) = verify(&provisioned(&good, SECRET).await, "login").await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("credentials:    valid")
            && out.contains("callback URL:   set")
            && out.contains("private:        no"),
        "{out}"
    );

    let (code, out) = verify(&provisioned(&good, "wrong-secret").await, "login").await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("INVALID") && out.contains("has problems"),
        "{out}"
    );

    let callbackless = mock(MockConsumer::new(KEY, SECRET).without_callback()).await;
    let (code, out) = verify(&provisioned(&callbackless, SECRET).await, "login").await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("callback URL:   MISSING"), "{out}");

    let private = mock(
        MockConsumer::new(KEY, SECRET)
            .private()
            .with_scopes("repository"),
    )
    .await;
    let (code, out) = verify(&provisioned(&private, SECRET).await, "sync").await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("private:        yes") && out.contains("missing scopes: webhook"),
        "{out}"
    );
    assert!(!out.contains(SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_tokens_and_doctor_end_to_end() {
    let bitbucket = mock(MockConsumer::new(KEY, SECRET)).await;
    let jane = bitbucket.add_user(MockUser::new("jdoe").with_email("jane@example.com", true, true));
    let s = provisioned(&bitbucket, SECRET).await;

    // `auth login`: read the URL it prints, "grant access" on the mock, paste the callback back.
    let mut child = std::process::Command::new(BIN)
        .args([
            "auth",
            "login",
            "bitbucket.org",
            "sync",
            "--homepage",
            "https://g.example",
        ])
        .env("GEMNASIUM_STORE", s.store())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let url = url::Url::parse(first.trim()).unwrap();
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(
        query["redirect_uri"],
        "https://g.example/auth/auth/bitbucket.org/sync/callback"
    );
    let callback = bitbucket.authorize(KEY, &jane, &query["redirect_uri"], &query["state"]);
    writeln!(child.stdin.take().unwrap(), "{callback}").unwrap();
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        rest.contains("signed in as jdoe") && rest.contains("email jane@example.com"),
        "{rest}"
    );

    let rows = s.rows();
    assert_eq!(rows.tokens.len(), 1);
    let token = rows.tokens[0].tokens.clone();
    let mut transcript = format!("{first}{rest}{}", String::from_utf8_lossy(&output.stderr));

    let mut list = s.cmd();
    list.args(["auth", "tokens", "list"]);
    let (out, err) = text(&run(list).await);
    assert!(
        out.contains("jdoe") && out.contains("active") && out.contains("repository,webhook"),
        "{out}"
    );
    transcript.push_str(&out);
    transcript.push_str(&err);

    let mut refresh = s.cmd();
    refresh.args(["auth", "tokens", "refresh", "--older-than", "0s"]);
    let out = run(refresh).await;
    let (o, e) = text(&out);
    assert!(out.status.success() && o.contains(": refreshed"), "{o}{e}");
    assert_eq!(bitbucket.successful_refreshes(), 1);
    transcript.push_str(&o);

    let mut doctor = s.cmd();
    doctor.arg("doctor");
    let out = run(doctor).await;
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{o}{e}");
    assert!(
        o.contains("pass  consumer bitbucket.org/sync: key and secret accepted")
            && o.contains(" 0 fail"),
        "{o}"
    );
    transcript.push_str(&o);

    for secret in [
        token.access_token.expose_secret(),
        token.refresh_token.as_ref().unwrap().expose_secret(),
        SECRET,
    ] {
        assert!(
            !transcript.contains(secret),
            "a secret or token was printed:\n{transcript}"
        );
    }
    let refreshed = s.rows().tokens[0].clone();
    assert_eq!(refreshed.state, TokenState::Active);
    assert!(!transcript.contains(refreshed.tokens.access_token.expose_secret()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reports_broken_setups_with_fixes() {
    let bitbucket = mock(MockConsumer::new(KEY, "the-real-secret")).await;
    let s = provisioned(&bitbucket, "stale-secret").await;
    let mut cmd = s.cmd();
    cmd.args([
        "auth",
        "clients",
        "update",
        "bitbucket.org",
        "sync",
        "--scopes",
        "repository",
        "--allow-missing-scopes",
    ]);
    assert!(run(cmd).await.status.success());
    let mut doctor = s.cmd();
    doctor.arg("doctor");
    let out = run(doctor).await;
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{o}{e}");
    assert!(
        o.contains("fail  consumer bitbucket.org/login: Bitbucket refuses the key and secret"),
        "{o}"
    );
    assert!(
        o.contains(
            "fail  client bitbucket.org/sync: scopes repository do not cover sync: missing webhook"
        ),
        "{o}"
    );
    assert!(o.contains("fix: tick Webhooks: Read and write"), "{o}");
    let mut json = s.cmd();
    json.args(["doctor", "--json", "--offline"]);
    let out = run(json).await;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert!(v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["status"] == "fail"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configure_interactively_in_a_terminal_hides_the_secret() {
    use expectrl::Expect;

    let bitbucket = mock(MockConsumer::new(KEY, SECRET)).await;
    let s = Sandbox::new();
    let mut command = std::process::Command::new(BIN);
    command
        .args([
            "configure",
            "--site-url",
            &bitbucket.uri(),
            "--api-url",
            &bitbucket.uri(),
        ])
        .env("GEMNASIUM_STORE", s.store())
        .env("TERM", "dumb");
    let transcript = tokio::task::spawn_blocking(move || {
        let mut session = expectrl::Session::spawn(command).unwrap();
        session.set_expect_timeout(Some(std::time::Duration::from_secs(20)));
        let mut seen = Vec::new();
        let mut step =
            |session: &mut expectrl::session::OsSession, wait_for: &str, answer: &str| {
                let found = session
                    .expect(wait_for)
                    .unwrap_or_else(|e| panic!("waiting for {wait_for:?}: {e}"));
                seen.extend_from_slice(found.before());
                seen.extend_from_slice(found.as_bytes());
                session.send_line(answer).unwrap();
            };
        step(&mut session, "Gemnasium homepage URL", "https://g.example");
        step(&mut session, "workspace", "acme");
        step(&mut session, "Consumer Key", KEY);
        step(&mut session, "Consumer Secret", SECRET);
        step(&mut session, "Record this consumer", "y");
        let rest = session.expect(expectrl::Eof).unwrap();
        seen.extend_from_slice(rest.before());
        seen.extend_from_slice(rest.as_bytes());
        String::from_utf8_lossy(&seen).into_owned()
    })
    .await
    .unwrap();
    assert!(
        transcript.contains("/account/user/acme/oauth-consumers/new"),
        "{transcript}"
    );
    assert!(
        transcript.contains("client bitbucket.org/sync: created"),
        "{transcript}"
    );
    assert!(
        transcript.contains("key and secret: accepted"),
        "{transcript}"
    );
    assert!(
        !transcript.contains(SECRET),
        "the secret was echoed:\n{transcript}"
    );
    let rows = s.rows();
    assert_eq!(rows.clients[0].secret.expose_secret(), SECRET);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkce_is_an_opt_in_per_provider() {
    let bitbucket = mock(MockConsumer::new(KEY, SECRET)).await;
    let s = provisioned(&bitbucket, SECRET).await;
    let first_line = |s: &Sandbox| {
        let mut child = std::process::Command::new(BIN)
            .args([
                "auth",
                "login",
                "bitbucket.org",
                "login",
                "--homepage",
                "https://g.example",
            ])
            .env("GEMNASIUM_STORE", s.store())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let _ = child.kill();
        let _ = child.wait();
        line
    };
    assert!(!first_line(&s).contains("code_challenge"), "off by default");
    let mut on = s.cmd();
    on.args([
        "auth",
        "provider",
        "update",
        "bitbucket.org",
        "--pkce",
        "true",
    ]);
    assert_eq!(run(on).await.status.code(), Some(0));
    assert!(s.rows().providers[0].pkce);
    let url = first_line(&s);
    assert!(
        url.contains("code_challenge=") && url.contains("code_challenge_method=S256"),
        "{url}"
    );
}
