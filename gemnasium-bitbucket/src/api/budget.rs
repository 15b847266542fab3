//! A per-consumer request budget: at most N requests per rolling window. Bitbucket's limits are
//! per hour and (for OAuth consumers) shared by every user of the consumer, so a long sync
//! paces itself instead of running into a 429 storm.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Requests allowed per rolling window, shared by every request made with it.
#[derive(Debug)]
pub struct RequestBudget {
    limit: usize,
    window: Duration,
    sent: Mutex<VecDeque<Instant>>,
}

impl RequestBudget {
    /// `limit` requests per `window` (Bitbucket: 1,000 per hour for most resources).
    #[must_use]
    pub fn new(limit: usize, window: Duration) -> Self {
        Self {
            limit: limit.max(1),
            window,
            sent: Mutex::new(VecDeque::new()),
        }
    }

    /// Bitbucket's documented budget: 1,000 requests per hour.
    #[must_use]
    pub fn bitbucket_default() -> Self {
        Self::new(1_000, Duration::from_secs(3600))
    }

    /// Waits until a request may be sent, then counts it.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut sent = self.sent.lock().await;
                let now = Instant::now();
                while sent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= self.window)
                {
                    sent.pop_front();
                }
                if sent.len() < self.limit {
                    sent.push_back(now);
                    return;
                }
                self.window - now.duration_since(*sent.front().expect("full, so not empty"))
            };
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
}
