//! Webhook deliveries on demand: `repo:push` payloads signed as Bitbucket signs them, sent to
//! every active hook of a repository that subscribes to the event, and the mock's own HTTP
//! endpoints to trigger them (`POST /_mock/push?repo=…`, `POST /_mock/redeliver?request_uuid=…`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::Sha256;
use thiserror::Error;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::state::State;
use super::MockBitbucket;

/// How long a delivery may take before it counts as failed (Bitbucket waits 10 s).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// One delivery as the mock sent (or will send) it: what it needs to resend it too.
#[derive(Clone, Debug)]
pub(crate) struct DeliveryRecord {
    pub delivery: Delivery,
    pub body: Vec<u8>,
    pub signature: Option<String>,
}

/// What one webhook delivery was, and how the receiver answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Delivery {
    /// `workspace/slug` of the repository.
    pub repository: String,
    /// `X-Event-Key`.
    pub event_key: String,
    /// `X-Hook-UUID`, without braces as Bitbucket sends it.
    pub hook_uuid: String,
    /// `X-Request-UUID`, without braces; the same across redeliveries.
    pub request_uuid: String,
    /// `X-Attempt-Number`.
    pub attempt: u32,
    /// The hook's URL, where it was sent.
    pub url: String,
    /// Whether it carried an `X-Hub-Signature` (the hook has a secret).
    pub signed: bool,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Why it could not be delivered (connection refused, timeout), when it was not.
    pub error: Option<String>,
}

impl Delivery {
    /// Whether the receiver answered 2xx.
    #[must_use]
    pub fn accepted(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// What a push did: one delivery per subscribed hook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PushReport {
    /// `workspace/slug`.
    pub repository: String,
    /// The branch pushed to.
    pub branch: String,
    /// The new commit.
    pub commit: String,
    /// One per active hook subscribed to `repo:push` (none: nothing was sent).
    pub deliveries: Vec<Delivery>,
}

/// Why a push or a redelivery could not be made.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushError {
    /// No repository of that full name on the mock.
    #[error("no repository `{0}` on the mock; give workspace/slug of a seeded repository")]
    NoRepository(String),
    /// No delivery with that request UUID was ever sent.
    #[error("no delivery with X-Request-UUID {0} was sent")]
    NoDelivery(String),
}

impl PushError {
    fn status(&self) -> u16 {
        404
    }
}

