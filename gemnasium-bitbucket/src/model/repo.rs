use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{HookUuid, RepoUuid, SecretText};

/// A repository as Bitbucket lists it: the fields we store.
///
/// Build one with [`Repository::new`] and set the optional fields; it will gain fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Repository {
    /// Stable id.
    pub uuid: RepoUuid,
    /// `workspace/slug`, the name users type.
    pub full_name: String,
    /// The workspace slug.
    pub workspace: String,
    /// Display name.
    pub name: String,
    /// Whether only members can see it.
    pub is_private: bool,
    /// The default branch, when it has one (empty repositories do not).
    pub main_branch: Option<String>,
    /// The repository's page on Bitbucket.
    pub html_url: Option<String>,
    /// When Bitbucket last saw a change.
    pub updated_on: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_on: Option<DateTime<Utc>>,
    /// `git` (Bitbucket Cloud dropped Mercurial in 2020, but the field is still sent).
    pub scm: Option<String>,
    /// The project it belongs to (its key, such as `PROJ`).
    pub project_key: Option<String>,
    /// The language Bitbucket shows (set by the owner; may be empty).
    pub language: Option<String>,
    /// The HTTPS clone URL.
    pub clone_https: Option<String>,
    /// The repository this one is a fork of (`workspace/slug`), when it is a fork.
    pub fork_of: Option<String>,
}

impl Repository {
    /// A repository with its identity; every optional field empty. The workspace and name are
    /// taken from `full_name` (`workspace/slug`).
    #[must_use]
    pub fn new(uuid: RepoUuid, full_name: impl Into<String>) -> Self {
        let full_name = full_name.into();
        let (workspace, name) = full_name.split_once('/').map_or_else(
            || (String::new(), full_name.clone()),
            |(w, n)| (w.to_owned(), n.to_owned()),
        );
        Self {
            uuid,
            full_name,
            workspace,
            name,
            is_private: false,
            main_branch: None,
            html_url: None,
            updated_on: None,
            created_on: None,
            scm: None,
            project_key: None,
            language: None,
            clone_https: None,
            fork_of: None,
        }
    }
}

/// The webhook we installed on a tracked repository.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HookRecord {
    /// Bitbucket's id for the subscription.
    pub uuid: HookUuid,
    /// Where deliveries go.
    pub url: String,
    /// The HMAC secret Bitbucket signs deliveries with (Bitbucket never returns it).
    pub secret: SecretText,
    /// The subscribed event keys, such as `repo:push`.
    pub events: Vec<String>,
}

impl HookRecord {
    /// The record of hook `uuid` delivering `events` to `url`, signed with `secret`.
    #[must_use]
    pub fn new(
        uuid: HookUuid,
        url: impl Into<String>,
        secret: SecretText,
        events: Vec<String>,
    ) -> Self {
        Self {
            uuid,
            url: url.into(),
            secret,
            events,
        }
    }
}
