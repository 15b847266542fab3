//! The REST client: credentials only to the configured origin, retries with capped exponential
//! backoff and full jitter (honouring `Retry-After` and `X-RateLimit-Reset` within a cap), a
//! pause of the whole client after a 429, the request budget, one renewal after a 401, a run
//! deadline, and typed errors for everything else.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use super::auth::{Auth, Authorization, Rejection};
use super::budget::{BudgetLedger, RequestBudget};
use super::envelope;
use super::error::ApiError;
use super::http::{read_body, Http, TransportError};
use super::notices::DeprecationObserver;
use crate::model::ServiceUrl;

/// How failed requests are retried, and how long one request may wait in all.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Delay before the first retry; doubles each time.
    pub base_delay: Duration,
    /// The longest single wait. A `Retry-After` (or reset) asking for more is not slept: the
    /// call fails at once, saying when to resume.
    pub max_delay: Duration,
    /// The most one request may spend waiting between its attempts, all waits together.
    pub max_total_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            max_total_wait: Duration::from_secs(180),
        }
    }
}

impl RetryPolicy {
    /// A policy: `max_attempts` in all, delays from `base_delay` doubling up to `max_delay`,
    /// at most `max_total_wait` of waiting per request.
    #[must_use]
    pub fn new(
        max_attempts: u32,
        base_delay: Duration,
        max_delay: Duration,
        max_total_wait: Duration,
    ) -> Self {
        Self {
            max_attempts: max_attempts.max(1),
            base_delay,
            max_delay,
            max_total_wait,
        }
    }

    /// The delay before retry number `retry` (1-based): full jitter over the capped exponential.
    fn delay(&self, retry: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << retry.saturating_sub(1).min(20));
        exp.min(self.max_delay).mul_f64(rand::random::<f64>())
    }
}

/// Settings of an [`ApiClient`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ApiConfig {
    /// The API origin as stored (`https://api.bitbucket.org`); `/2.0` is appended.
    pub api_url: ServiceUrl,
    /// Retries.
    pub retry: RetryPolicy,
    /// The budget, shared by every client of one consumer.
    pub budget: Arc<RequestBudget>,
    /// A budget kept outside the process (shared across accounts and processes), asked after
    /// [`budget`](Self::budget); none by default.
    pub ledger: Option<Arc<dyn BudgetLedger>>,
    /// Largest response body read.
    pub max_body: usize,
    /// Most pages followed in one listing.
    pub max_pages: usize,
    /// No wait may end after this instant: the run's time limit.
    pub deadline: Option<Instant>,
    /// Told of every `410` that names a `CHANGE-NNNN` deprecation.
    pub deprecations: Option<Arc<dyn DeprecationObserver>>,
}

impl ApiConfig {
    /// Defaults for `api_url`: 6 attempts from 1 s to 60 s (3 min of waits at most per
    /// request), 1,000 requests/hour, 16 MiB bodies, 1,000 pages, no deadline.
    #[must_use]
    pub fn new(api_url: ServiceUrl) -> Self {
        Self {
            api_url,
            retry: RetryPolicy::default(),
            budget: Arc::new(RequestBudget::bitbucket_default()),
            ledger: None,
            max_body: 16 * 1024 * 1024,
            max_pages: 1_000,
            deadline: None,
            deprecations: None,
        }
    }
}

/// Requests sent, retries made and bytes received, for summaries and benchmarks.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: AtomicU64,
    retries: AtomicU64,
    bytes: AtomicU64,
}

impl Metrics {
    /// Requests sent (each attempt counts).
    #[must_use]
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Retries made.
    #[must_use]
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Response body bytes received.
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

struct Inner {
    http: Http,
    config: ApiConfig,
    base: Url,
    origin: String,
    auth: Arc<dyn Auth>,
    not_before: Mutex<Option<Instant>>,
    deadline: std::sync::Mutex<Option<Instant>>,
    metrics: Metrics,
}

/// A Bitbucket REST client; cheap to clone. The area handlers ([`user`](Self::user),
/// [`workspaces`](Self::workspaces), [`repositories`](Self::repositories),
/// [`hooks`](Self::hooks)) hang off it.
#[derive(Clone)]
pub struct ApiClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("origin", &self.inner.origin)
            .finish_non_exhaustive()
    }
}

/// A successful response.
pub(crate) struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub content_type: String,
}

