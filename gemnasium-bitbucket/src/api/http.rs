//! The one HTTP stack: every request to Bitbucket (token endpoint, identity, REST) goes through
//! a [`Http`] built here, so that the user agent, the timeouts, the extra CA certificate and the
//! no-redirect policy hold for all of them alike.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use thiserror::Error;

/// The default User-Agent: `gemnasium-bitbucket/VERSION`.
pub const DEFAULT_USER_AGENT: &str = concat!("gemnasium-bitbucket/", env!("CARGO_PKG_VERSION"));

/// How the HTTP stack is built.
#[derive(Clone, Debug)]
#[must_use]
pub struct HttpSettings {
    user_agent: String,
    timeout: Duration,
    connect_timeout: Duration,
    extra_ca_pem: Option<Vec<u8>>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            extra_ca_pem: None,
        }
    }
}

impl HttpSettings {
    /// Defaults: 30 s per request, 10 s to connect, the system's and Mozilla's roots.
    pub fn new() -> Self {
        Self::default()
    }

    /// The User-Agent header sent with every request.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Time allowed for one request, from connecting to the last byte of the body.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self.connect_timeout = self.connect_timeout.min(timeout);
        self
    }

    /// An extra CA certificate bundle (PEM) to trust, such as a TLS-intercepting proxy's.
    pub fn extra_ca_pem(mut self, pem: Vec<u8>) -> Self {
        self.extra_ca_pem = Some(pem);
        self
    }

    /// The per-request timeout.
    #[must_use]
    pub fn request_timeout(&self) -> Duration {
        self.timeout
    }
}

/// The HTTP stack could not be built.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetupError {
    /// The extra CA certificate is not usable.
    #[error("the extra CA certificate is not usable: {0}")]
    CaCertificate(String),
    /// The TLS backend refused the settings.
    #[error("cannot set up HTTPS: {0}")]
    Tls(String),
}

/// A shared, cheap-to-clone HTTP client with the project's settings.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    settings: Arc<HttpSettings>,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("user_agent", &self.settings.user_agent)
            .field("timeout", &self.settings.timeout)
            .field("extra_ca", &self.settings.extra_ca_pem.is_some())
            .finish()
    }
}

impl Http {
    /// Builds the client: no redirects (a redirect could carry credentials elsewhere; a token
    /// endpoint that redirects is misconfigured), the timeouts, and the extra CA if any.
    ///
    /// # Errors
    /// [`SetupError`] when the extra CA certificate is empty, not PEM, or refused.
    pub fn new(settings: HttpSettings) -> Result<Self, SetupError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(settings.user_agent.clone())
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = &settings.extra_ca_pem {
            for der in pem_certificates(pem)? {
                let cert = reqwest::Certificate::from_der(&der)
                    .map_err(|e| SetupError::CaCertificate(describe(&e)))?;
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder.build().map_err(|e| {
            if settings.extra_ca_pem.is_some() {
                SetupError::CaCertificate(format!(
                    "the TLS library refused it ({}); check that it is a CA certificate",
                    describe(&e)
                ))
            } else {
                SetupError::Tls(describe(&e))
            }
        })?;
        Ok(Self {
            client,
            settings: Arc::new(settings),
        })
    }

    /// The client with default settings.
    ///
    /// # Panics
    /// Never: without an extra CA, a rustls client always builds.
    #[must_use]
    pub fn with_defaults() -> Self {
        Self::new(HttpSettings::default()).expect("a rustls client without extra CA always builds")
    }

    /// The settings it was built with.
    pub fn settings(&self) -> &HttpSettings {
        &self.settings
    }

    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends an `http` request (as the `oauth2` crate builds them) and reads the response,
    /// refusing bodies over `limit` bytes.
    ///
    /// # Errors
    /// [`TransportError`] when the request fails or the body is too large or cut off.
    pub async fn execute(
        &self,
        request: http::Request<Vec<u8>>,
        limit: usize,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let (parts, body) = request.into_parts();
        let url = reqwest::Url::parse(&parts.uri.to_string())
            .map_err(|e| TransportError::Request(e.to_string()))?;
        let response = self
            .client
            .request(parts.method, url)
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(|e| TransportError::Request(describe(&e)))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = read_body(response, limit).await?;
        let mut builder = http::Response::builder().status(status);
        if let Some(h) = builder.headers_mut() {
            *h = headers;
        }
        builder
            .body(body)
            .map_err(|e| TransportError::Request(e.to_string()))
    }
}

/// Why a request got no usable response.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportError {
    /// Connecting, sending or waiting failed.
    #[error("{0}")]
    Request(String),
    /// The body exceeds the limit; it was not read further.
    #[error("the response is larger than {0} bytes; refusing to read it")]
    TooLarge(usize),
    /// The connection broke while reading the body.
    #[error("the response was cut off: {0}")]
    CutOff(String),
}

