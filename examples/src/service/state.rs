//! What the service keeps in memory: sign-ins in progress, sessions, push events received, the
//! last sync's outcome. Everything durable is in the library's store (which also recognises
//! redelivered webhooks).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use gemnasium_bitbucket::model::{ProviderName, ServiceUrl};
use gemnasium_bitbucket::oauth::PendingParts;
use gemnasium_bitbucket::Bitbucket;

use super::cookies::CookieKey;

/// How long a sign-in may take between the redirect and the callback.
pub const PENDING_TTL: Duration = Duration::from_secs(600);

/// Shared by every request handler; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The library's handle.
    pub bitbucket: Bitbucket,
    /// The provider (and source) name.
    pub provider: ProviderName,
    /// This service's public URL.
    pub homepage: ServiceUrl,
    /// Where Bitbucket delivers webhooks: `{homepage}/hooks/bitbucket`.
    pub hooks_url: ServiceUrl,
    /// Signs cookies.
    pub cookie_key: CookieKey,
    /// Serialises syncs (periodic and on demand).
    pub sync_lock: Arc<tokio::sync::Mutex<()>>,
    memory: Arc<Mutex<Memory>>,
}

/// A signed-in user, as the session shows them.
#[derive(Clone, Debug)]
pub struct SessionUser {
    /// Display name or nickname.
    pub shown: String,
    /// Nickname.
    pub nickname: Option<String>,
}

/// One push event received.
#[derive(Clone, Debug)]
pub struct PushEvent {
    /// When it arrived.
    pub received_at: chrono::DateTime<chrono::Utc>,
    /// `X-Request-UUID`.
    pub request_uuid: String,
    /// `X-Event-Key`.
    pub event_key: String,
    /// `workspace/slug`.
    pub repository: String,
    /// `branch@commit` of each changed ref.
    pub changes: Vec<String>,
    /// Who pushed.
    pub actor: Option<String>,
    /// `X-Attempt-Number`.
    pub attempt: Option<u32>,
}

#[derive(Debug, Default)]
struct Memory {
    pending: HashMap<String, (PendingParts, Instant)>,
    sessions: HashMap<String, SessionUser>,
    events: Vec<PushEvent>,
    last_sync: Option<String>,
}

impl AppState {
    /// The state of a service for `provider` at `homepage`.
    #[must_use]
    pub fn new(
        bitbucket: Bitbucket,
        provider: ProviderName,
        homepage: ServiceUrl,
        hooks_url: ServiceUrl,
        cookie_key: CookieKey,
    ) -> Self {
        Self {
            bitbucket,
            provider,
            homepage,
            hooks_url,
            cookie_key,
            sync_lock: Arc::new(tokio::sync::Mutex::new(())),
            memory: Arc::new(Mutex::new(Memory::default())),
        }
    }

    fn memory(&self) -> MutexGuard<'_, Memory> {
        self.memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps a sign-in in progress under a new random id; returns the id.
    pub fn keep_pending(&self, parts: PendingParts) -> String {
        let id = super::cookies::random_id();
        let mut memory = self.memory();
        memory
            .pending
            .retain(|_, (_, at)| at.elapsed() < PENDING_TTL);
        memory.pending.insert(id.clone(), (parts, Instant::now()));
        id
    }

    /// Takes the sign-in in progress with `id` out (one callback per sign-in: a replay finds
    /// nothing).
    pub fn take_pending(&self, id: &str) -> Option<PendingParts> {
        self.memory()
            .pending
            .remove(id)
            .filter(|(_, at)| at.elapsed() < PENDING_TTL)
            .map(|(parts, _)| parts)
    }

    /// Opens a session for `user`; returns its id.
    pub fn open_session(&self, user: SessionUser) -> String {
        let id = super::cookies::random_id();
        self.memory().sessions.insert(id.clone(), user);
        id
    }

    /// The user of session `id`.
    pub fn session(&self, id: &str) -> Option<SessionUser> {
        self.memory().sessions.get(id).cloned()
    }

    /// Records a push event.
    pub fn record_event(&self, event: PushEvent) {
        self.memory().events.push(event);
    }

    /// Push events, newest first.
    pub fn events(&self) -> Vec<PushEvent> {
        self.memory().events.iter().rev().cloned().collect()
    }

    /// Records what the last sync did.
    pub fn set_last_sync(&self, outcome: String) {
        self.memory().last_sync = Some(outcome);
    }

    /// What the last sync did.
    pub fn last_sync(&self) -> Option<String> {
        self.memory().last_sync.clone()
    }
}
