//! One `reqwest::Client` for every REST call: bearer token only to the configured origin,
//! retries with capped exponential backoff and full jitter (honouring `Retry-After`), a pause of
//! the whole client after a 429, the request budget, one refresh on a 401 "expired", and typed
//! errors for everything else.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use super::auth::BearerAuth;
use super::budget::RequestBudget;
use super::error::{boxes, ApiError};
use crate::model::{AccessToken, ServiceUrl};

/// How failed requests are retried.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Delay before the first retry; doubles each time.
    pub base_delay: Duration,
    /// Upper bound of one delay (also caps `Retry-After`).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
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
pub struct ApiConfig {
    /// The API origin as stored (`https://api.bitbucket.org`); `/2.0` is appended.
    pub api_url: ServiceUrl,
    /// Retries.
    pub retry: RetryPolicy,
    /// The consumer's budget, shared by every client of that consumer.
    pub budget: Arc<RequestBudget>,
    /// Largest response body read.
    pub max_body: usize,
    /// Most pages followed in one listing.
    pub max_pages: usize,
    /// Per-request timeout.
    pub timeout: Duration,
    /// An extra CA certificate (PEM) to trust, for proxies with their own CA.
    pub extra_ca_pem: Option<Vec<u8>>,
}

impl ApiConfig {
    /// Defaults for `api_url`: 6 attempts from 1 s to 60 s, 1,000 requests/hour, 16 MiB bodies,
    /// 1,000 pages, 30 s timeout.
    #[must_use]
    pub fn new(api_url: ServiceUrl) -> Self {
        Self {
            api_url,
            retry: RetryPolicy::default(),
            budget: Arc::new(RequestBudget::bitbucket_default()),
            max_body: 16 * 1024 * 1024,
            max_pages: 1_000,
            timeout: Duration::from_secs(30),
            extra_ca_pem: None,
        }
    }
}

/// Requests sent and retries made, for summaries.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: AtomicU64,
    retries: AtomicU64,
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
}

struct Inner {
    http: reqwest::Client,
    config: ApiConfig,
    base: Url,
    origin: String,
    auth: Arc<dyn BearerAuth>,
    not_before: Mutex<Option<Instant>>,
    metrics: Metrics,
}

/// A Bitbucket REST client; cheap to clone.
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

/// A successful response: status and body.
pub(crate) struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub content_type: String,
}

