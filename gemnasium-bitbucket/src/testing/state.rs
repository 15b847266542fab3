//! The mock's shared state: consumers, users, and the grants it issued.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::model::{AccountUuid, ScopeSet};

/// A registered OAuth consumer.
#[derive(Clone, Debug)]
pub struct MockConsumer {
    /// `client_id`.
    pub key: String,
    /// `client_secret`.
    pub secret: String,
    /// "This is a private consumer": only then does client credentials work.
    pub private: bool,
    /// The callback URL; `None` makes every exchange fail with "No callback uri defined".
    pub callback: Option<String>,
    /// The ticked permissions (what every token gets).
    pub scopes: ScopeSet,
}

impl MockConsumer {
    /// A public consumer with a callback and the documented boxes ticked
    /// (`account email repository webhook`).
    #[must_use]
    pub fn new(key: &str, secret: &str) -> Self {
        Self {
            key: key.to_owned(),
            secret: secret.to_owned(),
            private: false,
            callback: Some("http://127.0.0.1/auth/auth/bitbucket.org".to_owned()),
            scopes: "account,email,repository,webhook"
                .parse()
                .expect("valid scopes"),
        }
    }

    /// Marks it private.
    #[must_use]
    pub fn private(mut self) -> Self {
        self.private = true;
        self
    }

    /// Removes its callback URL.
    #[must_use]
    pub fn without_callback(mut self) -> Self {
        self.callback = None;
        self
    }

    /// Sets its ticked scopes.
    ///
    /// # Panics
    /// When `scopes` does not parse (a bug in the test).
    #[must_use]
    pub fn with_scopes(mut self, scopes: &str) -> Self {
        self.scopes = scopes.parse().expect("valid scopes");
        self
    }
}

/// A user's email address.
#[derive(Clone, Debug)]
pub struct MockEmail {
    /// The address.
    pub address: String,
    /// Primary address.
    pub primary: bool,
    /// Confirmed address.
    pub confirmed: bool,
}

/// A Bitbucket user.
#[derive(Clone, Debug)]
pub struct MockUser {
    /// Stable id.
    pub uuid: AccountUuid,
    /// Atlassian account id.
    pub account_id: String,
    /// Nickname.
    pub nickname: String,
    /// Display name.
    pub display_name: String,
    /// Addresses, in the order `/user/emails` lists them.
    pub emails: Vec<MockEmail>,
}

impl MockUser {
    /// A user with a UUID derived from `nickname` and no email address.
    #[must_use]
    pub fn new(nickname: &str) -> Self {
        let digest = sha2::Digest::finalize(sha2::Digest::chain_update(
            <sha2::Sha256 as sha2::Digest>::new(),
            nickname.as_bytes(),
        ));
        let h = hex::encode(digest);
        Self {
            uuid: AccountUuid::derived(nickname),
            account_id: format!("557058:{}", &h[32..44]),
            nickname: nickname.to_owned(),
            display_name: format!("User {nickname}"),
            emails: Vec::new(),
        }
    }

    /// Adds an address.
    #[must_use]
    pub fn with_email(mut self, address: &str, primary: bool, confirmed: bool) -> Self {
        self.emails.push(MockEmail {
            address: address.to_owned(),
            primary,
            confirmed,
        });
        self
    }
}

/// Which key token responses use for the granted scopes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScopeKey {
    /// `scope` (OAuth-standard; Bitbucket from 4 May 2026).
    Scope,
    /// `scopes` (Bitbucket before May 2026).
    Scopes,
}

/// How a 401 for an expired access token is worded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpiredWording {
    /// `Access token expired. Use your refresh token to obtain a new access token.`
    Legacy,
    /// `OAuth2 access token expired. …` (2026).
    Current,
}

#[derive(Debug)]
pub(crate) struct CodeGrant {
    pub consumer: String,
    pub user: AccountUuid,
    pub redirect_uri: Option<String>,
}

#[derive(Debug)]
pub(crate) struct AccessGrant {
    pub user: Option<AccountUuid>,
    pub expires_at: Instant,
    pub scopes: ScopeSet,
}

