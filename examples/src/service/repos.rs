//! Repositories: the page listing what the last sync recorded, with a "track" button, and the
//! sync itself (on demand, and periodically until shutdown).

use std::fmt::Write as _;
use std::time::Duration;

use axum::extract::{Form, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use gemnasium_bitbucket::model::HookEvents;
use gemnasium_bitbucket::service::SyncOptions;
use gemnasium_bitbucket::sync::Quiet;
use serde::Deserialize;
use tokio::sync::watch;

use super::auth::current_user;
use super::html::{escape, page, refusal};
use super::state::AppState;

/// Runs one sync of the provider's source with the only account that authorized sync: lists
/// repositories, and (unless `listing_only`) keeps one webhook of ours on each tracked one.
/// Records and returns a one-line outcome.
pub async fn sync_now(state: &AppState, listing_only: bool) -> String {
    let _running = state.sync_lock.lock().await;
    let outcome = match run_sync(state, listing_only).await {
        Ok(outcome) => outcome,
        Err(e) => format!("sync failed: {e}"),
    };
    tracing::info!(%outcome, "sync");
    state.set_last_sync(outcome.clone());
    outcome
}

async fn run_sync(
    state: &AppState,
    listing_only: bool,
) -> Result<String, gemnasium_bitbucket::Error> {
    let bitbucket = &state.bitbucket;
    let credential = bitbucket.default_credential(&state.provider).await?;
    let mut options = SyncOptions::new();
    if !listing_only {
        options = options.hooks(state.hooks_url.clone(), HookEvents::push());
    }
    let report = bitbucket
        .syncer(&state.provider, credential)
        .await?
        .sync(&options, &Quiet)
        .await?;
    let mut outcome = format!("listed {} repositories", report.crawl.repositories);
    if let Some(hooks) = &report.hooks {
        let _ = write!(
            outcome,
            "; webhooks: {} created, {} updated, {} unchanged",
            hooks.created, hooks.updated, hooks.unchanged
        );
    }
    if !report.complete() {
        outcome.push_str(" (incomplete: see the logs)");
    }
    Ok(outcome)
}

/// Syncs every `interval` until `shutdown` changes.
pub async fn periodic(state: AppState, interval: Duration, mut shutdown: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => { sync_now(&state, false).await; }
            _ = shutdown.changed() => break,
        }
    }
    tracing::info!("periodic sync stopped");
}

/// `GET /repositories`.
pub async fn list(State(state): State<AppState>) -> Response {
    let store = state.bitbucket.store();
    let (listed, tracked) = match (
        store.repositories(&state.provider, None).await,
        store.tracked(&state.provider).await,
    ) {
        (Ok(listed), Ok(tracked)) => (listed, tracked),
        (Err(e), _) | (_, Err(e)) => {
            return refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Store error",
                &e.to_string(),
            )
        }
    };
    let mut body = String::new();
    if let Some(last) = state.last_sync() {
        let _ = write!(body, "<p id=\"last-sync\">Last sync: {}</p>", escape(&last));
    }
    body.push_str(
        "<p><a href=\"/auth/auth/bitbucket.org/sync\">Connect Bitbucket repositories</a> \
         <form method=\"post\" action=\"/repositories/sync\" style=\"display:inline\">\
         <button id=\"sync-now\">Sync now</button></form></p>",
    );
    if listed.is_empty() {
        body.push_str("<p>No repositories listed yet: connect Bitbucket, then sync.</p>");
    }
    body.push_str("<table><tr><th>repository</th><th>private</th><th>tracking</th></tr>");
    let mut names: Vec<_> = listed
        .iter()
        .filter(|r| r.gone_since.is_none())
        .map(|r| (&r.repository.full_name, r.repository.is_private))
        .collect();
    names.sort();
    names.dedup();
    for (name, private) in names {
        let tracking = match tracked.iter().find(|t| &t.full_name == name) {
            Some(t) if t.hook.is_some() => "tracked (webhook installed)".to_owned(),
            Some(_) => "tracked (webhook pending)".to_owned(),
            None => format!(
                "<form method=\"post\" action=\"/repositories/track\">\
                 <button name=\"repo\" value=\"{0}\">Track</button></form>",
                escape(name)
            ),
        };
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(name),
            if private { "yes" } else { "no" },
            tracking
        );
    }
    body.push_str("</table>");
    page(StatusCode::OK, "Repositories", &body)
}

/// The form of the "track" button.
#[derive(Debug, Deserialize)]
pub struct TrackForm {
    repo: String,
}

/// `POST /repositories/track`: tracks one repository, then syncs so that its webhook is
/// installed at once. Needs a signed-in session (the cookie is SameSite=Lax, so other sites
/// cannot post this form with it).
pub async fn track(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<TrackForm>,
) -> Response {
    if current_user(&state, &headers).is_none() {
        return refusal(
            StatusCode::FORBIDDEN,
            "Sign in first",
            "Sign in with Bitbucket to track repositories.",
        );
    }
    if let Err(e) = state
        .bitbucket
        .track(&state.provider, std::slice::from_ref(&form.repo))
        .await
    {
        return refusal(StatusCode::BAD_REQUEST, "Cannot track", &e.to_string());
    }
    tracing::info!(repository = %form.repo, "tracked");
    sync_now(&state, false).await;
    (StatusCode::SEE_OTHER, [(LOCATION, "/repositories")]).into_response()
}

/// `POST /repositories/sync`: a sync now (signed-in sessions only).
pub async fn sync(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if current_user(&state, &headers).is_none() {
        return refusal(
            StatusCode::FORBIDDEN,
            "Sign in first",
            "Sign in with Bitbucket to sync.",
        );
    }
    sync_now(&state, false).await;
    (StatusCode::SEE_OTHER, [(LOCATION, "/repositories")]).into_response()
}