/// Reads `response`'s body, refusing more than `limit` bytes (announced or actual).
pub(crate) async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, TransportError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(TransportError::TooLarge(limit));
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    return Err(TransportError::TooLarge(limit));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(TransportError::CutOff(describe(&e))),
        }
    }
}

/// A transport error in words, without the URL (which may carry a query) or debug noise.
pub(crate) fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".to_owned();
    }
    if e.is_connect() {
        // The innermost cause says why (refused, no such host, an untrusted certificate: the
        // one thing that tells a missing extra CA apart from a network problem); it never holds
        // the URL.
        let mut cause: Option<&dyn std::error::Error> = None;
        let mut next = std::error::Error::source(e);
        while let Some(inner) = next {
            cause = Some(inner);
            next = inner.source();
        }
        return cause.map_or_else(
            || "connection failed".to_owned(),
            |cause| format!("connection failed: {cause}"),
        );
    }
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "");
    }
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        text = format!("{text}: {inner}");
        source = inner.source();
    }
    text.trim().trim_end_matches(" for").trim().to_owned()
}

/// The DER bodies of the `CERTIFICATE` blocks of `pem`, each decoded and checked to be a DER
/// sequence, so that an empty file, another kind of file or a damaged block is refused with a
/// message instead of being ignored.
fn pem_certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, SetupError> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let text = std::str::from_utf8(pem).map_err(|_| {
        SetupError::CaCertificate(
            "the file is not text; give a PEM file (-----BEGIN CERTIFICATE-----)".into(),
        )
    })?;
    let mut certificates = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start + BEGIN.len()..];
        let end = after.find(END).ok_or_else(|| {
            SetupError::CaCertificate(format!(
                "certificate {} has no -----END CERTIFICATE----- line",
                certificates.len() + 1
            ))
        })?;
        let body: String = after[..end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| {
                SetupError::CaCertificate(format!(
                    "certificate {} is not valid base64; copy the PEM file again",
                    certificates.len() + 1
                ))
            })?;
        if der.first() != Some(&0x30) || der.len() < 64 {
            return Err(SetupError::CaCertificate(format!(
                "certificate {} is not a DER certificate",
                certificates.len() + 1
            )));
        }
        certificates.push(der);
        rest = &after[end + END.len()..];
    }
    if certificates.is_empty() {
        return Err(SetupError::CaCertificate(if text.trim().is_empty() {
            "the file is empty; give a PEM file with -----BEGIN CERTIFICATE-----".into()
        } else {
            "no -----BEGIN CERTIFICATE----- block found; give a PEM certificate".into()
        }));
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_ca_files_are_refused_with_a_reason() {
        // Issue 9, finding 17: empty and non-PEM files were accepted silently, a damaged
        // block showed reqwest's debug output.
        for (pem, why) in [
            ("", "empty"),
            ("   \n", "empty"),
            (
                "hello, I am not a certificate",
                "no -----BEGIN CERTIFICATE-----",
            ),
            ("-----BEGIN CERTIFICATE-----\nAAAA", "no -----END"),
            (
                "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
                "not valid base64",
            ),
            (
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                "not a DER certificate",
            ),
        ] {
            let err =
                Http::new(HttpSettings::new().extra_ca_pem(pem.as_bytes().to_vec())).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(why), "{pem:?}: {text}");
            assert!(
                !text.contains("Builder") && !text.contains("kind:"),
                "{text}"
            );
        }
    }

    #[test]
    fn defaults_build() {
        let http = Http::with_defaults();
        assert_eq!(http.settings().request_timeout(), Duration::from_secs(30));
        assert!(format!("{http:?}").contains("gemnasium-bitbucket/"));
    }
}
