//! Who a REST call is made by (facts §10, "Credential kinds for sync"). Three kinds of
//! credential reach the REST API:
//!
//! - the OAuth bearer tokens the mock issued (`oauth.rs`): the user who granted them;
//! - workspace access tokens (Bearer): the bot user of one workspace, OAuth-family scopes,
//!   refused by `/2.0/user`, `/2.0/user/emails` and `/2.0/user/workspaces`, no refresh;
//! - API tokens (HTTP Basic `email:token`): a user, Forge-style scopes where nothing implies
//!   anything, optionally limited to one workspace; a token created without scopes is refused
//!   everywhere (renovatebot/renovate #36503).
//!
//! [`authenticate`] answers for every endpoint given what it [`Needs`]; the mock also records
//! which requests each access or API token made.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::json;
use wiremock::{Request, Respond, ResponseTemplate};

use super::state::{ExpiredWording, MockUser, State};
use super::MockBitbucket;
use crate::model::{AccountUuid, Scope, ScopeSet};

/// The 401 for a token Bitbucket cannot use here: unknown, expired (access and API tokens),
/// scopeless (API tokens), or of a kind the endpoint refuses.
pub(crate) const INVALID: &str = "Token is invalid, expired, or not supported for this endpoint.";

/// API-token scope words the mock's endpoints require (no word implies another).
pub(crate) const READ_USER: &str = "read:user:bitbucket";
/// `GET /2.0/user/workspaces`, `GET /2.0/workspaces/{slug}`.
pub(crate) const READ_WORKSPACE: &str = "read:workspace:bitbucket";
/// `GET /2.0/repositories/{workspace}`.
pub(crate) const READ_REPOSITORY: &str = "read:repository:bitbucket";
/// Listing hooks.
pub(crate) const READ_WEBHOOK: &str = "read:webhook:bitbucket";
/// Creating and updating hooks.
pub(crate) const WRITE_WEBHOOK: &str = "write:webhook:bitbucket";
/// Deleting hooks.
pub(crate) const DELETE_WEBHOOK: &str = "delete:webhook:bitbucket";

/// Bitbucket's error envelope.
pub(crate) fn envelope(
    status: u16,
    message: &str,
    detail: Option<serde_json::Value>,
) -> ResponseTemplate {
    let mut error = json!({"message": message});
    if let Some(detail) = detail {
        error["detail"] = detail;
    }
    ResponseTemplate::new(status).set_body_json(json!({"type": "error", "error": error}))
}

fn invalid() -> ResponseTemplate {
    envelope(401, INVALID, None)
}

/// The 401 for Basic credentials Bitbucket does not know: no body, a Basic challenge.
fn challenge() -> ResponseTemplate {
    ResponseTemplate::new(401)
        .insert_header("WWW-Authenticate", "Basic realm=\"Bitbucket.org HTTP\"")
}

fn lacks(required: &str, granted: Vec<String>) -> ResponseTemplate {
    envelope(
        403,
        "Your credentials lack one or more required privilege scopes.",
        Some(json!({"granted": granted, "required": [required]})),
    )
}

/// A workspace access token.
#[derive(Debug)]
pub(crate) struct WorkspaceToken {
    pub workspace: String,
    pub scopes: ScopeSet,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A personal API token.
#[derive(Debug)]
pub(crate) struct ApiToken {
    pub user: AccountUuid,
    /// The Basic user name that works with it.
    pub email: String,
    /// Verbatim, in the order given; empty: created without scopes.
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The one workspace it was limited to.
    pub workspace: Option<String>,
}

fn expired(expires_at: Option<DateTime<Utc>>) -> bool {
    expires_at.is_some_and(|at| at <= Utc::now())
}

/// The access and API tokens, and what was done with them.
#[derive(Debug, Default)]
pub(crate) struct Credentials {
    pub access_tokens: HashMap<String, WorkspaceToken>,
    pub api_tokens: HashMap<String, ApiToken>,
    /// token → `METHOD /path` of every REST request that presented it.
    pub requests: HashMap<String, Vec<String>>,
    /// Send `X-RateLimit-NearLimit: true` to access tokens.
    pub near_limit: bool,
}

/// Who a REST call acts as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Caller {
    /// A user, through an OAuth token (never limited) or an API token (perhaps limited to
    /// `workspace`).
    User {
        uuid: AccountUuid,
        workspace: Option<String>,
    },
    /// The bot user of a workspace access token of this workspace.
    WorkspaceBot(String),
}

