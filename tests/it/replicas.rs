//! Replicas sharing one store, proved with real processes (issue 10, part 4): several copies of
//! the program race on one SQLite file or one PostgreSQL schema, and what they report is checked
//! against what the store holds afterwards. Every race runs on both backends.
//!
//! PostgreSQL: each test gets a fresh schema of `DATABASE_URL`'s database and caps every
//! process's pool at two connections (`max_connections=2` in the store URL), so that the suite
//! stays well under the server's connection limit. Without `DATABASE_URL` the PostgreSQL tests
//! say so and skip, except under CI (`CI` set), where they fail; an unreachable database fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gemnasium_bitbucket::model::{
    AccessToken, AccountInfo, AccountUuid, Purpose, RefreshToken, ScopeSet, TokenSet, TokenState,
};
use gemnasium_bitbucket::store::{self, ClientPatch, StoredRepository};
use gemnasium_bitbucket::testing::{MockBitbucket, MockConsumer, MockUser};

use crate::support::{BIN, SEED, SYNC_KEY, SYNC_SECRET};

/// One store that several processes share, and a home directory for them.
struct Shared {
    dir: tempfile::TempDir,
    url: String,
}

impl Shared {
    /// A store in a new SQLite file (not created yet: the first processes race to create it).
    fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("store.db").display());
        Self { dir, url }
    }

    /// A store in a fresh schema of `DATABASE_URL`'s database, migrated; `None` (with a notice)
    /// when `DATABASE_URL` is unset outside CI.
    async fn postgres() -> Option<Self> {
        let Ok(base) = std::env::var("DATABASE_URL") else {
            assert!(
                std::env::var_os("CI").is_none(),
                "DATABASE_URL must be set under CI: the PostgreSQL races may not skip"
            );
            eprintln!("skipping a PostgreSQL race: DATABASE_URL is not set");
            return None;
        };
        let schema = format!("replicas_{:016x}", rand_u64());
        // Creates and migrates the schema once, so that racing processes start from a store.
        gemnasium_bitbucket::store::PostgresStore::connect_in_schema(&base, &schema)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at DATABASE_URL is reachable: {e}"));
        let mut url = url::Url::parse(&base).expect("DATABASE_URL is a URL");
        url.query_pairs_mut()
            .append_pair("options[search_path]", &schema)
            .append_pair("max_connections", "2");
        Some(Self {
            dir: tempfile::tempdir().unwrap(),
            url: url.into(),
        })
    }

    /// The program, on this store.
    fn cmd(&self) -> Command {
        program(&self.url, self.dir.path())
    }

    /// Runs `args` (off the async runtime) and insists on exit 0; returns stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let mut cmd = self.cmd();
        cmd.args(args);
        let out = race(vec![cmd]).await.remove(0);
        let (stdout, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stdout}{stderr}");
        stdout
    }

    async fn open(&self) -> store::DynStore {
        store::open(&self.url).await.expect("the store opens")
    }
}

/// The program on the store at `url`, at home in `home`, its output captured.
fn program(url: &str, home: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(home)
        .env("GEMNASIUM_STORE", url)
        .env_remove("GEMNASIUM_LOG")
        .env_remove("GEMNASIUM_TEST_PAUSE_IN_WRITE")
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// A number unlikely to repeat, for schema names: the clock, the process and a counter (no
/// `rand` in this package).
fn rand_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    #[allow(clippy::cast_possible_truncation)] // the low bits are the ones that vary
    let nanos = nanos as u64;
    nanos ^ (u64::from(std::process::id()) << 40) ^ (COUNTER.fetch_add(1, Ordering::Relaxed) << 56)
}