fn hex_id(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

fn unbraced(uuid: &str) -> String {
    uuid.trim_start_matches('{')
        .trim_end_matches('}')
        .to_owned()
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`, as Bitbucket's `X-Hub-Signature`.
fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A `repo:push` payload with the fields Bitbucket sends (trimmed of most links).
fn push_payload(
    state: &State,
    workspace: &str,
    repo: &super::repos::MockRepo,
    branch: &str,
    old: &str,
    new: &str,
) -> Value {
    let full_name = format!("{workspace}/{}", repo.slug);
    let base = &state.base;
    let actor = state
        .signed_in
        .as_ref()
        .and_then(|u| state.users.get(u))
        .or_else(|| {
            let mut users: Vec<_> = state.users.values().collect();
            users.sort_by(|a, b| a.nickname.cmp(&b.nickname));
            users.first().copied()
        });
    let actor = actor.map_or(Value::Null, |u| {
        json!({"type": "user", "uuid": u.uuid.as_str(), "account_id": u.account_id,
            "nickname": u.nickname, "display_name": u.display_name})
    });
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let target = |hash: &str| {
        json!({"type": "commit", "hash": hash, "date": now, "message": "Update dependencies\n",
            "author": {"type": "author", "raw": "Jane Doe <jane@example.com>"},
            "links": {"html": {"href": format!("{base}/{full_name}/commits/{hash}")}}})
    };
    json!({
        "push": {"changes": [{
            "forced": false, "created": false, "closed": false, "truncated": false,
            "old": {"type": "branch", "name": branch, "target": target(old)},
            "new": {"type": "branch", "name": branch, "target": target(new)},
            "commits": [target(new)],
            "links": {"html": {"href": format!("{base}/{full_name}/branches/compare/{new}..{old}")}},
        }]},
        "actor": actor,
        "repository": {
            "type": "repository", "uuid": repo.uuid, "full_name": full_name,
            "name": repo.name.as_deref().unwrap_or(&repo.slug), "is_private": repo.private,
            "scm": "git",
            "workspace": {"type": "workspace", "slug": workspace, "uuid": super::workspaces::workspace_uuid(workspace)},
            "project": {"type": "project", "key": "PROJ", "name": "Project"},
            "links": {"html": {"href": format!("{base}/{full_name}")}},
        },
    })
}

impl State {
    /// Prepares (and logs) one signed `repo:push` delivery per subscribed hook of `full_name`.
    pub(crate) fn prepare_push(
        &mut self,
        full_name: &str,
        branch: &str,
    ) -> Result<(PushReport, Vec<DeliveryRecord>), PushError> {
        let (workspace, slug) = full_name
            .split_once('/')
            .ok_or_else(|| PushError::NoRepository(full_name.to_owned()))?;
        let repo = self
            .repos
            .workspaces
            .get(workspace)
            .and_then(|(_, repos)| repos.iter().find(|r| r.slug == slug).cloned())
            .ok_or_else(|| PushError::NoRepository(full_name.to_owned()))?;
        let (old, new) = (hex_id(20), hex_id(20));
        let body = serde_json::to_vec(&push_payload(self, workspace, &repo, branch, &old, &new))
            .expect("JSON serialises");
        let hooks: Vec<_> = self
            .repos
            .hooks
            .get(full_name)
            .map(|hooks| {
                hooks
                    .iter()
                    .filter(|h| h.body["active"].as_bool().unwrap_or(true))
                    .filter(|h| {
                        h.body["events"]
                            .as_array()
                            .is_some_and(|e| e.iter().any(|e| e == "repo:push"))
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let mut records = Vec::new();
        for hook in hooks {
            let request_uuid = unbraced(&self.uuid());
            let record = DeliveryRecord {
                delivery: Delivery {
                    repository: full_name.to_owned(),
                    event_key: "repo:push".to_owned(),
                    hook_uuid: unbraced(hook.body["uuid"].as_str().unwrap_or_default()),
                    request_uuid,
                    attempt: 1,
                    url: hook.body["url"].as_str().unwrap_or_default().to_owned(),
                    signed: hook.secret.is_some(),
                    status: None,
                    error: None,
                },
                signature: hook.secret.as_deref().map(|s| sign(s, &body)),
                body: body.clone(),
            };
            records.push(record);
        }
        let report = PushReport {
            repository: full_name.to_owned(),
            branch: branch.to_owned(),
            commit: new,
            deliveries: records.iter().map(|r| r.delivery.clone()).collect(),
        };
        Ok((report, records))
    }

    /// The last delivery with `request_uuid`, as a new attempt.
    fn prepare_redelivery(&self, request_uuid: &str) -> Result<DeliveryRecord, PushError> {
        let wanted = unbraced(request_uuid.trim());
        let last = self
            .repos
            .deliveries
            .iter()
            .rev()
            .find(|r| r.delivery.request_uuid.eq_ignore_ascii_case(&wanted))
            .ok_or(PushError::NoDelivery(wanted))?;
        let mut record = last.clone();
        record.delivery.attempt += 1;
        record.delivery.status = None;
        record.delivery.error = None;
        Ok(record)
    }

    fn log(&mut self, records: &[DeliveryRecord]) {
        self.repos.deliveries.extend(records.iter().cloned());
        // A long-running mock keeps the last thousand.
        let excess = self.repos.deliveries.len().saturating_sub(1000);
        self.repos.deliveries.drain(..excess);
    }
}

/// Sends one delivery with Bitbucket's headers; fills in its status or error.
async fn send(client: &reqwest::Client, record: &mut DeliveryRecord) {
    let d = &record.delivery;
    let mut request = client
        .post(&d.url)
        .header("Content-Type", "application/json")
        .header("User-Agent", "Bitbucket-Webhooks/2.0")
        .header("X-Event-Key", &d.event_key)
        .header("X-Hook-UUID", &d.hook_uuid)
        .header("X-Request-UUID", &d.request_uuid)
        .header("X-Attempt-Number", d.attempt.to_string())
        .body(record.body.clone());
    if let Some(signature) = &record.signature {
        request = request.header("X-Hub-Signature", signature);
    }
    match request.send().await {
        Ok(response) => record.delivery.status = Some(response.status().as_u16()),
        Err(e) => record.delivery.error = Some(e.without_url().to_string()),
    }
}

async fn send_all(records: &mut [DeliveryRecord]) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(DELIVERY_TIMEOUT)
        .build()
        .expect("a plain HTTP client builds");
    for record in records {
        send(&client, record).await;
    }
}

/// Sends `records` from a thread of its own (callers may be inside the mock's server thread).
fn send_blocking(mut records: Vec<DeliveryRecord>) -> Vec<DeliveryRecord> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(send_all(&mut records));
        records
    })
    .join()
    .expect("the delivery thread does not panic")
}

impl MockBitbucket {
    /// Simulates a push to `branch` of `full_name` (`workspace/slug`): sends a signed
    /// `repo:push` delivery to every active hook of the repository that subscribes to it, with
    /// Bitbucket's headers (`X-Event-Key`, `X-Hook-UUID` and `X-Request-UUID` without braces,
    /// `X-Attempt-Number`, and `X-Hub-Signature: sha256=…` with the hook's secret when it has
    /// one), and reports how each receiver answered.
    ///
    /// ```no_run
    /// # async fn demo(bitbucket: gemnasium_bitbucket::testing::MockBitbucket) {
    /// let report = bitbucket.push("acme/widget", "main").await.unwrap();
    /// for delivery in &report.deliveries {
    ///     println!("{} -> {:?}", delivery.request_uuid, delivery.status);
    /// }
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`PushError::NoRepository`].
    pub async fn push(&self, full_name: &str, branch: &str) -> Result<PushReport, PushError> {
        let (mut report, mut records) = self.lock().prepare_push(full_name, branch)?;
        send_all(&mut records).await;
        report.deliveries = records.iter().map(|r| r.delivery.clone()).collect();
        self.lock().log(&records);
        Ok(report)
    }

    /// Sends the delivery with `request_uuid` again, as Bitbucket retries: same body, same
    /// `X-Request-UUID`, the next `X-Attempt-Number`.
    ///
    /// # Errors
    /// [`PushError::NoDelivery`].
    pub async fn redeliver(&self, request_uuid: &str) -> Result<Delivery, PushError> {
        let mut record = self.lock().prepare_redelivery(request_uuid)?;
        send_all(std::slice::from_mut(&mut record)).await;
        self.lock().log(std::slice::from_ref(&record));
        Ok(record.delivery)
    }

    /// Every delivery sent so far, oldest first (the last thousand).
    #[must_use]
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.lock()
            .repos
            .deliveries
            .iter()
            .map(|r| r.delivery.clone())
            .collect()
    }
}

