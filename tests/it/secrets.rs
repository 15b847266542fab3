//! Secrets: accepted from the command line, stdin and the environment; never printed.

use gemnasium_bitbucket::model::Purpose;

use crate::support::Sandbox;

const SECRET: &str = "S3cr3t-Never-Shown-9f8e7d6c";

fn secret_of(s: &Sandbox, purpose: Purpose) -> String {
    let rows = s.rows();
    let client = rows
        .clients
        .iter()
        .find(|c| c.purpose == purpose)
        .expect("client exists");
    client.secret.expose_secret().to_owned()
}

#[test]
fn secrets_come_from_argv_dash_stdin_flag_and_environment() {
    let s = Sandbox::new();
    s.cmd()
        .args([
            "auth",
            "provider",
            "create",
            "bitbucket.org",
            "bitbucket",
            "https://bitbucket.org/site/oauth2/authorize",
            "https://bitbucket.org/site/oauth2/access_token",
        ])
        .assert()
        .success();

    s.cmd()
        .args([
            "auth",
            "clients",
            "create",
            "bitbucket.org",
            "login",
            "K",
            "-",
            "account,email",
        ])
        .write_stdin(format!("{SECRET}-dash\n"))
        .assert()
        .success();
    assert_eq!(secret_of(&s, Purpose::Login), format!("{SECRET}-dash"));

    s.cmd()
        .args([
            "auth",
            "clients",
            "create",
            "bitbucket.org",
            "sync",
            "K",
            "repository,webhook",
            "--secret-stdin",
        ])
        .write_stdin(format!("{SECRET}-stdin\r\n"))
        .assert()
        .success();
    assert_eq!(secret_of(&s, Purpose::Sync), format!("{SECRET}-stdin"));

    s.cmd()
        .args([
            "auth",
            "clients",
            "update",
            "bitbucket.org",
            "sync",
            "--secret-env",
            "BB_SECRET",
        ])
        .env("BB_SECRET", format!("{SECRET}-env"))
        .assert()
        .success();
    assert_eq!(secret_of(&s, Purpose::Sync), format!("{SECRET}-env"));

    s.cmd()
        .args([
            "auth",
            "clients",
            "update",
            "bitbucket.org",
            "login",
            "--secret",
            SECRET,
        ])
        .assert()
        .success();
    assert_eq!(secret_of(&s, Purpose::Login), SECRET);
}

#[test]
fn no_command_ever_prints_the_secret() {
    let s = Sandbox::new();
    let mut transcript = String::new();
    let mut run = |args: &[&str], stdin: &str| {
        let output = s
            .cmd()
            .args(args)
            .env("BB_SECRET", SECRET)
            .write_stdin(stdin.to_owned())
            .output()
            .unwrap();
        transcript.push_str(&String::from_utf8_lossy(&output.stdout));
        transcript.push_str(&String::from_utf8_lossy(&output.stderr));
    };
    let create_provider = [
        "auth",
        "provider",
        "create",
        "bitbucket.org",
        "bitbucket",
        "https://bitbucket.org/site/oauth2/authorize",
        "https://bitbucket.org/site/oauth2/access_token",
    ];
    run(&create_provider, "");
    for verbosity in [&[][..], &["-vv"][..], &["--json"][..]] {
        let with = |args: &[&'static str]| [verbosity, args].concat();
        run(
            &with(&[
                "auth",
                "clients",
                "create",
                "bitbucket.org",
                "login",
                "KEY",
                SECRET,
                "account,email",
            ]),
            "",
        );
        run(
            &with(&[
                "auth",
                "clients",
                "create",
                "bitbucket.org",
                "login",
                "KEY",
                SECRET,
                "account,email",
            ]),
            "",
        );
        run(
            &with(&[
                "auth",
                "clients",
                "create",
                "bitbucket.org",
                "login",
                "OTHER",
                SECRET,
                "account",
            ]),
            "",
        );
        run(
            &with(&[
                "auth",
                "clients",
                "create",
                "bitbucket.org",
                "sync",
                "KEY",
                SECRET,
                "repository",
            ]),
            "",
        );
        run(
            &with(&[
                "auth",
                "clients",
                "create",
                "bitbucket.org",
                "sync",
                "KEY",
                SECRET,
                "bogus-scope",
            ]),
            "",
        );
        run(
            &with(&[
                "auth",
                "clients",
                "create",
                "bitbucket.org",
                "sync",
                "KEY",
                "-",
                "repository,webhook",
            ]),
            SECRET,
        );
        run(
            &with(&[
                "auth",
                "clients",
                "create",
                "bitbucket.org",
                "sync",
                "KEY",
                SECRET,
                "repository,webhook",
                "--secret-env",
                "BB_SECRET",
            ]),
            "",
        );
        run(
            &with(&[
                "auth",
                "clients",
                "update",
                "bitbucket.org",
                "sync",
                "--secret-env",
                "BB_SECRET",
            ]),
            "",
        );
        run(
            &with(&[
                "auth",
                "clients",
                "update",
                "bitbucket.org",
                "sync",
                "--secret",
                SECRET,
                "--scopes",
                "nope",
            ]),
            "",
        );
        run(&with(&["auth", "clients", "list"]), "");
        run(
            &with(&["auth", "clients", "show", "bitbucket.org", "login"]),
            "",
        );
        run(
            &with(&["auth", "clients", "show", "bitbucket.org", "sync"]),
            "",
        );
        run(
            &with(&[
                "--store",
                "sqlite:///proc/nope/x.db",
                "auth",
                "clients",
                "create",
                "bitbucket.org",
                "sync",
                "KEY",
                SECRET,
                "repository,webhook",
            ]),
            "",
        );
    }
    assert!(
        transcript.contains("set (sha256:"),
        "the fingerprint is shown: {transcript}"
    );
    assert!(!transcript.contains(SECRET), "secret leaked:\n{transcript}");
    assert!(
        !transcript.contains("S3cr3t"),
        "part of the secret leaked:\n{transcript}"
    );

    let rows = s.rows();
    assert!(!rows.clients.is_empty());
    let debug = format!("{:?} {:#?}", rows.clients, rows);
    assert!(!debug.contains(SECRET), "Debug leaks the secret: {debug}");
}
