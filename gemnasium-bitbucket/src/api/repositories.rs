//! Repositories of a workspace: `GET /2.0/repositories/{workspace}`, with the fields a
//! dependency-monitoring service keeps, parsed tolerantly (unknown fields ignored, optional ones
//! may be absent: `fields=` trimming and Bitbucket's own drift both cause that).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures::{Stream, TryStreamExt};
use serde::Deserialize;

use super::{ApiClient, ApiError, Page, PageQuery};
use crate::model::{RepoUuid, Repository};

/// `fields=` for repository listings: the stored columns, `size` and `next`.
pub const REPOSITORY_FIELDS: &str = "next,size,values.uuid,values.full_name,values.name,values.is_private,values.mainbranch.name,values.updated_on,values.created_on,values.scm,values.language,values.project.key,values.parent.full_name,values.links.html.href,values.links.clone.name,values.links.clone.href,values.workspace.slug";

/// A repository as `/2.0/repositories/{workspace}` returns it.
#[derive(Clone, Debug, Deserialize)]
pub struct WireRepository {
    /// Stable id with braces; the key for deduplication across pages.
    pub uuid: String,
    /// `workspace/slug`.
    pub full_name: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    is_private: Option<bool>,
    #[serde(default)]
    mainbranch: Option<Named>,
    /// When Bitbucket last saw a change, as sent.
    #[serde(default)]
    pub updated_on: Option<String>,
    #[serde(default)]
    created_on: Option<String>,
    #[serde(default)]
    scm: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    project: Option<Keyed>,
    #[serde(default)]
    parent: Option<FullNamed>,
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
struct Keyed {
    key: String,
}

#[derive(Clone, Debug, Deserialize)]
struct FullNamed {
    full_name: String,
}

#[derive(Clone, Debug, Deserialize)]
struct Slugged {
    slug: String,
}

#[derive(Clone, Debug, Deserialize)]
struct Links {
    #[serde(default)]
    html: Option<Href>,
    #[serde(default)]
    clone: Vec<CloneLink>,
}

#[derive(Clone, Debug, Deserialize)]
struct Href {
    href: String,
}

#[derive(Clone, Debug, Deserialize)]
struct CloneLink {
    #[serde(default)]
    name: Option<String>,
    href: String,
}

fn time(value: Option<String>) -> Option<DateTime<Utc>> {
    // Bitbucket writes `2024-01-02T03:04:05.123456+00:00` (or `Z`); an unparsable date is
    // dropped, not fatal: it is display data.
    value
        .and_then(|d| DateTime::parse_from_rfc3339(&d).ok())
        .map(|d| d.with_timezone(&Utc))
}

/// `href` without its user name (`https://jdoe@bitbucket.org/…` → `https://bitbucket.org/…`):
/// whoever clones supplies their own credentials.
fn without_userinfo(href: &str) -> String {
    match url::Url::parse(href) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        Err(_) => href.to_owned(),
    }
}

impl WireRepository {
    /// Converts to the stored form.
    ///
    /// # Errors
    /// [`ApiError::Malformed`] when the uuid is not a Bitbucket UUID or the full name has no
    /// `/`.
    pub fn into_repository(self) -> Result<Repository, ApiError> {
        let malformed = |why: String| ApiError::Malformed {
            status: 200,
            content_type: "repository listing".to_owned(),
            excerpt: why,
        };
        let uuid: RepoUuid = self.uuid.parse().map_err(|_| {
            malformed(format!(
                "repository {:?} has an invalid uuid {:?}",
                self.full_name, self.uuid
            ))
        })?;
        if !self.full_name.contains('/') || self.full_name.chars().any(char::is_control) {
            return Err(malformed(format!(
                "repository {} has an invalid full name {:?}",
                self.uuid, self.full_name
            )));
        }
        let mut repo = Repository::new(uuid, self.full_name);
        if let Some(workspace) = self.workspace {
            repo.workspace = workspace.slug;
        }
        if let Some(name) = self.name {
            repo.name = name;
        }
        repo.is_private = self.is_private.unwrap_or(false);
        repo.main_branch = self.mainbranch.map(|b| b.name);
        repo.updated_on = time(self.updated_on);
        repo.created_on = time(self.created_on);
        repo.scm = self.scm;
        repo.language = self.language.filter(|l| !l.is_empty());
        repo.project_key = self.project.map(|p| p.key);
        repo.fork_of = self.parent.map(|p| p.full_name);
        if let Some(links) = self.links {
            repo.html_url = links.html.map(|h| h.href);
            repo.clone_https = links
                .clone
                .into_iter()
                .find(|c| c.name.as_deref() == Some("https") || c.href.starts_with("https://"))
                .map(|c| without_userinfo(&c.href));
        }
        Ok(repo)
    }
}

