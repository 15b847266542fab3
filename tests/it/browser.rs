//! The service example in headless Chromium (through chromedriver and WebDriver): a person
//! clicks "Sign in with Bitbucket", chooses who they are on the mock's login page, lands on
//! the signed-in page (screenshot: target/screenshots/signed-in.png), connects repositories,
//! tracks one, and sees a push delivered through the mock listed.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). Without them the
//! test prints a skip notice, except under CI (`CI` set), where it fails.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};

use crate::stack::{Proc, Stack, StackOptions};

/// The first of `names` found on PATH.
fn which(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `target/` of this build (screenshots go to `target/screenshots/`).
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    )
}

/// chromedriver on a free port, ready to answer.
fn start_chromedriver(driver: &PathBuf, logs: PathBuf) -> (Proc, String) {
    let port = free_port();
    let log = std::fs::File::create(&logs).unwrap();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("chromedriver starts");
    let proc = Proc {
        child,
        stderr: logs,
        stdout: std::sync::Arc::default(),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen within 20 s: {}",
            proc.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (proc, format!("http://127.0.0.1:{port}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_tracks_a_repository_and_sees_a_push_in_chromium() {
    let driver = which(&["chromedriver"]);
    let browser = which(&["chromium", "chromium-browser", "google-chrome"]);
    let (Some(driver), Some(browser)) = (driver, browser) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the browser test: install Debian's chromium and chromium-driver"
        );
        eprintln!("skipped: chromium and chromedriver are not installed (apt-get install chromium chromium-driver)");
        return;
    };
    let stack = Stack::start(StackOptions::default());
    let profile = tempfile::tempdir().unwrap();
    let (_driver, webdriver_url) =
        start_chromedriver(&driver, stack.dir.path().join("chromedriver.log"));
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        serde_json::json!({
            "binary": browser,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                "--window-size=1100,700",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        }),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&webdriver_url)
        .await
        .expect("a WebDriver session in headless Chromium");

    let result = drive(&client, &stack).await;
    let _ = client.close().await;
    if let Err(e) = result {
        panic!(
            "{e}\nservice log:\n{}\nmock log:\n{}",
            stack.service.logs(),
            stack.mock.logs()
        );
    }
}

async fn drive(client: &fantoccini::Client, stack: &Stack) -> Result<(), String> {
    let fail = |what: &str| {
        let what = what.to_owned();
        move |e: fantoccini::error::CmdError| format!("{what}: {e}")
    };
    client
        .goto(&stack.service_url)
        .await
        .map_err(fail("open the service"))?;
    client
        .find(Locator::LinkText("Sign in with Bitbucket"))
        .await
        .map_err(fail("the sign-in link"))?
        .click()
        .await
        .map_err(fail("click sign in"))?;
    // The mock's login page: choose Jane.
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Id("sign-in-jdoe"))
        .await
        .map_err(fail("the mock's login page"))?
        .click()
        .await
        .map_err(fail("choose jdoe"))?;
    let signed_in = client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Id("signed-in"))
        .await
        .map_err(fail("the signed-in page"))?;
    let text = signed_in.text().await.map_err(fail("read the page"))?;
    if !text.contains("Signed in as Jane Doe (jdoe)") {
        return Err(format!("unexpected signed-in text: {text}"));
    }
    let url = client.current_url().await.map_err(fail("current URL"))?;
    if !url.as_str().starts_with(&stack.service_url) {
        return Err(format!("not back on the service: {url}"));
    }
    let png = client.screenshot().await.map_err(fail("screenshot"))?;
    let dir = target_dir().join("screenshots");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("signed-in.png"), &png).map_err(|e| e.to_string())?;
    if !png.starts_with(b"\x89PNG") {
        return Err("the screenshot is not a PNG".to_owned());
    }

    // Connect repositories (the sync authorization), then track one.
    client
        .find(Locator::Id("connect"))
        .await
        .map_err(fail("the connect link"))?
        .click()
        .await
        .map_err(fail("click connect"))?;
    client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("button[value=\"acme/r01\"]"))
        .await
        .map_err(fail("the track button of acme/r01"))?
        .click()
        .await
        .map_err(fail("click track"))?;
    client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::XPath(
            "//tr[td[text()='acme/r01']]/td[text()='tracked (webhook installed)']",
        ))
        .await
        .map_err(fail("acme/r01 tracked with its webhook"))?;

    // A push on the mock, delivered to the service's webhook.
    let push: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/_mock/push?repo=acme/r01", stack.mock_url))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let request_uuid = push["deliveries"][0]["request_uuid"]
        .as_str()
        .ok_or_else(|| format!("no delivery: {push}"))?
        .to_owned();
    client
        .find(Locator::LinkText("Push events"))
        .await
        .map_err(fail("the events link"))?
        .click()
        .await
        .map_err(fail("click events"))?;
    let cell = client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("td.request-uuid"))
        .await
        .map_err(fail("the push listed"))?;
    let shown = cell.text().await.map_err(fail("read the event"))?;
    if shown != request_uuid {
        return Err(format!("listed {shown}, delivered {request_uuid}"));
    }
    Ok(())
}
