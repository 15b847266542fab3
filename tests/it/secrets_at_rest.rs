//! `store keygen`, `store encrypt`, `store rotate-key` and every command on an encrypted store,
//! as an operator runs them.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{keygen, Sandbox, SEED};

/// The id every message names a key by.
fn key_id(key: &str) -> String {
    gemnasium_bitbucket::store::SecretKey::from_base64(key, "test")
        .unwrap()
        .id()
        .to_string()
}

fn file_bytes(path: &Path) -> Vec<u8> {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| std::fs::read(format!("{}{suffix}", path.display())).ok())
        .flatten()
        .collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn run(s: &Sandbox, key: Option<&str>, args: &[&str]) -> (bool, String, String) {
    let mut cmd = s.cmd();
    if let Some(key) = key {
        cmd.env("GEMNASIUM_SECRET_KEY", key);
    }
    let out = cmd.args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn keygen_prints_a_fresh_key_on_its_last_line() {
    let s = Sandbox::new();
    let (a, b) = (keygen(&s), keygen(&s));
    assert_ne!(a, b);
    assert!(gemnasium_bitbucket::store::SecretKey::from_base64(&a, "test").is_ok());
}

#[test]
fn with_a_key_the_documented_set_up_stores_no_secret_in_plain_text() {
    let s = Sandbox::new();
    let key = keygen(&s);
    for line in SEED {
        let (ok, _, err) = run(&s, Some(&key), line);
        assert!(ok, "{line:?}: {err}");
    }
    let db = s.path().join("store.db");
    assert!(!contains(&file_bytes(&db), "OAUTH_CONSUMER_SECRET"));
    assert!(
        contains(&file_bytes(&db), "OAUTH_CONSUMER_KEY"),
        "the control"
    );

    // With the key, everything works as before.
    let (ok, out, err) = run(&s, Some(&key), &["auth", "clients", "list"]);
    assert!(ok, "{err}");
    assert!(out.contains("OAUTH_CONSUMER_KEY") && !out.contains("OAUTH_CONSUMER_SECRET"));

    // Without it, or with another, a clear error naming the key id; the files are unchanged.
    let before = gemnasium_bitbucket_tests::table_dump(&db);
    assert!(before.len() > 4, "the dump sees the rows: {before:?}");
    let id = key_id(&key);
    let (ok, _, err) = run(&s, None, &["auth", "clients", "list"]);
    assert!(!ok);
    assert!(err.starts_with("error: "), "{err}");
    assert!(
        err.contains(&id) && err.contains("GEMNASIUM_SECRET_KEY"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let other = keygen(&s);
    let (ok, _, err) = run(&s, Some(&other), &["auth", "provider", "list"]);
    assert!(!ok);
    assert!(err.contains(&id) && err.contains(&key_id(&other)), "{err}");
    assert!(
        !err.contains(&key) && !err.contains(&other),
        "a key was printed: {err}"
    );
    let (ok, _, _) = run(&s, Some("not a key"), &["auth", "provider", "list"]);
    assert!(!ok);
    assert_eq!(gemnasium_bitbucket_tests::table_dump(&db), before);
}

#[test]
fn encrypt_turns_a_plain_store_into_an_encrypted_one_once() {
    let s = Sandbox::seeded();
    let db = s.path().join("store.db");
    let (_, out, _) = run(&s, None, &["doctor", "--offline"]);
    assert!(out.contains("plain text"), "doctor warns: {out}");
    assert!(contains(&file_bytes(&db), "OAUTH_CONSUMER_SECRET"));

    let key = keygen(&s);
    // Using a key on it before encrypting is refused, pointing at `store encrypt`.
    let (ok, _, err) = run(&s, Some(&key), &["auth", "clients", "list"]);
    assert!(!ok && err.contains("store encrypt"), "{err}");

    let (ok, out, err) = run(&s, Some(&key), &["store", "encrypt"]);
    assert!(ok, "{err}");
    assert!(out.contains("encrypted 2 secret(s)"), "{out}");
    assert!(!contains(&file_bytes(&db), "OAUTH_CONSUMER_SECRET"));
    let (ok, out, _) = run(&s, Some(&key), &["store", "encrypt"]);
    assert!(ok && out.starts_with("unchanged"), "{out}");

    let (ok, out, err) = run(&s, Some(&key), &["doctor", "--offline"]);
    assert!(!out.contains("plain text"), "{out}{err}");
    let _ = ok;
    let (ok, _, err) = run(&s, None, &["store", "encrypt"]);
    assert!(!ok && err.contains("GEMNASIUM_SECRET_KEY"), "{err}");
}

#[test]
fn rotate_key_killed_mid_transaction_leaves_the_old_key_working_and_a_rerun_completes() {
    let s = Sandbox::new();
    let old = keygen(&s);
    for line in SEED {
        assert!(run(&s, Some(&old), line).0);
    }
    let new = keygen(&s);
    let marker = s.path().join("paused");
    let mut child = std::process::Command::new(crate::support::BIN)
        .args(["store", "rotate-key", "--new-key-env", "NEW_KEY"])
        .current_dir(s.path())
        .env("GEMNASIUM_STORE", s.store())
        .env("GEMNASIUM_SECRET_KEY", &old)
        .env("NEW_KEY", &new)
        .env("GEMNASIUM_TEST_PAUSE_IN_RESEAL", &marker)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !marker.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "rotate-key never reached its pause point"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let (ok, out, err) = run(&s, Some(&old), &["auth", "clients", "list"]);
    assert!(ok && out.contains("OAUTH_CONSUMER_KEY"), "{err}");
    assert!(!run(&s, Some(&new), &["auth", "clients", "list"]).0);

    let mut rerun = s.cmd();
    rerun
        .env("GEMNASIUM_SECRET_KEY", &old)
        .env("NEW_KEY", &new)
        .args(["store", "rotate-key", "--new-key-env", "NEW_KEY"]);
    let out = rerun.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("rotated 2 secret(s)"), "{stdout}");
    assert!(run(&s, Some(&new), &["auth", "clients", "list"]).0);
    assert!(!run(&s, Some(&old), &["auth", "clients", "list"]).0);
    // Re-running once more: the store already has the new key.
    let out = rerun.output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("unchanged"));
}