/// How to list a workspace's repositories.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ListRepositories<'a> {
    /// `role=`: `member` (explicit read access) by default.
    pub role: &'a str,
    /// `sort=`: an explicit order, since Bitbucket's default is not stable across pages.
    pub sort: &'a str,
    /// `pagelen=`.
    pub pagelen: u32,
    /// `fields=`.
    pub fields: &'a str,
}

impl ListRepositories<'_> {
    /// For an incremental listing: newest first, `pagelen` at a time (a small page, since
    /// usually little changed), with the stored fields and `size`.
    #[must_use]
    pub fn recent(pagelen: u32) -> Self {
        Self {
            pagelen: pagelen.clamp(1, 100),
            ..Self::default()
        }
    }
}

impl Default for ListRepositories<'_> {
    fn default() -> Self {
        Self {
            role: "member",
            sort: "-updated_on",
            pagelen: 100,
            fields: REPOSITORY_FIELDS,
        }
    }
}

/// The repositories of a workspace changed since an instant, newest first, as an incremental
/// listing reads them.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecentRepositories {
    /// The repositories updated at or after the instant (and any without a date), once each.
    pub repositories: Vec<Repository>,
    /// The `size` Bitbucket announced on the first page, when it did.
    pub size: Option<u64>,
    /// Whether every page was read (the listing holds every repository: a full listing).
    pub exhausted: bool,
}

impl RecentRepositories {
    /// A listing of `repositories` of announced `size`; `exhausted` when every page was read.
    #[must_use]
    pub fn new(repositories: Vec<Repository>, size: Option<u64>, exhausted: bool) -> Self {
        Self {
            repositories,
            size,
            exhausted,
        }
    }
}

/// A complete listing of one workspace.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepositoryListing {
    /// Every repository, once each.
    pub repositories: Vec<Repository>,
    /// The `size` Bitbucket announced on the first page, when it did.
    pub size: Option<u64>,
}

impl RepositoryListing {
    /// A listing of `repositories`, of announced `size`.
    #[must_use]
    pub fn new(repositories: Vec<Repository>, size: Option<u64>) -> Self {
        Self { repositories, size }
    }
}

/// Repository calls.
#[derive(Debug)]
pub struct RepositoriesHandler<'a> {
    api: &'a ApiClient,
}

impl ApiClient {
    /// The repository endpoints.
    #[must_use]
    pub fn repositories(&self) -> RepositoriesHandler<'_> {
        RepositoriesHandler { api: self }
    }
}

