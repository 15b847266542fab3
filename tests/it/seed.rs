//! The documented commands, verbatim through the links, and what they leave in the store.

use std::process::Command as StdCommand;

use gemnasium_bitbucket::model::ClientSecret;
use serde_json::json;

use crate::support::{Sandbox, SEED};

fn stdout(cmd: &mut assert_cmd::Command) -> String {
    String::from_utf8(cmd.assert().success().get_output().stdout.clone()).unwrap()
}

fn json_of(cmd: &mut assert_cmd::Command) -> serde_json::Value {
    serde_json::from_str(&stdout(cmd)).unwrap()
}

#[test]
fn seed_commands_run_verbatim_through_links_and_rerun_unchanged() {
    let s = Sandbox::new();
    let expected = [
        "provider bitbucket.org: created\n",
        "client bitbucket.org/login: created\n",
        "client bitbucket.org/sync: created\n",
        "source bitbucket.org: created\n",
    ];
    for (line, want) in SEED.iter().zip(expected) {
        let out = stdout(s.via(line[0]).args(&line[1..]));
        assert_eq!(out, want, "{line:?}");
    }
    let after_first = s.rows();
    for line in SEED {
        let out = stdout(s.via(line[0]).args(&line[1..]));
        assert!(out.ends_with(": unchanged\n"), "{line:?}: {out}");
    }
    assert_eq!(s.rows(), after_first, "re-running changes nothing");
    assert_eq!(after_first.providers.len(), 1);
    assert_eq!(after_first.clients.len(), 2);
    assert_eq!(after_first.sources.len(), 1);
}

#[test]
fn list_and_show_print_exactly_what_was_created() {
    let s = Sandbox::seeded();
    let fp = ClientSecret::new("OAUTH_CONSUMER_SECRET")
        .unwrap()
        .fingerprint();

    assert_eq!(
        stdout(s.via("auth").args(["provider", "list"])),
        "NAME           KIND       AUTHORIZE URL                                TOKEN URL                                       API URL                    SIGN-IN FROM\n\
         bitbucket.org  bitbucket  https://bitbucket.org/site/oauth2/authorize  https://bitbucket.org/site/oauth2/access_token  https://api.bitbucket.org  any workspace\n"
    );
    assert_eq!(
        json_of(s.via("auth").args(["provider", "list", "--json"])),
        json!([{"name": "bitbucket.org", "kind": "bitbucket",
                "authorize_url": "https://bitbucket.org/site/oauth2/authorize",
                "token_url": "https://bitbucket.org/site/oauth2/access_token",
                "api_url": "https://api.bitbucket.org", "pkce": false,
                "homepage": null, "callback_url": null, "allowed_workspaces": []}])
    );
    assert_eq!(
        stdout(s.via("auth").args(["provider", "show", "bitbucket.org"])),
        "name:               bitbucket.org\nkind:               bitbucket\nauthorize_url:      https://bitbucket.org/site/oauth2/authorize\n\
         token_url:          https://bitbucket.org/site/oauth2/access_token\napi_url:            https://api.bitbucket.org\npkce:               off\n\
         homepage:           -\ncallback_url:       - (record the homepage)\nallowed_workspaces: any workspace\n"
    );

    assert_eq!(
        stdout(s.via("auth").args(["clients", "list"])),
        format!(
            "PROVIDER       PURPOSE  KEY                 SECRET                 SCOPES\n\
             bitbucket.org  login    OAUTH_CONSUMER_KEY  set ({fp})  account,email\n\
             bitbucket.org  sync     OAUTH_CONSUMER_KEY  set ({fp})  repository,webhook\n"
        )
    );
    let client = |purpose: &str, scopes: &[&str]| {
        json!({"provider": "bitbucket.org", "purpose": purpose, "key": "OAUTH_CONSUMER_KEY",
               "secret": format!("set ({fp})"), "scopes": scopes})
    };
    assert_eq!(
        json_of(s.via("auth").args(["clients", "list", "--json"])),
        json!([
            client("login", &["account", "email"]),
            client("sync", &["repository", "webhook"])
        ])
    );
    assert_eq!(
        json_of(
            s.via("auth")
                .args(["clients", "show", "bitbucket.org", "sync", "--json"])
        ),
        client("sync", &["repository", "webhook"])
    );
    assert_eq!(
        stdout(s.via("auth").args(["clients", "show", "bitbucket.org", "login"])),
        format!("provider: bitbucket.org\npurpose:  login\nkey:      OAUTH_CONSUMER_KEY\nsecret:   set ({fp})\nscopes:   account,email\n")
    );

    assert_eq!(
        stdout(s.via("repo-syncer").args(["sources", "list"])),
        "PROVIDER       DISPLAY NAME     KIND       API URL\nbitbucket.org  Bitbucket Cloud  bitbucket  https://api.bitbucket.org\n"
    );
    assert_eq!(
        json_of(
            s.via("repo-syncer")
                .args(["sources", "show", "bitbucket.org", "--json"])
        ),
        json!({"provider": "bitbucket.org", "display_name": "Bitbucket Cloud", "kind": "bitbucket",
               "api_url": "https://api.bitbucket.org"})
    );
}

