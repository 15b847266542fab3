//! `export`, `apply` and `store migrate` / `store status`, run as users run them (issue 10,
//! parts 2 and 3), checked through the library. The PostgreSQL round trip uses a fresh schema of
//! `DATABASE_URL`'s database; without it that test skips, except under CI, where it fails.

use std::path::PathBuf;

use gemnasium_bitbucket::model::{AccessToken, AccountInfo, Purpose, RefreshToken, TokenSet};
use gemnasium_bitbucket::store;
use gemnasium_bitbucket_tests::rows;

use crate::support::Sandbox;

/// The secret the seed gives both clients.
const SEED_SECRET: &str = "OAUTH_CONSUMER_SECRET";
const LOGIN_VAR: &str = "GEMNASIUM_SECRET_BITBUCKET_ORG_LOGIN";
const SYNC_VAR: &str = "GEMNASIUM_SECRET_BITBUCKET_ORG_SYNC";

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `export` of `s` into a file of `s`'s directory.
fn export_to_file(s: &Sandbox, name: &str, extra: &[&str]) -> PathBuf {
    let out = s.cmd().arg("export").args(extra).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let path = s.path().join(name);
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

/// Stores a token for jdoe's sync client, straight through the library.
fn put_token(location: &str) {
    let location = location.to_owned();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let store = store::open(&location).await.unwrap();
                let tokens = TokenSet {
                    access_token: AccessToken::new("access-token-e2e").unwrap(),
                    refresh_token: Some(RefreshToken::new("refresh-token-e2e").unwrap()),
                    expires_at: chrono::DateTime::from_timestamp(2_000_000_000, 0),
                    scopes: "repository,webhook".parse().unwrap(),
                };
                let account = AccountInfo {
                    uuid: "{00000001-0000-4000-8000-000000000000}".parse().unwrap(),
                    account_id: None,
                    nickname: Some("jdoe".into()),
                    display_name: None,
                };
                store
                    .put_token(
                        &"bitbucket.org".parse().unwrap(),
                        Purpose::Sync,
                        &account,
                        &tokens,
                    )
                    .await
                    .unwrap();
            });
    })
    .join()
    .unwrap();
}

#[test]
fn exporting_twice_gives_the_same_bytes_and_no_secret() {
    let s = Sandbox::seeded();
    let first = s.cmd().arg("export").output().unwrap();
    let second = s.cmd().arg("export").output().unwrap();
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(first.stdout, second.stdout);
    let text = stdout(&first);
    assert!(!text.contains(SEED_SECRET), "{text}");
    assert!(
        text.contains(&format!("secret = \"env:{LOGIN_VAR}\"")),
        "{text}"
    );
    // Standard error names the variables to set, never their values.
    let notes = stderr(&first);
    assert!(
        notes.contains(LOGIN_VAR) && notes.contains(SYNC_VAR),
        "{notes}"
    );
    assert!(!notes.contains(SEED_SECRET));

    let literal = s
        .cmd()
        .args(["export", "--include-secrets"])
        .output()
        .unwrap();
    assert!(stdout(&literal).contains(&format!("secret = \"{SEED_SECRET}\"")));
    assert!(stderr(&literal).contains("keep it like a password"));
}

