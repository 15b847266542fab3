//! What the sync engine needs from Bitbucket, as two narrow traits, so the engine can be tested
//! against fakes and the real client can change without touching the engine.

use async_trait::async_trait;
use serde::Serialize;
use thiserror::Error;

use super::Hook;
use crate::model::{Repository, SecretText};

/// How a failed Bitbucket call should be handled by the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RemoteErrorKind {
    /// The account lacks permission (e.g. not a repository admin, needed for hooks).
    PermissionDenied,
    /// The consumer lacks scopes; an administrator must tick boxes.
    MissingScopes,
    /// The resource does not exist, or is private and invisible to the account.
    NotFound,
    /// Bitbucket's rate limit or our own request budget is exhausted: stop and resume later.
    RateLimited,
    /// The credentials are unusable: the user must authorize again.
    Unauthorized,
    /// The endpoint was retired by Bitbucket.
    Retired,
    /// Anything else (network, server errors after retries, malformed responses).
    Other,
}

/// A failed Bitbucket call: its kind and a message that is safe to show (no tokens).
#[derive(Clone, Debug, PartialEq, Eq, Error, Serialize)]
#[error("{message}")]
pub struct RemoteError {
    /// How to handle it.
    pub kind: RemoteErrorKind,
    /// What happened and what to do.
    pub message: String,
}

impl RemoteError {
    /// An error of `kind` saying `message`.
    #[must_use]
    pub fn new(kind: RemoteErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// A workspace the account belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WorkspaceRef {
    /// The slug used in URLs.
    pub slug: String,
    /// Stable id, when known.
    pub uuid: Option<String>,
}

/// Listing what an account can see.
#[async_trait]
pub trait RepositoryCatalogue: Send + Sync {
    /// The account's workspaces (`/2.0/user/workspaces`), all pages.
    async fn workspaces(&self) -> Result<Vec<WorkspaceRef>, RemoteError>;
    /// Every repository of `workspace` the account is a member of, all pages, deduplicated.
    async fn repositories(&self, workspace: &str) -> Result<Vec<Repository>, RemoteError>;
}

/// The body of a hook create or replace.
#[derive(Clone, Debug)]
pub struct HookRequest<'a> {
    /// Shown on Bitbucket.
    pub description: &'a str,
    /// Delivery URL.
    pub url: &'a str,
    /// Whether it delivers.
    pub active: bool,
    /// Event keys.
    pub events: Vec<String>,
    /// `Some`: set this secret; `None`: on create no secret, on replace keep the current one.
    pub secret: Option<&'a SecretText>,
}

/// Managing one repository's webhooks.
#[async_trait]
pub trait HookApi: Send + Sync {
    /// Every hook of `full_name` (`workspace/slug`), all pages.
    async fn hooks(&self, full_name: &str) -> Result<Vec<Hook>, RemoteError>;
    /// Creates a hook.
    async fn create_hook(
        &self,
        full_name: &str,
        hook: &HookRequest<'_>,
    ) -> Result<Hook, RemoteError>;
    /// Replaces hook `uuid`.
    async fn update_hook(
        &self,
        full_name: &str,
        uuid: &str,
        hook: &HookRequest<'_>,
    ) -> Result<Hook, RemoteError>;
    /// Deletes hook `uuid`.
    async fn delete_hook(&self, full_name: &str, uuid: &str) -> Result<(), RemoteError>;
}
