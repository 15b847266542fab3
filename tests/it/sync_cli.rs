//! `repo-syncer sync`, `repos list`, `track` and `untrack` against MockBitbucket.

use gemnasium_bitbucket::testing::Quirks;

use crate::support::{run_cli as run, world, Sandbox, SYNC_KEY, SYNC_SECRET};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_lists_tracks_installs_hooks_once_and_untracks() {
    let w = world().await;
    let s = &w.sandbox;

    let mut sync = s.cmd();
    sync.args([
        "repo-syncer",
        "sync",
        "bitbucket.org",
        "--json",
        "--retry-base-ms",
        "2",
    ]);
    let (code, out, err) = run(sync).await;
    assert_eq!(code, 0, "{out}{err}");
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["workspaces"]["listed"], 2);
    assert_eq!(summary["repositories"]["listed"], 14);
    assert_eq!(summary["repositories"]["new"], 14);
    assert!(
        summary["retries"].as_u64().unwrap() > 0,
        "the 429s were retried: {summary}"
    );

    let mut list = s.cmd();
    list.args([
        "repo-syncer",
        "repos",
        "list",
        "bitbucket.org",
        "--retry-base-ms",
        "2",
    ]);
    let (code, out, _) = run(list).await;
    assert_eq!(code, 0);
    assert!(
        out.contains("acme/r00") && out.contains("beta/b1") && out.contains("private"),
        "{out}"
    );

    let mut track = s.cmd();
    track.args([
        "repo-syncer",
        "track",
        "bitbucket.org",
        "acme/r00",
        "acme/r05",
    ]);
    let (code, out, err) = run(track).await;
    assert_eq!(code, 0, "{out}{err}");
    let mut unknown = s.cmd();
    unknown.args(["repo-syncer", "track", "bitbucket.org", "acme/nope"]);
    let (code, _, err) = run(unknown).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("not in the last listing") && err.contains("repo-syncer sync bitbucket.org"),
        "{err}"
    );

    let hooks = [
        "repo-syncer",
        "sync",
        "bitbucket.org",
        "--hooks-url",
        "https://g.example/hooks/bitbucket",
        "--retry-base-ms",
        "2",
    ];
    let mut first = s.cmd();
    first.args(hooks);
    let (code, out, err) = run(first).await;
    // A tracked repository whose hook could not be installed (no admin permission) makes the
    // run exit 1: its pushes would never reach Gemnasium.
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("hooks: 1 created, 0 updated, 0 deleted, 0 unchanged, 1 skipped"),
        "{out}"
    );
    assert!(
        err.contains("webhooks of 1 repositories could not be set"),
        "{err}"
    );
    assert!(
        err.contains("acme/r05") && err.contains("administrator"),
        "{err}"
    );
    assert_eq!(w.bitbucket.hooks("acme/r00").len(), 1);

    let writes = w.bitbucket.hook_writes();
    let mut second = s.cmd();
    second.args(hooks).arg("--json");
    let (code, out, _) = run(second).await;
    assert_eq!(code, 1, "acme/r05 still refuses: {out}");
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["hooks"]["unchanged"], 1);
    assert_eq!(summary["hooks"]["writes"], 0);
    assert_eq!(
        w.bitbucket.hook_writes(),
        writes,
        "no write request on the second run"
    );

    let mut untrack = s.cmd();
    untrack.args([
        "repo-syncer",
        "untrack",
        "bitbucket.org",
        "acme/r00",
        "--retry-base-ms",
        "2",
    ]);
    let (code, out, err) = run(untrack).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        w.bitbucket.hooks("acme/r00").is_empty(),
        "our hook was removed from Bitbucket"
    );
    assert!(!out.contains(&w.access) && !err.contains(&w.access));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_workspace_is_reported_and_keeps_its_list() {
    let w = world().await;
    let mut sync = w.sandbox.cmd();
    sync.args([
        "repo-syncer",
        "sync",
        "bitbucket.org",
        "--retry-base-ms",
        "2",
    ]);
    assert_eq!(run(sync).await.0, 0);
    w.bitbucket.set_workspace_broken("acme", true);
    let mut again = w.sandbox.cmd();
    again.args([
        "repo-syncer",
        "sync",
        "bitbucket.org",
        "--retry-base-ms",
        "2",
    ]);
    let (code, out, err) = run(again).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("workspaces: 1 listed, 1 failed"), "{out}");
    assert!(
        err.contains("1 workspace(s) could not be listed (acme); their previous lists were kept"),
        "{err}"
    );
    let mut list = w.sandbox.cmd();
    list.args(["repo-syncer", "repos", "list", "bitbucket.org", "--json"]);
    let (_, out, _) = run(list).await;
    let repos: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(
        repos.iter().filter(|r| r["gone_since"].is_null()).count(),
        14
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_without_an_authorized_account_says_how_to_get_one() {
    let s = Sandbox::new();
    let mut cmd = s.cmd();
    cmd.args([
        "configure",
        "--homepage",
        "https://g.example",
        "--key",
        SYNC_KEY,
        "--secret-env",
        "S",
        "--yes",
        "--no-verify",
    ])
    .env("S", SYNC_SECRET)
    .write_stdin("");
    assert_eq!(run(cmd).await.0, 0);
    let mut sync = s.cmd();
    sync.args(["repo-syncer", "sync", "bitbucket.org"]);
    let (code, _, err) = run(sync).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("no account has authorized the sync client")
            && err.contains("auth login bitbucket.org sync"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_source_removes_our_hooks_or_refuses() {
    let w = world().await;
    let s = &w.sandbox;
    for args in [
        &[
            "repo-syncer",
            "sync",
            "bitbucket.org",
            "--retry-base-ms",
            "2",
        ][..],
        &["repo-syncer", "track", "bitbucket.org", "acme/r00"][..],
        &[
            "repo-syncer",
            "sync",
            "bitbucket.org",
            "--hooks-url",
            "https://g.example/h",
            "--retry-base-ms",
            "2",
        ][..],
    ] {
        let mut cmd = s.cmd();
        cmd.args(args);
        let (code, out, err) = run(cmd).await;
        assert_eq!(code, 0, "{args:?}: {out}{err}");
    }
    assert_eq!(w.bitbucket.hooks("acme/r00").len(), 1);

    // Bitbucket failing: refuse, change nothing.
    w.bitbucket.set_quirks(Quirks {
        fail_every: Some(1),
        ..Quirks::default()
    });
    let mut refused = s.cmd();
    refused.args([
        "repo-syncer",
        "sources",
        "delete",
        "bitbucket.org",
        "--retry-base-ms",
        "2",
    ]);
    let (code, _, err) = run(refused).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("the source was not deleted") && err.contains("--keep-hooks"),
        "{err}"
    );
    assert_eq!(w.sandbox.rows().sources.len(), 1);

    w.bitbucket.set_quirks(Quirks::default());
    let mut delete = s.cmd();
    delete.args([
        "repo-syncer",
        "sources",
        "delete",
        "bitbucket.org",
        "--retry-base-ms",
        "2",
    ]);
    let (code, out, err) = run(delete).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("removed 1 webhook(s)") && out.contains("source bitbucket.org: deleted"),
        "{out}"
    );
    assert!(w.bitbucket.hooks("acme/r00").is_empty());
    assert!(w.sandbox.rows().sources.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_or_invalid_ca_certificate_is_a_clear_error() {
    let w = world().await;
    let s = &w.sandbox;
    let mut missing = s.cmd();
    missing.args([
        "repo-syncer",
        "sync",
        "bitbucket.org",
        "--ca-cert",
        "/nonexistent/ca.pem",
    ]);
    let (code, _, err) = run(missing).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("cannot read the CA certificate /nonexistent/ca.pem"),
        "{err}"
    );
    let bad = s.path().join("bad.pem");
    std::fs::write(
        &bad,
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let mut invalid = s.cmd();
    invalid
        .args(["repo-syncer", "sync", "bitbucket.org", "--ca-cert"])
        .arg(&bad);
    let (code, _, err) = run(invalid).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("CA certificate"), "{err}");
    assert!(w.bitbucket.rest_requests() == 0, "nothing was sent");
}
