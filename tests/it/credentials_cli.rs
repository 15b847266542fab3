//! `auth credentials add|list|delete`, `auth tokens list` and `repo-syncer sync --credential`
//! as users run them, against `MockBitbucket` modelling access tokens and API tokens, with an
//! encrypted SQLite store.

use serde_json::Value;

use crate::support::{configure_against, keygen, run_cli, Sandbox};
use gemnasium_bitbucket::testing::{MockBitbucket, MockConsumer, MockUser};

const KEY: &str = "cli-creds-consumer-key-0123456789";
const SECRET: &str = "cli-creds-consumer-secret";
const HOOKS_URL: &str = "https://gemnasium.example/hooks/bitbucket";

struct Site {
    mock: MockBitbucket,
    sandbox: Sandbox,
    key: String,
    jane: gemnasium_bitbucket::model::AccountUuid,
}

/// A sandbox configured against the mock with an encrypted store; jane (jane@example.com)
/// administers acme/widget; acme also holds acme/gadget.
async fn site() -> Site {
    let mock = MockBitbucket::start().await;
    mock.add_consumer(MockConsumer::new(KEY, SECRET));
    let jane = mock.add_user(MockUser::new("jdoe").with_email("jane@example.com", true, true));
    mock.add_workspace("acme", &[&jane]);
    let _ = mock.add_repository("acme", "widget", &[&jane]);
    let _ = mock.add_repository("acme", "gadget", &[&jane]);
    let sandbox = Sandbox::new();
    let key = keygen(&sandbox);
    let mut cmd = configure_against(&sandbox, &mock, KEY, SECRET, &["--no-verify"]);
    cmd.env("GEMNASIUM_SECRET_KEY", &key);
    let (code, out, err) = run_cli(cmd).await;
    assert_eq!(code, 0, "{out}{err}");
    Site {
        mock,
        sandbox,
        key,
        jane,
    }
}

async fn cli(site: &Site, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = site.sandbox.cmd();
    cmd.args(args)
        .env("GEMNASIUM_SECRET_KEY", &site.key)
        .write_stdin("");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_cli(cmd).await
}

