//! Bitbucket's JSON for the resources sync reads, the `fields=` lists that trim them, and the
//! conversion into model types. Parsing is tolerant: unknown fields are ignored and optional
//! ones may be absent (the `fields=` trimming and Bitbucket's own payload drift both cause that).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::remote::{HookRequest, RemoteError, RemoteErrorKind, WorkspaceRef};
use crate::model::{RepoUuid, Repository};

/// `fields=` for `/2.0/user/workspaces`: only what we use, and `next` so pagination works.
pub const WORKSPACE_FIELDS: &str = "next,values.workspace.slug,values.workspace.uuid";

/// `fields=` for `/2.0/repositories/{workspace}`: the stored columns, and `next`.
pub const REPOSITORY_FIELDS: &str = "next,values.uuid,values.full_name,values.name,values.is_private,values.mainbranch.name,values.updated_on,values.links.html.href,values.workspace.slug";

/// One entry of `/2.0/user/workspaces` (a membership, not a workspace).
#[derive(Clone, Debug, Deserialize)]
pub struct WorkspaceAccess {
    workspace: WorkspaceBase,
}

#[derive(Clone, Debug, Deserialize)]
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
}

impl From<WorkspaceAccess> for WorkspaceRef {
    fn from(access: WorkspaceAccess) -> Self {
        WorkspaceRef {
            slug: access.workspace.slug,
            uuid: access.workspace.uuid,
        }
    }
}

/// A repository as `/2.0/repositories/{workspace}` returns it.
#[derive(Clone, Debug, Deserialize)]
pub struct WireRepository {
    /// Stable id with braces; the key for deduplication across pages.
    pub uuid: String,
    full_name: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    is_private: bool,
    #[serde(default)]
    mainbranch: Option<Named>,
    #[serde(default)]
    updated_on: Option<String>,
    #[serde(default)]
    links: Option<Links>,
    #[serde(default)]
    workspace: Option<Slugged>,
}

#[derive(Clone, Debug, Deserialize)]
struct Named {
    name: String,
}

#[derive(Clone, Debug, Deserialize)]
struct Slugged {
    slug: String,
}

#[derive(Clone, Debug, Deserialize)]
struct Links {
    #[serde(default)]
    html: Option<Href>,
}

#[derive(Clone, Debug, Deserialize)]
struct Href {
    href: String,
}

impl WireRepository {
    /// Converts to the stored form; a repository whose uuid is not a Bitbucket UUID is a
    /// malformed response.
    ///
    /// # Errors
    /// [`RemoteError`] of kind `Other` naming the repository.
    pub fn into_repository(self) -> Result<Repository, RemoteError> {
        let uuid: RepoUuid = self.uuid.parse().map_err(|_| {
            RemoteError::new(
                RemoteErrorKind::Other,
                format!(
                    "Bitbucket returned repository {} with an invalid uuid {:?}",
                    self.full_name, self.uuid
                ),
            )
        })?;
        let workspace = self.workspace.map(|w| w.slug).unwrap_or_else(|| {
            self.full_name
                .split_once('/')
                .map_or_else(String::new, |(w, _)| w.to_owned())
        });
        let name = self.name.unwrap_or_else(|| {
            self.full_name
                .rsplit_once('/')
                .map_or_else(|| self.full_name.clone(), |(_, n)| n.to_owned())
        });
        Ok(Repository {
            uuid,
            workspace,
            name,
            is_private: self.is_private,
            main_branch: self.mainbranch.map(|b| b.name),
            html_url: self.links.and_then(|l| l.html).map(|h| h.href),
            // Bitbucket writes `2024-01-02T03:04:05.123456+00:00`; an unparsable date is dropped,
            // not fatal: it is display data.
            updated_on: self
                .updated_on
                .and_then(|d| DateTime::parse_from_rfc3339(&d).ok())
                .map(|d| d.with_timezone(&Utc)),
            full_name: self.full_name,
        })
    }
}

/// The JSON body of a hook create or replace. `secret` is omitted (not `null`) when not set,
/// because on replace an omitted secret keeps the current one while `null` removes it.
#[derive(Serialize)]
pub struct HookBody<'a> {
    description: &'a str,
    url: &'a str,
    active: bool,
    events: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<&'a str>,
}

