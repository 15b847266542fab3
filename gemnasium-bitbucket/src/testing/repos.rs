//! Workspaces, repositories and webhooks, with the quirks of the facts doc (§5–§8) behind switches,
//! and the listing parameters of §6: `sort=±updated_on`, `q=updated_on>…` (then `size` counts
//! the matches only), `fields=` (restrictive, `+` and `-` forms; it applies to the whole body, so
//! `size` and `next` go unless listed) and `size`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use wiremock::{Request, Respond, ResponseTemplate};

use super::credentials::{
    authenticate, rate_limit_headers, record, Needs, DELETE_WEBHOOK, READ_REPOSITORY, READ_WEBHOOK,
    WRITE_WEBHOOK,
};
use super::state::State;
use super::workspaces::{memberships, workspace_uuid};
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
    /// When Bitbucket last saw a change (by its own clock).
    pub updated_on: chrono::DateTime<chrono::Utc>,
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
    /// How far Bitbucket's clock is ahead of ours (negative: behind).
    pub clock_skew: chrono::Duration,
}

impl RepoState {
    /// Bitbucket's "now".
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + self.clock_skew
    }
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
pub(crate) fn paginate(
    state: &mut State,
    request: &Request,
    route: &str,
    items: Vec<Value>,
) -> ResponseTemplate {
    let len = items.len();
    paginate_with(state, request, route, len, |range| {
        range.map(|i| items[i].clone()).collect()
    })
}

/// Serves one page of a listing of `len` items, building only the items of the page with
/// `page_items` (listing 100,000 repositories must not build them all for every page).
fn paginate_with(
    state: &mut State,
    request: &Request,
    route: &str,
    len: usize,
    page_items: impl FnOnce(&mut dyn Iterator<Item = usize>) -> Vec<Value>,
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
    let shift = if quirks.unstable_order && !sorted && len > 0 {
        page_no % len
    } else {
        0
    };
    let mut indices = (start..len.min(start + size)).map(|i| (i + shift) % len.max(1));
    let values = page_items(&mut indices);
    let mut body = json!({"pagelen": size, "values": values, "size": len, "page": page_no + 1});
    let more = start + size < len;
    if more || (quirks.next_on_last_page && start < len) {
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
    if let Some(fields) = query("fields") {
        body = apply_fields(&body, &fields);
    }
    ResponseTemplate::new(200).set_body_json(body)
}

/// Bitbucket's partial responses: a list of dotted paths keeps only those (`values.uuid`
/// applies to each value), `-path` drops one, `+path` adds to the defaults (all here).
pub(crate) fn apply_fields(body: &Value, fields: &str) -> Value {
    let entries: Vec<&str> = fields
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    let keep: Vec<Vec<&str>> = entries
        .iter()
        .filter(|e| !e.starts_with(['-', '+']))
        .map(|e| e.split('.').collect())
        .collect();
    let mut body = if keep.is_empty() {
        body.clone()
    } else {
        select(body, &keep)
    };
    for drop in entries.iter().filter_map(|e| e.strip_prefix('-')) {
        remove(&mut body, &drop.split('.').collect::<Vec<_>>());
    }
    body
}

fn select(value: &Value, paths: &[Vec<&str>]) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(|i| select(i, paths)).collect()),
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (key, child) in map {
                let rest: Vec<Vec<&str>> = paths
                    .iter()
                    .filter(|p| p.first().is_some_and(|k| *k == key || *k == "*"))
                    .map(|p| p[1..].to_vec())
                    .collect();
                if rest.is_empty() {
                    continue;
                }
                let kept = if rest.iter().any(Vec::is_empty) {
                    child.clone()
                } else {
                    select(child, &rest)
                };
                out.insert(key.clone(), kept);
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn remove(value: &mut Value, path: &[&str]) {
    match (value, path) {
        (Value::Array(items), _) => items.iter_mut().for_each(|i| remove(i, path)),
        (Value::Object(map), [last]) => {
            map.remove(*last);
        }
        (Value::Object(map), [first, rest @ ..]) => {
            if let Some(child) = map.get_mut(*first) {
                remove(child, rest);
            }
        }
        _ => {}
    }
}

/// The instant of a `q=` filter on `updated_on` (`updated_on>2026-01-01T00:00:00+00:00`, the
/// date quoted or not) and whether it includes equality; `Err` for any other filter.
fn updated_since(q: &str) -> Result<(chrono::DateTime<chrono::Utc>, bool), String> {
    let q = q.trim();
    let (rest, inclusive) = if let Some(rest) = q.strip_prefix("updated_on>=") {
        (rest, true)
    } else if let Some(rest) = q.strip_prefix("updated_on>") {
        (rest, false)
    } else {
        return Err(format!(
            "Invalid query: only updated_on>… is supported by the mock: {q}"
        ));
    };
    let date = rest.trim().trim_matches('"');
    chrono::DateTime::parse_from_rfc3339(date)
        .map(|d| (d.with_timezone(&chrono::Utc), inclusive))
        .map_err(|_| format!("Invalid date in query: {date}"))
}

fn repo_json(base: &str, workspace: &str, repo: &MockRepo) -> Value {
    let full_name = format!("{workspace}/{}", repo.slug);
    json!({
        "type": "repository", "uuid": repo.uuid, "full_name": full_name,
        "name": repo.name.as_deref().unwrap_or(&repo.slug), "slug": repo.slug, "is_private": repo.private, "scm": "git",
        "mainbranch": {"type": "branch", "name": "main"},
        "created_on": "2024-05-06T07:08:09.654321+00:00",
        "updated_on": repo.updated_on.to_rfc3339_opts(chrono::SecondsFormat::Micros, false),
        "language": "rust", "description": "",
        "project": {"type": "project", "key": "PROJ", "name": "Project"},
        "links": {
            "html": {"href": format!("{base}/{full_name}")},
            "clone": [
                {"name": "https", "href": format!("https://jdoe@bitbucket.org/{full_name}.git")},
                {"name": "ssh", "href": format!("git@bitbucket.org:{full_name}.git")},
            ],
        },
        "workspace": {"type": "workspace", "slug": workspace, "uuid": workspace_uuid(workspace)},
        "owner": {"type": "team", "display_name": workspace},
    })
}

impl Respond for ReposEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let response = self.answer(request);
        let state = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        rate_limit_headers(&state, request, response).set_delay(state.repos.quirks.latency)
    }
}