impl Caller {
    /// Whether the caller sees `workspace`, whose members are `members`: a member (within the
    /// token's workspace, when it is limited to one), or that workspace's bot.
    pub fn sees(&self, workspace: &str, members: &[AccountUuid]) -> bool {
        match self {
            Caller::User {
                uuid,
                workspace: only,
            } => members.contains(uuid) && only.as_deref().is_none_or(|w| w == workspace),
            Caller::WorkspaceBot(own) => own == workspace,
        }
    }

    /// Whether the repositories of `workspace` exist for the caller at all (a credential
    /// limited to another workspace sees nothing there).
    pub fn reaches(&self, workspace: &str) -> bool {
        match self {
            Caller::User {
                workspace: only, ..
            } => only.as_deref().is_none_or(|w| w == workspace),
            Caller::WorkspaceBot(own) => own == workspace,
        }
    }

    /// Whether the caller may manage hooks of a repository (reached) whose admins are
    /// `admins`: the bot manages every repository of its workspace.
    pub fn administers(&self, admins: &[AccountUuid]) -> bool {
        match self {
            Caller::User { uuid, .. } => admins.contains(uuid),
            Caller::WorkspaceBot(_) => true,
        }
    }

    /// The user, unless a bot.
    pub fn user(&self) -> Option<&AccountUuid> {
        match self {
            Caller::User { uuid, .. } => Some(uuid),
            Caller::WorkspaceBot(_) => None,
        }
    }
}

/// Whether an endpoint answers access tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bots {
    /// No: 401 (the `/2.0/user*` endpoints).
    Refused,
    /// Yes, whatever their scopes (`GET /2.0/workspaces/{slug}`, their identity probe).
    Welcome,
    /// Yes, with the endpoint's OAuth scope.
    Scoped,
}

/// What an endpoint requires of a credential.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Needs {
    /// Of OAuth tokens (implications apply), and of access tokens when `bots` is `Scoped`.
    oauth: Scope,
    /// Of API tokens (this very word).
    api: &'static str,
    bots: Bots,
}

impl Needs {
    /// Users only: access tokens are refused.
    pub fn users(oauth: Scope, api: &'static str) -> Self {
        Self {
            oauth,
            api,
            bots: Bots::Refused,
        }
    }

    /// Users, and access tokens whatever their scopes.
    pub fn anyone(oauth: Scope, api: &'static str) -> Self {
        Self {
            oauth,
            api,
            bots: Bots::Welcome,
        }
    }

    /// Users, and access tokens holding `oauth`.
    pub fn scoped(oauth: Scope, api: &'static str) -> Self {
        Self {
            oauth,
            api,
            bots: Bots::Scoped,
        }
    }
}

/// What the request's `Authorization` header presents.
enum Presented {
    None,
    Bearer(String),
    /// `Some((user, password))`, or `None` when malformed.
    Basic(Option<(String, String)>),
}

fn presented(request: &Request) -> Presented {
    let Some(header) = request
        .headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
    else {
        return Presented::None;
    };
    if let Some(token) = header.strip_prefix("Bearer ") {
        return Presented::Bearer(token.to_owned());
    }
    match header.split_once(' ') {
        Some((scheme, encoded)) if scheme.eq_ignore_ascii_case("basic") => Presented::Basic(
            base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|raw| String::from_utf8(raw).ok())
                .and_then(|pair| {
                    pair.split_once(':')
                        .map(|(user, password)| (user.to_owned(), password.to_owned()))
                }),
        ),
        _ => Presented::None,
    }
}

