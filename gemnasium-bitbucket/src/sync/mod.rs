//! Repository sync: listing every workspace's repositories, keeping exactly one webhook of ours
//! on tracked repositories, and authenticating webhook deliveries.
//!
//! The engine talks to Bitbucket through two narrow traits, [`RepositoryCatalogue`] and
//! [`HookApi`], so it can be tested against fakes; [`BitbucketRepos`] implements both over the
//! REST client.

mod bitbucket;
mod crawl;
#[cfg(all(test, feature = "testing"))]
mod engine_tests;
mod event;
mod hook_plan;
mod remote;
mod signature;
mod webhooks;

pub use self::bitbucket::{BitbucketRepos, WorkspaceScope};
pub use self::crawl::{
    crawl, CrawlError, CrawlOptions, CrawlReport, ListingReason, Quiet, SyncObserver,
    WorkspaceResult,
};
pub use self::event::{
    Actor, EventError, EventPayload, RefChange, RefState, RepositoryRef, WebhookEvent,
};
pub use self::hook_plan::{
    new_hook_secret, normalize_url, ours, plan_hooks, DesiredHook, HookAction, HookMarker, HookPlan,
};
pub use self::remote::{
    HookApi, NoHooks, RemoteError, RemoteErrorKind, RepositoryCatalogue, WorkspaceRef,
};
pub use self::signature::{sign, verify_signature, SignatureError};
pub use self::webhooks::{
    reconcile_all, reconcile_all_with, reconcile_webhook, untrack, HookError, HookLeases,
    HookOutcome, HookReport, HooksSummary, ReconcileOptions,
};