#[test]
fn updates_and_deletes_change_exactly_what_they_say() {
    let s = Sandbox::seeded();
    let out = stdout(s.cmd().args([
        "auth",
        "clients",
        "update",
        "bitbucket.org",
        "sync",
        "--scopes",
        "repository,webhook,account",
    ]));
    assert_eq!(out, "client bitbucket.org/sync: updated\n");
    let out = stdout(s.cmd().args([
        "auth",
        "clients",
        "update",
        "bitbucket.org",
        "sync",
        "--scopes",
        "repository,webhook,account",
    ]));
    assert_eq!(out, "client bitbucket.org/sync: unchanged\n");
    let rows = s.rows();
    assert_eq!(
        rows.clients[1].scopes.to_string(),
        "account,repository,webhook"
    );
    assert_eq!(
        rows.clients[0].scopes.to_string(),
        "account,email",
        "login untouched"
    );

    let out = stdout(s.cmd().args([
        "repo-syncer",
        "sources",
        "update",
        "bitbucket.org",
        "--display-name",
        "Bitbucket",
    ]));
    assert_eq!(out, "source bitbucket.org: updated\n");
    let out = stdout(s.cmd().args([
        "auth",
        "provider",
        "update",
        "bitbucket.org",
        "--api-url",
        "https://api.bitbucket.org",
    ]));
    assert_eq!(out, "provider bitbucket.org: unchanged\n");

    let out = stdout(s.cmd().args([
        "auth",
        "provider",
        "delete",
        "bitbucket.org",
        "--cascade",
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["removed"],
        json!({"clients": 2, "sources": 1, "tokens": 0, "credentials": 0})
    );
    let rows = s.rows();
    assert!(rows.providers.is_empty() && rows.clients.is_empty() && rows.sources.is_empty());
}

#[test]
fn identical_creates_from_racing_processes_all_succeed_once() {
    let s = Sandbox::seeded();
    let line = [
        "auth",
        "clients",
        "create",
        "bitbucket.org",
        "login",
        "RACE_KEY",
        "RACE_SECRET",
        "account,email",
    ];
    s.cmd()
        .args(["auth", "clients", "delete", "bitbucket.org", "login"])
        .assert()
        .success();
    let children: Vec<_> = (0..8)
        .map(|_| {
            StdCommand::new(crate::support::BIN)
                .args(line)
                .env("GEMNASIUM_STORE", s.store())
                .output()
        })
        .collect();
    let outputs: Vec<_> = children.into_iter().map(Result::unwrap).collect();
    assert!(outputs.iter().all(|o| o.status.success()), "{outputs:?}");
    let created = outputs
        .iter()
        .filter(|o| String::from_utf8_lossy(&o.stdout).contains(": created"))
        .count();
    assert_eq!(created, 1, "{outputs:?}");
}

#[test]
fn links_are_idempotent() {
    let s = Sandbox::new();
    let first = stdout(s.cmd().args(["links", "bin"]));
    assert_eq!(first.matches(": created").count(), 3, "{first}");
    let again = stdout(s.cmd().args(["links", "bin"]));
    assert_eq!(again.matches(": unchanged").count(), 3, "{again}");
    for name in ["auth", "repo-syncer", "configure"] {
        assert!(s.path().join("bin").join(name).is_symlink());
    }
}

#[test]
fn help_teaches_with_examples() {
    let s = Sandbox::new();
    let help = stdout(s.via("auth").args(["clients", "create", "--help"]));
    for fragment in [
        "Examples:",
        "account,email",
        "--secret-stdin",
        "--secret-env",
    ] {
        assert!(help.contains(fragment), "{fragment}: {help}");
    }
    assert!(help.contains("login needs account"), "{help}");
    let top = stdout(s.cmd().arg("--help"));
    assert!(
        top.contains("auth provider create bitbucket.org bitbucket"),
        "{top}"
    );
    assert!(top.contains("/auth/auth/bitbucket.org"), "{top}");
}
