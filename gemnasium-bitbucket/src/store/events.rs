//! What the store remembers of things Bitbucket sent us: webhook deliveries seen recently (to
//! recognise redeliveries) and deprecations it announced (for `doctor` to report).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::StoreError;
use crate::model::RequestUuid;

/// What claiming a delivery found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum DeliveryClaim {
    /// Not seen within the retention: process it.
    First,
    /// Seen already (Bitbucket redelivers with the same `X-Request-UUID`): do not process it.
    Duplicate {
        /// When it was first received.
        first_received: DateTime<Utc>,
    },
}

/// A deprecation Bitbucket announced by answering `410` with a `CHANGE-NNNN` reference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DeprecationNotice {
    /// The reference, such as `CHANGE-2770`.
    pub change: String,
    /// The announcement URL, when Bitbucket gave one (the latest seen).
    pub announcement: Option<String>,
    /// When an answer first named it.
    pub first_seen: DateTime<Utc>,
    /// When an answer last named it.
    pub last_seen: DateTime<Utc>,
    /// How many answers named it.
    pub count: i64,
}

/// Deliveries seen recently, deprecations seen, and when `doctor` last reported them.
/// Times are kept to the millisecond by every backend.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Records delivery `request` as received at `now` unless it was seen within `retention`
    /// before; one atomic step, so that two concurrent attempts of one delivery never both
    /// get [`DeliveryClaim::First`]. Ids older than `retention` are forgotten on the way:
    /// retention bounds what the store keeps.
    async fn claim_delivery(
        &self,
        request: &RequestUuid,
        now: DateTime<Utc>,
        retention: chrono::Duration,
    ) -> Result<DeliveryClaim, StoreError>;

    /// Forgets delivery `request` (its processing failed, so Bitbucket's retry must get
    /// through). No effect if it is not recorded.
    async fn release_delivery(&self, request: &RequestUuid) -> Result<(), StoreError>;

    /// Records that an answer at `seen_at` named deprecation `change` (with its announcement
    /// URL, when given).
    async fn record_deprecation(
        &self,
        change: &str,
        announcement: Option<&str>,
        seen_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Every deprecation seen, by reference.
    async fn deprecations(&self) -> Result<Vec<DeprecationNotice>, StoreError>;

    /// When `doctor` last reported deprecations, if ever.
    async fn doctor_reported_at(&self) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Records that `doctor` reported deprecations at `at`.
    async fn set_doctor_reported_at(&self, at: DateTime<Utc>) -> Result<(), StoreError>;
}

/// `t` in unix milliseconds, the precision every backend keeps here.
pub(crate) fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// Unix milliseconds as a time.
pub(crate) fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The oldest time a delivery received at `now` keeps in mind (no panic on a huge retention).
pub(crate) fn oldest_kept(now: DateTime<Utc>, retention: chrono::Duration) -> DateTime<Utc> {
    now.checked_sub_signed(retention)
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The `store_meta` name of doctor's last report.
pub(crate) const DOCTOR_REPORTED_AT: &str = "doctor_reported_at_ms";