/// What a response said about rate limits.
#[derive(Default)]
struct RateHeaders {
    retry_after: Option<Duration>,
    reset: Option<Duration>,
    limit: Option<usize>,
    near_limit: bool,
}

impl ApiClient {
    /// A client for `config.api_url` over `http`, authenticating with `auth`.
    #[must_use]
    pub fn new(http: Http, config: ApiConfig, auth: Arc<dyn Auth>) -> Self {
        let base = config.api_url.join_path(&["2.0"]);
        let origin = config.api_url.origin();
        Self {
            inner: Arc::new(Inner {
                http,
                base,
                origin,
                auth,
                not_before: Mutex::new(None),
                deadline: std::sync::Mutex::new(config.deadline),
                config,
                metrics: Metrics::default(),
            }),
        }
    }

    /// Sets (or clears) the instant after which no wait may end: the run's time limit.
    pub fn set_deadline(&self, deadline: Option<Instant>) {
        *self
            .inner
            .deadline
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = deadline;
    }

    fn deadline(&self) -> Option<Instant> {
        *self
            .inner
            .deadline
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counters of requests, retries and bytes.
    #[must_use]
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &ApiConfig {
        &self.inner.config
    }

    /// `/2.0/{segments…}` under the configured origin (each segment percent-encoded).
    #[must_use]
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// Refuses any URL outside the configured origin before anything is sent.
    pub(crate) fn check_origin(&self, url: &Url) -> Result<(), ApiError> {
        if url.origin().ascii_serialization() == self.inner.origin {
            Ok(())
        } else {
            Err(ApiError::ForeignOrigin {
                url: format!("{}{}", url.origin().ascii_serialization(), url.path()),
                expected: self.inner.origin.clone(),
            })
        }
    }

    /// GETs `url` and parses its JSON.
    ///
    /// # Errors
    /// [`ApiError`] after retries.
    pub async fn get_json<T: DeserializeOwned>(&self, url: Url) -> Result<T, ApiError> {
        let reply = self.send(Method::GET, url, None).await?;
        parse(&reply)
    }

    /// Sends `body` as JSON with `method` and parses the JSON reply.
    ///
    /// # Errors
    /// [`ApiError`] after retries.
    pub async fn send_json<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: &impl serde::Serialize,
    ) -> Result<T, ApiError> {
        let body = serde_json::to_vec(body).map_err(|e| ApiError::Malformed {
            status: 0,
            content_type: "request".to_owned(),
            excerpt: e.to_string(),
        })?;
        let reply = self.send(method, url, Some(body)).await?;
        parse(&reply)
    }

    /// DELETEs `url`.
    ///
    /// # Errors
    /// [`ApiError`] after retries.
    pub async fn delete(&self, url: Url) -> Result<(), ApiError> {
        self.send(Method::DELETE, url, None).await.map(|_| ())
    }

    /// Waits for our turn: the client-wide pause after a 429, then the budget. A wait past the
    /// cap of one wait or the deadline is not slept.
    async fn wait_turn(&self, attempts: u32) -> Result<(), ApiError> {
        let until = *self.inner.not_before.lock().await;
        if let Some(until) = until {
            self.sleep_until(until, attempts)?.await;
        }
        let budget = &self.inner.config.budget;
        loop {
            match budget.try_acquire().await {
                Ok(()) => {
                    // The shared budget is not waited for: what it frees takes minutes, so
                    // the run stops and says when to resume.
                    if let Some(ledger) = &self.inner.config.ledger {
                        ledger.take().await?;
                    }
                    return Ok(());
                }
                Err(wait) => {
                    tracing::info!(seconds = wait.as_secs(), "request budget spent; waiting");
                    self.sleep_until(Instant::now() + wait, attempts)?.await;
                }
            }
        }
    }

    /// A sleep until `until`, or the error to return when that wait is not allowed.
    fn sleep_until(&self, until: Instant, attempts: u32) -> Result<tokio::time::Sleep, ApiError> {
        let now = Instant::now();
        let wait = until.saturating_duration_since(now);
        let too_long =
            wait > self.inner.config.retry.max_delay || self.deadline().is_some_and(|d| until > d);
        if too_long {
            return Err(ApiError::RateLimited {
                attempts,
                resume_after: Some(resume_at(wait)),
            });
        }
        Ok(tokio::time::sleep_until(until))
    }

    async fn pause_all(&self, delay: Duration) {
        let until = Instant::now() + delay;
        let mut not_before = self.inner.not_before.lock().await;
        if not_before.is_none_or(|t| t < until) {
            *not_before = Some(until);
        }
    }

