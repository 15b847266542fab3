//! Workspaces, repositories and webhooks, with the quirks of the facts doc (§5–§8) behind switches.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use wiremock::{Request, Respond, ResponseTemplate};

use super::identity::authenticate_bearer;
use super::state::State;
use crate::model::{AccountUuid, Scope};

/// Switches for Bitbucket's pagination and rate-limit behaviour.
#[derive(Clone, Debug)]
pub struct Quirks {
    /// Largest `pagelen` accepted; more is a 400 (Bitbucket caps some endpoints below 100).
    pub max_pagelen: usize,
    /// Page size actually served (Bitbucket may serve fewer than asked).
    pub page_size: usize,
    /// Send a `next` link on the last page, which then has empty `values`.
    pub next_on_last_page: bool,
    /// Rotate the listing between pages, so items repeat and move (unstable order).
    pub unstable_order: bool,
    /// Answer every Nth REST request with a text/plain 429 (no Retry-After).
    pub rate_limit_every: Option<usize>,
    /// Answer every Nth REST request with a 500.
    pub fail_every: Option<usize>,
    /// Added to every workspace, repository and hook response (simulated network latency).
    pub latency: std::time::Duration,
}

impl Default for Quirks {
    fn default() -> Self {
        Self {
            max_pagelen: 100,
            page_size: 100,
            next_on_last_page: false,
            unstable_order: false,
            rate_limit_every: None,
            fail_every: None,
            latency: std::time::Duration::ZERO,
        }
    }
}

/// A repository on the mock.
#[derive(Clone, Debug)]
pub(crate) struct MockRepo {
    pub uuid: String,
    pub slug: String,
    /// The display name (the slug unless set).
    pub name: Option<String>,
    pub private: bool,
    /// Accounts with admin permission (may manage hooks).
    pub admins: Vec<AccountUuid>,
}

#[derive(Clone, Debug)]
pub(crate) struct MockHook {
    pub body: Value,
    /// The secret deliveries are signed with (received on create and update, never returned).
    pub secret: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct RepoState {
    /// workspace slug → (members, repositories)
    pub workspaces: BTreeMap<String, (Vec<AccountUuid>, Vec<MockRepo>)>,
    /// "workspace/slug" → hooks
    pub hooks: BTreeMap<String, Vec<MockHook>>,
    pub quirks: Quirks,
    pub rest_requests: usize,
    pub hook_writes: usize,
    /// Workspaces whose listing always fails with a 500.
    pub broken: Vec<String>,
    /// Webhook deliveries sent so far, oldest first.
    pub deliveries: Vec<super::deliveries::DeliveryRecord>,
}

pub(crate) struct ReposEndpoint(pub Arc<Mutex<State>>);

fn envelope(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!({"type": "error", "error": {"message": message}}))
}

fn retired() -> ResponseTemplate {
    ResponseTemplate::new(410).set_body_json(json!({"type": "error", "error": {
        "message": "CHANGE-2770 - Functionality has been deprecated",
        "detail": "Please read the changelog entry for more details.",
        "data": {"announcement_url": "https://developer.atlassian.com/cloud/bitbucket/changelog#CHANGE-2770"}}}))
}

