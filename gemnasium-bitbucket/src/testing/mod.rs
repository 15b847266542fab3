//! `MockBitbucket`: a local stand-in for Bitbucket Cloud (built on wiremock) for your tests.
//!
//! It plays the OAuth endpoints and the user API with Bitbucket's documented behaviour and
//! quirks: consumers that are private or not, with or without a callback URL; rotating refresh
//! tokens (the old one dies on use, optionally after a grace window); `scope` or legacy `scopes`
//! in token responses; both "expired" wordings; the exact token-endpoint error bodies; opaque
//! pagination cursors. Besides OAuth tokens, REST calls may present workspace access tokens
//! ([`MockBitbucket::add_access_token`]) and API tokens ([`MockBitbucket::add_api_token`]),
//! each with Bitbucket's own refusals. Any request it does not know gets a 500, so unexpected
//! calls fail loudly.
//!
//! ```no_run
//! use gemnasium_bitbucket::testing::{MockBitbucket, MockConsumer, MockUser};
//!
//! # async fn demo() {
//! let bitbucket = MockBitbucket::start().await;
//! bitbucket.add_consumer(MockConsumer::new("KEY", "SECRET"));
//! let jane = bitbucket.add_user(MockUser::new("jdoe").with_email("jane@example.com", true, true));
//! let provider = bitbucket.provider(); // points every URL at the mock
//! // … run your sign-in code against `provider`; simulate the user granting access with:
//! let callback = bitbucket.authorize("KEY", &jane, "http://127.0.0.1/cb", "the-state");
//! # let _ = (provider, callback);
//! # }
//! ```

pub mod conformance;
#[cfg(test)]
mod credential_tests;
mod credentials;
mod deliveries;
mod fakes;
pub mod fuzz;
mod identity;
mod oauth;
mod pages;
mod repos;
pub mod served;
mod state;
mod workspaces;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

pub use self::deliveries::{Delivery, PushError, PushReport};
pub use self::fakes::FakeBitbucket;
pub use self::repos::Quirks;
use self::state::State;
pub use self::state::{ExpiredWording, MockConsumer, MockUser, ScopeKey};
use crate::model::{AccountUuid, Provider, ScopeSet, ServiceUrl};

/// A running mock of Bitbucket Cloud's OAuth endpoints and user API.
#[derive(Debug)]
pub struct MockBitbucket {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

impl MockBitbucket {
    /// Starts the mock on a random local port.
    pub async fn start() -> Self {
        Self::mount(MockServer::start().await).await
    }

    /// Starts the mock on `listener` (such as `127.0.0.1:8000`), without recording requests,
    /// for a long-running mock: see [`served`] and the CLI's `mock-server`.
    pub async fn start_on(listener: std::net::TcpListener) -> Self {
        let server = MockServer::builder()
            .listener(listener)
            .disable_request_recording()
            .start()
            .await;
        Self::mount(server).await
    }