    pub(crate) async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
    ) -> Result<Reply, ApiError> {
        self.check_origin(&url)?;
        let policy = &self.inner.config.retry;
        let mut authorization: Authorization = self.inner.auth.authorization().await?;
        let mut renewed = false;
        let mut attempt = 0;
        let mut waited = Duration::ZERO;
        loop {
            attempt += 1;
            self.wait_turn(attempt - 1).await?;
            self.inner.metrics.requests.fetch_add(1, Ordering::Relaxed);
            let mut request = authorization.apply(
                self.inner
                    .http
                    .client()
                    .request(method.clone(), url.clone()),
            );
            if let Some(body) = &body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            let outcome = match request.send().await {
                Ok(response) => Ok(self.read(response).await),
                Err(e) => Err(super::http::describe(&e)),
            };
            let (status, suggested, message) = match outcome {
                Err(reason) if attempt >= policy.max_attempts => {
                    return Err(ApiError::Network {
                        attempts: attempt,
                        reason,
                    })
                }
                Err(reason) => {
                    tracing::info!(attempt, %reason, "network error; will retry");
                    (0, None, reason)
                }
                Ok(Err(e)) => return Err(e),
                Ok(Ok((reply, rate))) => {
                    self.observe(&rate).await;
                    let status = reply.status;
                    if (200..300).contains(&status) {
                        return Ok(reply);
                    }
                    let error = envelope::parse(&reply.body);
                    match status {
                        401 => {
                            let rejection = Rejection::of(&error.message);
                            if !renewed && rejection != Rejection::Invalid {
                                if let Some(new) =
                                    self.inner.auth.renew(&authorization, rejection).await?
                                {
                                    authorization = new;
                                    renewed = true;
                                    attempt -= 1;
                                    continue;
                                }
                            }
                            return Err(ApiError::Unauthorized {
                                message: error.message,
                                rejection,
                            });
                        }
                        429 if attempt >= policy.max_attempts => {
                            return Err(ApiError::RateLimited {
                                attempts: attempt,
                                resume_after: rate.retry_after.or(rate.reset).map(resume_at),
                            })
                        }
                        500..=599 if attempt >= policy.max_attempts => {
                            return Err(ApiError::Server {
                                status,
                                attempts: attempt,
                                message: error.message,
                            })
                        }
                        429 | 500..=599 => (status, rate.retry_after.or(rate.reset), error.message),
                        _ => {
                            self.tell_deprecation(status, &error).await;
                            return Err(classify(status, error));
                        }
                    }
                }
            };
            let delay = suggested.unwrap_or_else(|| policy.delay(attempt));
            let over_cap = delay > policy.max_delay;
            let over_budget = waited + delay > policy.max_total_wait;
            let past_deadline = self.deadline().is_some_and(|d| Instant::now() + delay > d);
            if over_cap || over_budget || past_deadline {
                tracing::warn!(
                    status,
                    seconds = delay.as_secs(),
                    "not waiting: longer than allowed"
                );
                return Err(match status {
                    429 => ApiError::RateLimited {
                        attempts: attempt,
                        resume_after: Some(resume_at(delay)),
                    },
                    0 => ApiError::Network {
                        attempts: attempt,
                        reason: message,
                    },
                    _ if past_deadline && !over_cap && !over_budget => ApiError::Deadline(waited),
                    _ => ApiError::Server {
                        status,
                        attempts: attempt,
                        message,
                    },
                });
            }
            tracing::info!(
                status,
                attempt,
                wait_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "retrying after a wait"
            );
            waited += delay;
            self.inner.metrics.retries.fetch_add(1, Ordering::Relaxed);
            if status == 429 {
                self.pause_all(delay).await;
            } else {
                tokio::time::sleep(delay).await;
            }
        }
    }

    /// Tells the observer of a `410` naming a deprecation (other answers say nothing of one).
    async fn tell_deprecation(&self, status: u16, error: &envelope::Envelope) {
        if status != 410 {
            return;
        }
        if let (Some(observer), Some(change)) = (&self.inner.config.deprecations, &error.change) {
            tracing::warn!(%change, announcement = error.announcement.as_deref().unwrap_or(""), "Bitbucket answered 410: a deprecation");
            observer
                .deprecation_seen(change, error.announcement.as_deref())
                .await;
        }
    }

    /// Feeds the budget what Bitbucket said of the limit (access tokens get these headers).
    async fn observe(&self, rate: &RateHeaders) {
        if let Some(limit) = rate.limit {
            self.inner.config.budget.observe_limit(limit);
        }
        if rate.near_limit {
            tracing::warn!("Bitbucket says this credential is near its rate limit; slowing down");
            self.inner.config.budget.observe_near_limit().await;
        }
    }

    /// Reads a response up to the body limit; returns it with what it said of rate limits.
    async fn read(&self, response: reqwest::Response) -> Result<(Reply, RateHeaders), ApiError> {
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .map(str::to_owned)
        };
        let content_type = header("content-type").unwrap_or_else(|| "no content type".to_owned());
        let rate = RateHeaders {
            retry_after: header("retry-after").as_deref().and_then(parse_retry_after),
            reset: header("x-ratelimit-reset").as_deref().and_then(parse_reset),
            limit: header("x-ratelimit-limit").as_deref().and_then(parse_limit),
            near_limit: header("x-ratelimit-nearlimit")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        };
        let limit = self.inner.config.max_body;
        let body = read_body(response, limit).await.map_err(|e| match e {
            TransportError::TooLarge(limit) => ApiError::TooLarge { limit },
            other => ApiError::Malformed {
                status,
                content_type: content_type.clone(),
                excerpt: other.to_string(),
            },
        })?;
        self.inner
            .metrics
            .bytes
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        Ok((
            Reply {
                status,
                body,
                content_type,
            },
            rate,
        ))
    }
}