/// Serves `items` as one page according to the request's `cursor`/`pagelen` and the quirks.
fn paginate(
    state: &mut State,
    request: &Request,
    route: &str,
    mut items: Vec<Value>,
) -> ResponseTemplate {
    let query = |name: &str| {
        request
            .url
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let quirks = state.repos.quirks.clone();
    let asked = query("pagelen")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(10);
    if asked > quirks.max_pagelen {
        return envelope(
            400,
            &format!("Invalid pagelen: the maximum is {}", quirks.max_pagelen),
        );
    }
    let size = asked.min(quirks.page_size).max(1);
    let (start, page_no) = match query("cursor") {
        Some(cursor) => match state.cursors.get(&cursor) {
            Some(offset) => (*offset, *offset / size),
            None => return envelope(400, "Invalid cursor"),
        },
        None => (0, 0),
    };
    // Bitbucket's default order is not stable across pages; an explicit `sort` is.
    let sorted = query("sort").is_some();
    if quirks.unstable_order && !sorted && !items.is_empty() {
        let shift = page_no % items.len();
        items.rotate_left(shift);
    }
    let values: Vec<Value> = items.iter().skip(start).take(size).cloned().collect();
    let mut body =
        json!({"pagelen": size, "values": values, "size": items.len(), "page": page_no + 1});
    let more = start + size < items.len();
    if more || (quirks.next_on_last_page && start < items.len()) {
        let cursor = state.opaque("cur");
        state.cursors.insert(cursor.clone(), start + size);
        // Like Bitbucket, keep the request's parameters (fields, sort, role, q) in `next`.
        let mut next = url::Url::parse(&format!("{}{route}", state.base)).expect("a valid URL");
        {
            let mut pairs = next.query_pairs_mut();
            for (k, v) in request
                .url
                .query_pairs()
                .filter(|(k, _)| k != "cursor" && k != "pagelen")
            {
                pairs.append_pair(&k, &v);
            }
            pairs
                .append_pair("cursor", &cursor)
                .append_pair("pagelen", &size.to_string());
        }
        body["next"] = json!(next.to_string());
    }
    ResponseTemplate::new(200).set_body_json(body)
}

fn repo_json(base: &str, workspace: &str, repo: &MockRepo) -> Value {
    let full_name = format!("{workspace}/{}", repo.slug);
    json!({
        "type": "repository", "uuid": repo.uuid, "full_name": full_name,
        "name": repo.name.as_deref().unwrap_or(&repo.slug), "slug": repo.slug, "is_private": repo.private, "scm": "git",
        "mainbranch": {"type": "branch", "name": "main"},
        "created_on": "2024-05-06T07:08:09.654321+00:00",
        "updated_on": "2026-01-02T03:04:05.123456+00:00",
        "language": "rust", "description": "",
        "project": {"type": "project", "key": "PROJ", "name": "Project"},
        "links": {
            "html": {"href": format!("{base}/{full_name}")},
            "clone": [
                {"name": "https", "href": format!("https://jdoe@bitbucket.org/{full_name}.git")},
                {"name": "ssh", "href": format!("git@bitbucket.org:{full_name}.git")},
            ],
        },
        "workspace": {"type": "workspace", "slug": workspace, "uuid": format!("{{ws-{workspace}}}")},
        "owner": {"type": "team", "display_name": workspace},
    })
}

impl Respond for ReposEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let latency = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .repos
            .quirks
            .latency;
        self.answer(request).set_delay(latency)
    }
}

impl ReposEndpoint {
    fn answer(&self, request: &Request) -> ResponseTemplate {
        let mut state = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.repos.rest_requests += 1;
        let n = state.repos.rest_requests;
        let quirks = state.repos.quirks.clone();
        if quirks
            .rate_limit_every
            .is_some_and(|every| n.is_multiple_of(every))
        {
            return ResponseTemplate::new(429).set_body_raw(
                "Rate limit for this resource has been exceeded",
                "text/plain",
            );
        }
        if quirks
            .fail_every
            .is_some_and(|every| n.is_multiple_of(every))
        {
            return ResponseTemplate::new(500)
                .set_body_raw("<html><body>Internal error</body></html>", "text/html");
        }
        let path = request.url.path().to_owned();
        let segments: Vec<String> = path
            .trim_start_matches('/')
            .split('/')
            .map(percent_decode)
            .collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let method = request.method.as_str();
        match (method, segments.as_slice()) {
            (
                "GET",
                ["2.0", "repositories"]
                | ["2.0", "workspaces"]
                | ["2.0", "user", "permissions", ..],
            ) => retired(),
            ("GET", ["2.0", "user", "workspaces"]) => {
                let user = match authenticate_bearer(&mut state, request, Scope::Account) {
                    Ok(user) => user,
                    Err(response) => return response,
                };
                let items: Vec<Value> = state
                    .repos
                    .workspaces
                    .iter()
                    .filter(|(_, (members, _))| members.contains(&user))
                    .map(|(slug, _)| json!({"type": "workspace_access", "administrator": false,
                        "workspace": {"type": "workspace_base", "uuid": format!("{{ws-{slug}}}"), "slug": slug}}))
                    .collect();
                paginate(&mut state, request, "/2.0/user/workspaces", items)
            }
            ("GET", ["2.0", "repositories", workspace]) => {
                let user = match authenticate_bearer(&mut state, request, Scope::Repository) {
                    Ok(user) => user,
                    Err(response) => return response,
                };
                let workspace = (*workspace).to_owned();
                if state.repos.broken.contains(&workspace) {
                    return envelope(500, "Something went wrong");
                }
                let Some((members, repos)) = state.repos.workspaces.get(&workspace) else {
                    return envelope(404, &format!("No workspace with identifier '{workspace}'."));
                };
                if !members.contains(&user) {
                    return envelope(404, &format!("No workspace with identifier '{workspace}'."));
                }
                let base = state.base.clone();
                let items: Vec<Value> = repos
                    .iter()
                    .map(|r| repo_json(&base, &workspace, r))
                    .collect();
                paginate(
                    &mut state,
                    request,
                    &format!("/2.0/repositories/{workspace}"),
                    items,
                )
            }
            (_, ["2.0", "repositories", workspace, slug, "hooks", rest @ ..]) => {
                let user = match authenticate_bearer(&mut state, request, Scope::Webhook) {
                    Ok(user) => user,
                    Err(response) => return response,
                };
                let full_name = format!("{workspace}/{slug}");
                let repo = state
                    .repos
                    .workspaces
                    .get(*workspace)
                    .and_then(|(_, repos)| repos.iter().find(|r| r.slug == *slug).cloned());
                let Some(repo) = repo else {
                    return envelope(404, &format!("Repository {full_name} not found"));
                };
                if !repo.admins.contains(&user) {
                    return envelope(
                        403,
                        "You must be an administrator of this repository to manage its webhooks.",
                    );
                }
                hooks(
                    &mut state,
                    request,
                    &full_name,
                    &repo,
                    rest.first().copied(),
                )
            }
            _ => ResponseTemplate::new(500)
                .set_body_string("MockBitbucket: no such endpoint (unexpected request)"),
        }
    }
}

