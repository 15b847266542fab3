//! A request budget: at most N requests per rolling window. Bitbucket's limits are per hour
//! and (for OAuth consumers) shared by every user of the consumer, so a long sync paces itself
//! instead of running into a 429 storm.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// A budget kept outside this client: shared by the accounts of one consumer, and by processes
/// (the service keeps it in its store). Asked once per request, after the client's own
/// [`RequestBudget`].
#[async_trait::async_trait]
pub trait BudgetLedger: Send + Sync + std::fmt::Debug {
    /// Takes one request from the budget.
    ///
    /// # Errors
    /// [`BudgetSpent`] when none may be sent now.
    async fn take(&self) -> Result<(), BudgetSpent>;
}

/// The shared budget allows no request now.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}{}", resume_after.map(|t| format!("; resume after {}", t.format("%Y-%m-%d %H:%M:%S UTC"))).unwrap_or_default())]
pub struct BudgetSpent {
    /// What is spent (the consumer's budget, or this account's share of it).
    pub reason: String,
    /// When requests free up, when known.
    pub resume_after: Option<chrono::DateTime<chrono::Utc>>,
}

/// Requests allowed per rolling window, shared by every request made with it.
#[derive(Debug)]
pub struct RequestBudget {
    limit: AtomicUsize,
    window: Duration,
    sent: Mutex<VecDeque<Instant>>,
}

impl RequestBudget {
    /// `limit` requests per `window` (Bitbucket: 1,000 per hour for most resources).
    #[must_use]
    pub fn new(limit: usize, window: Duration) -> Self {
        Self {
            limit: AtomicUsize::new(limit.max(1)),
            window,
            sent: Mutex::new(VecDeque::new()),
        }
    }

    /// Bitbucket's documented budget: 1,000 requests per hour.
    #[must_use]
    pub fn bitbucket_default() -> Self {
        Self::new(1_000, Duration::from_secs(3600))
    }

    /// The current limit per window.
    #[must_use]
    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// Adopts the limit Bitbucket announced (`X-RateLimit-Limit`), which knows better than our
    /// default (access tokens get scaled limits).
    pub fn observe_limit(&self, limit: usize) {
        self.limit.store(limit.max(1), Ordering::Relaxed);
    }

    /// Adopts Bitbucket's `X-RateLimit-NearLimit: true` (fewer than a fifth of the requests
    /// remain, by Atlassian's description): counts the current window as at least four fifths
    /// spent, so the rest of the run paces itself instead of running into 429s. The requests
    /// Bitbucket counted may be older than ours; dating them now is the cautious guess.
    pub async fn observe_near_limit(&self) {
        let mut sent = self.sent.lock().await;
        let now = Instant::now();
        while sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            sent.pop_front();
        }
        let spent = self.limit().saturating_mul(4).div_ceil(5);
        while sent.len() < spent {
            sent.push_back(now);
        }
    }

    /// Counts a request if the budget allows one now; otherwise how long until it does.
    ///
    /// # Errors
    /// The wait until a request is allowed.
    pub async fn try_acquire(&self) -> Result<(), Duration> {
        let mut sent = self.sent.lock().await;
        let now = Instant::now();
        while sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            sent.pop_front();
        }
        let limit = self.limit();
        if sent.len() < limit {
            sent.push_back(now);
            return Ok(());
        }
        // The request that frees a place is the one `limit` places from the end.
        let oldest_blocking = sent[sent.len() - limit];
        Err(self.window - now.duration_since(oldest_blocking))
    }

    /// Waits until a request may be sent, then counts it.
    pub async fn acquire(&self) {
        while let Err(wait) = self.try_acquire().await {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn paces_requests_over_the_window() {
        let budget = RequestBudget::new(3, Duration::from_secs(60));
        let start = Instant::now();
        for _ in 0..3 {
            budget.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "within budget: no wait");
        assert_eq!(budget.try_acquire().await, Err(Duration::from_secs(60)));
        budget.acquire().await;
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(60),
            "the 4th waits for the window"
        );
        for _ in 0..2 {
            budget.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::from_secs(60));
        budget.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(120));
    }

    #[tokio::test(start_paused = true)]
    async fn near_limit_leaves_a_fifth_of_the_window() {
        let budget = RequestBudget::new(10, Duration::from_secs(60));
        budget.acquire().await;
        budget.observe_near_limit().await;
        for _ in 0..2 {
            assert_eq!(budget.try_acquire().await, Ok(()));
        }
        assert!(
            budget.try_acquire().await.is_err(),
            "8 of 10 counted as spent"
        );
        budget.observe_near_limit().await;
        assert!(budget.try_acquire().await.is_err(), "never frees places");
    }

    #[tokio::test(start_paused = true)]
    async fn a_lower_announced_limit_applies_at_once() {
        let budget = RequestBudget::new(10, Duration::from_secs(60));
        budget.acquire().await;
        budget.acquire().await;
        budget.observe_limit(2);
        assert!(budget.try_acquire().await.is_err());
    }
}
