//! Parsing webhook deliveries: the headers Bitbucket sends and the payloads we act on.

use serde::{Deserialize, Deserializer};
use thiserror::Error;

use super::signature::{verify_signature, SignatureError};
use crate::model::{AccountUuid, HookUuid, RepoUuid, RequestUuid};

/// Why a delivery could not be read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EventError {
    /// A required header is absent.
    #[error("the delivery has no {0} header; is it from Bitbucket?")]
    MissingHeader(&'static str),
    /// A header is not what Bitbucket sends.
    #[error("the delivery's {0} header is not valid")]
    InvalidHeader(&'static str),
    /// The signature check failed.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// The body is not the JSON Bitbucket sends for this event.
    #[error("the {event} payload is not valid: {reason}")]
    Payload {
        /// The `X-Event-Key`.
        event: String,
        /// What did not parse.
        reason: String,
    },
}

/// A verified, parsed webhook delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookEvent {
    /// `X-Event-Key`, such as `repo:push`.
    pub event_key: String,
    /// `X-Hook-UUID`: which subscription sent it (not proof of anything by itself). Bitbucket
    /// sends it without braces; it compares equal to the hooks API's `{…}` form.
    pub hook_uuid: Option<HookUuid>,
    /// `X-Request-UUID`: identical across retries, so it is the idempotency key.
    pub request_uuid: RequestUuid,
    /// `X-Attempt-Number`: 1 for the first delivery, more for Bitbucket's retries.
    pub attempt: Option<u32>,
    /// Who caused the event, when the payload says.
    pub actor: Option<Actor>,
    /// What happened.
    pub payload: EventPayload,
}

/// The account that caused an event.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Actor {
    /// Stable id, when it is a valid Bitbucket UUID.
    #[serde(default, deserialize_with = "lenient_uuid")]
    pub uuid: Option<AccountUuid>,
    /// Atlassian-wide id.
    #[serde(default)]
    pub account_id: Option<String>,
    /// Mutable display data.
    #[serde(default)]
    pub nickname: Option<String>,
    /// Mutable display data.
    #[serde(default)]
    pub display_name: Option<String>,
}

fn lenient_uuid<'de, D: Deserializer<'de>>(d: D) -> Result<Option<AccountUuid>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.and_then(|s| s.parse().ok()))
}

/// The part of a delivery we act on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventPayload {
    /// `repo:push`: branches or tags moved.
    Push {
        /// The repository pushed to.
        repository: RepositoryRef,
        /// One entry per ref that changed.
        changes: Vec<RefChange>,
    },
    /// `repo:updated`: renamed, default branch changed, …
    RepositoryUpdated {
        /// The repository as it is now.
        repository: RepositoryRef,
    },
    /// Any other event key; only the repository is read, when present.
    Other {
        /// The repository the event is about, if the payload names one.
        repository: Option<RepositoryRef>,
    },
}

/// The repository a payload is about.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct RepositoryRef {
    /// Stable id.
    pub uuid: RepoUuid,
    /// `workspace/slug`.
    pub full_name: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
}

/// One ref's change in a push.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefChange {
    /// The ref after the push; `None` when it was deleted.
    pub new: Option<RefState>,
    /// The ref before the push; `None` when it was created.
    pub old: Option<RefState>,
    /// Whether the ref was created by this push.
    pub created: bool,
    /// Whether the ref was deleted by this push.
    pub closed: bool,
    /// Whether the history was rewritten.
    pub forced: bool,
    /// Whether Bitbucket cut the list of commits short (more than it sends).
    pub truncated: bool,
}

/// A branch or tag at a commit.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct RefState {
    /// `branch` or `tag`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The branch or tag name.
    pub name: String,
    /// The commit it points at.
    #[serde(deserialize_with = "target_hash")]
    pub target: String,
}

fn target_hash<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    struct Target {
        hash: String,
    }
    Target::deserialize(d).map(|t| t.hash)
}

#[derive(Deserialize)]
struct ActorBody {
    #[serde(default)]
    actor: Option<Actor>,
}

#[derive(Deserialize)]
struct PushBody {
    repository: RepositoryRef,
    push: PushChanges,
}

#[derive(Deserialize)]
struct PushChanges {
    #[serde(default)]
    changes: Vec<RawChange>,
}

#[derive(Deserialize)]
struct RawChange {
    new: Option<RefState>,
    old: Option<RefState>,
    #[serde(default)]
    created: bool,
    #[serde(default)]
    closed: bool,
    #[serde(default)]
    forced: bool,
    #[serde(default)]
    truncated: bool,
}

#[derive(Deserialize)]
struct RepositoryBody {
    repository: RepositoryRef,
}