fn texts(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Starts every command at once, then waits for all of them, off the async runtime (the mock
/// keeps serving meanwhile).
async fn race(commands: Vec<Command>) -> Vec<Output> {
    tokio::task::spawn_blocking(move || {
        let children: Vec<Child> = commands
            .into_iter()
            .map(|mut c| c.spawn().unwrap())
            .collect();
        children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect()
    })
    .await
    .unwrap()
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

async fn eight_processes_create_one_provider(shared: Shared) {
    let create = SEED[0];
    let outputs = race(
        (0..8)
            .map(|_| {
                let mut c = shared.cmd();
                c.args(create).arg("--json");
                c
            })
            .collect(),
    )
    .await;
    let mut created = 0;
    let mut unchanged = 0;
    for out in &outputs {
        let (stdout, stderr) = texts(out);
        assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
        match json(&stdout)["outcome"].as_str() {
            Some("created") => created += 1,
            Some("unchanged") => unchanged += 1,
            other => panic!("outcome {other:?}: {stdout}"),
        }
    }
    assert_eq!((created, unchanged), (1, 7));
    let providers = shared.open().await.providers().await.unwrap();
    assert_eq!(providers.len(), 1, "{providers:?}");
}

/// Scope sets that differ from each other and from the seed's `repository,webhook`: the `n`th
/// adds the optional scopes whose bits are set in `n` (1..=255).
fn distinct_scopes(n: usize) -> String {
    const OPTIONAL: [&str; 8] = [
        "account",
        "email",
        "team",
        "project",
        "pullrequest",
        "snippet",
        "pipeline",
        "runner",
    ];
    let mut words = vec!["repository", "webhook"];
    words.extend(
        OPTIONAL
            .iter()
            .enumerate()
            .filter(|(bit, _)| n & (1 << bit) != 0)
            .map(|(_, w)| *w),
    );
    words.join(",")
}

/// What one `auth clients update` reported.
struct Reported {
    version: i64,
    key: Option<String>,
    scopes: Option<String>,
}

async fn eight_processes_update_one_client_fifty_times_each(shared: Shared) {
    const WORKERS: usize = 8;
    const UPDATES: usize = 50;
    for line in SEED {
        shared.ok(line).await;
    }
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let (url, home) = (shared.url.clone(), shared.dir.path().to_owned());
            std::thread::spawn(move || {
                let mut reported = Vec::new();
                for i in 0..UPDATES {
                    let mut c = program(&url, &home);
                    c.args([
                        "auth",
                        "clients",
                        "update",
                        "bitbucket.org",
                        "sync",
                        "--json",
                    ]);
                    let (key, scopes) = if i % 2 == 0 {
                        (Some(format!("key-{w}-{i}")), None)
                    } else {
                        // Unique per update, so that every update changes the row.
                        (None, Some(distinct_scopes(w * UPDATES / 2 + i / 2 + 1)))
                    };
                    if let Some(key) = &key {
                        c.args(["--key", key]);
                    }
                    if let Some(scopes) = &scopes {
                        c.args(["--scopes", scopes]);
                    }
                    let out = c.output().unwrap();
                    let (stdout, stderr) = texts(&out);
                    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
                    let doc = json(&stdout);
                    assert_eq!(doc["outcome"], "updated", "{doc}");
                    reported.push(Reported {
                        version: doc["version"]
                            .as_i64()
                            .expect("update --json has a version"),
                        key,
                        scopes,
                    });
                }
                reported
            })
        })
        .collect();
    let reported: Vec<Reported> = tokio::task::spawn_blocking(move || {
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    })
    .await
    .unwrap();
    assert_eq!(reported.len(), WORKERS * UPDATES);

    // Every update that reported success got its own version: none overwrote another.
    let mut versions: Vec<i64> = reported.iter().map(|r| r.version).collect();
    versions.sort_unstable();
    let expected: Vec<i64> = (2..=1 + i64::try_from(WORKERS * UPDATES).unwrap()).collect();
    assert_eq!(versions, expected, "versions 2..=401, each reported once");

    let store = shared.open().await;
    let bb = "bitbucket.org".parse().unwrap();
    let updated = store
        .update_client(&bb, Purpose::Sync, &ClientPatch::new())
        .await
        .unwrap();
    assert_eq!(
        updated.version,
        1 + i64::try_from(reported.len()).unwrap(),
        "version = 1 + the updates that reported success"
    );
    // The last key and the last scopes written are both there.
    let last_key = reported
        .iter()
        .filter(|r| r.key.is_some())
        .max_by_key(|r| r.version)
        .and_then(|r| r.key.clone())
        .unwrap();
    let last_scopes: ScopeSet = reported
        .iter()
        .filter(|r| r.scopes.is_some())
        .max_by_key(|r| r.version)
        .and_then(|r| r.scopes.as_deref())
        .unwrap()
        .parse()
        .unwrap();
    let client = store.client(&bb, Purpose::Sync).await.unwrap().unwrap();
    assert_eq!(client.key.as_str(), last_key);
    assert_eq!(client.scopes, last_scopes);
    assert_eq!(client.secret.expose_secret(), "OAUTH_CONSUMER_SECRET");
}

/// A store configured against `bitbucket` (its consumer `SYNC_KEY`), holding jane's sync token
/// with `expires_at`.
async fn configured(
    shared: &Shared,
    bitbucket: &MockBitbucket,
    jane: &AccountUuid,
    expires_at: chrono::DateTime<chrono::Utc>,
) -> String {
    let uri = bitbucket.uri();
    let mut configure = shared.cmd();
    configure
        .args([
            "configure",
            "--homepage",
            "https://g.example",
            "--key",
            SYNC_KEY,
            "--secret-env",
            "S",
            "--yes",
            "--no-verify",
            "--site-url",
            &uri,
            "--api-url",
            &uri,
        ])
        .env("S", SYNC_SECRET);
    let out = race(vec![configure]).await.remove(0);
    assert_eq!(out.status.code(), Some(0), "{:?}", texts(&out));
    let (access, refresh) = bitbucket.issue_tokens(SYNC_KEY, jane);
    let tokens = TokenSet {
        access_token: AccessToken::new(access.clone()).unwrap(),
        refresh_token: Some(RefreshToken::new(refresh).unwrap()),
        expires_at: Some(expires_at),
        scopes: "account,repository,webhook".parse().unwrap(),
    };
    let account = AccountInfo {
        uuid: jane.clone(),
        account_id: None,
        nickname: Some("jdoe".into()),
        display_name: None,
    };
    shared
        .open()
        .await
        .put_token(
            &"bitbucket.org".parse().unwrap(),
            Purpose::Sync,
            &account,
            &tokens,
        )
        .await
        .unwrap();
    access
}

/// A mock with jane, admin of every repository of acme (`repos` of them).
fn mock_with_repositories(bitbucket: &MockBitbucket, repos: usize) -> AccountUuid {
    bitbucket.add_consumer(MockConsumer::new(SYNC_KEY, SYNC_SECRET));
    let jane = bitbucket.add_user(MockUser::new("jdoe"));
    bitbucket.add_workspace("acme", &[&jane]);
    for i in 0..repos {
        bitbucket.add_repository("acme", &format!("r{i:02}"), &[&jane]);
    }
    jane
}

fn sync_cmd(shared: &Shared, extra: &[&str]) -> Command {
    let mut c = shared.cmd();
    c.args([
        "repo-syncer",
        "sync",
        "bitbucket.org",
        "--json",
        "--retry-base-ms",
        "2",
    ])
    .args(extra);
    c
}

async fn four_processes_refresh_one_expired_token_once(shared: Shared) {
    let bitbucket = MockBitbucket::start().await;
    let jane = mock_with_repositories(&bitbucket, 3);
    let old = configured(
        &shared,
        &bitbucket,
        &jane,
        chrono::Utc::now() - chrono::Duration::minutes(1),
    )
    .await;
    // The old access token is dead at Bitbucket too, and a refresh token dies once spent.
    bitbucket.expire_access_tokens();
    bitbucket.set_refresh_grace(Duration::ZERO);
    // A slow refresh: the processes starting meanwhile all find the token expired, so each
    // must wait for the one refresher rather than spend the refresh token again.
    bitbucket.set_token_latency(Duration::from_millis(750));

    let outputs = race((0..4).map(|_| sync_cmd(&shared, &[])).collect()).await;
    for out in &outputs {
        let (stdout, stderr) = texts(out);
        assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
        assert!(
            !stdout.contains("invalid_grant") && !stderr.contains("invalid_grant"),
            "{stdout}{stderr}"
        );
        // Listing the workspace took a working access token.
        assert_eq!(json(&stdout)["repositories"]["listed"], 3, "{stdout}");
    }
    assert_eq!(bitbucket.token_requests("refresh_token"), 1, "one refresh");
    assert_eq!(bitbucket.successful_refreshes(), 1);

    let key = gemnasium_bitbucket::model::TokenKey {
        provider: "bitbucket.org".parse().unwrap(),
        purpose: Purpose::Sync,
        account: jane.clone(),
    };
    let stored = shared.open().await.token(&key).await.unwrap().unwrap();
    assert_eq!(stored.state, TokenState::Active);
    assert_ne!(stored.tokens.access_token.expose_secret(), old);
    // The stored access token works at Bitbucket.
    let user = reqwest::Client::new()
        .get(format!("{}/2.0/user", bitbucket.uri()))
        .bearer_auth(stored.tokens.access_token.expose_secret())
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), 200);
}

