//! `MockBitbucket`: a local stand-in for Bitbucket Cloud (built on wiremock) for your tests.
//!
//! It plays the OAuth endpoints and the user API with Bitbucket's documented behaviour and
//! quirks: consumers that are private or not, with or without a callback URL; rotating refresh
//! tokens (the old one dies on use, optionally after a grace window); `scope` or legacy `scopes`
//! in token responses; both "expired" wordings; the exact token-endpoint error bodies; opaque
//! pagination cursors. Any request it does not know gets a 500, so unexpected calls fail loudly.
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

mod identity;
mod oauth;
mod state;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

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
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State::new(server.uri())));
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
        // Anything else is a bug in the code under test: answer loudly.
        Mock::given(wiremock::matchers::any())
            .respond_with(
                ResponseTemplate::new(500)
                    .set_body_string("MockBitbucket: no such endpoint (unexpected request)"),
            )
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

    /// A `bitbucket.org` provider whose authorize, token and API URLs point at the mock.
    ///
    /// # Panics
    /// Never: the mock's URI is a valid loopback URL.
    #[must_use]
    pub fn provider(&self) -> Provider {
        let base = ServiceUrl::parse("mock URL", &self.uri()).expect("the mock's URI is valid");
        Provider::bitbucket_at(&base, base.clone())
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

    /// The scopes `consumer_key` grants.
    #[must_use]
    pub fn consumer_scopes(&self, consumer_key: &str) -> Option<ScopeSet> {
        self.lock()
            .consumers
            .get(consumer_key)
            .map(|c| c.scopes.clone())
    }
}
