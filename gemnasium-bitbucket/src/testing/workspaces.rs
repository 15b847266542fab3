//! `GET /2.0/user/workspaces` (the caller's memberships; refused to access tokens) and
//! `GET /2.0/workspaces/{slug}` (one workspace: the identity probe access tokens answer).
//! Workspaces a caller cannot see answer 404, as on Bitbucket.

use serde_json::{json, Value};
use wiremock::{Request, ResponseTemplate};

use super::credentials::{authenticate, envelope, Needs, READ_WORKSPACE};
use super::repos::paginate;
use super::state::State;
use crate::model::Scope;

/// The uuid the mock gives workspace `slug` (everywhere it shows one).
pub(crate) fn workspace_uuid(slug: &str) -> String {
    format!("{{ws-{slug}}}")
}

/// `GET /2.0/user/workspaces`.
pub(crate) fn memberships(state: &mut State, request: &Request) -> ResponseTemplate {
    let caller = match authenticate(state, request, Needs::users(Scope::Account, READ_WORKSPACE)) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let items: Vec<Value> = state
        .repos
        .workspaces
        .iter()
        .filter(|(slug, (members, _))| caller.sees(slug, members))
        .map(|(slug, _)| {
            json!({"type": "workspace_access", "administrator": false,
                "workspace": {"type": "workspace_base", "uuid": workspace_uuid(slug), "slug": slug}})
        })
        .collect();
    paginate(state, request, "/2.0/user/workspaces", items)
}

/// `GET /2.0/workspaces/{id}`, `id` a slug or the workspace's uuid.
pub(crate) fn workspace(state: &mut State, request: &Request, id: &str) -> ResponseTemplate {
    let caller = match authenticate(
        state,
        request,
        Needs::anyone(Scope::Account, READ_WORKSPACE),
    ) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let found = state
        .repos
        .workspaces
        .iter()
        .find(|(slug, _)| *slug == id || workspace_uuid(slug) == id)
        .filter(|(slug, (members, _))| caller.sees(slug, members))
        .map(|(slug, _)| slug.clone());
    let Some(slug) = found else {
        return envelope(404, &format!("No workspace with identifier '{id}'."), None);
    };
    let base = &state.base;
    ResponseTemplate::new(200).set_body_json(json!({
        "type": "workspace",
        "uuid": workspace_uuid(&slug),
        "slug": slug,
        "name": format!("Workspace {slug}"),
        "is_private": true,
        "links": {
            "self": {"href": format!("{base}/2.0/workspaces/{slug}")},
            "html": {"href": format!("{base}/{slug}/")},
        },
        "created_on": "2020-01-01T00:00:00.000000+00:00",
    }))
}
