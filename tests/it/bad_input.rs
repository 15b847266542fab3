//! Every bad input: one clear line (plus a hint) on stderr, exit code 1 (2 for usage), no panic,
//! and the store's rows unchanged.

use crate::support::Sandbox;

/// (arguments, expected exit code, fragments the error must contain)
type Case = (&'static [&'static str], i32, &'static [&'static str]);

const AUTHZ: &str = "https://bitbucket.org/site/oauth2/authorize";
const TOKEN: &str = "https://bitbucket.org/site/oauth2/access_token";

const CASES: &[Case] = &[
    // providers
    (
        &[
            "auth",
            "provider",
            "create",
            "gitlab.com",
            "github",
            AUTHZ,
            TOKEN,
        ],
        1,
        &["unknown provider kind `github`; known kinds: bitbucket"],
    ),
    (
        &[
            "auth",
            "provider",
            "create",
            "example.org",
            "bitbucket",
            "not-a-url",
            TOKEN,
        ],
        1,
        &["invalid authorize URL `not-a-url`", "absolute URL"],
    ),
    (
        &[
            "auth",
            "provider",
            "create",
            "example.org",
            "bitbucket",
            AUTHZ,
            "http://bitbucket.org/token",
        ],
        1,
        &[
            "invalid token URL",
            "plain http is only allowed for loopback",
            "https://bitbucket.org",
        ],
    ),
    (
        &[
            "auth",
            "provider",
            "create",
            "example.org",
            "bitbucket",
            "ftp://bitbucket.org/a",
            TOKEN,
        ],
        1,
        &["scheme `ftp` is not supported"],
    ),
    (
        &[
            "auth",
            "provider",
            "create",
            "Bitbucket.org",
            "bitbucket",
            AUTHZ,
            TOKEN,
        ],
        1,
        &[
            "invalid provider name",
            "must be lowercase, for example `bitbucket.org`",
        ],
    ),
    (
        &[
            "auth",
            "provider",
            "create",
            "https://bitbucket.org",
            "bitbucket",
            AUTHZ,
            TOKEN,
        ],
        1,
        &["it is a name, not a URL"],
    ),
    (
        &[
            "auth",
            "provider",
            "create",
            "bitbucket.org",
            "bitbucket",
            AUTHZ,
            "https://bitbucket.example/token",
        ],
        1,
        &[
            "already exists with different values",
            "hint: to change it: auth provider update bitbucket.org",
        ],
    ),
    (
        &[
            "auth",
            "provider",
            "create",
            "example.org",
            "bitbucket",
            AUTHZ,
            TOKEN,
            "--api-url",
            "https://u:pw@api.example.org",
        ],
        1,
        &["contains credentials"],
    ),
    (
        &["auth", "provider", "show", "gitlab.com"],
        1,
        &[
            "provider `gitlab.com` does not exist",
            "hint: list providers",
        ],
    ),
    (
        &["auth", "provider", "update", "bitbucket.org"],
        2,
        &["nothing to update"],
    ),
    (
        &[
            "auth",
            "provider",
            "update",
            "gitlab.com",
            "--api-url",
            "https://api.gitlab.com",
        ],
        1,
        &["provider `gitlab.com` does not exist"],
    ),
    (
        &[
            "auth",
            "provider",
            "update",
            "bitbucket.org",
            "--token-url",
            "bitbucket.org/token",
        ],
        1,
        &["invalid token URL"],
    ),
    (
        &["auth", "provider", "delete", "bitbucket.org"],
        1,
        &["still has 2 client(s) and 1 source(s)", "--cascade"],
    ),
    (
        &["auth", "provider", "delete", "gitlab.com"],
        1,
        &["provider `gitlab.com` does not exist"],
    ),
    // clients
    (
        &[
            "auth",
            "clients",
            "create",
            "gitlab.com",
            "login",
            "K",
            "S",
            "account",
        ],
        1,
        &[
            "provider `gitlab.com` does not exist; create it first",
            "hint: create it first with `auth provider create gitlab.com",
        ],
    ),
    (
        &[
            "auth",
            "clients",
            "create",
            "bitbucket.org",
            "signin",
            "K",
            "S",
            "account",
        ],
        1,
        &["unknown purpose `signin`; use `login`"],
    ),
    (
        &[
            "auth",
            "clients",
            "create",
            "bitbucket.org",
            "sync",
            "K",
            "S",
            "repositories,webhook",
        ],
        1,
        &["unknown scope `repositories`", "did you mean `repository`"],
    ),
    (
        &[
            "auth",
            "clients",
            "create",
            "bitbucket.org",
            "sync",
            "K",
            "S",
            "read:repository:bitbucket,webhook",
        ],
        1,
        &["API-token scope", "here `repository`"],
    ),
    (
        &[
            "auth",
            "clients",
            "create",
            "bitbucket.org",
            "sync",
            "K",
            "S",
            "project:write",
        ],
        1,
        &["was removed", "project:admin"],
    ),
    (
        &[
            "auth",
            "clients",
            "create",
            "bitbucket.org",
            "sync",
            "K",
            "S",
            "repository",
        ],
        1,
        &[
            "do not cover the sync purpose: missing webhook",
            "hint: tick Webhooks: Read and write",
        ],
    ),
    (
        &[
            "auth",
            "clients",
            "create",
            "bitbucket.org",
            "login",
            "K",
            "S",
            ",",
        ],
        1,
        &["no scopes given"],
    ),
    (
        &[
            "auth",
            "clients",
            "create",
            "bitbucket.org",
            "login",
            "OTHER_KEY",
            "OTHER_SECRET",
            "account,email",
        ],
        1,
        &[
            "client `bitbucket.org/login` already exists with different values",
            "hint: to change it: auth clients update bitbucket.org login",
        ],
    ),
    (
        &[
            "auth",
            "clients",
            "create",
            "bitbucket.org",
            "login",
            "K E Y",
            "S",
            "account",
        ],
        1,
        &["invalid OAuth consumer key", "white space"],
    ),
    (
        &[
            "auth",
            "clients",
            "create",
            "bitbucket.org",
            "sync",
            "K",
            "repository,webhook",
            "--secret-env",
            "GEMNASIUM_TEST_UNSET_VAR",
        ],
        2,
        &["GEMNASIUM_TEST_UNSET_VAR is not set"],
    ),
    (
        &[
            "auth",
            "clients",
            "create",
            "bitbucket.org",
            "sync",
            "K",
            "S",
            "repository,webhook",
            "--secret-env",
            "HOME",
        ],
        2,
        &["the secret was given twice"],
    ),
    (
        &[
            "auth",
            "clients",
            "create",
            "bitbucket.org",
            "sync",
            "K",
            "S",
        ],
        2,
        &["SCOPES is missing"],
    ),
    (
        &[
            "auth",
            "clients",
            "create",
            "bitbucket.org",
            "sync",
            "K",
            "-",
            "repository,webhook",
        ],
        2,
        &["standard input was empty"],
    ),
    (
        &["auth", "clients", "show", "bitbucket.org", "nope"],
        1,
        &["unknown purpose `nope`"],
    ),
    (
        &["auth", "clients", "show", "gitlab.com", "login"],
        1,
        &["client `gitlab.com/login` does not exist"],
    ),
    (
        &["auth", "clients", "update", "bitbucket.org", "sync"],
        2,
        &["nothing to update"],
    ),
    (
        &[
            "auth",
            "clients",
            "update",
            "bitbucket.org",
            "sync",
            "--scopes",
            "webhook",
        ],
        1,
        &["missing repository", "--allow-missing-scopes"],
    ),
    (
        &[
            "auth",
            "clients",
            "update",
            "bitbucket.org",
            "sync",
            "--key",
            "",
        ],
        1,
        &["invalid OAuth consumer key: it is empty"],
    ),
    (
        &["auth", "clients", "delete", "gitlab.com", "sync"],
        1,
        &["client `gitlab.com/sync` does not exist"],
    ),
    // sources
    (
        &[
            "repo-syncer",
            "sources",
            "create",
            "gitlab.com",
            "GitLab",
            "bitbucket",
            "https://api.bitbucket.org",
        ],
        1,
        &["provider `gitlab.com` does not exist"],
    ),
    (
        &[
            "repo-syncer",
            "sources",
            "create",
            "bitbucket.org",
            "",
            "bitbucket",
            "https://api.bitbucket.org",
        ],
        1,
        &["invalid display name", "empty"],
    ),
    (
        &[
            "repo-syncer",
            "sources",
            "create",
            "bitbucket.org",
            "Bitbucket Cloud",
            "bitbucket",
            "api.bitbucket.org",
        ],
        1,
        &["invalid API URL `api.bitbucket.org`"],
    ),
    (
        &[
            "repo-syncer",
            "sources",
            "create",
            "bitbucket.org",
            "Other",
            "bitbucket",
            "https://api.bitbucket.org",
        ],
        1,
        &[
            "source `bitbucket.org` already exists with different values",
            "repo-syncer sources update bitbucket.org",
        ],
    ),
    (
        &[
            "repo-syncer",
            "sources",
            "create",
            "bitbucket.org",
            "Bitbucket Cloud",
            "svn",
            "https://api.bitbucket.org",
        ],
        1,
        &["unknown provider kind `svn`"],
    ),
    (
        &["repo-syncer", "sources", "update", "bitbucket.org"],
        2,
        &["nothing to update"],
    ),
    (
        &["repo-syncer", "sources", "show", "gitlab.com"],
        1,
        &["source `gitlab.com` does not exist"],
    ),
    // stores and usage
    (
        &["--store", "mysql://root@db/x", "auth", "provider", "list"],
        1,
        &[
            "invalid store location",
            "unknown kind of store",
            "sqlite://PATH",
        ],
    ),
    (
        &["--store", "sqlite://", "auth", "provider", "list"],
        1,
        &["no file path given"],
    ),
    (&["auth", "clients"], 2, &["requires a subcommand"]),
    (
        &["auth", "provider", "list", "--no-such-flag"],
        2,
        &["unexpected argument"],
    ),
];