fn hooks(
    state: &mut State,
    request: &Request,
    full_name: &str,
    repo: &MockRepo,
    uid: Option<&str>,
) -> ResponseTemplate {
    let method = request.method.as_str();
    if method != "GET" {
        state.repos.hook_writes += 1;
    }
    match (method, uid) {
        ("GET", None) => {
            let items: Vec<Value> = state
                .repos
                .hooks
                .get(full_name)
                .map(|h| h.iter().map(|h| h.body.clone()).collect())
                .unwrap_or_default();
            let route = format!("/2.0/repositories/{full_name}/hooks");
            paginate(state, request, &route, items)
        }
        ("POST", None) => {
            let Ok(input) = serde_json::from_slice::<Value>(&request.body) else {
                return envelope(400, "Malformed JSON");
            };
            let uuid = state.uuid();
            let body = hook_body(
                &uuid,
                &input,
                input
                    .get("secret")
                    .is_some_and(|s| s.as_str().is_some_and(|s| !s.is_empty())),
                &repo.uuid,
                state.cursors.len(),
            );
            state
                .repos
                .hooks
                .entry(full_name.to_owned())
                .or_default()
                .push(MockHook {
                    body: body.clone(),
                    secret: input["secret"]
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                });
            ResponseTemplate::new(201).set_body_json(body)
        }
        ("PUT", Some(uid)) => {
            let Ok(input) = serde_json::from_slice::<Value>(&request.body) else {
                return envelope(400, "Malformed JSON");
            };
            let Some(hook) = state
                .repos
                .hooks
                .get_mut(full_name)
                .and_then(|hs| hs.iter_mut().find(|h| h.body["uuid"] == uid))
            else {
                return envelope(404, "No such webhook");
            };
            // Omitting `secret` keeps it; null or "" removes it.
            let secret_set = match input.get("secret") {
                None => hook.body["secret_set"].as_bool().unwrap_or(false),
                Some(Value::String(s)) => !s.is_empty(),
                Some(_) => false,
            };
            match input.get("secret") {
                None => {}
                Some(Value::String(s)) if !s.is_empty() => hook.secret = Some(s.clone()),
                Some(_) => hook.secret = None,
            }
            let created = hook.body["created_at"].clone();
            hook.body = hook_body(uid, &input, secret_set, &repo.uuid, 0);
            hook.body["created_at"] = created;
            ResponseTemplate::new(200).set_body_json(hook.body.clone())
        }
        ("DELETE", Some(uid)) => {
            let hooks = state.repos.hooks.entry(full_name.to_owned()).or_default();
            let before = hooks.len();
            hooks.retain(|h| h.body["uuid"] != uid);
            if hooks.len() == before {
                envelope(404, "No such webhook")
            } else {
                ResponseTemplate::new(204)
            }
        }
        _ => envelope(405, "Method not allowed"),
    }
}

fn hook_body(uuid: &str, input: &Value, secret_set: bool, repo_uuid: &str, tick: usize) -> Value {
    json!({
        "type": "webhook_subscription", "uuid": uuid,
        "url": input["url"], "description": input["description"],
        "active": input["active"].as_bool().unwrap_or(true),
        "events": input["events"], "secret_set": secret_set,
        "subject_type": "repository", "subject": {"type": "repository", "uuid": repo_uuid},
        "created_at": format!("2026-02-01T00:{:02}:{:02}.000000+00:00", (tick / 60) % 60, tick % 60),
    })
}

fn percent_decode(segment: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}
