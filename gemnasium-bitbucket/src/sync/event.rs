//! Parsing webhook deliveries: the headers Bitbucket sends and the payloads we act on.

use serde::Deserialize;
use thiserror::Error;

use super::signature::{verify_signature, SignatureError};

/// Why a delivery could not be read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EventError {
    /// A required header is absent.
    #[error("the delivery has no {0} header; is it from Bitbucket?")]
    MissingHeader(&'static str),
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
pub struct WebhookEvent {
    /// `X-Event-Key`, such as `repo:push`.
    pub event_key: String,
    /// `X-Hook-UUID`: which subscription sent it (not proof of anything by itself).
    pub hook_uuid: Option<String>,
    /// `X-Request-UUID`: identical across retries, so it is the idempotency key.
    pub request_uuid: String,
    /// `X-Attempt-Number`: 1 for the first delivery, more for Bitbucket's retries.
    pub attempt: Option<u32>,
    /// What happened.
    pub payload: EventPayload,
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
pub struct RepositoryRef {
    /// Stable id, with braces.
    pub uuid: String,
    /// `workspace/slug`.
    pub full_name: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
}

/// One ref's change in a push.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefChange {
    /// The ref after the push; `None` when it was deleted.
    pub new: Option<RefState>,
    /// The ref before the push; `None` when it was created.
    pub old: Option<RefState>,
    /// Whether the history was rewritten.
    pub forced: bool,
}

/// A branch or tag at a commit.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
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
    forced: bool,
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
        let event_key = header("X-Event-Key")
            .ok_or(EventError::MissingHeader("X-Event-Key"))?
            .to_owned();
        let request_uuid = header("X-Request-UUID")
            .ok_or(EventError::MissingHeader("X-Request-UUID"))?
            .to_owned();
        let payload = parse_payload(&event_key, body)?;
        Ok(Self {
            hook_uuid: header("X-Hook-UUID").map(str::to_owned),
            attempt: header("X-Attempt-Number").and_then(|a| a.trim().parse().ok()),
            event_key,
            request_uuid,
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
                        forced: c.forced,
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
      "actor": {"type": "user", "uuid": "{u1}", "display_name": "Jane"},
      "repository": {"type": "repository", "uuid": "{r1}", "full_name": "acme/widget", "name": "widget"},
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
            ("X-Hook-UUID", "{h1}"),
            ("X-Request-UUID", "{req1}"),
            ("X-Attempt-Number", "2"),
        ];
        let event =
            WebhookEvent::from_request(b"secret", headers(&pairs), PUSH.as_bytes()).unwrap();
        assert_eq!(event.request_uuid, "{req1}");
        assert_eq!(event.attempt, Some(2));
        assert_eq!(event.repository().unwrap().full_name, "acme/widget");
        let EventPayload::Push { changes, .. } = &event.payload else {
            panic!("not a push: {event:?}")
        };
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].new.as_ref().unwrap().target, "abc123");
        assert!(changes[0].forced);
        assert!(changes[1].new.is_none());
        assert_eq!(changes[1].old.as_ref().unwrap().kind, "tag");
    }

    #[test]
    fn tampered_or_unsigned_deliveries_are_refused() {
        let sig = sign(b"secret", PUSH.as_bytes());
        let tampered = PUSH.replace("acme/widget", "evil/widget");
        let pairs = [
            ("X-Hub-Signature", sig.as_str()),
            ("X-Event-Key", "repo:push"),
            ("X-Request-UUID", "{r}"),
        ];
        let err = WebhookEvent::from_request(b"secret", headers(&pairs), tampered.as_bytes());
        assert!(matches!(
            err,
            Err(EventError::Signature(SignatureError::Mismatch))
        ));
        let unsigned = [("X-Event-Key", "repo:push"), ("X-Request-UUID", "{r}")];
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
            ("X-Request-UUID", "{r}"),
        ];
        let err = WebhookEvent::from_request(b"k", headers(&pairs), body).unwrap_err();
        assert!(
            err.to_string().contains("repo:push payload is not valid"),
            "{err}"
        );
        let pairs = [("X-Hub-Signature", sig.as_str()), ("X-Request-UUID", "{r}")];
        let err = WebhookEvent::from_request(b"k", headers(&pairs), body).unwrap_err();
        assert!(matches!(err, EventError::MissingHeader("X-Event-Key")));
    }

    #[test]
    fn other_events_keep_the_repository() {
        let body = br#"{"repository": {"uuid": "{r2}", "full_name": "acme/x"}, "pullrequest": {}}"#;
        let sig = sign(b"k", body);
        let pairs = [
            ("X-Hub-Signature", sig.as_str()),
            ("X-Event-Key", "pullrequest:created"),
            ("X-Request-UUID", "{r}"),
        ];
        let event = WebhookEvent::from_request(b"k", headers(&pairs), body).unwrap();
        assert_eq!(event.repository().unwrap().uuid, "{r2}");
    }
}