/// Every repository listed for `shared`'s source, sorted by name.
async fn listing(shared: &Shared) -> Vec<StoredRepository> {
    shared
        .open()
        .await
        .repositories(&"bitbucket.org".parse().unwrap(), None)
        .await
        .unwrap()
}

fn names(listing: &[StoredRepository]) -> Vec<String> {
    listing
        .iter()
        .filter(|r| r.gone_since.is_none())
        .map(|r| r.repository.full_name.clone())
        .collect()
}

async fn two_concurrent_syncs_install_each_webhook_once(shared: Shared) {
    const HOOKS_URL: &str = "https://g.example/hooks/bitbucket";
    let bitbucket = MockBitbucket::start().await;
    let jane = mock_with_repositories(&bitbucket, 6);
    configured(
        &shared,
        &bitbucket,
        &jane,
        chrono::Utc::now() + chrono::Duration::hours(2),
    )
    .await;
    let first = race(vec![sync_cmd(&shared, &[])]).await.remove(0);
    assert_eq!(first.status.code(), Some(0), "{:?}", texts(&first));
    shared
        .ok(&[
            "repo-syncer",
            "track",
            "bitbucket.org",
            "acme/r00",
            "acme/r02",
            "acme/r04",
        ])
        .await;
    // New repositories, so that both racing syncs have a listing to write.
    for i in 6..9 {
        bitbucket.add_repository("acme", &format!("r{i:02}"), &[&jane]);
    }

    let outputs = race(
        (0..2)
            .map(|_| sync_cmd(&shared, &["--hooks-url", HOOKS_URL]))
            .collect(),
    )
    .await;
    for out in &outputs {
        let (stdout, stderr) = texts(out);
        assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
        assert_eq!(json(&stdout)["repositories"]["listed"], 9, "{stdout}");
    }
    for repo in ["acme/r00", "acme/r02", "acme/r04"] {
        let hooks = bitbucket.hooks(repo);
        assert_eq!(hooks.len(), 1, "{repo}: {hooks:?}");
    }
    assert_eq!(
        bitbucket.hook_writes(),
        3,
        "one hook created per repository"
    );
    let expected: Vec<String> = (0..9).map(|i| format!("acme/r{i:02}")).collect();
    assert_eq!(names(&listing(&shared).await), expected);
    let tracked = shared
        .open()
        .await
        .tracked(&"bitbucket.org".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(tracked.len(), 3);
    assert!(
        tracked.iter().all(|t| t.hook.is_some()),
        "every tracked repository records its hook: {tracked:?}"
    );
}

/// Waits up to `limit` for `child` to create `path`; why not, if it did not.
fn wait_for(path: &Path, child: &mut Child, limit: Duration) -> Result<(), String> {
    let start = Instant::now();
    while !path.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            return Err(format!("the sync ended ({status}) before its pause point"));
        }
        if start.elapsed() > limit {
            return Err(format!(
                "no pause marker after {limit:?}: is the pause point (debug builds only) still \
                 in the listing write?"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

async fn a_sync_killed_inside_its_write_leaves_the_previous_listing(shared: Shared) {
    let bitbucket = MockBitbucket::start().await;
    let jane = mock_with_repositories(&bitbucket, 4);
    configured(
        &shared,
        &bitbucket,
        &jane,
        chrono::Utc::now() + chrono::Duration::hours(2),
    )
    .await;
    let first = race(vec![sync_cmd(&shared, &[])]).await.remove(0);
    assert_eq!(first.status.code(), Some(0), "{:?}", texts(&first));
    let before = listing(&shared).await;
    assert_eq!(before.len(), 4);
    for i in 4..7 {
        bitbucket.add_repository("acme", &format!("r{i:02}"), &[&jane]);
    }

    let marker: PathBuf = shared.dir.path().join("paused");
    let mut paused = sync_cmd(&shared, &[]);
    paused.env("GEMNASIUM_TEST_PAUSE_IN_WRITE", &marker);
    let (paused, status) = tokio::task::spawn_blocking(move || {
        let mut child = paused.spawn().unwrap();
        let paused = wait_for(&marker, &mut child, Duration::from_secs(20));
        // SIGKILL: no destructor, no rollback, no goodbye to the database.
        let _ = child.kill();
        (paused, child.wait().unwrap())
    })
    .await
    .unwrap();
    if let Err(why) = paused {
        panic!("{why}");
    }
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "{status}"
    );

    assert_eq!(
        listing(&shared).await,
        before,
        "the killed write left nothing behind"
    );
    let rerun = race(vec![sync_cmd(&shared, &[])]).await.remove(0);
    let (stdout, stderr) = texts(&rerun);
    assert_eq!(rerun.status.code(), Some(0), "{stdout}{stderr}");
    assert_eq!(json(&stdout)["repositories"]["listed"], 7, "{stdout}");
    let expected: Vec<String> = (0..7).map(|i| format!("acme/r{i:02}")).collect();
    assert_eq!(names(&listing(&shared).await), expected);
}

/// Runs each race as one test per backend: `replicas::sqlite::NAME`, `replicas::postgres::NAME`.
macro_rules! on_both_backends {
    ($($race:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $race() {
                    super::$race(super::Shared::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $race() {
                    if let Some(shared) = super::Shared::postgres().await {
                        super::$race(shared).await;
                    }
                }
            )*
        }
    };
}

on_both_backends!(
    eight_processes_create_one_provider,
    eight_processes_update_one_client_fifty_times_each,
    four_processes_refresh_one_expired_token_once,
    two_concurrent_syncs_install_each_webhook_once,
    a_sync_killed_inside_its_write_leaves_the_previous_listing,
);