impl std::fmt::Debug for HookBody<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookBody")
            .field("url", &self.url)
            .field("events", &self.events)
            .field("secret", &self.secret.map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

impl<'a> From<&'a HookRequest<'a>> for HookBody<'a> {
    fn from(request: &'a HookRequest<'a>) -> Self {
        Self {
            description: request.description,
            url: request.url,
            active: request.active,
            events: &request.events,
            secret: request.secret.map(crate::model::SecretText::expose_secret),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SecretText;

    #[test]
    fn parses_a_full_repository() {
        let json = r#"{"type":"repository","uuid":"{6B7F0000-0000-4000-8000-000000000001}",
            "full_name":"acme/widget","name":"Widget","slug":"widget","is_private":true,
            "mainbranch":{"type":"branch","name":"main"},"updated_on":"2024-01-02T03:04:05.123456+00:00",
            "links":{"html":{"href":"https://bitbucket.org/acme/widget"},"clone":[]},
            "workspace":{"slug":"acme","uuid":"{w}"},"owner":{"x":1},"language":"rust"}"#;
        let repo = serde_json::from_str::<WireRepository>(json)
            .unwrap()
            .into_repository()
            .unwrap();
        assert_eq!(repo.uuid.as_str(), "{6b7f0000-0000-4000-8000-000000000001}");
        assert_eq!(
            (repo.workspace.as_str(), repo.name.as_str()),
            ("acme", "Widget")
        );
        assert_eq!(repo.main_branch.as_deref(), Some("main"));
        assert_eq!(
            repo.html_url.as_deref(),
            Some("https://bitbucket.org/acme/widget")
        );
        assert_eq!(
            repo.updated_on.unwrap().to_rfc3339(),
            "2024-01-02T03:04:05.123456+00:00"
        );
    }

    #[test]
    fn tolerates_a_trimmed_or_empty_repository() {
        let json = r#"{"uuid":"{00000000-0000-4000-8000-000000000002}","full_name":"acme/empty",
            "mainbranch":null,"updated_on":"not a date"}"#;
        let repo = serde_json::from_str::<WireRepository>(json)
            .unwrap()
            .into_repository()
            .unwrap();
        assert_eq!(
            (repo.workspace.as_str(), repo.name.as_str()),
            ("acme", "empty")
        );
        assert_eq!(
            (repo.main_branch, repo.updated_on, repo.is_private),
            (None, None, false)
        );
        let bad = r#"{"uuid":"widget","full_name":"acme/widget"}"#;
        let err = serde_json::from_str::<WireRepository>(bad)
            .unwrap()
            .into_repository()
            .unwrap_err();
        assert!(err.message.contains("acme/widget"), "{err}");
    }

    #[test]
    fn workspace_access_is_a_membership() {
        let json = r#"{"type":"workspace_access","administrator":false,
            "workspace":{"type":"workspace_base","uuid":"{02b9}","slug":"acme","links":{}}}"#;
        let w: WorkspaceRef = serde_json::from_str::<WorkspaceAccess>(json)
            .unwrap()
            .into();
        assert_eq!(
            (w.slug.as_str(), w.uuid.as_deref()),
            ("acme", Some("{02b9}"))
        );
    }

    #[test]
    fn hook_bodies_omit_an_unset_secret() {
        let events = vec!["repo:push".to_owned()];
        let keep = HookRequest {
            description: "gemnasium",
            url: "https://g/h",
            active: true,
            events: events.clone(),
            secret: None,
        };
        let json = serde_json::to_value(HookBody::from(&keep)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"description":"gemnasium","url":"https://g/h","active":true,"events":["repo:push"]})
        );
        let secret = SecretText::new("s3cret").unwrap();
        let set = HookRequest {
            secret: Some(&secret),
            ..keep
        };
        let json = serde_json::to_value(HookBody::from(&set)).unwrap();
        assert_eq!(json["secret"], "s3cret");
    }

    #[test]
    fn fields_keep_next() {
        assert!(WORKSPACE_FIELDS.starts_with("next,"));
        assert!(REPOSITORY_FIELDS.starts_with("next,"));
    }
}
