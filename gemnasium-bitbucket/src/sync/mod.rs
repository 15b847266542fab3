//! Repository sync: webhook signatures and deliveries (the crawl and webhook reconciliation
//! build on the REST layer in [`crate::api`]).

mod event;
mod hook_plan;
mod signature;

pub use self::event::{EventError, EventPayload, RefChange, RefState, RepositoryRef, WebhookEvent};
pub use self::hook_plan::{
    new_hook_secret, normalize_url, plan_hooks, DesiredHook, Hook, HookAction, HookPlan,
};
pub use self::signature::{sign, verify_signature, SignatureError};