#[derive(Deserialize)]
struct MaybeRepositoryBody {
    repository: Option<RepositoryRef>,
}

impl WebhookEvent {
    /// Verifies the signature over the raw `body` under `secret`, then parses the delivery.
    ///
    /// `header` looks a request header up by name (case-insensitive in any HTTP framework).
    ///
    /// # Errors
    /// [`EventError`] when a header is missing, the signature fails, or the payload is malformed.
    pub fn from_request<'a>(
        secret: &[u8],
        header: impl Fn(&str) -> Option<&'a str>,
        body: &[u8],
    ) -> Result<Self, EventError> {
        verify_signature(secret, body, header("X-Hub-Signature"))?;
        Self::parse_verified(&header, body)
    }

    /// The `X-Hook-UUID` of a delivery (before its signature is checked): it tells which
    /// stored secret to check the signature with, and proves nothing by itself.
    ///
    /// # Errors
    /// [`EventError::InvalidHeader`] when present but not a UUID.
    pub fn hook_uuid_of<'a>(
        header: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<Option<HookUuid>, EventError> {
        header("X-Hook-UUID")
            .map(|h| {
                h.trim()
                    .parse()
                    .map_err(|_| EventError::InvalidHeader("X-Hook-UUID"))
            })
            .transpose()
    }

    fn parse_verified<'a>(
        header: &impl Fn(&str) -> Option<&'a str>,
        body: &[u8],
    ) -> Result<Self, EventError> {
        let event_key = header("X-Event-Key")
            .ok_or(EventError::MissingHeader("X-Event-Key"))?
            .trim()
            .to_owned();
        if event_key.is_empty()
            || event_key.len() > 100
            || event_key
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(EventError::InvalidHeader("X-Event-Key"));
        }
        let request_uuid = header("X-Request-UUID")
            .ok_or(EventError::MissingHeader("X-Request-UUID"))?
            .trim()
            .parse()
            .map_err(|_| EventError::InvalidHeader("X-Request-UUID"))?;
        let payload = parse_payload(&event_key, body)?;
        let actor = serde_json::from_slice::<ActorBody>(body)
            .ok()
            .and_then(|b| b.actor);
        Ok(Self {
            hook_uuid: Self::hook_uuid_of(header)?,
            attempt: header("X-Attempt-Number").and_then(|a| a.trim().parse().ok()),
            event_key,
            request_uuid,
            actor,
            payload,
        })
    }

    /// The repository the event is about, when there is one.
    #[must_use]
    pub fn repository(&self) -> Option<&RepositoryRef> {
        match &self.payload {
            EventPayload::Push { repository, .. }
            | EventPayload::RepositoryUpdated { repository } => Some(repository),
            EventPayload::Other { repository } => repository.as_ref(),
        }
    }
}

