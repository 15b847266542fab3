//! Repository sync: listing every workspace's repositories, keeping exactly one webhook of ours
//! on tracked repositories, and authenticating webhook deliveries.
//!
//! The engine talks to Bitbucket through two narrow traits, [`RepositoryCatalogue`] and
//! [`HookApi`], so it can be tested against fakes.

mod bitbucket;
mod crawl;
mod engine_tests;
mod event;
mod hook_plan;
mod remote;
mod signature;
mod webhooks;
mod wire;

pub use self::bitbucket::BitbucketRepos;
pub use self::crawl::{
    crawl, CrawlError, CrawlOptions, CrawlReport, Quiet, SyncObserver, WorkspaceResult,
};
pub use self::event::{EventError, EventPayload, RefChange, RefState, RepositoryRef, WebhookEvent};
pub use self::hook_plan::{
    new_hook_secret, normalize_url, plan_hooks, DesiredHook, Hook, HookAction, HookPlan,
};
pub use self::remote::{
    HookApi, HookRequest, RemoteError, RemoteErrorKind, RepositoryCatalogue, WorkspaceRef,
};
pub use self::signature::{sign, verify_signature, SignatureError};
pub use self::webhooks::{
    reconcile_all, reconcile_webhook, untrack, HookError, HookOutcome, HookReport, HooksSummary,
};
pub use self::wire::{
    HookBody, WireRepository, WorkspaceAccess, REPOSITORY_FIELDS, WORKSPACE_FIELDS,
};