impl RepositoriesHandler<'_> {
    /// The pages of `workspace`'s listing as Bitbucket sends them.
    pub fn pages<'a>(
        &'a self,
        workspace: &str,
        options: &ListRepositories<'_>,
    ) -> impl Stream<Item = Result<Page<WireRepository>, ApiError>> + 'a {
        let query = PageQuery::new()
            .pagelen(options.pagelen)
            .fields(options.fields)
            .sort(options.sort)
            .role(options.role);
        self.api
            .pages(self.api.url(&["repositories", workspace]), &query)
    }

    /// The repositories of `workspace` updated at or after `since`: pages are read, newest first
    /// (`options.sort` must be `-updated_on`), until one older than `since` appears. No `q=`
    /// filter is sent, so that `size` still counts every repository of the workspace.
    ///
    /// # Errors
    /// [`ApiError`], as for [`list`](Self::list).
    pub async fn list_since(
        &self,
        workspace: &str,
        since: DateTime<Utc>,
        options: &ListRepositories<'_>,
    ) -> Result<RecentRepositories, ApiError> {
        let mut pages = std::pin::pin!(self.pages(workspace, options));
        let mut seen: BTreeMap<RepoUuid, String> = BTreeMap::new();
        let mut repositories = Vec::new();
        let mut size = None;
        let mut first = true;
        while let Some(page) = pages.try_next().await? {
            if first {
                size = page.size;
                first = false;
            }
            let mut older = false;
            for wire in page.values {
                let repo = wire.into_repository()?;
                // A repository without a date cannot be judged unchanged: keep it.
                if repo.updated_on.is_some_and(|t| t < since) {
                    older = true;
                    continue;
                }
                match seen.get(&repo.uuid) {
                    Some(name) if *name == repo.full_name => {}
                    Some(name) => {
                        return Err(ApiError::Malformed {
                            status: 200,
                            content_type: "repository listing".to_owned(),
                            excerpt: format!(
                                "repositories {name} and {} share the uuid {}",
                                repo.full_name, repo.uuid
                            ),
                        })
                    }
                    None => {
                        seen.insert(repo.uuid.clone(), repo.full_name.clone());
                        repositories.push(repo);
                    }
                }
            }
            if older {
                return Ok(RecentRepositories::new(repositories, size, false));
            }
        }
        Ok(RecentRepositories::new(repositories, size, true))
    }

    /// Every repository of `workspace`, all pages. A repository repeated across pages (the
    /// order can shift while paging) is kept once.
    ///
    /// # Errors
    /// [`ApiError`]; a listing where two different repositories share one uuid is
    /// [`ApiError::Malformed`], so that it never replaces a good listing.
    pub async fn list(
        &self,
        workspace: &str,
        options: &ListRepositories<'_>,
    ) -> Result<RepositoryListing, ApiError> {
        let mut pages = std::pin::pin!(self.pages(workspace, options));
        let mut by_uuid: BTreeMap<RepoUuid, usize> = BTreeMap::new();
        let mut repositories: Vec<Repository> = Vec::new();
        let mut size = None;
        let mut first = true;
        while let Some(page) = pages.try_next().await? {
            if first {
                size = page.size;
                first = false;
            }
            for wire in page.values {
                let repo = wire.into_repository()?;
                match by_uuid.get(&repo.uuid) {
                    Some(&i) if repositories[i].full_name == repo.full_name => {}
                    Some(&i) => {
                        return Err(ApiError::Malformed {
                            status: 200,
                            content_type: "repository listing".to_owned(),
                            excerpt: format!(
                                "repositories {} and {} share the uuid {}",
                                repositories[i].full_name, repo.full_name, repo.uuid
                            ),
                        })
                    }
                    None => {
                        by_uuid.insert(repo.uuid.clone(), repositories.len());
                        repositories.push(repo);
                    }
                }
            }
        }
        Ok(RepositoryListing { repositories, size })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_repository() {
        let json = r#"{"type":"repository","uuid":"{6B7F0000-0000-4000-8000-000000000001}",
            "full_name":"acme/widget","name":"Widget","slug":"widget","is_private":true,"scm":"git",
            "mainbranch":{"type":"branch","name":"main"},"updated_on":"2024-01-02T03:04:05.123456+00:00",
            "created_on":"2020-05-06T07:08:09.000000+00:00","language":"rust",
            "project":{"type":"project","key":"PROJ","name":"Project"},
            "parent":{"type":"repository","full_name":"upstream/widget","uuid":"{p}"},
            "links":{"html":{"href":"https://bitbucket.org/acme/widget"},
                     "clone":[{"name":"https","href":"https://jdoe@bitbucket.org/acme/widget.git"},
                              {"name":"ssh","href":"git@bitbucket.org:acme/widget.git"}]},
            "workspace":{"slug":"acme","uuid":"{w}"},"owner":{"x":1}}"#;
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
        assert_eq!(repo.scm.as_deref(), Some("git"));
        assert_eq!(repo.language.as_deref(), Some("rust"));
        assert_eq!(repo.project_key.as_deref(), Some("PROJ"));
        assert_eq!(repo.fork_of.as_deref(), Some("upstream/widget"));
        assert_eq!(
            repo.clone_https.as_deref(),
            Some("https://bitbucket.org/acme/widget.git")
        );
        assert!(repo.created_on.is_some());
    }

    #[test]
    fn tolerates_a_trimmed_or_empty_repository() {
        let json = r#"{"uuid":"{00000000-0000-4000-8000-000000000002}","full_name":"acme/empty",
            "mainbranch":null,"updated_on":"not a date","language":""}"#;
        let repo = serde_json::from_str::<WireRepository>(json)
            .unwrap()
            .into_repository()
            .unwrap();
        assert_eq!(
            (repo.workspace.as_str(), repo.name.as_str()),
            ("acme", "empty")
        );
        assert_eq!(
            (
                repo.main_branch,
                repo.updated_on,
                repo.is_private,
                repo.language
            ),
            (None, None, false, None)
        );
        let bad = r#"{"uuid":"widget","full_name":"acme/widget"}"#;
        let err = serde_json::from_str::<WireRepository>(bad)
            .unwrap()
            .into_repository()
            .unwrap_err();
        assert!(err.to_string().contains("acme/widget"), "{err}");
    }

    #[test]
    fn fields_keep_next_and_size() {
        assert!(REPOSITORY_FIELDS.starts_with("next,size,"));
    }
}
