//! A seeded [`MockBitbucket`] to run as a server of its own (the CLI's `mock-server`): a
//! consumer, a few users, workspaces of repositories, all from a short spec.
//!
//! ```no_run
//! use gemnasium_bitbucket::testing::served::{MockSetupOptions, WorkspaceSpec};
//! use gemnasium_bitbucket::testing::MockBitbucket;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! let mock = MockBitbucket::start_on(listener).await;
//! let options = MockSetupOptions::new().workspaces("acme:12,beta:3".parse::<WorkspaceSpec>()?);
//! let setup = mock.seed(&options)?;
//! println!("serving {} with consumer {}", setup.base_url, setup.key);
//! # Ok(()) }
//! ```

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use thiserror::Error;

use super::{MockBitbucket, MockConsumer, MockUser, Quirks};
use crate::model::{AccountUuid, ApiScope, ApiScopeSet};

/// The consumer key the served mock registers (a test value, fine to print).
pub const MOCK_KEY: &str = "mock-consumer-key";
/// The consumer secret the served mock registers (a test value, fine to print).
pub const MOCK_SECRET: &str = "mock-consumer-secret";

/// Why a workspace spec was refused.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpecError {
    /// An entry is not `SLUG:COUNT`.
    #[error("workspace entry `{0}` is not SLUG:COUNT (e.g. acme:12)")]
    Entry(String),
    /// A slug Bitbucket would refuse.
    #[error("workspace slug `{0}` must be 1-62 lowercase letters, digits, - or _")]
    Slug(String),
    /// A repository count that is not a number up to 10,000.
    #[error("repository count `{0}` must be a number from 0 to 10000")]
    Count(String),
    /// The same workspace twice.
    #[error("workspace `{0}` is given twice")]
    Duplicate(String),
    /// Nothing given.
    #[error("the workspace spec is empty; give e.g. acme:12,beta:3")]
    Empty,
}

/// Workspaces and how many repositories each holds: `acme:12,beta:3`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkspaceSpec(Vec<(String, usize)>);

impl WorkspaceSpec {
    /// `(slug, repository count)` pairs, in the order given.
    #[must_use]
    pub fn entries(&self) -> &[(String, usize)] {
        &self.0
    }

    /// The slug of the `index`th repository of a workspace holding `count`: `r00`, `r01`, …
    #[must_use]
    pub fn repository_slug(index: usize, count: usize) -> String {
        let width = count.saturating_sub(1).to_string().len().max(2);
        format!("r{index:0width$}")
    }
}

impl Default for WorkspaceSpec {
    fn default() -> Self {
        Self(vec![("acme".to_owned(), 12), ("beta".to_owned(), 3)])
    }
}

impl FromStr for WorkspaceSpec {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut entries: Vec<(String, usize)> = Vec::new();
        for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (slug, count) = entry
                .split_once(':')
                .ok_or_else(|| SpecError::Entry(entry.to_owned()))?;
            let valid = (1..=62).contains(&slug.len())
                && slug
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
            if !valid {
                return Err(SpecError::Slug(slug.to_owned()));
            }
            let count: usize = count
                .parse()
                .ok()
                .filter(|c| *c <= 10_000)
                .ok_or_else(|| SpecError::Count(count.to_owned()))?;
            if entries.iter().any(|(s, _)| s == slug) {
                return Err(SpecError::Duplicate(slug.to_owned()));
            }
            entries.push((slug.to_owned(), count));
        }
        if entries.is_empty() {
            return Err(SpecError::Empty);
        }
        Ok(Self(entries))
    }
}

impl fmt::Display for WorkspaceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(s, n)| format!("{s}:{n}")).collect();
        f.write_str(&parts.join(","))
    }
}

/// What [`MockBitbucket::seed`] puts on the mock.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct MockSetupOptions {
    /// Workspaces and their repository counts.
    pub workspaces: WorkspaceSpec,
    /// Added to every workspace, repository and hook response.
    pub latency: Duration,
    /// The consumer's callback URL (a service's `{homepage}/auth/auth/bitbucket.org`).
    pub callback: String,
    /// The nickname of the user signed in from the start (`None`: authorizing shows the login
    /// page, where one of the seeded users is chosen).
    pub signed_in: Option<String>,
}

