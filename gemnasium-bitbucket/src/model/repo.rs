use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{RepoUuid, SecretText};

/// A repository as Bitbucket lists it: the fields we store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// The webhook we installed on a tracked repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookRecord {
    /// Bitbucket's id for the subscription (`{…}`).
    pub uuid: String,
    /// Where deliveries go.
    pub url: String,
    /// The HMAC secret Bitbucket signs deliveries with (Bitbucket never returns it).
    pub secret: SecretText,
    /// The subscribed event keys, such as `repo:push`.
    pub events: Vec<String>,
}
