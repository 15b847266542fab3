//! What the sync engine needs from Bitbucket, as two narrow traits, so the engine can be tested
//! against fakes (see `testing::FakeBitbucket`) and the real client can change without touching
//! the engine.

use async_trait::async_trait;
use serde::Serialize;
use thiserror::Error;

use crate::api::hooks::{Hook, HookRequest};
use crate::api::repositories::{RecentRepositories, RepositoryListing};
use crate::model::HookUuid;

/// How a failed Bitbucket call should be handled by the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RemoteErrorKind {
    /// The account lacks permission (e.g. not a repository admin, needed for hooks).
    PermissionDenied,
    /// The credentials lack scopes; an administrator must tick boxes.
    MissingScopes,
    /// The resource does not exist, or is private and invisible to the account.
    NotFound,
    /// Bitbucket's rate limit, our budget or the run's deadline: stop and resume later.
    RateLimited,
    /// The credentials are unusable: someone must authorize again.
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
    /// For [`RemoteErrorKind::RateLimited`]: when requests are allowed again, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume_after: Option<chrono::DateTime<chrono::Utc>>,
}

impl RemoteError {
    /// An error of `kind` saying `message`.
    #[must_use]
    pub fn new(kind: RemoteErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            resume_after: None,
        }
    }

    /// `self` saying when requests are allowed again.
    #[must_use]
    pub fn resume_after(mut self, at: Option<chrono::DateTime<chrono::Utc>>) -> Self {
        self.resume_after = at;
        self
    }
}

/// A workspace the account can list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct WorkspaceRef {
    /// The slug used in URLs.
    pub slug: String,
    /// Stable id, when known.
    pub uuid: Option<String>,
}

impl WorkspaceRef {
    /// The workspace `slug`.
    #[must_use]
    pub fn new(slug: impl Into<String>, uuid: Option<String>) -> Self {
        Self {
            slug: slug.into(),
            uuid,
        }
    }
}

/// Listing what an account can see.
#[async_trait]
pub trait RepositoryCatalogue: Send + Sync {
    /// The workspaces to list (all pages).
    async fn workspaces(&self) -> Result<Vec<WorkspaceRef>, RemoteError>;
    /// Every repository of `workspace` the account is a member of, all pages, each once.
    async fn repositories(&self, workspace: &str) -> Result<RepositoryListing, RemoteError>;

    /// The repositories of `workspace` updated at or after `since`, newest first, read
    /// `pagelen` at a time until an older one appears, with the workspace's `size`. By default
    /// a full listing (marked exhausted): correct, only not cheaper.
    async fn recent_repositories(
        &self,
        workspace: &str,
        since: chrono::DateTime<chrono::Utc>,
        pagelen: u32,
    ) -> Result<RecentRepositories, RemoteError> {
        let _ = (since, pagelen);
        let listing = self.repositories(workspace).await?;
        Ok(RecentRepositories::new(
            listing.repositories,
            listing.size,
            true,
        ))
    }
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
        uuid: &HookUuid,
        hook: &HookRequest<'_>,
    ) -> Result<Hook, RemoteError>;
    /// Deletes hook `uuid`.
    async fn delete_hook(&self, full_name: &str, uuid: &HookUuid) -> Result<(), RemoteError>;
}

/// A [`HookApi`] for work that must not touch Bitbucket (untracking while keeping hooks):
/// every call fails.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHooks;

#[async_trait]
impl HookApi for NoHooks {
    async fn hooks(&self, _full_name: &str) -> Result<Vec<Hook>, RemoteError> {
        Err(no_access())
    }
    async fn create_hook(&self, _: &str, _: &HookRequest<'_>) -> Result<Hook, RemoteError> {
        Err(no_access())
    }
    async fn update_hook(
        &self,
        _: &str,
        _: &HookUuid,
        _: &HookRequest<'_>,
    ) -> Result<Hook, RemoteError> {
        Err(no_access())
    }
    async fn delete_hook(&self, _: &str, _: &HookUuid) -> Result<(), RemoteError> {
        Err(no_access())
    }
}

fn no_access() -> RemoteError {
    RemoteError::new(
        RemoteErrorKind::Other,
        "no Bitbucket access was given for this operation",
    )
}