#[test]
fn export_then_apply_elsewhere_round_trips_and_reapplying_changes_nothing() {
    let from = Sandbox::seeded();
    let file = export_to_file(&from, "gemnasium.toml", &[]);
    let to = Sandbox::new();
    let out = to
        .cmd()
        .args(["apply", file.to_str().unwrap()])
        .env(LOGIN_VAR, SEED_SECRET)
        .env(SYNC_VAR, SEED_SECRET)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("create     client bitbucket.org/login"),
        "{text}"
    );
    assert!(!text.contains(SEED_SECRET), "{text}");
    assert!(
        text.contains("applied in one transaction: 4 created"),
        "{text}"
    );
    let (a, b) = (from.rows(), to.rows());
    assert_eq!(
        (&a.providers, &a.clients, &a.sources),
        (&b.providers, &b.clients, &b.sources)
    );
    // The store exports the same file.
    assert_eq!(std::fs::read(&file).unwrap(), {
        let out = to.cmd().arg("export").output().unwrap();
        out.stdout
    });

    let again = to
        .cmd()
        .args(["--json", "apply", file.to_str().unwrap()])
        .env(LOGIN_VAR, SEED_SECRET)
        .env(SYNC_VAR, SEED_SECRET)
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", stderr(&again));
    let json: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(json["applied"], false);
    assert_eq!(json["summary"]["unchanged"], 4);
    assert!(json["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["change"] == "unchanged"));
}

#[test]
fn a_dry_run_prints_the_changes_and_writes_nothing() {
    let s = Sandbox::seeded();
    let file = export_to_file(&s, "gemnasium.toml", &[]);
    let text = std::fs::read_to_string(&file).unwrap().replace(
        "display_name = \"Bitbucket Cloud\"",
        "display_name = \"Bitbucket\"",
    );
    std::fs::write(&file, text).unwrap();
    let before = s.rows();
    let out = s
        .cmd()
        .args(["apply", file.to_str().unwrap(), "--dry-run"])
        .env(LOGIN_VAR, "a-new-secret-value")
        .env(SYNC_VAR, SEED_SECRET)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("update     client bitbucket.org/login"),
        "{text}"
    );
    assert!(text.contains("secret: sha256:"), "{text}");
    assert!(
        !text.contains("a-new-secret-value") && !text.contains(SEED_SECRET),
        "{text}"
    );
    assert!(
        text.contains("display_name: Bitbucket Cloud -> Bitbucket"),
        "{text}"
    );
    assert!(
        text.contains("dry run, nothing written: 0 to create, 2 to update"),
        "{text}"
    );
    assert_eq!(s.rows(), before);
}

#[test]
fn an_unset_variable_fails_before_anything_is_written() {
    let from = Sandbox::seeded();
    let file = export_to_file(&from, "gemnasium.toml", &[]);
    let to = Sandbox::new();
    to.cmd()
        .args([
            "auth",
            "provider",
            "create",
            "other.example",
            "bitbucket",
            "https://other.example/authorize",
            "https://other.example/token",
        ])
        .assert()
        .success();
    let before = to.rows();
    let out = to
        .cmd()
        .args(["apply", file.to_str().unwrap()])
        .env(LOGIN_VAR, SEED_SECRET)
        .env_remove(SYNC_VAR)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(SYNC_VAR) && err.contains("not set"), "{err}");
    assert!(!err.contains(LOGIN_VAR), "{err}");
    assert_eq!(to.rows(), before);
}

