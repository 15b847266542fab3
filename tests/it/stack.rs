//! The whole offline stack as separate processes, as a person runs it: the service example
//! (`gemnasium-service-e2e`), the mock Bitbucket (`gemnasium-bitbucket mock-server`), and the
//! set-up recorded by `configure`, all on one SQLite store in a temporary directory.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::BIN;

/// The service example's binary.
pub const SERVICE: &str = env!("CARGO_BIN_EXE_gemnasium-service-e2e");

/// A child process killed (and reaped) on drop.
pub struct Proc {
    pub child: Child,
    pub stderr: std::path::PathBuf,
    /// Every line it printed on standard output so far.
    pub stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// Sends SIGTERM and waits up to `within` for the exit status.
    pub fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// What it printed on standard output so far.
    pub fn printed(&self) -> String {
        self.stdout
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .join("\n")
    }

    /// What it logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

/// Starts `command` and returns it with the first stdout line matching `prefix` (less the
/// prefix), read within `within`.
pub fn spawn_and_read(
    mut command: Command,
    stderr: std::path::PathBuf,
    prefix: &str,
    within: Duration,
) -> (Proc, String) {
    let log = std::fs::File::create(&stderr).expect("a log file");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("the program starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let (send, receive) = std::sync::mpsc::channel();
    let wanted = prefix.to_owned();
    let printed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = printed.clone();
    std::thread::spawn(move || {
        let mut found = false;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            kept.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(line.clone());
            if !found {
                if let Some(rest) = line.strip_prefix(&wanted) {
                    found = true;
                    let _ = send.send(rest.to_owned());
                }
            }
            // Keep draining so that the child never blocks on a full pipe.
        }
    });
    let proc = Proc {
        child,
        stderr,
        stdout: printed,
    };
    match receive.recv_timeout(within) {
        Ok(rest) => (proc, rest),
        Err(_) => panic!(
            "no `{prefix}` line within {within:?}; stderr:\n{}",
            proc.logs()
        ),
    }
}

/// The running stack.
pub struct Stack {
    pub dir: tempfile::TempDir,
    pub service: Proc,
    pub mock: Proc,
    /// `http://127.0.0.1:PORT` of the service.
    pub service_url: String,
    /// `http://127.0.0.1:PORT` of the mock.
    pub mock_url: String,
}

/// How to start the stack.
#[derive(Default)]
pub struct StackOptions {
    /// `--signed-in` of the mock (None: its login form is shown).
    pub signed_in: Option<&'static str>,
}

impl Stack {
    pub fn store(&self) -> String {
        store_of(self.dir.path())
    }

    /// The CLI on this stack's store.
    pub fn cli(&self) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.env("GEMNASIUM_STORE", self.store())
            .env("HOME", self.dir.path())
            .env_remove("GEMNASIUM_LOG");
        cmd
    }

    /// Starts the service, then the mock with the service's callback, then records the set-up
    /// with `configure` against the mock.
    pub fn start(options: StackOptions) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut service = Command::new(SERVICE);
        service
            .args(["--listen", "127.0.0.1:0", "--sync-interval", "0"])
            .env("GEMNASIUM_STORE", store_of(dir.path()))
            .env("RUST_LOG", "info");
        let (service, rest) = spawn_and_read(
            service,
            dir.path().join("service.log"),
            "service listening on ",
            Duration::from_secs(20),
        );
        let service_url = rest.split_whitespace().next().unwrap().to_owned();

        let mut mock = Command::new(BIN);
        mock.args([
            "mock-server",
            "--port",
            "0",
            "--workspaces",
            "acme:4,beta:2",
            "--callback",
            &format!("{service_url}/auth/auth/bitbucket.org"),
        ]);
        if let Some(user) = options.signed_in {
            mock.args(["--signed-in", user]);
        }
        let (mock, mock_url) = spawn_and_read(
            mock,
            dir.path().join("mock.log"),
            "mock Bitbucket listening on ",
            Duration::from_secs(10),
        );
        let stack = Self {
            dir,
            service,
            mock,
            service_url,
            mock_url,
        };
        let out = stack
            .cli()
            .args([
                "configure",
                "--homepage",
                &stack.service_url,
                "--site-url",
                &stack.mock_url,
                "--api-url",
                &stack.mock_url,
                "--key",
                "mock-consumer-key",
                "--secret-env",
                "BB_SECRET",
                "--yes",
            ])
            .env("BB_SECRET", "mock-consumer-secret")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "configure: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        stack
    }
}

fn store_of(dir: &std::path::Path) -> String {
    format!("sqlite://{}", dir.join("store.db").display())
}

/// A browser without a browser: follows redirects by hand and keeps cookies (name → value) the
/// way a browser does for one site per host:port (the service and the mock are both on
/// 127.0.0.1, with different ports; cookies ignore ports, as browsers do).
pub struct Browser {
    pub http: reqwest::Client,
    pub cookies: std::collections::BTreeMap<String, String>,
}

/// One answer: status, final URL, body.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub url: String,
    pub body: String,
}

impl Browser {
    pub fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            cookies: std::collections::BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap();
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name.trim());
            } else {
                self.cookies
                    .insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
    }

    /// GET (or POST a form) and follow redirects (303 turns a POST into a GET).
    pub async fn request(&mut self, url: &str, form: Option<&[(&str, &str)]>) -> Page {
        let mut url = url.to_owned();
        let mut form = form.map(<[_]>::to_vec);
        for _ in 0..10 {
            let request = match &form {
                Some(fields) => self.http.post(&url).form(fields),
                None => self.http.get(&url),
            };
            let response = request
                .header("cookie", self.cookie_header())
                .send()
                .await
                .unwrap();
            self.keep_cookies(&response);
            let status = response.status().as_u16();
            if let Some(location) = response.headers().get("location") {
                let next = reqwest::Url::parse(&url)
                    .unwrap()
                    .join(location.to_str().unwrap())
                    .unwrap();
                url = next.to_string();
                form = None;
                continue;
            }
            return Page {
                status,
                url,
                body: response.text().await.unwrap(),
            };
        }
        panic!("too many redirects from {url}");
    }

    pub async fn get(&mut self, url: &str) -> Page {
        self.request(url, None).await
    }

    pub async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> Page {
        self.request(url, Some(form)).await
    }
}

impl Browser {
    /// GET without following a redirect: the status and the `Location`, if any.
    pub async fn get_once(&mut self, url: &str) -> (u16, Option<String>) {
        let response = self
            .http
            .get(url)
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep_cookies(&response);
        let location = response
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        (response.status().as_u16(), location)
    }
}

/// The value of query parameter `name` in `url`.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