fn parse_payload(event_key: &str, body: &[u8]) -> Result<EventPayload, EventError> {
    let fail = |e: serde_json::Error| EventError::Payload {
        event: event_key.to_owned(),
        reason: e.to_string(),
    };
    Ok(match event_key {
        "repo:push" => {
            let body: PushBody = serde_json::from_slice(body).map_err(fail)?;
            EventPayload::Push {
                repository: body.repository,
                changes: body
                    .push
                    .changes
                    .into_iter()
                    .map(|c| RefChange {
                        new: c.new,
                        old: c.old,
                        created: c.created,
                        closed: c.closed,
                        forced: c.forced,
                        truncated: c.truncated,
                    })
                    .collect(),
            }
        }
        "repo:updated" => EventPayload::RepositoryUpdated {
            repository: serde_json::from_slice::<RepositoryBody>(body)
                .map_err(fail)?
                .repository,
        },
        _ => EventPayload::Other {
            repository: serde_json::from_slice::<MaybeRepositoryBody>(body)
                .map_err(fail)?
                .repository,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::sign;

    const PUSH: &str = r#"{
      "actor": {"type": "user", "uuid": "{d301aafa-0000-4000-8000-000000000001}", "display_name": "Jane"},
      "repository": {"type": "repository", "uuid": "{5b2e0000-0000-4000-8000-000000000001}", "full_name": "acme/widget", "name": "widget"},
      "push": {"changes": [
        {"new": {"type": "branch", "name": "main", "target": {"type": "commit", "hash": "abc123"}},
         "old": {"type": "branch", "name": "main", "target": {"type": "commit", "hash": "def456"}},
         "created": false, "closed": false, "forced": true, "truncated": false, "commits": []},
        {"new": null,
         "old": {"type": "tag", "name": "v1", "target": {"type": "commit", "hash": "0a0a"}},
         "closed": true}
      ]}
    }"#;

    fn headers<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
        }
    }

    #[test]
    fn parses_a_signed_push() {
        let sig = sign(b"secret", PUSH.as_bytes());
        let pairs = [
            ("x-hub-signature", sig.as_str()),
            ("X-Event-Key", "repo:push"),
            ("X-Hook-UUID", "0302255c-0b35-4e1c-a56a-f6e6a24ab2c9"),
            ("X-Request-UUID", "a9c82b5e-12f3-4f4b-9a8d-1c2b3d4e5f60"),
            ("X-Attempt-Number", "2"),
        ];
        let event =
            WebhookEvent::from_request(b"secret", headers(&pairs), PUSH.as_bytes()).unwrap();
        assert_eq!(
            event.request_uuid.as_str(),
            "{a9c82b5e-12f3-4f4b-9a8d-1c2b3d4e5f60}"
        );
        assert_eq!(
            event.hook_uuid,
            Some("{0302255c-0b35-4e1c-a56a-f6e6a24ab2c9}".parse().unwrap())
        );
        assert_eq!(
            event.actor.as_ref().unwrap().display_name.as_deref(),
            Some("Jane")
        );
        assert_eq!(event.attempt, Some(2));
        assert_eq!(event.repository().unwrap().full_name, "acme/widget");
        let EventPayload::Push { changes, .. } = &event.payload else {
            panic!("not a push: {event:?}")
        };
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].new.as_ref().unwrap().target, "abc123");
        assert!(changes[0].forced);
        assert!(!changes[0].created && !changes[0].closed && !changes[0].truncated);
        assert!(changes[1].new.is_none() && changes[1].closed);
        assert_eq!(changes[1].old.as_ref().unwrap().kind, "tag");
    }

    #[test]
    fn tampered_or_unsigned_deliveries_are_refused() {
        let sig = sign(b"secret", PUSH.as_bytes());
        let tampered = PUSH.replace("acme/widget", "evil/widget");
        let pairs = [
            ("X-Hub-Signature", sig.as_str()),
            ("X-Event-Key", "repo:push"),
            ("X-Request-UUID", "a9c82b5e-12f3-4f4b-9a8d-1c2b3d4e5f60"),
        ];
        let err = WebhookEvent::from_request(b"secret", headers(&pairs), tampered.as_bytes());
        assert!(matches!(
            err,
            Err(EventError::Signature(SignatureError::Mismatch))
        ));
        let unsigned = [
            ("X-Event-Key", "repo:push"),
            ("X-Request-UUID", "a9c82b5e-12f3-4f4b-9a8d-1c2b3d4e5f60"),
        ];
        let err = WebhookEvent::from_request(b"secret", headers(&unsigned), PUSH.as_bytes());
        assert!(matches!(
            err,
            Err(EventError::Signature(SignatureError::Missing))
        ));
    }

    #[test]
    fn malformed_payloads_and_missing_headers_are_errors() {
        let body = br#"{"repository": 5}"#;
        let sig = sign(b"k", body);
        let pairs = [
            ("X-Hub-Signature", sig.as_str()),
            ("X-Event-Key", "repo:push"),
            ("X-Request-UUID", "a9c82b5e-12f3-4f4b-9a8d-1c2b3d4e5f60"),
        ];
        let err = WebhookEvent::from_request(b"k", headers(&pairs), body).unwrap_err();
        assert!(
            err.to_string().contains("repo:push payload is not valid"),
            "{err}"
        );
        let pairs = [
            ("X-Hub-Signature", sig.as_str()),
            ("X-Request-UUID", "a9c82b5e-12f3-4f4b-9a8d-1c2b3d4e5f60"),
        ];
        let err = WebhookEvent::from_request(b"k", headers(&pairs), body).unwrap_err();
        assert!(matches!(err, EventError::MissingHeader("X-Event-Key")));
    }

    #[test]
    fn other_events_keep_the_repository() {
        let body = br#"{"repository": {"uuid": "{5b2e0000-0000-4000-8000-000000000002}", "full_name": "acme/x"}, "pullrequest": {}}"#;
        let sig = sign(b"k", body);
        let pairs = [
            ("X-Hub-Signature", sig.as_str()),
            ("X-Event-Key", "pullrequest:created"),
            ("X-Request-UUID", "a9c82b5e-12f3-4f4b-9a8d-1c2b3d4e5f60"),
        ];
        let event = WebhookEvent::from_request(b"k", headers(&pairs), body).unwrap();
        assert_eq!(
            event.repository().unwrap().uuid.as_str(),
            "{5b2e0000-0000-4000-8000-000000000002}"
        );
    }
}