#[test]
fn prune_deletes_what_the_file_lacks_and_only_with_prune() {
    let reference = Sandbox::seeded();
    let file = export_to_file(&reference, "gemnasium.toml", &["--include-secrets"]);
    let s = Sandbox::seeded();
    s.cmd()
        .args([
            "auth",
            "provider",
            "create",
            "other.example",
            "bitbucket",
            "https://other.example/authorize",
            "https://other.example/token",
        ])
        .assert()
        .success();
    s.cmd()
        .args([
            "auth",
            "clients",
            "create",
            "other.example",
            "login",
            "K",
            "S",
            "account,email",
        ])
        .assert()
        .success();
    let kept = s
        .cmd()
        .args(["apply", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(kept.status.success(), "{}", stderr(&kept));
    assert!(
        stdout(&kept)
            .contains("kept       provider other.example (not in the file; --prune deletes it)"),
        "{}",
        stdout(&kept)
    );
    assert_eq!(s.rows().providers.len(), 2);

    let pruned = s
        .cmd()
        .args(["apply", file.to_str().unwrap(), "--prune"])
        .output()
        .unwrap();
    assert!(pruned.status.success(), "{}", stderr(&pruned));
    let text = stdout(&pruned);
    assert!(text.contains("delete     provider other.example"), "{text}");
    assert!(
        text.contains("delete     client other.example/login"),
        "{text}"
    );
    assert_eq!(s.rows(), reference.rows());
}

#[test]
fn migrate_refuses_a_non_empty_target_without_force() {
    let from = Sandbox::seeded();
    put_token(&from.store());
    let to = Sandbox::new();
    to.cmd()
        .args([
            "auth",
            "provider",
            "create",
            "other.example",
            "bitbucket",
            "https://other.example/authorize",
            "https://other.example/token",
        ])
        .assert()
        .success();
    let before = to.rows();
    let out = to
        .cmd()
        .args([
            "store",
            "migrate",
            "--from",
            &from.store(),
            "--to",
            &to.store(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("is not empty (1 providers)") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(to.rows(), before);

    let out = to
        .cmd()
        .args([
            "--json",
            "store",
            "migrate",
            "--from",
            &from.store(),
            "--to",
            &to.store(),
            "--force",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["rows"]["tokens"], 1);
    assert_eq!(json["replaced"]["providers"], 1);
    assert_eq!(to.rows(), from.rows());
}

#[test]
fn store_status_shows_backend_schema_rows_and_encryption() {
    let s = Sandbox::seeded();
    put_token(&s.store());
    let out = s
        .cmd()
        .args(["--json", "store", "status"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["backend"], "sqlite");
    assert_eq!(json["location"], s.store());
    assert_eq!(json["schema_version"], json["supported_schema_version"]);
    assert!(json["schema_version"].as_i64().unwrap() >= 4);
    assert_eq!(json["rows"]["clients"], 2);
    assert_eq!(json["rows"]["tokens"], 1);
    assert_eq!(json["secrets"]["plain"], 4);
    assert_eq!(json["secrets"]["state"], "plain text (no key)");
    let human = s.cmd().args(["store", "status"]).output().unwrap();
    let text = stdout(&human);
    assert!(
        text.contains("backend:") && text.contains("sqlite"),
        "{text}"
    );
    assert!(text.contains("(current)"), "{text}");
}

/// SQLite → PostgreSQL (encrypted with a key given by --to-key-env) → SQLite: the last store
/// holds exactly what the first did, tokens with their versions and times included.
#[tokio::test]
async fn migrate_sqlite_to_postgres_and_back_is_equal() {
    let Some(base) = gemnasium_bitbucket::testing::conformance::postgres_url_for_tests() else {
        return;
    };
    let first = Sandbox::seeded();
    put_token(&first.store());
    let schema = format!("cli_migrate_{:016x}", nanos());
    // Creates the schema; the program then reaches it through the URL.
    store::PostgresStore::connect_in_schema(&base, &schema)
        .await
        .expect("PostgreSQL at DATABASE_URL is reachable");
    let mut pg = url::Url::parse(&base).unwrap();
    pg.query_pairs_mut()
        .append_pair("options[search_path]", &schema)
        .append_pair("max_connections", "2");
    let pg = pg.to_string();
    let key = {
        let out = first.cmd().args(["store", "keygen"]).output().unwrap();
        stdout(&out).lines().last().unwrap().to_owned()
    };
    let first_store = first.store();
    let run = move |args: Vec<String>| {
        let mut cmd = first.cmd();
        cmd.args(&args).env("MIGRATE_KEY", &key);
        async move { crate::support::run_cli(cmd).await }
    };
    let (code, _, err) = run(vec![
        "store".into(),
        "migrate".into(),
        "--from".into(),
        first_store.clone(),
        "--to".into(),
        pg.clone(),
        "--to-key-env".into(),
        "MIGRATE_KEY".into(),
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(vec![
        "--json".into(),
        "--store".into(),
        pg.clone(),
        "store".into(),
        "status".into(),
    ])
    .await;
    // Without the key the encrypted store is refused, naming the key id.
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("encrypted with key"), "{err}");
    let third = tempfile::tempdir().unwrap();
    let third_store = format!("sqlite://{}", third.path().join("store.db").display());
    let (code, out, err) = run(vec![
        "--json".into(),
        "store".into(),
        "migrate".into(),
        "--from".into(),
        pg.clone(),
        "--from-key-env".into(),
        "MIGRATE_KEY".into(),
        "--to".into(),
        third_store.clone(),
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["rows"]["tokens"], 1);
    assert_eq!(json["secrets"]["plain"], 4);
    assert_eq!(rows(&third_store), rows(&first_store));
    // The PostgreSQL copy held the secrets encrypted.
    let sealed = store::PostgresStore::connect_in_schema(&base, &schema)
        .await
        .unwrap();
    let at_rest = gemnasium_bitbucket::store::Store::secrets_at_rest(&sealed)
        .await
        .unwrap();
    assert_eq!((at_rest.encrypted, at_rest.plain), (4, 0), "{at_rest:?}");
}

fn nanos() -> u64 {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    #[allow(clippy::cast_possible_truncation)] // the low bits are the ones that vary
    let n = n as u64;
    n ^ u64::from(std::process::id())
}