/// The token the request presents (Bearer, or Basic's password), if any.
fn presented_token(request: &Request) -> Option<String> {
    match presented(request) {
        Presented::Bearer(token) | Presented::Basic(Some((_, token))) => Some(token),
        Presented::None | Presented::Basic(None) => None,
    }
}

/// Records the request against the access or API token it presents (before anything else,
/// so refused requests count too).
pub(crate) fn record(state: &mut State, request: &Request) {
    let Some(token) = presented_token(request) else {
        return;
    };
    let credentials = &mut state.credentials;
    if credentials.access_tokens.contains_key(&token) || credentials.api_tokens.contains_key(&token)
    {
        credentials.requests.entry(token).or_default().push(format!(
            "{} {}",
            request.method.as_str(),
            request.url.path()
        ));
    }
}

/// Adds the rate-limit headers Bitbucket sends live access tokens (and only them, facts §9)
/// on `/2.0/repositories/*`.
pub(crate) fn rate_limit_headers(
    state: &State,
    request: &Request,
    response: ResponseTemplate,
) -> ResponseTemplate {
    if !request.url.path().starts_with("/2.0/repositories") {
        return response;
    }
    let live = match presented(request) {
        Presented::Bearer(token) => state
            .credentials
            .access_tokens
            .get(&token)
            .is_some_and(|t| !expired(t.expires_at)),
        _ => false,
    };
    if !live {
        return response;
    }
    let response = response
        .insert_header("X-RateLimit-Limit", "1000")
        .insert_header("X-RateLimit-Resource", "api-repository");
    if state.credentials.near_limit {
        response.insert_header("X-RateLimit-NearLimit", "true")
    } else {
        response
    }
}

/// The caller, after checking the request's credential against what the endpoint `needs`,
/// or the error response to send.
// The error is the response itself; boxing it would only add noise to a test double.
#[allow(clippy::result_large_err)]
pub(crate) fn authenticate(
    state: &mut State,
    request: &Request,
    needs: Needs,
) -> Result<Caller, ResponseTemplate> {
    state.api_requests += 1;
    if request.url.query_pairs().any(|(k, _)| k == "access_token") {
        // Since 2026 tokens are accepted only in the Authorization header.
        return Err(invalid());
    }
    match presented(request) {
        Presented::Bearer(token) if state.access.contains_key(&token) => {
            oauth(state, &token, needs.oauth)
        }
        Presented::Bearer(token) => match state.credentials.access_tokens.get(&token) {
            Some(grant) => access_token(grant, needs),
            // Unknown, or an API token sent as Bearer.
            None => Err(invalid()),
        },
        Presented::Basic(Some((email, token))) => match state.credentials.api_tokens.get(&token) {
            Some(grant) if grant.email.eq_ignore_ascii_case(&email) => api_token(grant, needs),
            // Unknown, the wrong email, or a Bearer token sent as Basic.
            _ => Err(challenge()),
        },
        Presented::Basic(None) => Err(challenge()),
        Presented::None => Err(invalid()),
    }
}

#[allow(clippy::result_large_err)]
fn oauth(state: &State, token: &str, required: Scope) -> Result<Caller, ResponseTemplate> {
    let grant = &state.access[token];
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
        let granted = grant.scopes.iter().map(|s| s.as_str().to_owned()).collect();
        return Err(lacks(required.as_str(), granted));
    }
    grant
        .user
        .clone()
        .map(|uuid| Caller::User {
            uuid,
            workspace: None,
        })
        .ok_or_else(|| envelope(403, "Forbidden", None))
}

#[allow(clippy::result_large_err)]
fn access_token(grant: &WorkspaceToken, needs: Needs) -> Result<Caller, ResponseTemplate> {
    if expired(grant.expires_at) || needs.bots == Bots::Refused {
        return Err(invalid());
    }
    if needs.bots == Bots::Scoped && !grant.scopes.covers(&ScopeSet::from([needs.oauth])) {
        let granted = grant.scopes.iter().map(|s| s.as_str().to_owned()).collect();
        return Err(lacks(needs.oauth.as_str(), granted));
    }
    Ok(Caller::WorkspaceBot(grant.workspace.clone()))
}

