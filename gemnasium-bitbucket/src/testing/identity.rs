//! `GET /2.0/user` and `GET /2.0/user/emails` with bearer authentication and scope checks.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::json;
use wiremock::{Request, Respond, ResponseTemplate};

use super::state::{ExpiredWording, State};
use crate::model::{AccountUuid, Scope, ScopeSet};

pub(crate) struct UserEndpoint(pub Arc<Mutex<State>>);
pub(crate) struct EmailsEndpoint(pub Arc<Mutex<State>>);

fn envelope(status: u16, message: &str, detail: Option<serde_json::Value>) -> ResponseTemplate {
    let mut error = json!({"message": message});
    if let Some(detail) = detail {
        error["detail"] = detail;
    }
    ResponseTemplate::new(status).set_body_json(json!({"type": "error", "error": error}))
}

/// The caller's user after checking the bearer token and `required` scope, or the error
/// response to send.
// The error is the response itself; boxing it would only add noise to a test double.
#[allow(clippy::result_large_err)]
pub(crate) fn authenticate_bearer(
    state: &mut State,
    request: &Request,
    required: Scope,
) -> Result<AccountUuid, ResponseTemplate> {
    state.api_requests += 1;
    if request.url.query_pairs().any(|(k, _)| k == "access_token") {
        // Since 2026 tokens are accepted only in the Authorization header.
        return Err(envelope(
            401,
            "Token is invalid, expired, or not supported for this endpoint.",
            None,
        ));
    }
    let token = request
        .headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "));
    let Some(grant) = token.and_then(|t| state.access.get(t)) else {
        return Err(envelope(
            401,
            "Token is invalid, expired, or not supported for this endpoint.",
            None,
        ));
    };
    if grant.expires_at <= Instant::now() {
        let message = match state.wording {
            ExpiredWording::Legacy => {
                "Access token expired. Use your refresh token to obtain a new access token."
            }
            ExpiredWording::Current => {
                "OAuth2 access token expired. Use your refresh token to obtain a new access token."
            }
        };
        return Err(envelope(401, message, None));
    }
    if !grant.scopes.covers(&ScopeSet::from([required])) {
        let granted: Vec<_> = grant.scopes.iter().map(Scope::as_str).collect();
        return Err(envelope(
            403,
            "Your credentials lack one or more required privilege scopes.",
            Some(json!({"granted": granted, "required": [required.as_str()]})),
        ));
    }
    grant
        .user
        .clone()
        .ok_or_else(|| envelope(403, "Forbidden", None))
}

impl Respond for UserEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let uuid = match authenticate_bearer(&mut state, request, Scope::Account) {
            Ok(uuid) => uuid,
            Err(response) => return response,
        };
        let Some(user) = state.users.get(&uuid) else {
            return envelope(404, "No such user", None);
        };
        ResponseTemplate::new(200).set_body_json(json!({
            "type": "user",
            "uuid": user.uuid.as_str(),
            "account_id": user.account_id,
            "nickname": user.nickname,
            "display_name": user.display_name,
            "links": {"avatar": {"href": format!("{}/avatar/{}", state.base, user.nickname)}},
            "created_on": "2020-01-01T00:00:00.000000+00:00",
            "account_status": "active",
        }))
    }
}

impl Respond for EmailsEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let uuid = match authenticate_bearer(&mut state, request, Scope::Email) {
            Ok(uuid) => uuid,
            Err(response) => return response,
        };
        let emails = state
            .users
            .get(&uuid)
            .map(|u| u.emails.clone())
            .unwrap_or_default();
        let query = |name: &str| {
            request
                .url
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        // Small pages so that clients must follow `next`; the cursor is opaque.
        let pagelen = query("pagelen")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(10)
            .clamp(1, 2);
        let start = match query("cursor") {
            Some(cursor) => match state.cursors.get(&cursor) {
                Some(start) => *start,
                None => return envelope(400, "Invalid cursor", None),
            },
            None => 0,
        };
        let values: Vec<_> = emails
            .iter()
            .skip(start)
            .take(pagelen)
            .map(|e| json!({"type": "email", "email": e.address, "is_primary": e.primary, "is_confirmed": e.confirmed}))
            .collect();
        let mut body = json!({"pagelen": pagelen, "values": values});
        if start + pagelen < emails.len() {
            let cursor = state.opaque("c");
            state.cursors.insert(cursor.clone(), start + pagelen);
            body["next"] = json!(format!(
                "{}/2.0/user/emails?cursor={cursor}&pagelen={pagelen}",
                state.base
            ));
        }
        ResponseTemplate::new(200).set_body_json(body)
    }
}
