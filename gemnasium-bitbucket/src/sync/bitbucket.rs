//! The sync engine's view of Bitbucket, over the REST client: workspaces through
//! `/2.0/user/workspaces` (never the retired cross-workspace listings), repositories per
//! workspace with `role=member`, and repository webhooks.

use async_trait::async_trait;
use reqwest::Method;
use url::Url;

use super::remote::{
    HookApi, HookRequest, RemoteError, RemoteErrorKind, RepositoryCatalogue, WorkspaceRef,
};
use super::wire::{HookBody, WireRepository, WorkspaceAccess, REPOSITORY_FIELDS, WORKSPACE_FIELDS};
use super::Hook;
use crate::api::{ApiClient, PageQuery};
use crate::model::Repository;

/// Bitbucket Cloud through an [`ApiClient`].
#[derive(Clone, Debug)]
pub struct BitbucketRepos {
    api: ApiClient,
}

impl BitbucketRepos {
    /// Uses `api` (its token decides whose repositories are listed).
    #[must_use]
    pub fn new(api: ApiClient) -> Self {
        Self { api }
    }

    /// The underlying client (for its metrics).
    #[must_use]
    pub fn api(&self) -> &ApiClient {
        &self.api
    }

    fn hooks_url(&self, full_name: &str, uuid: Option<&str>) -> Result<Url, RemoteError> {
        let (workspace, slug) = full_name.split_once('/').ok_or_else(|| {
            RemoteError::new(
                RemoteErrorKind::Other,
                format!("`{full_name}` is not a repository full name (workspace/slug)"),
            )
        })?;
        let mut segments = vec!["repositories", workspace, slug, "hooks"];
        segments.extend(uuid);
        Ok(self.api.url(&segments))
    }
}

#[async_trait]
impl RepositoryCatalogue for BitbucketRepos {
    async fn workspaces(&self) -> Result<Vec<WorkspaceRef>, RemoteError> {
        let query = PageQuery {
            pagelen: Some(100),
            fields: Some(WORKSPACE_FIELDS),
            ..PageQuery::default()
        };
        let access: Vec<WorkspaceAccess> = self
            .api
            .all_pages(
                self.api.url(&["user", "workspaces"]),
                &query,
                |w: &WorkspaceAccess| w.slug().to_owned(),
            )
            .await?;
        Ok(access.into_iter().map(WorkspaceRef::from).collect())
    }

    async fn repositories(&self, workspace: &str) -> Result<Vec<Repository>, RemoteError> {
        let query = PageQuery {
            pagelen: Some(100),
            fields: Some(REPOSITORY_FIELDS),
            // Bitbucket's order is not stable across pages; ask one explicitly (and dedupe).
            sort: Some("-updated_on"),
            role: Some("member"),
            ..PageQuery::default()
        };
        let wire: Vec<WireRepository> = self
            .api
            .all_pages(
                self.api.url(&["repositories", workspace]),
                &query,
                |r: &WireRepository| r.uuid.clone(),
            )
            .await?;
        wire.into_iter()
            .map(WireRepository::into_repository)
            .collect()
    }
}

#[async_trait]
impl HookApi for BitbucketRepos {
    async fn hooks(&self, full_name: &str) -> Result<Vec<Hook>, RemoteError> {
        let query = PageQuery {
            pagelen: Some(100),
            ..PageQuery::default()
        };
        Ok(self
            .api
            .all_pages(self.hooks_url(full_name, None)?, &query, |h: &Hook| {
                h.uuid.clone()
            })
            .await?)
    }

    async fn create_hook(
        &self,
        full_name: &str,
        hook: &HookRequest<'_>,
    ) -> Result<Hook, RemoteError> {
        Ok(self
            .api
            .send_json(
                Method::POST,
                self.hooks_url(full_name, None)?,
                &HookBody::from(hook),
            )
            .await?)
    }

    async fn update_hook(
        &self,
        full_name: &str,
        uuid: &str,
        hook: &HookRequest<'_>,
    ) -> Result<Hook, RemoteError> {
        Ok(self
            .api
            .send_json(
                Method::PUT,
                self.hooks_url(full_name, Some(uuid))?,
                &HookBody::from(hook),
            )
            .await?)
    }

    async fn delete_hook(&self, full_name: &str, uuid: &str) -> Result<(), RemoteError> {
        Ok(self
            .api
            .delete(self.hooks_url(full_name, Some(uuid))?)
            .await?)
    }
}