impl Default for MockSetupOptions {
    fn default() -> Self {
        Self {
            workspaces: WorkspaceSpec::default(),
            latency: Duration::ZERO,
            callback: "http://127.0.0.1:8080/auth/auth/bitbucket.org".to_owned(),
            signed_in: None,
        }
    }
}

impl MockSetupOptions {
    /// Two workspaces (`acme:12,beta:3`), no latency, the callback of a service on
    /// `http://127.0.0.1:8080`, nobody signed in.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the workspaces.
    #[must_use]
    pub fn workspaces(mut self, workspaces: WorkspaceSpec) -> Self {
        self.workspaces = workspaces;
        self
    }

    /// Sets the latency of REST responses.
    #[must_use]
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Sets the consumer's callback URL.
    #[must_use]
    pub fn callback(mut self, callback: impl Into<String>) -> Self {
        self.callback = callback.into();
        self
    }

    /// Signs a seeded user in from the start (by nickname: `jdoe` or `rroe`).
    #[must_use]
    pub fn signed_in(mut self, nickname: Option<String>) -> Self {
        self.signed_in = nickname;
        self
    }
}

/// A seeded user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SeededUser {
    /// Nickname.
    pub nickname: String,
    /// Display name.
    pub display_name: String,
    /// UUID, braced.
    pub uuid: String,
}

/// A seeded workspace access token (the mock's own test value).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SeededAccessToken {
    /// The workspace it belongs to.
    pub workspace: String,
    /// The token.
    pub token: String,
    /// Its expiry date, `YYYY-MM-DD`.
    pub expires_on: String,
}

/// A seeded API token of `jdoe` (the mock's own test value).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SeededApiToken {
    /// The account's email address (the Basic user name).
    pub email: String,
    /// The token.
    pub token: String,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// Its expiry date, `YYYY-MM-DD`.
    pub expires_on: String,
}

/// Why seeding failed.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SeedError {
    /// The user to sign in is not one of the seeded ones.
    #[error("no seeded user `{wanted}`; choose one of: {}", known.join(", "))]
    UnknownUser {
        /// The nickname asked for.
        wanted: String,
        /// The seeded nicknames.
        known: Vec<String>,
    },
}

/// What is on a seeded mock: everything a person needs to point `configure` at it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MockSetup {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// `configure --site-url`: the OAuth endpoints' origin (the mock itself).
    pub site_url: String,
    /// `configure --api-url`: the REST API origin (the mock itself).
    pub api_url: String,
    /// The consumer's key.
    pub key: String,
    /// The consumer's secret (the mock's own test value).
    pub secret: String,
    /// The consumer's callback URL.
    pub callback: String,
    /// The consumer's scopes.
    pub scopes: String,
    /// Seeded users.
    pub users: Vec<SeededUser>,
    /// The user signed in from the start.
    pub signed_in: Option<String>,
    /// Workspaces, as `slug:count`.
    pub workspaces: String,
    /// Repositories in all.
    pub repositories: usize,
    /// A workspace access token of the first workspace (`repository`, `webhook`; 90 days).
    pub access_token: Option<SeededAccessToken>,
    /// An API token of `jdoe` with the scopes a sync needs (365 days).
    pub api_token: SeededApiToken,
}

