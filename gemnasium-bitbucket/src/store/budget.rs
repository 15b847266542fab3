//! A consumer's request budget kept in the store, so that every account syncing through one
//! OAuth consumer, in this process or another sharing the database, draws from one budget
//! (Bitbucket counts OAuth calls against the consumer, facts §9), and no account can take more
//! than its cap of it.
//!
//! The window is cut into 60 slots; what was taken in the last 60 slots counts, which follows
//! Bitbucket's rolling hour to within one slot. Callers reserve small batches, not single
//! requests, so the store is written once per batch.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;

/// Slots per window.
pub(crate) const SLOTS: i64 = 60;

/// How much of a consumer's budget may be taken.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BudgetPolicy {
    /// Requests per window for the whole consumer (Bitbucket: 1,000 per hour).
    pub limit: u64,
    /// The rolling window.
    pub window: Duration,
    /// Most requests one account may take per window, so that a large account cannot starve
    /// the others.
    pub account_cap: u64,
}

impl BudgetPolicy {
    /// `limit` requests per `window`, at most `account_cap` of them (capped to `limit`) for one
    /// account.
    #[must_use]
    pub fn new(limit: u64, window: Duration, account_cap: u64) -> Self {
        let limit = limit.max(1);
        Self {
            limit,
            window,
            account_cap: account_cap.clamp(1, limit),
        }
    }

    /// Seconds per slot (at least one).
    pub(crate) fn slot_seconds(&self) -> i64 {
        i64::try_from(self.window.as_secs()).unwrap_or(i64::MAX) / SLOTS
    }

    /// The slot `now` falls in.
    pub(crate) fn slot(&self, now: DateTime<Utc>) -> i64 {
        now.timestamp().max(0) / self.slot_seconds().max(1)
    }

    /// Slots after this one still count.
    pub(crate) fn oldest_counted(&self, now: DateTime<Utc>) -> i64 {
        self.slot(now) - SLOTS
    }
}

/// The outcome of a reservation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct BudgetGrant {
    /// Requests granted (0: none may be sent now).
    pub granted: u64,
    /// When nothing was granted: when requests free up again.
    pub resume_at: Option<DateTime<Utc>>,
}

/// A consumer's shared request budget.
#[async_trait]
pub trait BudgetStore: Send + Sync {
    /// Takes up to `want` requests from `consumer`'s budget for `account` at `now`: as many as
    /// both the consumer's limit and the account's cap leave (possibly none, then with the time
    /// they free up). Atomic across processes sharing the store.
    async fn reserve_requests(
        &self,
        consumer: &str,
        account: &str,
        policy: &BudgetPolicy,
        want: u64,
        now: DateTime<Utc>,
    ) -> Result<BudgetGrant, StoreError>;
}

/// The decision every backend makes from what was taken in the counted slots: `usage` holds
/// (slot, account, used) rows, all within the window.
pub(crate) fn decide(
    usage: &[(i64, String, u64)],
    account: &str,
    policy: &BudgetPolicy,
    want: u64,
) -> (u64, Option<DateTime<Utc>>) {
    let total: u64 = usage.iter().map(|(_, _, n)| n).sum();
    let mine: u64 = usage
        .iter()
        .filter(|(_, a, _)| a == account)
        .map(|(_, _, n)| n)
        .sum();
    let granted = want
        .min(policy.limit.saturating_sub(total))
        .min(policy.account_cap.saturating_sub(mine));
    if granted > 0 {
        return (granted, None);
    }
    // The oldest slot holding what blocks us (anyone's when the consumer is spent, ours when
    // our cap is) frees its requests when it leaves the window.
    let consumer_spent = total >= policy.limit;
    let oldest = usage
        .iter()
        .filter(|(_, a, n)| *n > 0 && (consumer_spent || a == account))
        .map(|(slot, _, _)| *slot)
        .min();
    let resume = oldest.and_then(|slot| {
        DateTime::from_timestamp((slot + SLOTS + 1) * policy.slot_seconds().max(1), 0)
    });
    (0, resume)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_within_the_limit_and_the_cap() {
        let policy = BudgetPolicy::new(10, Duration::from_secs(3600), 6);
        let usage = vec![(5, "a".to_owned(), 4), (6, "b".to_owned(), 3)];
        assert_eq!(
            decide(&usage, "a", &policy, 5),
            (2, None),
            "a's cap leaves 2"
        );
        assert_eq!(
            decide(&usage, "b", &policy, 5),
            (3, None),
            "the limit leaves 3"
        );
        let spent = vec![(5, "a".to_owned(), 6), (7, "b".to_owned(), 4)];
        let (granted, resume) = decide(&spent, "c", &policy, 1);
        assert_eq!(granted, 0);
        assert_eq!(
            resume.unwrap().timestamp(),
            (5 + 61) * 60,
            "the oldest slot frees first"
        );
        let (_, resume) = decide(&[(9, "a".to_owned(), 6)], "a", &policy, 1);
        assert_eq!(
            resume.unwrap().timestamp(),
            (9 + 61) * 60,
            "a's own oldest slot"
        );
    }

    #[test]
    fn the_cap_never_exceeds_the_limit() {
        let policy = BudgetPolicy::new(10, Duration::from_secs(3600), 50);
        assert_eq!(policy.account_cap, 10);
    }
}