/// `auth credentials add bitbucket.org acme-bot` of access token `token` for workspace acme,
/// expiring on `expires_on`.
async fn add_acme_bot(site: &Site, token: &str, expires_on: &str) -> (i32, String, String) {
    let args = [
        "auth",
        "credentials",
        "add",
        "bitbucket.org",
        "acme-bot",
        "--access-token-env",
        "ACME_TOKEN",
        "--workspace",
        "acme",
        "--expires-at",
        expires_on,
    ];
    cli(site, &args, &[("ACME_TOKEN", token)]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_token_is_checked_stored_encrypted_listed_and_synced_with() {
    let site = site().await;
    let token = site.mock.add_access_token(
        "acme",
        "repository,webhook",
        Some(chrono::Duration::days(200)),
    );
    let (code, out, err) = add_acme_bot(&site, &token, "2099-01-31").await;
    assert_eq!(code, 0, "{out}{err}");
    // Re-running the same command is not an error.
    let (code, again, err) = add_acme_bot(&site, &token, "2099-01-31").await;
    assert_eq!(code, 0, "{again}{err}");
    assert!(again.contains("acme-bot already stored"), "{again}");
    assert!(
        out.contains("credential bitbucket.org/acme-bot stored"),
        "{out}"
    );
    assert!(out.contains("--credential acme-bot"), "{out}");
    assert!(!out.contains(&token) && !err.contains(&token));
    let db = site.sandbox.path().join("store.db");
    let dump = gemnasium_bitbucket_tests::table_dump(&db).join("\n");
    assert!(dump.contains("acme-bot"), "the row is there");
    assert!(!dump.contains(&token), "the token is encrypted at rest");

    let (code, out, _) = cli(&site, &["auth", "credentials", "list"], &[]).await;
    assert_eq!(code, 0);
    assert!(
        out.contains("acme-bot") && out.contains("access_token"),
        "{out}"
    );
    assert!(
        out.contains("workspace acme") && out.contains("2099-01-31"),
        "{out}"
    );
    assert!(!out.contains(&token));

    let (code, out, _) = cli(&site, &["auth", "tokens", "list", "--json"], &[]).await;
    assert_eq!(code, 0);
    let rows: Value = serde_json::from_str(&out).unwrap();
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "acme-bot")
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(row["kind"], "access_token");
    assert_eq!(row["state"], "active");
    assert!(row["scopes"].as_str().unwrap().contains("webhook"), "{row}");
    assert!(
        row["expires_at"]
            .as_str()
            .unwrap()
            .starts_with("2099-01-31"),
        "{row}"
    );

    let (code, out, err) = cli(
        &site,
        &[
            "repo-syncer",
            "sync",
            "bitbucket.org",
            "--credential",
            "acme-bot",
            "--json",
        ],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["credential"],
        serde_json::json!({"kind": "stored", "id": "acme-bot"})
    );
    // Its own workspace, without asking for memberships (refused to access tokens).
    assert_eq!(report["requests"], 1, "{out}");
    let (code, out, err) = cli(
        &site,
        &["repo-syncer", "track", "bitbucket.org", "acme/widget"],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = cli(
        &site,
        &[
            "repo-syncer",
            "sync",
            "bitbucket.org",
            "--credential",
            "acme-bot",
            "--hooks-url",
            HOOKS_URL,
        ],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(site.mock.hooks("acme/widget").len(), 1);
    assert!(
        site.mock
            .requests_with(&token)
            .iter()
            .all(|r| !r.contains("/2.0/user")),
        "an access token asked for the user"
    );

    let (code, out, err) = cli(
        &site,
        &[
            "repo-syncer",
            "repos",
            "list",
            "bitbucket.org",
            "--credential",
            "acme-bot",
            "--json",
        ],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{out}");

    let (code, out, err) = cli(
        &site,
        &["auth", "credentials", "verify", "bitbucket.org", "acme-bot"],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("accepted by Bitbucket"), "{out}");
    site.mock.expire_credential(&token);
    let (code, out, err) = cli(
        &site,
        &["auth", "credentials", "verify", "bitbucket.org", "acme-bot"],
        &[],
    )
    .await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("no longer accepts credential `acme-bot`"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");

    let (code, out, err) = cli(
        &site,
        &["auth", "credentials", "delete", "bitbucket.org", "acme-bot"],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = cli(
        &site,
        &["auth", "credentials", "delete", "bitbucket.org", "acme-bot"],
        &[],
    )
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("no credential `acme-bot`"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_tokens_and_bad_options_store_nothing_and_say_why() {
    let site = site().await;
    let scopeless = site.mock.add_api_token(&site.jane, &[], None, None);
    let add_api = |email: &'static str| {
        [
            "auth",
            "credentials",
            "add",
            "bitbucket.org",
            "jane-api",
            "--api-token-env",
            "BB_API_TOKEN",
            "--email",
            email,
        ]
    };
    let (code, out, err) = cli(
        &site,
        &add_api("jane@example.com"),
        &[("BB_API_TOKEN", &scopeless)],
    )
    .await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("API token with scopes"), "{err}");
    assert!(err.contains("was not stored"), "{err}");
    assert!(!err.contains(&scopeless), "{err}");

    let good = site.mock.add_api_token(
        &site.jane,
        &[
            "read:user:bitbucket",
            "read:workspace:bitbucket",
            "read:repository:bitbucket",
            "read:webhook:bitbucket",
        ],
        None,
        None,
    );
    let (code, _, err) = cli(
        &site,
        &add_api("someone@example.com"),
        &[("BB_API_TOKEN", &good)],
    )
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("someone@example.com"), "{err}");

    let other = site
        .mock
        .add_access_token("acme", "repository,webhook", None);
    let cases: [(&[&str], &str); 5] = [
        (
            &["--access-token-env", "UNSET_VAR_XYZ", "--workspace", "acme"],
            "UNSET_VAR_XYZ is not set",
        ),
        (&["--access-token-env", "T"], "--workspace"),
        (
            &[
                "--access-token-env",
                "T",
                "--workspace",
                "acme",
                "--expires-at",
                "soon",
            ],
            "invalid date `soon`",
        ),
        (
            &[
                "--access-token-env",
                "T",
                "--workspace",
                "acme",
                "--email",
                "jane@example.com",
            ],
            "cannot be used with",
        ),
        (
            &[
                "--access-token-env",
                "T",
                "--workspace",
                "acme",
                "--expires-at",
                "2001-01-01",
            ],
            "expired at 2001-01-01",
        ),
    ];
    for (extra, expected) in cases {
        let mut args = vec!["auth", "credentials", "add", "bitbucket.org", "bot"];
        args.extend_from_slice(extra);
        let (code, out, err) = cli(&site, &args, &[("T", &other)]).await;
        assert_ne!(code, 0, "{args:?}: {out}");
        assert!(
            err.contains(expected),
            "{args:?}: {expected:?} not in {err}"
        );
    }
    let (code, out, _) = cli(&site, &["auth", "credentials", "list", "--json"], &[]).await;
    assert_eq!(code, 0);
    assert_eq!(out.trim(), "[]", "nothing was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_warns_before_a_credential_expires() {
    let site = site().await;
    let token = site
        .mock
        .add_access_token("acme", "repository,webhook", None);
    let soon = (chrono::Utc::now() + chrono::Duration::days(5))
        .format("%Y-%m-%d")
        .to_string();
    let (code, out, err) = add_acme_bot(&site, &token, &soon).await;
    assert_eq!(code, 0, "{out}{err}");
    let (_, out, err) = cli(&site, &["doctor", "--offline"], &[]).await;
    assert!(
        out.contains("credential bitbucket.org/acme-bot") && out.contains("expires in"),
        "{out}{err}"
    );
    let (_, out, _) = cli(&site, &["auth", "tokens", "list"], &[]).await;
    assert!(out.contains("(soon)"), "{out}");
}