impl ReposEndpoint {
    fn answer(&self, request: &Request) -> ResponseTemplate {
        let mut state = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        record(&mut state, request);
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
            ("GET", ["2.0", "user", "workspaces"]) => memberships(&mut state, request),
            ("GET", ["2.0", "workspaces", id]) => {
                super::workspaces::workspace(&mut state, request, id)
            }
            ("GET", ["2.0", "repositories", workspace]) => {
                let needs = Needs::scoped(Scope::Repository, READ_REPOSITORY);
                let caller = match authenticate(&mut state, request, needs) {
                    Ok(caller) => caller,
                    Err(response) => return response,
                };
                let workspace = (*workspace).to_owned();
                if state.repos.broken.contains(&workspace) {
                    return envelope(500, "Something went wrong");
                }
                let Some((members, _)) = state.repos.workspaces.get(&workspace) else {
                    return envelope(404, &format!("No workspace with identifier '{workspace}'."));
                };
                if !caller.sees(&workspace, members) {
                    return envelope(404, &format!("No workspace with identifier '{workspace}'."));
                }
                let query = |name: &str| {
                    request
                        .url
                        .query_pairs()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.into_owned())
                };
                let filter = match query("q").map(|q| updated_since(&q)).transpose() {
                    Ok(filter) => filter,
                    Err(message) => return envelope(400, &message),
                };
                // Taken out while the page is served (paginating needs the whole state), put
                // back after: no copy of a large workspace per page.
                let repos = state
                    .repos
                    .workspaces
                    .get_mut(&workspace)
                    .map(|(_, repos)| std::mem::take(repos))
                    .unwrap_or_default();
                let mut order: Vec<usize> = (0..repos.len())
                    .filter(|&i| {
                        filter.is_none_or(|(since, inclusive)| {
                            repos[i].updated_on > since
                                || (inclusive && repos[i].updated_on == since)
                        })
                    })
                    .collect();
                match query("sort").as_deref() {
                    Some("-updated_on") => order.sort_by(|&a, &b| {
                        (repos[b].updated_on, &repos[a].uuid)
                            .cmp(&(repos[a].updated_on, &repos[b].uuid))
                    }),
                    Some("updated_on") => order.sort_by(|&a, &b| {
                        (repos[a].updated_on, &repos[a].uuid)
                            .cmp(&(repos[b].updated_on, &repos[b].uuid))
                    }),
                    _ => {}
                }
                let base = state.base.clone();
                let response = paginate_with(
                    &mut state,
                    request,
                    &format!("/2.0/repositories/{workspace}"),
                    order.len(),
                    |range| {
                        range
                            .map(|i| repo_json(&base, &workspace, &repos[order[i]]))
                            .collect()
                    },
                );
                if let Some((_, slot)) = state.repos.workspaces.get_mut(&workspace) {
                    *slot = repos;
                }
                response
            }
            (_, ["2.0", "repositories", workspace, slug, "hooks", rest @ ..]) => {
                let word = match method {
                    "GET" => READ_WEBHOOK,
                    "DELETE" => DELETE_WEBHOOK,
                    _ => WRITE_WEBHOOK,
                };
                let caller =
                    match authenticate(&mut state, request, Needs::scoped(Scope::Webhook, word)) {
                        Ok(caller) => caller,
                        Err(response) => return response,
                    };
                let full_name = format!("{workspace}/{slug}");
                let repo = state
                    .repos
                    .workspaces
                    .get(*workspace)
                    .filter(|_| caller.reaches(workspace))
                    .and_then(|(_, repos)| repos.iter().find(|r| r.slug == *slug).cloned());
                let Some(repo) = repo else {
                    return envelope(404, &format!("Repository {full_name} not found"));
                };
                if !caller.administers(&repo.admins) {
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
            if let Some(refusal) = repeated_event(&input) {
                return refusal;
            }
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
            if let Some(refusal) = repeated_event(&input) {
                return refusal;
            }
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

/// Bitbucket refuses a subscription that names an event key twice with a 400
/// (harness/harness-core #39903); the mock counts such requests.
fn repeated_event(input: &Value) -> Option<ResponseTemplate> {
    let events: Vec<&str> = input["events"]
        .as_array()
        .map(|e| e.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let unique: std::collections::BTreeSet<&str> = events.iter().copied().collect();
    (unique.len() != events.len()).then(|| {
        envelope(
            400,
            "Invalid webhook subscription: events must not contain duplicates",
        )
    })
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