#[derive(Debug)]
pub(crate) struct RefreshGrant {
    pub consumer: String,
    pub user: Option<AccountUuid>,
    pub spent_at: Option<Instant>,
    pub revoked: bool,
}

#[derive(Debug)]
pub(crate) struct State {
    pub base: String,
    pub consumers: HashMap<String, MockConsumer>,
    pub users: HashMap<AccountUuid, MockUser>,
    pub codes: HashMap<String, CodeGrant>,
    pub access: HashMap<String, AccessGrant>,
    pub refresh: HashMap<String, RefreshGrant>,
    pub cursors: HashMap<String, usize>,
    pub scope_key: ScopeKey,
    pub expires_in: u64,
    pub wording: ExpiredWording,
    pub refresh_grace: Duration,
    pub token_latency: Duration,
    pub token_requests: HashMap<String, usize>,
    pub successful_refreshes: usize,
    pub api_requests: usize,
    pub repos: super::repos::RepoState,
    pub signed_in: Option<AccountUuid>,
    /// Access tokens and API tokens (`credentials.rs`).
    pub credentials: super::credentials::Credentials,
    counter: u64,
}

impl State {
    pub fn new(base: String) -> Self {
        Self {
            base,
            consumers: HashMap::new(),
            users: HashMap::new(),
            codes: HashMap::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
            cursors: HashMap::new(),
            scope_key: ScopeKey::Scope,
            expires_in: 7200,
            wording: ExpiredWording::Current,
            refresh_grace: Duration::ZERO,
            token_latency: Duration::ZERO,
            token_requests: HashMap::new(),
            successful_refreshes: 0,
            api_requests: 0,
            repos: super::repos::RepoState::default(),
            signed_in: None,
            credentials: super::credentials::Credentials::default(),
            counter: 0,
        }
    }

    /// A fresh UUID in Bitbucket's braced form.
    pub fn uuid(&mut self) -> String {
        self.counter += 1;
        let noise: u64 = rand::random();
        format!(
            "{{{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}}}",
            self.counter,
            noise & 0xffff,
            (noise >> 16) & 0xfff,
            (noise >> 28) & 0xfff,
            noise >> 16
        )
    }

    /// A fresh opaque value: long and random-looking, like Bitbucket's.
    pub fn opaque(&mut self, prefix: &str) -> String {
        self.counter += 1;
        let noise: u64 = rand::random();
        format!("{prefix}{:016x}{:08x}", noise, self.counter)
    }

    pub fn issue_code(
        &mut self,
        consumer: &str,
        user: &AccountUuid,
        redirect_uri: Option<&str>,
    ) -> String {
        let code = self.opaque("code-");
        self.codes.insert(
            code.clone(),
            CodeGrant {
                consumer: consumer.to_owned(),
                user: user.clone(),
                redirect_uri: redirect_uri.map(str::to_owned),
            },
        );
        code
    }

    /// Issues an access token (and a refresh token when `with_refresh`).
    pub fn issue(
        &mut self,
        consumer: &str,
        user: Option<AccountUuid>,
        scopes: ScopeSet,
        with_refresh: bool,
    ) -> (String, Option<String>) {
        let access = self.opaque("at-");
        self.access.insert(
            access.clone(),
            AccessGrant {
                user: user.clone(),
                expires_at: Instant::now() + Duration::from_secs(self.expires_in),
                scopes,
            },
        );
        let refresh = with_refresh.then(|| {
            let refresh = self.opaque("rt-");
            self.refresh.insert(
                refresh.clone(),
                RefreshGrant {
                    consumer: consumer.to_owned(),
                    user,
                    spent_at: None,
                    revoked: false,
                },
            );
            refresh
        });
        (access, refresh)
    }

    pub fn expire_all(&mut self) {
        let past = Instant::now()
            .checked_sub(Duration::from_secs(1))
            .unwrap_or_else(Instant::now);
        for grant in self.access.values_mut() {
            grant.expires_at = past;
        }
    }

    pub fn revoke_refresh(&mut self, user: &AccountUuid) {
        for grant in self.refresh.values_mut() {
            if grant.user.as_ref() == Some(user) {
                grant.revoked = true;
            }
        }
    }
}