impl MockBitbucket {
    /// Seeds the mock: the consumer [`MOCK_KEY`]/[`MOCK_SECRET`] with the documented scopes and
    /// `options.callback`; users `jdoe` (Jane Doe) and `rroe` (Richard Roe), both members of
    /// every workspace and admins of every repository (so either can install webhooks);
    /// repositories `r00`, `r01`, … in each workspace.
    ///
    /// # Errors
    /// [`SeedError::UnknownUser`] when `options.signed_in` names no seeded user.
    pub fn seed(&self, options: &MockSetupOptions) -> Result<MockSetup, SeedError> {
        let mut consumer = MockConsumer::new(MOCK_KEY, MOCK_SECRET);
        consumer.callback = Some(options.callback.clone());
        let scopes = consumer.scopes.to_string();
        self.add_consumer(consumer);
        let people = [
            MockUser::new("jdoe").with_email("jane@example.com", true, true),
            MockUser::new("rroe").with_email("richard@example.com", true, true),
        ];
        let mut users = Vec::new();
        let mut uuids = Vec::new();
        for mut person in people {
            person.display_name = match person.nickname.as_str() {
                "jdoe" => "Jane Doe".to_owned(),
                _ => "Richard Roe".to_owned(),
            };
            users.push(SeededUser {
                nickname: person.nickname.clone(),
                display_name: person.display_name.clone(),
                uuid: person.uuid.to_string(),
            });
            uuids.push(self.add_user(person));
        }
        if let Some(wanted) = &options.signed_in {
            let index = users
                .iter()
                .position(|u| &u.nickname == wanted)
                .ok_or_else(|| SeedError::UnknownUser {
                    wanted: wanted.clone(),
                    known: users.iter().map(|u| u.nickname.clone()).collect(),
                })?;
            self.sign_in_as(Some(&uuids[index]));
        }
        let members: Vec<_> = uuids.iter().collect();
        let mut repositories = 0;
        for (workspace, count) in options.workspaces.entries() {
            self.add_workspace(workspace, &members);
            for i in 0..*count {
                self.add_repository(
                    workspace,
                    &WorkspaceSpec::repository_slug(i, *count),
                    &members,
                );
            }
            repositories += count;
        }
        self.set_quirks(Quirks {
            latency: options.latency,
            ..Quirks::default()
        });
        let (access_token, api_token) = self.seed_tokens(options, &uuids[0]);
        let base = self.public_base();
        Ok(MockSetup {
            site_url: base.clone(),
            api_url: base.clone(),
            base_url: base,
            key: MOCK_KEY.to_owned(),
            secret: MOCK_SECRET.to_owned(),
            callback: options.callback.clone(),
            scopes,
            users,
            signed_in: options.signed_in.clone(),
            workspaces: options.workspaces.to_string(),
            repositories,
            access_token,
            api_token,
        })
    }

    /// A workspace access token of the first workspace and an API token of `jane`, so that
    /// both credential kinds can be tried offline.
    fn seed_tokens(
        &self,
        options: &MockSetupOptions,
        jane: &AccountUuid,
    ) -> (Option<SeededAccessToken>, SeededApiToken) {
        let day = |days: i64| {
            (chrono::Utc::now() + chrono::Duration::days(days))
                .format("%Y-%m-%d")
                .to_string()
        };
        let access_token =
            options
                .workspaces
                .entries()
                .first()
                .map(|(workspace, _)| SeededAccessToken {
                    workspace: workspace.clone(),
                    token: self.add_access_token(
                        workspace,
                        "repository,webhook",
                        Some(chrono::Duration::days(91)),
                    ),
                    expires_on: day(90),
                });
        let sync_scopes = ApiScopeSet::for_sync();
        let scopes: Vec<&str> = sync_scopes.iter().map(ApiScope::as_str).collect();
        let api_token = SeededApiToken {
            email: "jane@example.com".to_owned(),
            token: self.add_api_token(jane, &scopes, Some(chrono::Duration::days(366)), None),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            expires_on: day(365),
        };
        (access_token, api_token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print_back() {
        let spec: WorkspaceSpec = "acme:12, beta:3".parse().unwrap();
        assert_eq!(spec.to_string(), "acme:12,beta:3");
        assert_eq!(spec.entries()[1], ("beta".to_owned(), 3));
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        assert_eq!(
            "acme".parse::<WorkspaceSpec>(),
            Err(SpecError::Entry("acme".into()))
        );
        assert_eq!(
            "Acme:1".parse::<WorkspaceSpec>(),
            Err(SpecError::Slug("Acme".into()))
        );
        assert_eq!(
            "a:x".parse::<WorkspaceSpec>(),
            Err(SpecError::Count("x".into()))
        );
        assert_eq!(
            "a:10001".parse::<WorkspaceSpec>(),
            Err(SpecError::Count("10001".into()))
        );
        assert_eq!(
            "a:1,a:2".parse::<WorkspaceSpec>(),
            Err(SpecError::Duplicate("a".into()))
        );
        assert_eq!(" ,".parse::<WorkspaceSpec>(), Err(SpecError::Empty));
    }

    #[test]
    fn repository_slugs_sort_in_order() {
        assert_eq!(WorkspaceSpec::repository_slug(0, 12), "r00");
        assert_eq!(WorkspaceSpec::repository_slug(7, 3), "r07");
        assert_eq!(WorkspaceSpec::repository_slug(42, 1000), "r042");
    }
}
