//! A sandbox per test: a temporary directory with its own SQLite store and multi-call links.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use gemnasium_bitbucket::model::{
    AccessToken, AccountInfo, AccountUuid, Purpose, RefreshToken, TokenSet,
};
use gemnasium_bitbucket::testing::{MockBitbucket, MockConsumer, MockUser, Quirks};
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
            .env_remove("GEMNASIUM_SECRET_KEY")
            .env_remove("GEMNASIUM_SECRET_KEY_FILE")
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

pub const SYNC_KEY: &str = "sync-key";
pub const SYNC_SECRET: &str = "sync-secret-0b7e";

/// Runs a prepared command off the async runtime (the mock serves on it meanwhile): exit code,
/// stdout, stderr.
pub async fn run_cli(mut cmd: assert_cmd::Command) -> (i32, String, String) {
    let out: Output = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A configured sandbox and the mock it talks to.
pub struct World {
    pub bitbucket: MockBitbucket,
    pub sandbox: Sandbox,
    pub access: String,
    pub jane: AccountUuid,
}

/// `configure` of consumer `key`/`secret` (given through `BB_SECRET`) against `bitbucket`, with
/// `extra` arguments; standard input is empty.
pub fn configure_against(
    s: &Sandbox,
    bitbucket: &MockBitbucket,
    key: &str,
    secret: &str,
    extra: &[&str],
) -> Command {
    let mut cmd = s.cmd();
    cmd.args([
        "configure",
        "--homepage",
        "https://g.example",
        "--key",
        key,
        "--secret-env",
        "BB_SECRET",
        "--yes",
    ])
    .args([
        "--site-url",
        &bitbucket.uri(),
        "--api-url",
        &bitbucket.uri(),
    ])
    .args(extra)
    .env("BB_SECRET", secret)
    .write_stdin("");
    cmd
}

/// A fresh key from `store keygen` (its last line of standard output, never on standard error).
pub fn keygen(s: &Sandbox) -> String {
    let out = s.cmd().args(["store", "keygen"]).output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let key = stdout
        .lines()
        .last()
        .expect("the key is the last line")
        .to_owned();
    assert!(!stderr.contains(&key), "the key went to stderr too");
    key
}

/// A configured sandbox whose store holds jane's sync token, and acme (12 repos, admin of
/// r00 only) and beta (2 repos) on the mock.
pub async fn world() -> World {
    let bitbucket = MockBitbucket::start().await;
    bitbucket.add_consumer(MockConsumer::new(SYNC_KEY, SYNC_SECRET));
    let jane = bitbucket.add_user(MockUser::new("jdoe"));
    bitbucket.add_workspace("acme", &[&jane]);
    bitbucket.add_workspace("beta", &[&jane]);
    for i in 0..12 {
        let admins: &[&AccountUuid] = if i == 0 { &[&jane] } else { &[] };
        bitbucket.add_repository("acme", &format!("r{i:02}"), admins);
    }
    for i in 0..2 {
        bitbucket.add_repository("beta", &format!("b{i}"), &[]);
    }
    bitbucket.set_quirks(Quirks {
        page_size: 5,
        rate_limit_every: Some(4),
        ..Quirks::default()
    });
    let sandbox = Sandbox::new();
    let cmd = configure_against(
        &sandbox,
        &bitbucket,
        SYNC_KEY,
        SYNC_SECRET,
        &["--no-verify"],
    );
    assert_eq!(run_cli(cmd).await.0, 0);
    let (access, refresh) = bitbucket.issue_tokens(SYNC_KEY, &jane);
    let store_url = sandbox.store();
    let tokens = TokenSet {
        access_token: AccessToken::new(access.clone()).unwrap(),
        refresh_token: Some(RefreshToken::new(refresh).unwrap()),
        expires_at: Some(chrono::Utc::now() + chrono::Duration::hours(2)),
        scopes: "account,repository,webhook".parse().unwrap(),
    };
    let account = AccountInfo {
        uuid: jane.clone(),
        account_id: None,
        nickname: Some("jdoe".into()),
        display_name: None,
    };
    tokio::spawn(async move {
        let store = gemnasium_bitbucket::store::open(&store_url).await.unwrap();
        store
            .put_token(
                &"bitbucket.org".parse().unwrap(),
                Purpose::Sync,
                &account,
                &tokens,
            )
            .await
            .unwrap();
    })
    .await
    .unwrap();
    World {
        bitbucket,
        sandbox,
        access,
        jane,
    }
}
