//! A repository's webhook subscriptions: `/2.0/repositories/{workspace}/{slug}/hooks[/{uid}]`.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use url::Url;

use super::{ApiClient, ApiError, PageQuery};
use crate::model::{HookUuid, SecretText};

/// `fields=` for hook listings: what [`Hook`] reads, and `next` so pagination works (the
/// `subject` and `links` Bitbucket sends by default are not needed).
pub const HOOK_FIELDS: &str = "next,values.uuid,values.url,values.description,values.active,values.events,values.secret_set,values.created_at";

/// A webhook subscription as Bitbucket lists it (`webhook_subscription`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Hook {
    /// Bitbucket's id.
    pub uuid: HookUuid,
    /// Delivery URL.
    pub url: String,
    /// Free text; ours carry our installation's marker.
    #[serde(default)]
    pub description: Option<String>,
    /// Whether it delivers.
    #[serde(default)]
    pub active: bool,
    /// Subscribed event keys.
    #[serde(default)]
    pub events: Vec<String>,
    /// Whether a secret is set (the secret itself is never returned). Absent before 2023.
    #[serde(default)]
    pub secret_set: bool,
    /// Creation time, used to keep the oldest of duplicates.
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
}

impl Hook {
    /// A hook as listed: `uuid` delivering `events` to `url`.
    #[must_use]
    pub fn new(uuid: HookUuid, url: impl Into<String>, events: Vec<String>) -> Self {
        Self {
            uuid,
            url: url.into(),
            description: None,
            active: true,
            events,
            secret_set: false,
            created_at: None,
        }
    }
}

/// The body of a hook create or replace. Event keys are sent once each: Bitbucket refuses a
/// repeated key with 400 (harness/harness-core #39903).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HookRequest<'a> {
    /// Shown on Bitbucket.
    pub description: &'a str,
    /// Delivery URL.
    pub url: &'a str,
    /// Whether it delivers.
    pub active: bool,
    /// Event keys, sorted and unique.
    pub events: BTreeSet<String>,
    /// `Some`: set this secret; `None`: on create no secret, on replace keep the current one.
    pub secret: Option<&'a SecretText>,
}

impl<'a> HookRequest<'a> {
    /// An active hook delivering `events` to `url`.
    pub fn new(
        description: &'a str,
        url: &'a str,
        events: impl IntoIterator<Item = String>,
        secret: Option<&'a SecretText>,
    ) -> Self {
        Self {
            description,
            url,
            active: true,
            events: events.into_iter().collect(),
            secret,
        }
    }
}

/// The JSON of a hook create or replace. `secret` is omitted (not `null`) when not set,
/// because on replace an omitted secret keeps the current one while `null` removes it.
#[derive(Serialize)]
struct HookBody<'a> {
    description: &'a str,
    url: &'a str,
    active: bool,
    events: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<&'a str>,
}

impl<'a> From<&'a HookRequest<'a>> for HookBody<'a> {
    fn from(request: &'a HookRequest<'a>) -> Self {
        Self {
            description: request.description,
            url: request.url,
            active: request.active,
            events: request.events.iter().map(String::as_str).collect(),
            secret: request.secret.map(SecretText::expose_secret),
        }
    }
}

/// The hook calls of one repository.
#[derive(Debug)]
pub struct HooksHandler<'a> {
    api: &'a ApiClient,
    workspace: String,
    slug: String,
}

impl ApiClient {
    /// The webhooks of repository `full_name` (`workspace/slug`).
    ///
    /// # Errors
    /// [`ApiError::BadRequest`] when `full_name` is not `workspace/slug`.
    pub fn hooks(&self, full_name: &str) -> Result<HooksHandler<'_>, ApiError> {
        let (workspace, slug) = full_name
            .split_once('/')
            .filter(|(w, s)| !w.is_empty() && !s.is_empty() && !s.contains('/'))
            .ok_or_else(|| ApiError::BadRequest {
                message: format!("`{full_name}` is not a repository full name (workspace/slug)"),
            })?;
        Ok(HooksHandler {
            api: self,
            workspace: workspace.to_owned(),
            slug: slug.to_owned(),
        })
    }
}

impl HooksHandler<'_> {
    fn url(&self, uid: Option<&HookUuid>) -> Url {
        let mut segments = vec!["repositories", &self.workspace, &self.slug, "hooks"];
        segments.extend(uid.map(HookUuid::as_str));
        self.api.url(&segments)
    }

    /// Every hook of the repository, all pages.
    ///
    /// # Errors
    /// [`ApiError`]; [`ApiError::Forbidden`] without admin permission on the repository.
    pub async fn list(&self) -> Result<Vec<Hook>, ApiError> {
        let query = PageQuery::new().pagelen(100).fields(HOOK_FIELDS);
        self.api
            .all_pages(self.url(None), &query, |h: &Hook| h.uuid.to_string())
            .await
    }

    /// Creates a hook.
    ///
    /// # Errors
    /// [`ApiError`].
    pub async fn create(&self, hook: &HookRequest<'_>) -> Result<Hook, ApiError> {
        self.api
            .send_json(Method::POST, self.url(None), &HookBody::from(hook))
            .await
    }

    /// Replaces hook `uid`.
    ///
    /// # Errors
    /// [`ApiError`].
    pub async fn update(&self, uid: &HookUuid, hook: &HookRequest<'_>) -> Result<Hook, ApiError> {
        self.api
            .send_json(Method::PUT, self.url(Some(uid)), &HookBody::from(hook))
            .await
    }

    /// Deletes hook `uid`.
    ///
    /// # Errors
    /// [`ApiError`]; [`ApiError::NotFound`] when it is already gone.
    pub async fn delete(&self, uid: &HookUuid) -> Result<(), ApiError> {
        self.api.delete(self.url(Some(uid))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_omit_an_unset_secret_and_send_each_event_once() {
        let keep = HookRequest::new(
            "gemnasium",
            "https://g/h",
            [
                "repo:push".to_owned(),
                "repo:push".to_owned(),
                "repo:updated".to_owned(),
            ],
            None,
        );
        let json = serde_json::to_value(HookBody::from(&keep)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"description":"gemnasium","url":"https://g/h","active":true,"events":["repo:push","repo:updated"]})
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
    fn reads_hooks_with_or_without_newer_fields() {
        // 2018-era subscriptions have no `secret_set`; `created_at` ends in Z.
        let json = r#"{"read_only":null,"description":"ci","links":{},"url":"https://ci.example/hook",
            "created_at":"2018-11-07T14:45:47.900077Z","skip_cert_verification":false,"source":null,
            "history_enabled":false,"active":true,"subject_type":"repository","type":"webhook_subscription",
            "events":["repo:push"],"uuid":"{91eea30b-9ec8-4c53-a7a2-0d3d70e1e6c5}"}"#;
        let hook: Hook = serde_json::from_str(json).unwrap();
        assert!(!hook.secret_set);
        assert!(hook.created_at.is_some());
        assert_eq!(hook.uuid.bare(), "91eea30b-9ec8-4c53-a7a2-0d3d70e1e6c5");
    }
}
