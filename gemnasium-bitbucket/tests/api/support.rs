use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gemnasium_bitbucket::api::{
    ApiClient, ApiConfig, ApiError, BearerAuth, RequestBudget, RetryPolicy,
};
use gemnasium_bitbucket::model::{AccessToken, ServiceUrl};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const TOKEN: &str = "test-access-token-1";

/// A server with the catch-all 500 already mounted.
pub async fn server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(500).set_body_string("unexpected request"))
        .with_priority(u8::MAX)
        .mount(&server)
        .await;
    server
}

/// Tokens `test-access-token-N`; refresh hands out the next one and counts.
#[derive(Default)]
pub struct CountingAuth {
    pub refreshes: AtomicUsize,
}

#[async_trait]
impl BearerAuth for CountingAuth {
    async fn token(&self) -> Result<AccessToken, ApiError> {
        Ok(AccessToken::new(TOKEN).unwrap())
    }
    async fn refresh(&self, _rejected: &AccessToken) -> Result<AccessToken, ApiError> {
        let n = self.refreshes.fetch_add(1, Ordering::SeqCst) + 2;
        Ok(AccessToken::new(format!("test-access-token-{n}")).unwrap())
    }
}

pub fn config(server: &MockServer) -> ApiConfig {
    let mut config = ApiConfig::new(ServiceUrl::parse("API URL", &server.uri()).unwrap());
    config.retry = RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    };
    config.budget = Arc::new(RequestBudget::new(10_000, Duration::from_secs(3600)));
    config.max_pages = 50;
    config
}

pub fn client(server: &MockServer) -> (ApiClient, Arc<CountingAuth>) {
    client_with(config(server))
}

pub fn client_with(config: ApiConfig) -> (ApiClient, Arc<CountingAuth>) {
    let auth = Arc::new(CountingAuth::default());
    (ApiClient::new(config, auth.clone()).unwrap(), auth)
}