#[test]
fn every_bad_input_is_a_clear_error_that_changes_nothing() {
    assert!(CASES.len() >= 30);
    let s = Sandbox::seeded();
    let before = s.rows();
    for (args, code, fragments) in CASES {
        let output = s.cmd().args(*args).write_stdin("").output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(*code), "{args:?}: {stderr}");
        assert!(
            output.stdout.is_empty(),
            "{args:?} printed on stdout: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        if *code == 1 {
            assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
            let lines = stderr
                .lines()
                .filter(|l| !l.starts_with("hint: ") && !l.starts_with("warning: "))
                .count();
            assert_eq!(lines, 1, "one error line expected for {args:?}: {stderr}");
        }
        for fragment in *fragments {
            assert!(
                stderr.contains(fragment),
                "{args:?}: expected {fragment:?} in {stderr}"
            );
        }
        assert_eq!(s.rows(), before, "{args:?} changed the store");
    }
}

#[test]
fn a_secret_with_a_newline_is_refused() {
    let s = Sandbox::seeded();
    let before = s.rows();
    let output = s
        .cmd()
        .args([
            "auth",
            "clients",
            "create",
            "bitbucket.org",
            "sync",
            "K2",
            "repository,webhook",
            "--secret-env",
            "BB_SECRET",
        ])
        .env("BB_SECRET", "abc\ndef")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("control character") && !stderr.contains("abc"),
        "{stderr}"
    );
    assert_eq!(s.rows(), before);
}

