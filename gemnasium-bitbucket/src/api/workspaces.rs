//! Workspaces: the caller's memberships (`/2.0/user/workspaces`) and one workspace by slug.

use serde::Deserialize;

use super::{ApiClient, ApiError, PageQuery};

/// `fields=` for `/2.0/user/workspaces`: only what we use, and `next` so pagination works.
pub const WORKSPACE_FIELDS: &str =
    "next,values.administrator,values.workspace.slug,values.workspace.uuid";

/// A workspace the caller belongs to: one value of `/2.0/user/workspaces`, which lists
/// `workspace_access` memberships (the workspace is under `.workspace`), not workspaces.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct WorkspaceAccess {
    workspace: WorkspaceBase,
    /// Whether the caller administers it.
    #[serde(default)]
    pub administrator: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
struct WorkspaceBase {
    slug: String,
    #[serde(default)]
    uuid: Option<String>,
}

impl WorkspaceAccess {
    /// The workspace's slug.
    #[must_use]
    pub fn slug(&self) -> &str {
        &self.workspace.slug
    }

    /// The workspace's uuid, as sent.
    #[must_use]
    pub fn uuid(&self) -> Option<&str> {
        self.workspace.uuid.as_deref()
    }
}

/// One workspace, as `GET /2.0/workspaces/{slug}` describes it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Workspace {
    /// The slug.
    pub slug: String,
    /// Stable id.
    #[serde(default)]
    pub uuid: Option<String>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
}

/// Workspace calls.
#[derive(Debug)]
pub struct WorkspacesHandler<'a> {
    api: &'a ApiClient,
}

impl ApiClient {
    /// The workspace endpoints.
    #[must_use]
    pub fn workspaces(&self) -> WorkspacesHandler<'_> {
        WorkspacesHandler { api: self }
    }
}

impl WorkspacesHandler<'_> {
    /// Every membership of the caller (`/2.0/user/workspaces`, all pages, by slug).
    ///
    /// # Errors
    /// [`ApiError`]; access tokens are refused here by Bitbucket.
    pub async fn mine(&self) -> Result<Vec<WorkspaceAccess>, ApiError> {
        let query = PageQuery::new().pagelen(100).fields(WORKSPACE_FIELDS);
        self.api
            .all_pages(
                self.api.url(&["user", "workspaces"]),
                &query,
                |w: &WorkspaceAccess| w.slug().to_owned(),
            )
            .await
    }

    /// `GET /2.0/workspaces/{slug}`: the one probe access tokens answer.
    ///
    /// # Errors
    /// [`ApiError`], such as [`ApiError::NotFound`] for a workspace the credential cannot see.
    pub async fn get(&self, slug: &str) -> Result<Workspace, ApiError> {
        self.api.get_json(self.api.url(&["workspaces", slug])).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_membership_is_not_a_workspace() {
        let json = r#"{"type":"workspace_access","administrator":false,
            "workspace":{"type":"workspace_base","uuid":"{02b9}","slug":"acme","links":{}}}"#;
        let w: WorkspaceAccess = serde_json::from_str(json).unwrap();
        assert_eq!((w.slug(), w.uuid()), ("acme", Some("{02b9}")));
        assert_eq!(w.administrator, Some(false));
        // woodpecker-ci/woodpecker #6396 parsed values as workspaces: that shape is refused.
        let workspace = r#"{"type":"workspace","slug":"acme","uuid":"{02b9}"}"#;
        assert!(serde_json::from_str::<WorkspaceAccess>(workspace).is_err());
    }

    #[test]
    fn fields_keep_next() {
        assert!(WORKSPACE_FIELDS.starts_with("next,"));
    }
}
