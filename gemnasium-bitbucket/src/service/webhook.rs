//! Receiving a webhook delivery: find the secret of the hook that sent it, verify the
//! signature, parse.

use thiserror::Error;

use chrono::{DateTime, Utc};

use super::Bitbucket;
use crate::model::RequestUuid;
use crate::store::{DeliveryClaim, StoreError, TrackedRepository};
use crate::sync::{EventError, WebhookEvent};

/// A verified delivery and the tracked repository whose hook sent it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReceivedWebhook {
    /// The delivery.
    pub event: WebhookEvent,
    /// The repository whose hook sent it (with the hook record).
    pub repository: TrackedRepository,
}

/// Why a delivery was refused. [`status`](Self::status) is the HTTP status to answer with.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// No `X-Hook-UUID`: not a Bitbucket delivery, so no secret to check it with.
    #[error("the delivery has no X-Hook-UUID header, so it cannot be authenticated")]
    NoHookUuid,
    /// The hook is not one of ours (unknown, or its repository is no longer tracked).
    #[error("the delivery names webhook {0}, which is not one of ours")]
    UnknownHook(String),
    /// The signature, headers or payload were refused.
    #[error(transparent)]
    Event(#[from] EventError),
    /// The payload is about another repository than the hook's.
    #[error("the delivery is about repository {got}, but its hook belongs to {expected}")]
    RepositoryMismatch {
        /// The hook's repository.
        expected: String,
        /// The payload's repository.
        got: String,
    },
    /// The delivery was received before (Bitbucket redelivers with the same `X-Request-UUID`
    /// when an answer is slow or a 5xx): authentic, but already handled, so not processed
    /// again. Answer 200 so that Bitbucket stops retrying.
    #[error("delivery {request}{} was already received at {}; not processed again",
        attempt.map(|a| format!(" (attempt {a})")).unwrap_or_default(),
        first_received.format("%Y-%m-%d %H:%M:%S UTC"))]
    Duplicate {
        /// `X-Request-UUID`.
        request: RequestUuid,
        /// `X-Attempt-Number`, when sent.
        attempt: Option<u32>,
        /// When the first attempt was received.
        first_received: DateTime<Utc>,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl WebhookError {
    /// The HTTP status to answer: 401 for anything that fails authentication, 400 for a
    /// malformed signed payload, 500 (so that Bitbucket retries) when the store failed, 200
    /// for a duplicate (so that it stops retrying).
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            WebhookError::Duplicate { .. } => 200,
            WebhookError::Store(_) => 500,
            WebhookError::Event(
                EventError::Payload { .. }
                | EventError::MissingHeader(_)
                | EventError::InvalidHeader(_),
            )
            | WebhookError::RepositoryMismatch { .. } => 400,
            _ => 401,
        }
    }
}

impl Bitbucket {
    /// Authenticates and parses a delivery: the hook named by `X-Hook-UUID` (braced or not)
    /// must be one of ours, its recorded secret must verify `X-Hub-Signature` over the raw
    /// `body`, and the payload must be about that hook's repository. `header` looks a request
    /// header up by name, case-insensitively (as any HTTP framework does).
    ///
    /// ```no_run
    /// # async fn demo(bitbucket: gemnasium_bitbucket::Bitbucket, headers: std::collections::HashMap<String, String>, body: Vec<u8>) {
    /// let header = |name: &str| headers.get(&name.to_ascii_lowercase()).map(String::as_str);
    /// match bitbucket.receive_webhook(header, &body).await {
    ///     Ok(delivery) => println!("{} on {}", delivery.event.event_key, delivery.repository.full_name),
    ///     Err(refused) => eprintln!("answer HTTP {}: {refused}", refused.status()),
    /// }
    /// # }
    /// ```
    ///
    /// An authentic delivery's `X-Request-UUID` is remembered (for the handle's
    /// [delivery retention](super::BitbucketBuilder::delivery_retention)): a redelivery of it,
    /// whatever its `X-Attempt-Number`, is [`WebhookError::Duplicate`], so it is processed once.
    /// If processing a delivery fails, call [`forget_delivery`](Self::forget_delivery) before
    /// answering 5xx, so that Bitbucket's retry is processed.
    ///
    /// # Errors
    /// [`WebhookError`]; nothing is recorded for a refused delivery.
    pub async fn receive_webhook<'a>(
        &self,
        header: impl Fn(&str) -> Option<&'a str>,
        body: &[u8],
    ) -> Result<ReceivedWebhook, WebhookError> {
        let hook = WebhookEvent::hook_uuid_of(&header)?.ok_or(WebhookError::NoHookUuid)?;
        let repository = self
            .store()
            .tracked_by_hook(&hook)
            .await?
            .ok_or_else(|| WebhookError::UnknownHook(hook.to_string()))?;
        let secret = repository
            .hook
            .as_ref()
            .map(|h| h.secret.clone())
            .ok_or_else(|| WebhookError::UnknownHook(hook.to_string()))?;
        let event = WebhookEvent::from_request(secret.expose_secret().as_bytes(), &header, body)?;
        if let Some(about) = event.repository() {
            if about.uuid != repository.uuid {
                return Err(WebhookError::RepositoryMismatch {
                    expected: repository.full_name.clone(),
                    got: about.full_name.clone(),
                });
            }
        }
        // Signed with the hook's secret: the hook works, so syncs need not list it for a while.
        // A failure to record that only costs a hook check later: the delivery is still good.
        if let Err(e) = self
            .store()
            .prove_hook(&repository.source, &repository.uuid, Utc::now())
            .await
        {
            tracing::warn!(repository = %repository.full_name, error = %e, "could not record the hook's proof");
        }
        // Only now, authenticated: an unsigned request cannot mark an id as seen.
        let claim = self
            .store()
            .claim_delivery(&event.request_uuid, Utc::now(), self.delivery_retention())
            .await?;
        if let DeliveryClaim::Duplicate { first_received } = claim {
            tracing::info!(request = %event.request_uuid, attempt = ?event.attempt, "redelivery recognised; not processed again");
            return Err(WebhookError::Duplicate {
                request: event.request_uuid,
                attempt: event.attempt,
                first_received,
            });
        }
        Ok(ReceivedWebhook { event, repository })
    }

    /// Forgets a received delivery, so that Bitbucket's retry of it is processed: call it when
    /// processing failed and the answer will be a 5xx.
    ///
    /// # Errors
    /// The store's failure.
    pub async fn forget_delivery(&self, delivery: &ReceivedWebhook) -> Result<(), StoreError> {
        self.store()
            .release_delivery(&delivery.event.request_uuid)
            .await
    }
}