#[allow(clippy::result_large_err)]
fn api_token(grant: &ApiToken, needs: Needs) -> Result<Caller, ResponseTemplate> {
    if grant.scopes.is_empty() || expired(grant.expires_at) {
        return Err(invalid());
    }
    if !grant.scopes.iter().any(|s| s == needs.api) {
        return Err(lacks(needs.api, grant.scopes.clone()));
    }
    Ok(Caller::User {
        uuid: grant.user.clone(),
        workspace: grant.workspace.clone(),
    })
}

/// The catch-all: a request no endpoint knows is a bug in the code under test (a 500), but is
/// still recorded against the token it presents.
pub(crate) struct Unexpected(pub Arc<Mutex<State>>);

impl Respond for Unexpected {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if request.url.path().starts_with("/2.0/") {
            record(
                &mut self
                    .0
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
                request,
            );
        }
        ResponseTemplate::new(500)
            .set_body_string("MockBitbucket: no such endpoint (unexpected request)")
    }
}

/// The address an API token's Basic user name must be: the primary confirmed one, else the
/// first confirmed one, else the first.
fn login_email(user: &MockUser) -> Option<String> {
    user.emails
        .iter()
        .find(|e| e.primary && e.confirmed)
        .or_else(|| user.emails.iter().find(|e| e.confirmed))
        .or_else(|| user.emails.first())
        .map(|e| e.address.clone())
}

fn expiry(expires_in: Option<chrono::Duration>) -> Option<DateTime<Utc>> {
    expires_in.map(|d| Utc::now() + d)
}

/// Access tokens and API tokens (facts §10).
impl MockBitbucket {
    /// Creates a workspace access token of `workspace` (added first) holding `scopes`
    /// (OAuth-family words, such as `"repository,webhook"`), expiring after `expires_in`
    /// (`None`: never). Sent as `Authorization: Bearer`, it acts as the workspace's bot user:
    ///
    /// - `GET /2.0/user`, `/2.0/user/emails` and `/2.0/user/workspaces` answer 401 "Token is
    ///   invalid, expired, or not supported for this endpoint.";
    /// - `GET /2.0/workspaces/{slug}` answers its own workspace (any scope) and 404 for others;
    /// - `GET /2.0/repositories/{workspace}` needs `repository`, hooks need `webhook` (the bot
    ///   manages the hooks of every repository of its workspace); other workspaces are 404;
    /// - responses on `/2.0/repositories/*` carry `X-RateLimit-Limit: 1000` and
    ///   `X-RateLimit-Resource: api-repository` (see
    ///   [`set_rate_limit_near`](Self::set_rate_limit_near));
    /// - once expired, everything answers the 401 above (there is no refresh).
    ///
    /// # Panics
    /// When the workspace does not exist or `scopes` does not parse (bugs in the test).
    pub fn add_access_token(
        &self,
        workspace: &str,
        scopes: &str,
        expires_in: Option<chrono::Duration>,
    ) -> String {
        let scopes: ScopeSet = scopes.parse().unwrap_or_else(|e| {
            panic!("add_access_token: {scopes:?} are not OAuth-family scopes: {e}")
        });
        let mut state = self.lock();
        assert!(
            state.repos.workspaces.contains_key(workspace),
            "add_access_token: the mock has no workspace `{workspace}`: call add_workspace first"
        );
        let token = state.opaque("ATCTT");
        state.credentials.access_tokens.insert(
            token.clone(),
            WorkspaceToken {
                workspace: workspace.to_owned(),
                scopes,
                expires_at: expiry(expires_in),
            },
        );
        token
    }

