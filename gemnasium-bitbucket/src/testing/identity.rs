//! `GET /2.0/user` and `GET /2.0/user/emails`: users only (OAuth tokens and API tokens; access
//! tokens are refused), with scope checks.

use std::sync::{Arc, Mutex};

use serde_json::json;
use wiremock::{Request, Respond, ResponseTemplate};

use super::credentials::{authenticate, envelope, record, Needs, INVALID, READ_USER};
use super::state::State;
use crate::model::{AccountUuid, Scope};

pub(crate) struct UserEndpoint(pub Arc<Mutex<State>>);
pub(crate) struct EmailsEndpoint(pub Arc<Mutex<State>>);

/// The calling user (an OAuth token holding `oauth`, or an API token holding
/// `read:user:bitbucket`), or the error response to send.
// The error is the response itself; boxing it would only add noise to a test double.
#[allow(clippy::result_large_err)]
fn user(
    state: &mut State,
    request: &Request,
    oauth: Scope,
) -> Result<AccountUuid, ResponseTemplate> {
    record(state, request);
    let caller = authenticate(state, request, Needs::users(oauth, READ_USER))?;
    caller
        .user()
        .cloned()
        .ok_or_else(|| envelope(401, INVALID, None))
}

impl Respond for UserEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let uuid = match user(&mut state, request, Scope::Account) {
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
        let uuid = match user(&mut state, request, Scope::Email) {
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
