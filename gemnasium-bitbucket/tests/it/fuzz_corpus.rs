//! Replays the fuzzing corpora on the stable toolchain: every input stored under
//! `fuzz/corpus/<target>/` (what `cargo +nightly fuzz` found interesting) and
//! `fuzz/regressions/<target>/` (inputs that once crashed a target) goes through the same
//! harness function the fuzz target calls. The harnesses never panic on any input and assert
//! their properties themselves, so a regression fails here without a nightly build.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use gemnasium_bitbucket::testing::fuzz;

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a readable directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `harness` on every corpus and regression input of `target`; fails naming each input
/// that panicked, and fails when the corpus is empty (so the test cannot pass vacuously).
fn replay(target: &str, harness: fn(&[u8])) {
    let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let corpus = inputs(&fuzz_dir.join("corpus").join(target));
    assert!(
        !corpus.is_empty(),
        "no corpus for `{target}` under {}",
        fuzz_dir.join("corpus").display()
    );
    let regressions = inputs(&fuzz_dir.join("regressions").join(target));
    let mut failed = Vec::new();
    for file in corpus.iter().chain(&regressions) {
        let data = std::fs::read(file).expect("a readable corpus file");
        if catch_unwind(AssertUnwindSafe(|| harness(&data))).is_err() {
            failed.push(file.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "`{target}` failed on {} of {} inputs:\n{}",
        failed.len(),
        corpus.len() + regressions.len(),
        failed.join("\n")
    );
}

#[test]
fn scopes() {
    replay("scopes", fuzz::scopes);
}

#[test]
fn page_and_next() {
    replay("page_and_next", fuzz::page_and_next);
}

#[test]
fn error_envelope() {
    replay("error_envelope", fuzz::error_envelope);
}

#[test]
fn webhook() {
    replay("webhook", fuzz::webhook);
}

#[test]
fn token_response() {
    replay("token_response", fuzz::token_response);
}

#[test]
fn urls() {
    replay("urls", fuzz::urls);
}
