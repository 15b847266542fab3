//! A sandbox per test: a temporary directory with its own SQLite store and multi-call links.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use gemnasium_bitbucket_tests::{rows, Rows};

/// The program under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_gemnasium-bitbucket-e2e");

/// The documented set-up, verbatim (the consumer's key and secret as the docs spell them).
pub const SEED: [&[&str]; 4] = [
    &[
        "auth",
        "provider",
        "create",
        "bitbucket.org",
        "bitbucket",
        "https://bitbucket.org/site/oauth2/authorize",
        "https://bitbucket.org/site/oauth2/access_token",
    ],
    &[
        "auth",
        "clients",
        "create",
        "bitbucket.org",
        "login",
        "OAUTH_CONSUMER_KEY",
        "OAUTH_CONSUMER_SECRET",
        "account,email",
    ],
    &[
        "auth",
        "clients",
        "create",
        "bitbucket.org",
        "sync",
        "OAUTH_CONSUMER_KEY",
        "OAUTH_CONSUMER_SECRET",
        "repository,webhook",
    ],
    &[
        "repo-syncer",
        "sources",
        "create",
        "bitbucket.org",
        "Bitbucket Cloud",
        "bitbucket",
        "https://api.bitbucket.org",
    ],
];

pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A sandbox whose store already holds the documented set-up.
    pub fn seeded() -> Self {
        let sandbox = Self::new();
        for line in SEED {
            sandbox.cmd().args(line).assert().success();
        }
        sandbox
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn store(&self) -> String {
        format!("sqlite://{}", self.path().join("store.db").display())
    }

    fn configure(&self, mut cmd: Command) -> Command {
        cmd.current_dir(self.path())
            .env("GEMNASIUM_STORE", self.store())
            .env_remove("GEMNASIUM_LOG")
            .env("HOME", self.path())
            .env("XDG_DATA_HOME", self.path().join("data"));
        cmd
    }

    /// The program, with this sandbox's store.
    pub fn cmd(&self) -> Command {
        self.configure(Command::new(BIN))
    }

    /// The links made by `links bin`, created on first use.
    pub fn bin_dir(&self) -> PathBuf {
        let dir = self.path().join("bin");
        if !dir.join("auth").exists() {
            self.cmd().args(["links", "bin"]).assert().success();
        }
        dir
    }

    /// A command through one of the multi-call links (`auth`, `repo-syncer`, `configure`).
    pub fn via(&self, link: &str) -> Command {
        self.configure(Command::new(self.bin_dir().join(link)))
    }

    /// Every row of this sandbox's store.
    pub fn rows(&self) -> Rows {
        rows(&self.store())
    }
}
