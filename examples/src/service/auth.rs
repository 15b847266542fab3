//! Sign-in with Bitbucket: `GET /auth/auth/bitbucket.org[/{purpose}]` sends the browser to
//! Bitbucket, `GET /auth/auth/bitbucket.org/{purpose}/callback` finishes. The sign-in in
//! progress stays server-side under a random id; the browser holds only that id, in a signed,
//! HttpOnly, SameSite=Lax cookie, so a callback is accepted only in the browser that started
//! it, once, and with the state Bitbucket echoed.

use axum::extract::{Path, RawQuery, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use gemnasium_bitbucket::model::Purpose;
use gemnasium_bitbucket::oauth::{OAuthError, PendingAuthorization};
use gemnasium_bitbucket::service::LoginOptions;
use gemnasium_bitbucket::Error;

use super::cookies::set_cookie;
use super::html::{escape, page, refusal};
use super::state::{AppState, SessionUser, PENDING_TTL};

/// The cookie holding the id of the sign-in in progress.
pub const PENDING_COOKIE: &str = "gbb_pending";
/// The cookie holding the session id.
pub const SESSION_COOKIE: &str = "gbb_session";

fn purpose_of(segment: &str) -> Option<Purpose> {
    match segment {
        "login" => Some(Purpose::Login),
        "sync" => Some(Purpose::Sync),
        _ => None,
    }
}

fn secure(state: &AppState) -> bool {
    state.homepage.as_url().scheme() == "https"
}

/// `GET /auth/auth/bitbucket.org`: the consumer's registered callback. Without a callback's
/// parameters it starts a sign-in; with them (`code`, `state` or `error`) it finishes one.
pub async fn root(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let is_callback = url::form_urlencoded::parse(query.as_bytes())
        .any(|(k, _)| k == "code" || k == "state" || k == "error");
    if is_callback {
        finish(&state, &headers, &query).await
    } else {
        start(&state, Purpose::Login).await
    }
}

/// `GET /auth/auth/bitbucket.org/{purpose}`: starts a sign-in for `login` or `sync`.
pub async fn begin(State(state): State<AppState>, Path(purpose): Path<String>) -> Response {
    match purpose_of(&purpose) {
        Some(purpose) => start(&state, purpose).await,
        None => refusal(
            StatusCode::NOT_FOUND,
            "Not found",
            "No such sign-in purpose.",
        ),
    }
}

/// `GET /auth/auth/bitbucket.org/{purpose}/callback`: where Bitbucket sends the browser back.
pub async fn callback(
    State(state): State<AppState>,
    Path(purpose): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if purpose_of(&purpose).is_none() {
        return refusal(
            StatusCode::NOT_FOUND,
            "Not found",
            "No such sign-in purpose.",
        );
    }
    finish(&state, &headers, &query.unwrap_or_default()).await
}

async fn start(state: &AppState, purpose: Purpose) -> Response {
    let options = LoginOptions::new().homepage(state.homepage.clone());
    let pending = match state
        .bitbucket
        .begin_login_with(&state.provider, purpose, &options)
        .await
    {
        Ok(pending) => pending,
        Err(e) => {
            tracing::warn!(error = %e, "cannot start a sign-in");
            return refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is not set up",
                &format!("{e}. Record the set-up with `gemnasium-bitbucket configure` first."),
            );
        }
    };
    let location = pending.url().to_string();
    let id = state.keep_pending(pending.into_parts());
    let cookie = set_cookie(
        PENDING_COOKIE,
        &state.cookie_key.sign(PENDING_COOKIE, &id),
        "/auth",
        PENDING_TTL.as_secs(),
        secure(state),
    );
    tracing::info!(%purpose, "sign-in started");
    (
        StatusCode::SEE_OTHER,
        [(LOCATION, location), (SET_COOKIE, cookie)],
    )
        .into_response()
}