    /// Creates an API token of `user` holding `scopes` (API-token words such as
    /// `read:user:bitbucket`, kept verbatim; nothing implies anything; an empty slice is a
    /// token created without scopes, which every endpoint refuses with a 401), expiring after
    /// `expires_in` (`None`: never), limited to `workspace` when given (other workspaces
    /// answer 404 as if invisible).
    ///
    /// It works as HTTP Basic with the user's primary confirmed address (else the first
    /// confirmed one, else the first) and the token, and acts as the user (same membership and
    /// repository-admin rules as the user's OAuth tokens). Each endpoint needs one word:
    /// `/2.0/user` and `/2.0/user/emails` `read:user:bitbucket`; `/2.0/user/workspaces` and
    /// `/2.0/workspaces/{slug}` `read:workspace:bitbucket`; `GET /2.0/repositories/{workspace}`
    /// `read:repository:bitbucket`; hooks `read:webhook:bitbucket` (GET),
    /// `write:webhook:bitbucket` (POST, PUT), `delete:webhook:bitbucket` (DELETE); missing
    /// answers the 403 "Your credentials lack one or more required privilege scopes." naming
    /// it. A wrong email, an unknown token or a malformed header answer 401 with no body and
    /// `WWW-Authenticate: Basic realm="Bitbucket.org HTTP"`.
    ///
    /// # Panics
    /// When the user does not exist, has no email address, or `workspace` does not exist
    /// (bugs in the test).
    pub fn add_api_token(
        &self,
        user: &AccountUuid,
        scopes: &[&str],
        expires_in: Option<chrono::Duration>,
        workspace: Option<&str>,
    ) -> String {
        let mut state = self.lock();
        let found = state.users.get(user).unwrap_or_else(|| {
            panic!("add_api_token: the mock has no user {user}: add_user first")
        });
        let email = login_email(found).unwrap_or_else(|| {
            panic!(
                "add_api_token: user {} has no email address (the Basic user name): use MockUser::with_email",
                found.nickname
            )
        });
        if let Some(workspace) = workspace {
            assert!(
                state.repos.workspaces.contains_key(workspace),
                "add_api_token: the mock has no workspace `{workspace}`: call add_workspace first"
            );
        }
        let mut words: Vec<String> = Vec::new();
        for scope in scopes {
            if !words.iter().any(|w| w == scope) {
                words.push((*scope).to_owned());
            }
        }
        let token = state.opaque("ATATT");
        state.credentials.api_tokens.insert(
            token.clone(),
            ApiToken {
                user: user.clone(),
                email,
                scopes: words,
                expires_at: expiry(expires_in),
                workspace: workspace.map(str::to_owned),
            },
        );
        token
    }

    /// Makes `token` expired now: an access token, an API token, or an OAuth access token the
    /// mock issued.
    ///
    /// # Panics
    /// When the mock never issued `token` (a bug in the test).
    pub fn expire_credential(&self, token: &str) {
        let mut state = self.lock();
        let past = Utc::now() - chrono::Duration::seconds(1);
        if let Some(grant) = state.credentials.access_tokens.get_mut(token) {
            grant.expires_at = Some(past);
        } else if let Some(grant) = state.credentials.api_tokens.get_mut(token) {
            grant.expires_at = Some(past);
        } else if let Some(grant) = state.access.get_mut(token) {
            grant.expires_at = Instant::now()
                .checked_sub(std::time::Duration::from_secs(1))
                .unwrap_or_else(Instant::now);
        } else {
            panic!("expire_credential: the mock issued no token {token:?}");
        }
    }

    /// `METHOD /path` of every REST request (any endpoint, refused ones too, in order) that
    /// presented `token`, an access token or an API token (as Bearer or as Basic password).
    /// Empty for a token never presented, or not one of those kinds.
    #[must_use]
    pub fn requests_with(&self, token: &str) -> Vec<String> {
        self.lock()
            .credentials
            .requests
            .get(token)
            .cloned()
            .unwrap_or_default()
    }

    /// Makes responses to access tokens on `/2.0/repositories/*` also carry
    /// `X-RateLimit-NearLimit: true` (or stop).
    pub fn set_rate_limit_near(&self, near: bool) {
        self.lock().credentials.near_limit = near;
    }
}
