//! `POST /site/oauth2/access_token`, as Bitbucket answers it (facts doc §3–§4).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use base64::Engine;
use serde_json::json;
use wiremock::{Request, Respond, ResponseTemplate};

use super::state::{ScopeKey, State};

pub(crate) struct TokenEndpoint(pub Arc<Mutex<State>>);

fn oauth_error(error: &str, description: &str) -> ResponseTemplate {
    ResponseTemplate::new(400)
        .set_body_json(json!({"error": error, "error_description": description}))
}

/// `(key, secret)` from HTTP Basic or from the form.
fn client_auth(request: &Request, form: &[(String, String)]) -> Option<(String, String)> {
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    if let Some(header) = request
        .headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
    {
        let encoded = header.strip_prefix("Basic ")?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (key, secret) = text.split_once(':')?;
        // RFC 6749 §2.3.1: Basic credentials are form-urlencoded first.
        let unescape = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        return Some((unescape(key), unescape(secret)));
    }
    Some((field("client_id")?, field("client_secret")?))
}

impl Respond for TokenEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let answer = self.answer(request);
        let latency = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .token_latency;
        answer.set_delay(latency)
    }
}

impl TokenEndpoint {
    /// The answer, with the grant's effect on the state already made.
    fn answer(&self, request: &Request) -> ResponseTemplate {
        let form: Vec<(String, String)> = url::form_urlencoded::parse(&request.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let grant_type = field("grant_type");
        let mut state = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *state
            .token_requests
            .entry(grant_type.clone().unwrap_or_default())
            .or_default() += 1;

        let Some((key, secret)) = client_auth(request, &form) else {
            return oauth_error(
                "unauthorized_client",
                "Requests must be authenticated using OAuth client credentials",
            );
        };
        let Some(consumer) = state
            .consumers
            .get(&key)
            .filter(|c| c.secret == secret)
            .cloned()
        else {
            return oauth_error("unauthorized_client", "Invalid OAuth client credentials");
        };
        let needs_callback = matches!(
            grant_type.as_deref(),
            Some("authorization_code" | "client_credentials")
        );
        if needs_callback && consumer.callback.is_none() {
            return oauth_error(
                "invalid_request",
                "No callback uri defined for the OAuth client.",
            );
        }
        let (user, with_refresh) = match grant_type.as_deref() {
            Some("authorization_code") => {
                let Some(grant) = field("code").and_then(|c| state.codes.remove(&c)) else {
                    return oauth_error(
                        "invalid_grant",
                        "The authorization code is invalid or has expired.",
                    );
                };
                if grant.consumer != key {
                    return oauth_error(
                        "invalid_grant",
                        "The authorization code is invalid or has expired.",
                    );
                }
                if grant.redirect_uri.is_some() && grant.redirect_uri != field("redirect_uri") {
                    return oauth_error("invalid_request", "redirect_uri does not match");
                }
                (Some(grant.user), true)
            }
            Some("refresh_token") => {
                let grace = state.refresh_grace;
                let now = Instant::now();
                let Some(grant) = field("refresh_token").and_then(|t| state.refresh.get_mut(&t))
                else {
                    return oauth_error("invalid_grant", "Invalid refresh_token");
                };
                let dead = grant.revoked
                    || grant.consumer != key
                    || grant
                        .spent_at
                        .is_some_and(|at| now.duration_since(at) >= grace);
                if dead {
                    return oauth_error("invalid_grant", "Invalid refresh_token");
                }
                grant.spent_at.get_or_insert(now);
                let user = grant.user.clone();
                state.successful_refreshes += 1;
                (user, true)
            }
            Some("client_credentials") if !consumer.private => {
                return oauth_error(
                    "invalid_grant",
                    "Cannot use client_credentials with a consumer marked as \"public\". Calls for auto generated consumers should use urn:bitbucket:oauth2:jwt instead.",
                );
            }
            Some("client_credentials") => (None, false),
            Some(other) => {
                return oauth_error("invalid_grant", &format!("Unsupported grant type: {other}"))
            }
            None => return oauth_error("invalid_grant", "Unsupported grant type: None"),
        };
        let (access, refresh) = state.issue(&key, user, consumer.scopes.clone(), with_refresh);
        let scopes = consumer.scopes.to_space_separated();
        let mut body = json!({
            "access_token": access,
            "expires_in": state.expires_in,
            "token_type": "bearer",
            // Bitbucket echoes the grant type here, not our CSRF state.
            "state": grant_type,
        });
        let scope_key = match state.scope_key {
            ScopeKey::Scope => "scope",
            ScopeKey::Scopes => "scopes",
        };
        body[scope_key] = json!(scopes);
        if let Some(refresh) = refresh {
            body["refresh_token"] = json!(refresh);
        }
        ResponseTemplate::new(200).set_body_json(body)
    }
}

/// `GET /site/oauth2/authorize`: the consent page. With a signed-in user (see
/// `MockBitbucket::sign_in_as`) access is granted at once: 302 to `redirect_uri` with `code`
/// and the echoed `state`. A redirect URI that does not extend the consumer's callback gets
/// Bitbucket's HTML error page, and nothing goes back to the client.
pub(crate) struct AuthorizeEndpoint(pub Arc<Mutex<State>>);

fn html(status: u16, text: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(
        format!("<html><body><h1>{text}</h1></body></html>"),
        "text/html",
    )
}

impl Respond for AuthorizeEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let query = |name: &str| {
            request
                .url
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        let Some(consumer) = query("client_id").and_then(|id| state.consumers.get(&id).cloned())
        else {
            return html(400, "Invalid client_id");
        };
        if query("response_type").as_deref() != Some("code") {
            return html(400, "Unsupported response_type");
        }
        let Some(callback) = consumer.callback.clone() else {
            return html(
                400,
                "Invalid redirect_uri: this OAuth consumer is misconfigured (no callback URL)",
            );
        };
        let redirect = query("redirect_uri").unwrap_or_else(|| callback.clone());
        let extends = redirect == callback
            || redirect.starts_with(&format!("{}/", callback.trim_end_matches('/')));
        if !extends {
            return html(
                400,
                "Invalid redirect_uri: this OAuth consumer is misconfigured",
            );
        }
        let Some(user) = state.signed_in.clone() else {
            // Log in first: choose who you are, then come back here (and be redirected).
            return super::pages::sign_in_form(&state, request);
        };
        let code = state.issue_code(&consumer.key, &user, query("redirect_uri").as_deref());
        let Ok(mut location) = url::Url::parse(&redirect) else {
            return html(400, "Invalid redirect_uri");
        };
        location.query_pairs_mut().append_pair("code", &code);
        if let Some(csrf) = query("state") {
            location.query_pairs_mut().append_pair("state", &csrf);
        }
        ResponseTemplate::new(302).insert_header("Location", location.as_str())
    }
}