    async fn mount(server: MockServer) -> Self {
        let state = Arc::new(Mutex::new(State::new(server.uri())));
        Mock::given(method("GET"))
            .and(path("/site/oauth2/authorize"))
            .respond_with(oauth::AuthorizeEndpoint(state.clone()))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/site/oauth2/access_token"))
            .respond_with(oauth::TokenEndpoint(state.clone()))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/2.0/user"))
            .respond_with(identity::UserEndpoint(state.clone()))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/2.0/user/emails"))
            .respond_with(identity::EmailsEndpoint(state.clone()))
            .mount(&server)
            .await;
        Mock::given(wiremock::matchers::path_regex(
            r"^/2\.0/(repositories|workspaces|user/workspaces|user/permissions)",
        ))
        .respond_with(repos::ReposEndpoint(state.clone()))
        .mount(&server)
        .await;
        deliveries::mount(&server, &state).await;
        // Anything else is a bug in the code under test: answer loudly.
        Mock::given(wiremock::matchers::any())
            .respond_with(credentials::Unexpected(state.clone()))
            .with_priority(u8::MAX)
            .mount(&server)
            .await;
        Self { server, state }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The base URI, such as `http://127.0.0.1:PORT`.
    #[must_use]
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The wiremock server, to mount more endpoints (they take priority over the catch-all).
    #[must_use]
    pub fn server(&self) -> &MockServer {
        &self.server
    }

    /// A `bitbucket.org` provider whose authorize, token and API URLs point at the mock (at its
    /// [public base](Self::set_public_base)).
    ///
    /// # Panics
    /// When the public base is not a valid service URL (a bug in the test).
    #[must_use]
    pub fn provider(&self) -> Provider {
        let base = ServiceUrl::parse("mock URL", &self.public_base())
            .expect("the mock's public base is a valid URL");
        Provider::bitbucket_at(&base, base.clone())
    }

    /// The base URL clients reach the mock at: its own [`uri`](Self::uri) unless
    /// [`set_public_base`](Self::set_public_base) changed it.
    #[must_use]
    pub fn public_base(&self) -> String {
        self.lock().base.clone()
    }

    /// Makes the mock present itself at `base` (such as `https://127.0.0.1:PORT`, a
    /// TLS-terminating proxy in front of it): `next` links and [`provider`](Self::provider)
    /// then use it instead of the mock's own plain-HTTP URI.
    pub fn set_public_base(&self, base: &str) {
        self.lock().base = base.trim_end_matches('/').to_owned();
    }

    /// Registers a consumer.
    pub fn add_consumer(&self, consumer: MockConsumer) {
        self.lock().consumers.insert(consumer.key.clone(), consumer);
    }

    /// Registers a user; returns their UUID.
    pub fn add_user(&self, user: MockUser) -> AccountUuid {
        let uuid = user.uuid.clone();
        self.lock().users.insert(uuid.clone(), user);
        uuid
    }

    /// Simulates `user` granting access to `consumer_key` on the consent page: returns the URL
    /// Bitbucket would redirect to (`redirect_uri?code=…&state=…`).
    #[must_use]
    pub fn authorize(
        &self,
        consumer_key: &str,
        user: &AccountUuid,
        redirect_uri: &str,
        state: &str,
    ) -> String {
        let code = self
            .lock()
            .issue_code(consumer_key, user, Some(redirect_uri));
        let mut url = url::Url::parse(redirect_uri).expect("a valid redirect URI");
        url.query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", state);
        url.to_string()
    }

    /// Makes `user` the browser's signed-in Bitbucket user: the authorize endpoint then grants
    /// access at once and redirects with a code (`None`: shows the login page).
    pub fn sign_in_as(&self, user: Option<&AccountUuid>) {
        self.lock().signed_in = user.cloned();
    }

    /// Issues tokens directly, as if `user` had signed in: `(access, refresh)`.
    #[must_use]
    pub fn issue_tokens(&self, consumer_key: &str, user: &AccountUuid) -> (String, String) {
        let mut state = self.lock();
        let scopes = state
            .consumers
            .get(consumer_key)
            .map(|c| c.scopes.clone())
            .unwrap_or_default();
        let (access, refresh) = state.issue(consumer_key, Some(user.clone()), scopes, true);
        (access, refresh.unwrap_or_default())
    }

    /// Makes every access token issued so far expired.
    pub fn expire_access_tokens(&self) {
        self.lock().expire_all();
    }

    /// Which key token responses use for scopes (`scope` from May 2026, `scopes` before).
    pub fn set_scope_key(&self, key: ScopeKey) {
        self.lock().scope_key = key;
    }

    /// The `expires_in` of new tokens (7200 by default).
    pub fn set_expires_in(&self, seconds: u64) {
        self.lock().expires_in = seconds;
    }

    /// How a 401 for an expired token is worded.
    pub fn set_expired_wording(&self, wording: ExpiredWording) {
        self.lock().wording = wording;
    }

    /// How long a spent refresh token keeps working (0 by default: it dies at once).
    pub fn set_refresh_grace(&self, grace: Duration) {
        self.lock().refresh_grace = grace;
    }

    /// Delays every token endpoint answer by `latency` (0 by default), after the grant has
    /// taken effect: a slow refresh widens the window in which racing processes could spend
    /// the same refresh token.
    pub fn set_token_latency(&self, latency: Duration) {
        self.lock().token_latency = latency;
    }

    /// Makes `user`'s refresh tokens for every consumer invalid (as after 3 months unused).
    pub fn revoke_refresh_tokens(&self, user: &AccountUuid) {
        self.lock().revoke_refresh(user);
    }

    /// Token requests received with `grant_type` (any outcome).
    #[must_use]
    pub fn token_requests(&self, grant_type: &str) -> usize {
        self.lock()
            .token_requests
            .get(grant_type)
            .copied()
            .unwrap_or(0)
    }

    /// Refresh requests that succeeded (a refresh token spent).
    #[must_use]
    pub fn successful_refreshes(&self) -> usize {
        self.lock().successful_refreshes
    }

    /// Requests to the REST API (`/2.0/…`).
    #[must_use]
    pub fn api_requests(&self) -> usize {
        self.lock().api_requests
    }

    /// Adds a workspace whose members are `members`.
    pub fn add_workspace(&self, slug: &str, members: &[&AccountUuid]) {
        let members = members.iter().map(|m| (*m).clone()).collect();
        self.lock()
            .repos
            .workspaces
            .insert(slug.to_owned(), (members, Vec::new()));
    }

    /// Adds a repository to `workspace`; `admins` may manage its hooks. Returns its uuid. Its
    /// `updated_on` is a fixed date in the past (2026-01-02), as for a repository that existed
    /// before the test: [`touch_repository`](Self::touch_repository) makes it recent.
    ///
    /// # Panics
    /// When the workspace was not added first (a bug in the test).
    pub fn add_repository(&self, workspace: &str, slug: &str, admins: &[&AccountUuid]) -> String {
        let mut state = self.lock();
        let uuid = format!(
            "{{{:08x}-0000-4000-8000-{:012x}}}",
            state.repos.workspaces.len(),
            rand::random::<u64>() & 0xffff_ffff_ffff
        );
        let repos = &mut state
            .repos
            .workspaces
            .get_mut(workspace)
            .expect("add_workspace first")
            .1;
        repos.push(repos::MockRepo {
            uuid: uuid.clone(),
            slug: slug.to_owned(),
            name: None,
            private: true,
            admins: admins.iter().map(|a| (*a).clone()).collect(),
            updated_on: chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05.123456+00:00")
                .map(|d| d.with_timezone(&chrono::Utc))
                .unwrap_or_default(),
        });
        uuid
    }

    /// Changes a repository as a push or a settings change would: its `updated_on` becomes
    /// Bitbucket's now (see [`set_clock_skew`](Self::set_clock_skew)).
    pub fn touch_repository(&self, workspace: &str, slug: &str) {
        self.change_repository(workspace, slug, |_| {});
    }

    /// Renames a repository (its slug, so its full name; the uuid stays), which updates it.
    pub fn rename_repository(&self, workspace: &str, slug: &str, new_slug: &str) {
        self.change_repository(workspace, slug, |repo| repo.slug = new_slug.to_owned());
    }

    /// Moves (transfers) a repository to workspace `to` (added first), which updates it.
    pub fn move_repository(&self, workspace: &str, slug: &str, to: &str) {
        let mut state = self.lock();
        let now = state.repos.now();
        let Some((_, repos)) = state.repos.workspaces.get_mut(workspace) else {
            return;
        };
        let Some(at) = repos.iter().position(|r| r.slug == slug) else {
            return;
        };
        let mut repo = repos.remove(at);
        repo.updated_on = now;
        if let Some((_, target)) = state.repos.workspaces.get_mut(to) {
            target.push(repo);
        }
    }

    /// Puts Bitbucket's clock `skew` ahead of ours (negative: behind); `updated_on` of changed
    /// repositories follows it.
    pub fn set_clock_skew(&self, skew: chrono::Duration) {
        self.lock().repos.clock_skew = skew;
    }

    fn change_repository(
        &self,
        workspace: &str,
        slug: &str,
        change: impl FnOnce(&mut repos::MockRepo),
    ) {
        let mut state = self.lock();
        let now = state.repos.now();
        if let Some((_, repos)) = state.repos.workspaces.get_mut(workspace) {
            if let Some(repo) = repos.iter_mut().find(|r| r.slug == slug) {
                change(repo);
                repo.updated_on = now;
            }
        }
    }

    /// Sets a repository's display name (Bitbucket lets owners put almost anything there),
    /// which updates it.
    pub fn set_repository_name(&self, workspace: &str, slug: &str, name: &str) {
        self.change_repository(workspace, slug, |repo| repo.name = Some(name.to_owned()));
    }

    /// Removes a repository (it disappears from listings).
    pub fn remove_repository(&self, workspace: &str, slug: &str) {
        if let Some((_, repos)) = self.lock().repos.workspaces.get_mut(workspace) {
            repos.retain(|r| r.slug != slug);
        }
    }

    /// Makes listing `workspace` fail with a 500 every time (or work again).
    pub fn set_workspace_broken(&self, workspace: &str, broken: bool) {
        let mut state = self.lock();
        state.repos.broken.retain(|w| w != workspace);
        if broken {
            state.repos.broken.push(workspace.to_owned());
        }
    }

    /// Sets the pagination and rate-limit quirks.
    pub fn set_quirks(&self, quirks: Quirks) {
        self.lock().repos.quirks = quirks;
    }

    /// Adds a hook to `full_name` directly (someone else's, or a duplicate of ours).
    pub fn add_hook(&self, full_name: &str, url: &str, events: &[&str]) -> String {
        let mut state = self.lock();
        let uuid = state.uuid();
        let body = serde_json::json!({"type": "webhook_subscription", "uuid": uuid, "url": url,
            "description": "added by the test", "active": true, "events": events, "secret_set": false,
            "created_at": "2025-12-31T00:00:00.000000+00:00"});
        state
            .repos
            .hooks
            .entry(full_name.to_owned())
            .or_default()
            .push(repos::MockHook { body, secret: None });
        uuid
    }

    /// The hooks of `full_name` as Bitbucket would list them.
    #[must_use]
    pub fn hooks(&self, full_name: &str) -> Vec<serde_json::Value> {
        self.lock()
            .repos
            .hooks
            .get(full_name)
            .map(|h| h.iter().map(|h| h.body.clone()).collect())
            .unwrap_or_default()
    }

    /// Write requests (POST/PUT/DELETE) to hook endpoints.
    #[must_use]
    pub fn hook_writes(&self) -> usize {
        self.lock().repos.hook_writes
    }

    /// Requests to workspace, repository and hook endpoints.
    #[must_use]
    pub fn rest_requests(&self) -> usize {
        self.lock().repos.rest_requests
    }

    /// The scopes `consumer_key` grants.
    #[must_use]
    pub fn consumer_scopes(&self, consumer_key: &str) -> Option<ScopeSet> {
        self.lock()
            .consumers
            .get(consumer_key)
            .map(|c| c.scopes.clone())
    }
}