fn resume_at(wait: Duration) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX)
}

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (when.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .ok()
}

/// `X-RateLimit-Reset` as seconds to wait, used only within 1–3600 s (its meaning is
/// unverified: anything else, such as an epoch timestamp, is ignored).
fn parse_reset(value: &str) -> Option<Duration> {
    let seconds = value.parse::<u64>().ok()?;
    (1..=3600)
        .contains(&seconds)
        .then(|| Duration::from_secs(seconds))
}

/// `X-RateLimit-Limit`: `1000`, or `60, 60;w=3600` as seen on anonymous calls.
fn parse_limit(value: &str) -> Option<usize> {
    value
        .split([',', ';'])
        .next()?
        .trim()
        .parse()
        .ok()
        .filter(|n| *n > 0)
}

fn classify(status: u16, error: envelope::Envelope) -> ApiError {
    let message = error.message;
    match status {
        403 if !error.required.is_empty() => ApiError::MissingScopes {
            required: error.required,
            granted: error.granted,
        },
        403 => ApiError::Forbidden { message },
        404 => ApiError::NotFound { message },
        410 => ApiError::Retired {
            message,
            change: error.change,
            announcement: error.announcement,
        },
        400 | 422 => ApiError::BadRequest {
            message: error
                .detail
                .map_or(message.clone(), |d| format!("{message}: {d}")),
        },
        _ => ApiError::Server {
            status,
            attempts: 1,
            message,
        },
    }
}

fn parse<T: DeserializeOwned>(reply: &Reply) -> Result<T, ApiError> {
    let body = if reply.status == StatusCode::NO_CONTENT.as_u16() || reply.body.is_empty() {
        b"null".as_slice()
    } else {
        &reply.body
    };
    serde_json::from_slice(body).map_err(|e| ApiError::Malformed {
        status: reply.status,
        content_type: reply.content_type.clone(),
        excerpt: format!("{e}: {}", envelope::excerpt(&reply.body)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_are_jittered_and_capped() {
        let policy = RetryPolicy::new(
            6,
            Duration::from_millis(100),
            Duration::from_millis(500),
            Duration::from_secs(10),
        );
        for retry in 1..10 {
            let d = policy.delay(retry);
            assert!(d <= Duration::from_millis(500), "{d:?}");
        }
        assert!(policy.delay(1) <= Duration::from_millis(100));
    }

    #[test]
    fn retry_after_seconds_or_date() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        let soon = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        let d = parse_retry_after(&soon).unwrap();
        assert!(
            d <= Duration::from_secs(30) && d >= Duration::from_secs(28),
            "{d:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn rate_limit_headers_within_bounds() {
        assert_eq!(parse_reset("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_reset("0"), None);
        assert_eq!(parse_reset("1767225600"), None, "an epoch time is ignored");
        assert_eq!(parse_limit("1000"), Some(1000));
        assert_eq!(parse_limit("60, 60;w=3600"), Some(60));
        assert_eq!(parse_limit("x"), None);
    }
}
