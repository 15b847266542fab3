//! `POST /hooks/bitbucket`: webhook deliveries, verified by the library against the stored
//! secret of the hook that sent them; `GET /events`: the push events received.

use std::fmt::Write as _;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use gemnasium_bitbucket::service::WebhookError;
use gemnasium_bitbucket::sync::EventPayload;

use super::html::{escape, page};
use super::state::{AppState, PushEvent};

/// Answers fast: 204 when recorded, 200 for a redelivery (the library recognises it by its
/// `X-Request-UUID` and does not hand it over again), the library's status (401 unsigned or
/// tampered, 400 malformed, 500 store failure) for a refusal, nothing recorded.
pub async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let delivery = match state.bitbucket.receive_webhook(header, &body).await {
        Ok(delivery) => delivery,
        Err(duplicate @ WebhookError::Duplicate { .. }) => {
            tracing::info!(%duplicate, "redelivery ignored");
            return (StatusCode::OK, "already received").into_response();
        }
        Err(refused) => {
            tracing::warn!(reason = %refused, "webhook delivery refused");
            let status = StatusCode::from_u16(refused.status()).unwrap_or(StatusCode::UNAUTHORIZED);
            return (status, refused.to_string()).into_response();
        }
    };
    let event = delivery.event;
    // Shown as Bitbucket sent it (without braces); compared in the library's normal form.
    let request_uuid = header("X-Request-UUID")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let changes = match &event.payload {
        EventPayload::Push { changes, .. } => changes
            .iter()
            .map(|c| match &c.new {
                Some(new) => format!("{}@{}", new.name, &new.target[..new.target.len().min(12)]),
                None => "deleted".to_owned(),
            })
            .collect(),
        _ => Vec::new(),
    };
    let actor = event
        .actor
        .as_ref()
        .and_then(|a| a.display_name.clone().or_else(|| a.nickname.clone()));
    tracing::info!(%request_uuid, event = %event.event_key, repository = %delivery.repository.full_name, "webhook received");
    state.record_event(PushEvent {
        received_at: chrono::Utc::now(),
        request_uuid,
        event_key: event.event_key.clone(),
        repository: delivery.repository.full_name.clone(),
        changes,
        actor,
        attempt: event.attempt,
    });
    StatusCode::NO_CONTENT.into_response()
}

/// `GET /events`.
pub async fn list(State(state): State<AppState>) -> Response {
    let events = state.events();
    let mut body = String::new();
    if events.is_empty() {
        body.push_str("<p>No push received yet.</p>");
    }
    body.push_str("<table id=\"events\"><tr><th>received</th><th>X-Request-UUID</th><th>event</th><th>repository</th><th>changes</th><th>by</th></tr>");
    for e in events {
        let _ = write!(
            body,
            "<tr class=\"event\"><td>{}</td><td class=\"request-uuid\">{}</td><td>{}</td><td class=\"repository\">{}</td><td>{}</td><td>{}</td></tr>",
            e.received_at.format("%Y-%m-%d %H:%M:%S UTC"),
            escape(&e.request_uuid),
            escape(&e.event_key),
            escape(&e.repository),
            escape(&e.changes.join(", ")),
            escape(e.actor.as_deref().unwrap_or("")),
        );
    }
    body.push_str("</table>");
    page(StatusCode::OK, "Push events", &body)
}
