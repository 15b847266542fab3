//! Issue 12 (parts 3–5) as users meet it: `--allow-workspace` on `configure` and
//! `auth provider update`, shown by `auth provider list|show`; `doctor` on an unlimited
//! sign-in and on deprecations; a `bitbucket.org` API URL refused; a sync stopped by a long
//! rate-limit reset ends with "rate limited; resume after T".

use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::support::{run_cli, world, Sandbox};

async fn cli(s: &Sandbox, args: &[&str]) -> (i32, String, String) {
    let mut cmd = s.cmd();
    cmd.args(args).write_stdin("");
    run_cli(cmd).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_workspaces_are_set_shown_kept_and_cleared() {
    let s = Sandbox::new();
    let configure = |extra: &'static [&'static str]| {
        let mut cmd = s.cmd();
        cmd.args([
            "configure",
            "--homepage",
            "https://g.example",
            "--key",
            "KEY",
            "--secret-env",
            "S",
            "--yes",
            "--no-verify",
            "--login-only",
        ])
        .args(extra)
        .env("S", "a-secret")
        .write_stdin("");
        cmd
    };
    let (code, out, err) = run_cli(configure(&[
        "--allow-workspace",
        "acme",
        "--allow-workspace",
        "Acme-Labs",
    ]))
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("members of acme, acme-labs only"), "{out}");

    let shown = |json: String| -> Value { serde_json::from_str(&json).unwrap() };
    let (code, out, _) = cli(&s, &["auth", "provider", "show", "bitbucket.org", "--json"]).await;
    assert_eq!(code, 0);
    assert_eq!(
        shown(out)["allowed_workspaces"],
        serde_json::json!(["acme", "acme-labs"])
    );

    // Re-running configure without the flag keeps the limit: it is never lifted by omission.
    let (code, out, err) = run_cli(configure(&[])).await;
    assert_eq!(code, 0, "{out}{err}");
    let (_, out, _) = cli(&s, &["auth", "provider", "list"]).await;
    assert!(out.contains("SIGN-IN FROM"), "{out}");
    assert!(out.contains("acme, acme-labs"), "{out}");

    let (code, out, err) = cli(
        &s,
        &[
            "auth",
            "provider",
            "update",
            "bitbucket.org",
            "--allow-workspace",
            "beta",
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    let (_, out, _) = cli(&s, &["auth", "provider", "show", "bitbucket.org"]).await;
    assert!(
        out.contains("allowed_workspaces") && out.contains("beta"),
        "{out}"
    );
    assert!(!out.contains("acme"), "the list is replaced: {out}");
    let (code, out, _) = cli(&s, &["doctor", "--offline", "--json"]).await;
    assert!(
        !out.contains("anyone with a Bitbucket account can sign in"),
        "{code} {out}"
    );

    // A bad slug is refused before anything changes.
    let (code, _, err) = cli(
        &s,
        &[
            "auth",
            "provider",
            "update",
            "bitbucket.org",
            "--allow-workspace",
            "acme/widget",
        ],
    )
    .await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not a URL or a repository"), "{err}");
    let (code, _, err) = cli(
        &s,
        &[
            "auth",
            "provider",
            "update",
            "bitbucket.org",
            "--allow-workspace",
            "a",
            "--any-workspace",
        ],
    )
    .await;
    assert_eq!(code, 2, "{err}");

    let (code, out, err) = cli(
        &s,
        &[
            "auth",
            "provider",
            "update",
            "bitbucket.org",
            "--any-workspace",
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    let (_, out, _) = cli(&s, &["auth", "provider", "show", "bitbucket.org", "--json"]).await;
    assert_eq!(shown(out)["allowed_workspaces"], serde_json::json!([]));
    let (_, out, _) = cli(&s, &["doctor", "--offline"]).await;
    assert!(
        out.contains("anyone with a Bitbucket account can sign in"),
        "{out}"
    );
    assert!(out.contains("--allow-workspace SLUG"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_url_on_bitbucket_org_is_refused_and_nothing_is_stored() {
    let s = Sandbox::new();
    let (code, _, err) = cli(
        &s,
        &[
            "auth",
            "provider",
            "create",
            "bitbucket.org",
            "bitbucket",
            "https://bitbucket.org/site/oauth2/authorize",
            "https://bitbucket.org/site/oauth2/access_token",
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    for args in [
        &[
            "repo-syncer",
            "sources",
            "create",
            "bitbucket.org",
            "Bitbucket Cloud",
            "bitbucket",
            "https://bitbucket.org/api/2.0",
        ][..],
        &[
            "repo-syncer",
            "sources",
            "create",
            "bitbucket.org",
            "Bitbucket Cloud",
            "bitbucket",
            "https://bitbucket.org",
        ][..],
    ] {
        let (code, _, err) = cli(&s, args).await;
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(err.contains("https://api.bitbucket.org"), "{err}");
    }
    assert!(s.rows().sources.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_longer_than_the_wait_cap_ends_the_sync_saying_when_to_resume() {
    let w = world().await;
    w.bitbucket
        .set_quirks(gemnasium_bitbucket::testing::Quirks::default());
    Mock::given(method("GET"))
        .and(path("/2.0/repositories/beta"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("X-RateLimit-Reset", "900")
                .set_body_raw(
                    "Rate limit for this resource has been exceeded",
                    "text/plain",
                ),
        )
        .with_priority(1)
        .mount(w.bitbucket.server())
        .await;
    let started = std::time::Instant::now();
    let (code, out, err) = cli(&w.sandbox, &["repo-syncer", "sync", "bitbucket.org"]).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "a 15-minute reset is not slept: {:?}",
        started.elapsed()
    );
    assert!(
        err.contains("error: rate limited; resume after 20"),
        "{err}"
    );
    assert!(out.contains("1 failed"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_410_change_is_surfaced_with_its_url_and_doctor_reports_it_once() {
    let w = world().await;
    w.bitbucket
        .set_quirks(gemnasium_bitbucket::testing::Quirks::default());
    let url = "https://developer.atlassian.com/cloud/bitbucket/changelog#CHANGE-2770";
    Mock::given(method("GET"))
        .and(path("/2.0/user/workspaces"))
        .respond_with(ResponseTemplate::new(410).set_body_json(serde_json::json!({
            "type": "error", "error": {
                "message": "CHANGE-2770 - Functionality has been deprecated",
                "detail": "Please read the changelog entry for more details.",
                "data": {"announcement_url": url}}})))
        .with_priority(1)
        .mount(w.bitbucket.server())
        .await;
    let (code, out, err) = cli(&w.sandbox, &["repo-syncer", "sync", "bitbucket.org"]).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("CHANGE-2770") && err.contains(url), "{err}");

    let (code, out, _) = cli(&w.sandbox, &["doctor", "--offline"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("fail  deprecations: Bitbucket answered 410 CHANGE-2770"),
        "{out}"
    );
    assert!(out.contains(url), "{out}");
    let (_, out, _) = cli(&w.sandbox, &["doctor", "--offline"]).await;
    assert!(!out.contains("CHANGE-2770"), "reported once: {out}");
    assert!(
        out.contains("pass  deprecations: no removed endpoint answered since"),
        "{out}"
    );
}