impl ApiClient {
    /// A client for `config.api_url` authenticating with `auth`.
    ///
    /// # Errors
    /// [`ApiError::Setup`] when the extra CA certificate is not a valid PEM certificate.
    pub fn new(config: ApiConfig, auth: Arc<dyn BearerAuth>) -> Result<Self, ApiError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("gemnasium-bitbucket/", env!("CARGO_PKG_VERSION")))
            .timeout(config.timeout)
            // A redirect could carry the Authorization header elsewhere.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = &config.extra_ca_pem {
            let cert = reqwest::Certificate::from_pem(pem).map_err(|e| ApiError::Setup {
                reason: format!("the extra CA certificate is not valid PEM ({e})"),
            })?;
            builder = builder.add_root_certificate(cert);
        }
        let has_ca = config.extra_ca_pem.is_some();
        let http = builder.build().map_err(|e| ApiError::Setup {
            reason: if has_ca {
                format!("the extra CA certificate was refused ({e:?}); check it is a valid PEM certificate")
            } else {
                format!("{e:?}")
            },
        })?;
        let base = config.api_url.join_path(&["2.0"]);
        let origin = config.api_url.origin();
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base,
                origin,
                auth,
                config,
                not_before: Mutex::new(None),
                metrics: Metrics::default(),
            }),
        })
    }

    /// Counters of requests and retries.
    #[must_use]
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &ApiConfig {
        &self.inner.config
    }

    /// `/2.0/{segments…}` under the configured origin.
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

    async fn wait_turn(&self) {
        let until = *self.inner.not_before.lock().await;
        if let Some(until) = until {
            tokio::time::sleep_until(until).await;
        }
        self.inner.config.budget.acquire().await;
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
        let mut token: AccessToken = self.inner.auth.token().await?;
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.wait_turn().await;
            self.inner.metrics.requests.fetch_add(1, Ordering::Relaxed);
            let mut request = self
                .inner
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(token.expose_secret());
            if let Some(body) = &body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            let outcome = match request.send().await {
                Ok(response) => Ok(self.read(response).await),
                Err(e) => Err(crate::oauth::describe_transport(&e)),
            };
            let retry_after = match outcome {
                Err(reason) if attempt < policy.max_attempts => {
                    tracing::debug!(attempt, %reason, "network error; retrying");
                    None
                }
                Err(reason) => {
                    return Err(ApiError::Network {
                        attempts: attempt,
                        reason,
                    })
                }
                Ok(Err(e)) => return Err(e),
                Ok(Ok((reply, retry_after))) => {
                    let status = reply.status;
                    if (200..300).contains(&status) {
                        return Ok(reply);
                    }
                    let (message, detail) = crate::oauth::parse_envelope(&reply.body);
                    match status {
                        401 if !refreshed && message.to_ascii_lowercase().contains("expired") => {
                            token = self.inner.auth.refresh(&token).await?;
                            refreshed = true;
                            attempt -= 1;
                            continue;
                        }
                        429 if attempt < policy.max_attempts => retry_after,
                        429 => return Err(ApiError::RateLimited { attempts: attempt }),
                        500..=599 if attempt < policy.max_attempts => retry_after,
                        500..=599 => {
                            return Err(ApiError::Server {
                                status,
                                attempts: attempt,
                                message,
                            })
                        }
                        _ => return Err(classify(status, message, detail.as_ref(), &reply.body)),
                    }
                }
            };
            let delay =
                retry_after.map_or_else(|| policy.delay(attempt), |d| d.min(policy.max_delay));
            self.inner.metrics.retries.fetch_add(1, Ordering::Relaxed);
            self.pause_all(delay).await;
        }
    }

    /// Reads a response up to the body limit; returns it with any `Retry-After`.
    async fn read(
        &self,
        mut response: reqwest::Response,
    ) -> Result<(Reply, Option<Duration>), ApiError> {
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("no content type")
            .to_owned();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let limit = self.inner.config.max_body;
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(ApiError::TooLarge { limit });
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > limit {
                        return Err(ApiError::TooLarge { limit });
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(ApiError::Malformed {
                        status,
                        content_type,
                        excerpt: format!(
                            "the body was cut off: {}",
                            crate::oauth::describe_transport(&e)
                        ),
                    })
                }
            }
        }
        Ok((
            Reply {
                status,
                body,
                content_type,
            },
            retry_after,
        ))
    }
}

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value.trim()).ok()?;
    (when.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .ok()
}

fn classify(
    status: u16,
    message: String,
    detail: Option<&serde_json::Value>,
    body: &[u8],
) -> ApiError {
    match status {
        401 => ApiError::Unauthorized { message },
        403 => match detail.filter(|d| d.get("required").is_some()) {
            Some(detail) => {
                let required = crate::oauth::scopes_at(detail, "required");
                ApiError::MissingScopes {
                    granted: crate::oauth::scopes_at(detail, "granted"),
                    boxes: boxes(&required),
                    required,
                }
            }
            None => ApiError::Forbidden { message },
        },
        404 => ApiError::NotFound { message },
        410 => ApiError::Retired {
            message,
            announcement: serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| {
                    v.pointer("/error/data/announcement_url")
                        .and_then(|u| u.as_str())
                        .map(str::to_owned)
                }),
        },
        400 => ApiError::BadRequest { message },
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
        excerpt: format!("{e}: {}", crate::oauth::excerpt_of(&reply.body)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_are_jittered_and_capped() {
        let policy = RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
        };
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
}
