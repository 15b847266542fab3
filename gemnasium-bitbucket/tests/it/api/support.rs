use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gemnasium_bitbucket::api::{
    ApiClient, ApiConfig, Auth, AuthError, Authorization, Http, Rejection, RequestBudget,
    RetryPolicy,
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

/// Tokens `test-access-token-N`; a renewal hands out the next one and counts.
#[derive(Default)]
pub struct CountingAuth {
    pub refreshes: AtomicUsize,
}

#[async_trait]
impl Auth for CountingAuth {
    async fn authorization(&self) -> Result<Authorization, AuthError> {
        Ok(Authorization::Bearer(AccessToken::new(TOKEN).unwrap()))
    }

    async fn renew(
        &self,
        _rejected: &Authorization,
        _rejection: Rejection,
    ) -> Result<Option<Authorization>, AuthError> {
        let n = self.refreshes.fetch_add(1, Ordering::SeqCst) + 2;
        Ok(Some(Authorization::Bearer(
            AccessToken::new(format!("test-access-token-{n}")).unwrap(),
        )))
    }
}

pub fn config(server: &MockServer) -> ApiConfig {
    let mut config = ApiConfig::new(ServiceUrl::parse("API URL", &server.uri()).unwrap());
    config.retry = RetryPolicy::new(
        4,
        Duration::from_millis(5),
        Duration::from_millis(20),
        Duration::from_secs(10),
    );
    config.budget = Arc::new(RequestBudget::new(10_000, Duration::from_secs(3600)));
    config.max_pages = 50;
    config
}

pub fn client(server: &MockServer) -> (ApiClient, Arc<CountingAuth>) {
    client_with(config(server))
}

pub fn client_with(config: ApiConfig) -> (ApiClient, Arc<CountingAuth>) {
    let auth = Arc::new(CountingAuth::default());
    (
        ApiClient::new(Http::with_defaults(), config, auth.clone()),
        auth,
    )
}
