//! The sync engine's view of Bitbucket, over the REST client: workspaces through
//! `/2.0/user/workspaces` (never the retired cross-workspace listings) or a fixed list,
//! repositories per workspace with `role=member`, and repository webhooks.

use async_trait::async_trait;

use super::remote::{HookApi, RemoteError, RemoteErrorKind, RepositoryCatalogue, WorkspaceRef};
use crate::api::hooks::{Hook, HookRequest};
use crate::api::repositories::{ListRepositories, RecentRepositories, RepositoryListing};
use crate::api::{ApiClient, ApiError, AuthErrorKind};
use crate::model::HookUuid;

/// Which workspaces a sync lists.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WorkspaceScope {
    /// Every workspace the credentials' account belongs to (`/2.0/user/workspaces`).
    Memberships,
    /// Exactly these (credentials bound to one workspace, which Bitbucket does not let list
    /// memberships).
    Fixed(Vec<String>),
}

/// Bitbucket Cloud through an [`ApiClient`].
#[derive(Clone, Debug)]
pub struct BitbucketRepos {
    api: ApiClient,
    scope: WorkspaceScope,
}

impl BitbucketRepos {
    /// Uses `api` (its credentials decide whose repositories are listed), listing every
    /// workspace the account belongs to.
    #[must_use]
    pub fn new(api: ApiClient) -> Self {
        Self {
            api,
            scope: WorkspaceScope::Memberships,
        }
    }

    /// Lists only `scope`'s workspaces.
    #[must_use]
    pub fn with_scope(mut self, scope: WorkspaceScope) -> Self {
        self.scope = scope;
        self
    }

    /// The underlying client (for its metrics).
    #[must_use]
    pub fn api(&self) -> &ApiClient {
        &self.api
    }
}

impl From<ApiError> for RemoteError {
    fn from(e: ApiError) -> Self {
        let kind = match &e {
            ApiError::Forbidden { .. } => RemoteErrorKind::PermissionDenied,
            ApiError::MissingScopes { .. } => RemoteErrorKind::MissingScopes,
            ApiError::NotFound { .. } => RemoteErrorKind::NotFound,
            ApiError::RateLimited { .. } | ApiError::Deadline(_) | ApiError::BudgetSpent(_) => {
                RemoteErrorKind::RateLimited
            }
            ApiError::Unauthorized { .. } => RemoteErrorKind::Unauthorized,
            ApiError::Credentials(c) if c.kind() == AuthErrorKind::Reauthorize => {
                RemoteErrorKind::Unauthorized
            }
            ApiError::Retired { .. } => RemoteErrorKind::Retired,
            _ => RemoteErrorKind::Other,
        };
        let resume_after = match &e {
            ApiError::RateLimited { resume_after, .. } => *resume_after,
            ApiError::BudgetSpent(spent) => spent.resume_after,
            _ => None,
        };
        RemoteError::new(kind, e.to_string()).resume_after(resume_after)
    }
}

#[async_trait]
impl RepositoryCatalogue for BitbucketRepos {
    async fn workspaces(&self) -> Result<Vec<WorkspaceRef>, RemoteError> {
        match &self.scope {
            WorkspaceScope::Memberships => Ok(self
                .api
                .workspaces()
                .mine()
                .await?
                .into_iter()
                .map(|w| WorkspaceRef::new(w.slug(), w.uuid().map(str::to_owned)))
                .collect()),
            WorkspaceScope::Fixed(slugs) => Ok(slugs
                .iter()
                .map(|s| WorkspaceRef::new(s.clone(), None))
                .collect()),
        }
    }

    async fn repositories(&self, workspace: &str) -> Result<RepositoryListing, RemoteError> {
        Ok(self
            .api
            .repositories()
            .list(workspace, &ListRepositories::default())
            .await?)
    }

    async fn recent_repositories(
        &self,
        workspace: &str,
        since: chrono::DateTime<chrono::Utc>,
        pagelen: u32,
    ) -> Result<RecentRepositories, RemoteError> {
        Ok(self
            .api
            .repositories()
            .list_since(workspace, since, &ListRepositories::recent(pagelen))
            .await?)
    }
}

#[async_trait]
impl HookApi for BitbucketRepos {
    async fn hooks(&self, full_name: &str) -> Result<Vec<Hook>, RemoteError> {
        Ok(self.api.hooks(full_name)?.list().await?)
    }

    async fn create_hook(
        &self,
        full_name: &str,
        hook: &HookRequest<'_>,
    ) -> Result<Hook, RemoteError> {
        Ok(self.api.hooks(full_name)?.create(hook).await?)
    }

    async fn update_hook(
        &self,
        full_name: &str,
        uuid: &HookUuid,
        hook: &HookRequest<'_>,
    ) -> Result<Hook, RemoteError> {
        Ok(self.api.hooks(full_name)?.update(uuid, hook).await?)
    }

    async fn delete_hook(&self, full_name: &str, uuid: &HookUuid) -> Result<(), RemoteError> {
        Ok(self.api.hooks(full_name)?.delete(uuid).await?)
    }
}