#[test]
fn unusable_and_corrupt_stores_are_clear_errors() {
    let s = Sandbox::new();
    let file = s.path().join("file.txt");
    std::fs::write(&file, "not a directory").unwrap();
    let under_file = format!("sqlite://{}/store.db", file.display());
    let output = s
        .cmd()
        .args(["--store", &under_file, "auth", "provider", "list"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("is a file, not a directory") && stderr.contains("--store"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "not a directory");

    let corrupt = s.path().join("corrupt.db");
    let garbage = b"definitely not sqlite ".repeat(300);
    std::fs::write(&corrupt, &garbage).unwrap();
    let store = format!("sqlite://{}", corrupt.display());
    for args in [
        vec!["auth", "provider", "list"],
        vec![
            "auth",
            "provider",
            "create",
            "bitbucket.org",
            "bitbucket",
            AUTHZ,
            TOKEN,
        ],
    ] {
        let output = s
            .cmd()
            .arg("--store")
            .arg(&store)
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("not an SQLite database")
                && stderr.contains("restore it from a backup"),
            "{stderr}"
        );
    }
    assert_eq!(
        std::fs::read(&corrupt).unwrap(),
        garbage,
        "a corrupt store is left as it was"
    );
}

#[test]
fn links_refuse_to_overwrite_other_files() {
    let s = Sandbox::new();
    std::fs::create_dir(s.path().join("bin")).unwrap();
    std::fs::write(s.path().join("bin/auth"), "#!/bin/sh\n").unwrap();
    let output = s.cmd().args(["links", "bin"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("exists and is not a link") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(s.path().join("bin/auth")).unwrap(),
        "#!/bin/sh\n"
    );
    s.cmd().args(["links", "bin", "--force"]).assert().success();
    assert!(s.path().join("bin/auth").is_symlink());
}