/// Clears the pending cookie on every callback answer: a sign-in gets one callback.
fn clear_pending(state: &AppState, response: Response) -> Response {
    let mut response = response;
    if let Ok(value) = set_cookie(PENDING_COOKIE, "", "/auth", 0, secure(state)).parse() {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}

async fn finish(state: &AppState, headers: &HeaderMap, query: &str) -> Response {
    let pending = state
        .cookie_key
        .read(headers, PENDING_COOKIE)
        .and_then(|id| state.take_pending(&id));
    let Some(parts) = pending else {
        tracing::warn!("callback without a sign-in in progress in this browser");
        return clear_pending(
            state,
            refusal(
                StatusCode::BAD_REQUEST,
                "Sign-in refused",
                "This sign-in was not started in this browser, has expired, or was already used. Nothing was stored; start again.",
            ),
        );
    };
    let pending = PendingAuthorization::from_parts(parts);
    let purpose = pending.purpose();
    let signed_in = match state.bitbucket.complete_login(&pending, query).await {
        Ok(signed_in) => signed_in,
        Err(Error::OAuth(OAuthError::AccessDenied)) => {
            tracing::info!("the user denied access on Bitbucket");
            return clear_pending(
                state,
                refusal(
                    StatusCode::FORBIDDEN,
                    "Access denied",
                    "You denied access on Bitbucket (access_denied). Nothing was stored.",
                ),
            );
        }
        Err(Error::OAuth(OAuthError::StateMismatch)) => {
            tracing::warn!("callback with a state that does not match the sign-in");
            return clear_pending(
                state,
                refusal(
                    StatusCode::BAD_REQUEST,
                    "Sign-in refused",
                    "The callback's state does not match the sign-in started in this browser (a forged or replayed callback). Nothing was stored; start again.",
                ),
            );
        }
        Err(Error::WorkspaceNotAllowed { account, required }) => {
            tracing::info!(%account, %required, "sign-in refused: not a member of an allowed workspace");
            return clear_pending(
                state,
                refusal(
                    StatusCode::FORBIDDEN,
                    "Not allowed to sign in",
                    &format!(
                        "The Bitbucket account {account} is not a member of any workspace allowed to sign in here ({required}). Nothing was stored. Sign in with an account from one of those workspaces, or ask an administrator of one to add you."
                    ),
                ),
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, "sign-in failed");
            return clear_pending(
                state,
                refusal(StatusCode::BAD_GATEWAY, "Sign-in failed", &e.to_string()),
            );
        }
    };
    let identity = signed_in.identity;
    let shown = identity
        .display_name
        .clone()
        .unwrap_or_else(|| identity.shown());
    tracing::info!(account = %identity.uuid, %purpose, "signed in");
    let session = state.open_session(SessionUser {
        shown: shown.clone(),
        nickname: identity.nickname.clone(),
    });
    let session_cookie = set_cookie(
        SESSION_COOKIE,
        &state.cookie_key.sign(SESSION_COOKIE, &session),
        "/",
        86_400,
        secure(state),
    );
    let mut response = if purpose == Purpose::Sync {
        // Repositories connected: list them now, then show them.
        super::repos::sync_now(state, false).await;
        (StatusCode::SEE_OTHER, [(LOCATION, "/repositories")]).into_response()
    } else {
        let nickname = identity.nickname.as_deref().unwrap_or("");
        let email = identity.email.as_deref().unwrap_or("no confirmed address");
        page(
            StatusCode::OK,
            "Signed in",
            &format!(
                "<p class=\"ok\" id=\"signed-in\">Signed in as <b>{}</b> ({}) with Bitbucket.</p>\
                 <p>Email: {}</p>\
                 <p><a id=\"connect\" href=\"/auth/auth/bitbucket.org/sync\">Import repositories from Bitbucket</a> \
                 (authorizes repository access and webhooks)</p>",
                escape(&shown),
                escape(nickname),
                escape(email)
            ),
        )
    };
    if let Ok(value) = session_cookie.parse() {
        response.headers_mut().append(SET_COOKIE, value);
    }
    clear_pending(state, response)
}

/// The signed-in user of this browser, if any.
pub fn current_user(state: &AppState, headers: &HeaderMap) -> Option<SessionUser> {
    state
        .cookie_key
        .read(headers, SESSION_COOKIE)
        .and_then(|id| state.session(&id))
}
