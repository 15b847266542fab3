//! A Gemnasium-like web service that embeds the library through the [`Bitbucket`] handle only,
//! over one store:
//!
//! | route | what |
//! |---|---|
//! | `GET /` | who is signed in; "Sign in with Bitbucket" |
//! | `GET /auth/auth/bitbucket.org` | the consumer's registered callback: starts a sign-in (or finishes one) |
//! | `GET /auth/auth/bitbucket.org/{login,sync}` | starts a sign-in for that purpose |
//! | `GET /auth/auth/bitbucket.org/{login,sync}/callback` | Bitbucket sends the browser back here |
//! | `GET /repositories`, `POST /repositories/track`, `POST /repositories/sync` | synced repositories, tracking |
//! | `POST /hooks/bitbucket` | webhook deliveries |
//! | `GET /events` | push events received |
//!
//! A periodic task syncs (`--sync-interval`) and installs webhooks on tracked repositories.
//! SIGINT or SIGTERM stops it gracefully.

mod auth;
pub mod config;
pub mod cookies;
mod hooks;
pub mod html;
mod repos;
pub mod state;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use clap::Parser;
use gemnasium_bitbucket::model::ServiceUrl;
use gemnasium_bitbucket::Bitbucket;
use tokio::sync::watch;

use self::config::Config;
use self::cookies::CookieKey;
use self::html::{escape, page};
use self::state::AppState;

/// The routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/auth/auth/bitbucket.org", get(auth::root))
        .route("/auth/auth/bitbucket.org/{purpose}", get(auth::begin))
        .route(
            "/auth/auth/bitbucket.org/{purpose}/callback",
            get(auth::callback),
        )
        .route("/repositories", get(repos::list))
        .route("/repositories/track", post(repos::track))
        .route("/repositories/sync", post(repos::sync))
        .route("/hooks/bitbucket", post(hooks::receive))
        .route("/events", get(hooks::list))
        .with_state(state)
}

async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let body = match auth::current_user(&state, &headers) {
        Some(user) => format!(
            "<p class=\"ok\" id=\"signed-in\">Signed in as <b>{}</b> ({}).</p>\
             <p><a href=\"/repositories\">Repositories</a> · <a href=\"/events\">Push events</a></p>",
            escape(&user.shown),
            escape(user.nickname.as_deref().unwrap_or(""))
        ),
        None => "<p>Gemnasium watches your repositories' dependencies.</p>\
                 <p><a id=\"sign-in\" href=\"/auth/auth/bitbucket.org\">Sign in with Bitbucket</a></p>"
            .to_owned(),
    };
    page(StatusCode::OK, "Gemnasium (example)", &body)
}

/// Runs the service until SIGINT or SIGTERM.
///
/// # Errors
/// A bad flag value, a store that cannot be opened, an address that cannot be bound.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let provider = config.provider.parse().context("invalid --provider")?;
    // The same key the CLI uses (GEMNASIUM_SECRET_KEY / _FILE) encrypts secrets at rest.
    let options = gemnasium_bitbucket::store::StoreOptions::from_env()?;
    let store = gemnasium_bitbucket::store::open_with(&config.store, &options)
        .await
        .with_context(|| "cannot open the store (--store / GEMNASIUM_STORE)")?;
    let bitbucket = Bitbucket::builder(store)
        .timeout(Duration::from_secs(config.timeout.max(1)))
        .user_agent(concat!(
            "gemnasium-example-service/",
            env!("CARGO_PKG_VERSION")
        ))
        .build()?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let bound = listener.local_addr()?;
    let homepage = ServiceUrl::parse(
        "homepage URL",
        &config
            .homepage
            .clone()
            .unwrap_or_else(|| format!("http://{bound}")),
    )?;
    let hooks_url = ServiceUrl::parse(
        "hooks URL",
        &format!(
            "{}/hooks/bitbucket",
            homepage.to_string().trim_end_matches('/')
        ),
    )?;
    let cookie_key = match &config.cookie_key {
        Some(hex_key) => CookieKey::from_hex(hex_key)?,
        None => CookieKey::random(),
    };
    let state = AppState::new(bitbucket, provider, homepage.clone(), hooks_url, cookie_key);
    let (stop, stopped) = watch::channel(false);
    let periodic = config
        .interval()
        .map(|every| tokio::spawn(repos::periodic(state.clone(), every, stopped)));
    // Scripts wait for this line; it is on stdout, logs are on stderr.
    println!("service listening on http://{bound} (homepage {homepage})");
    tracing::info!(%bound, %homepage, "listening");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    let _ = stop.send(true);
    if let Some(task) = periodic {
        let _ = task.await;
    }
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM");
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutting down");
}

/// Parses flags and the environment, sets up logs (`RUST_LOG`, default `info`) and runs.
#[must_use]
pub fn main() -> ExitCode {
    let config = Config::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
