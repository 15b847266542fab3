//! The HTTP client for OAuth and identity calls.

use std::time::Duration;

/// A client that follows no redirects (a token endpoint that redirects is misconfigured, and
/// following would resend credentials) and times out after `timeout`.
///
/// # Panics
/// Only if the TLS backend cannot initialise, which a rustls build does not do.
#[must_use]
pub fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("gemnasium-bitbucket/", env!("CARGO_PKG_VERSION")))
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .build()
        .expect("a rustls client always builds")
}

/// A transport error in words, without the URL's query (which never holds a token here, but
/// keeping errors short is kinder).
pub(crate) fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "connection failed".to_owned()
    } else {
        let mut text = e.to_string();
        if let Some(url) = e.url() {
            text = text.replace(url.as_str(), "");
        }
        text.trim().to_owned()
    }
}
