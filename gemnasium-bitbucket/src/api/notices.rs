//! Deprecations Bitbucket announces while answering: a `410` naming a `CHANGE-NNNN` means an
//! endpoint we call was removed. The client tells a [`DeprecationObserver`] of each one, so a
//! service can remember them (and `doctor` report them) beyond the error of one call.

use async_trait::async_trait;

/// Told of every answer that names a deprecation. Implementations must not fail the call:
/// they log their own failures.
#[async_trait]
pub trait DeprecationObserver: Send + Sync + std::fmt::Debug {
    /// An answer named deprecation `change` (such as `CHANGE-2770`), with its announcement
    /// URL when Bitbucket gave one.
    async fn deprecation_seen(&self, change: &str, announcement: Option<&str>);
}