fn query(request: &Request, name: &str) -> Option<String> {
    request
        .url
        .query_pairs()
        .chain(url::form_urlencoded::parse(&request.body))
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn refusal(error: &PushError) -> ResponseTemplate {
    ResponseTemplate::new(error.status()).set_body_json(json!({"error": error.to_string()}))
}

/// `POST /_mock/push?repo=workspace/slug[&branch=main]` (query or form body).
struct PushEndpoint(Arc<Mutex<State>>);

impl Respond for PushEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let Some(repo) = query(request, "repo") else {
            return ResponseTemplate::new(400)
                .set_body_json(json!({"error": "give the repository as ?repo=workspace/slug"}));
        };
        let branch = query(request, "branch").unwrap_or_else(|| "main".to_owned());
        let prepared = lock(&self.0).prepare_push(&repo, &branch);
        let (mut report, records) = match prepared {
            Ok(prepared) => prepared,
            Err(e) => return refusal(&e),
        };
        let records = send_blocking(records);
        report.deliveries = records.iter().map(|r| r.delivery.clone()).collect();
        lock(&self.0).log(&records);
        ResponseTemplate::new(200).set_body_json(report)
    }
}

/// `POST /_mock/redeliver?request_uuid=…`.
struct RedeliverEndpoint(Arc<Mutex<State>>);

impl Respond for RedeliverEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let Some(uuid) = query(request, "request_uuid") else {
            return ResponseTemplate::new(400)
                .set_body_json(json!({"error": "give ?request_uuid=… of an earlier delivery"}));
        };
        let prepared = lock(&self.0).prepare_redelivery(&uuid);
        let record = match prepared {
            Ok(record) => record,
            Err(e) => return refusal(&e),
        };
        let records = send_blocking(vec![record]);
        lock(&self.0).log(&records);
        ResponseTemplate::new(200).set_body_json(&records[0].delivery)
    }
}

/// `GET /_mock/deliveries`: every delivery so far, as JSON.
struct DeliveriesEndpoint(Arc<Mutex<State>>);

impl Respond for DeliveriesEndpoint {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        let deliveries: Vec<Delivery> = lock(&self.0)
            .repos
            .deliveries
            .iter()
            .map(|r| r.delivery.clone())
            .collect();
        ResponseTemplate::new(200).set_body_json(deliveries)
    }
}

pub(crate) fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Mounts the delivery endpoints and the mock's own pages.
pub(crate) async fn mount(server: &MockServer, state: &Arc<Mutex<State>>) {
    Mock::given(method("POST"))
        .and(path("/_mock/push"))
        .respond_with(PushEndpoint(state.clone()))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/_mock/redeliver"))
        .respond_with(RedeliverEndpoint(state.clone()))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/_mock/deliveries"))
        .respond_with(DeliveriesEndpoint(state.clone()))
        .mount(server)
        .await;
    super::pages::mount(server, state).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn uuids_lose_their_braces() {
        assert_eq!(unbraced("{1234}"), "1234");
        assert_eq!(unbraced("1234"), "1234");
    }
}
