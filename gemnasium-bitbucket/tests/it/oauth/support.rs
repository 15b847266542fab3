use std::sync::Arc;
use std::time::Duration;

use gemnasium_bitbucket::api::{ApiClient, ApiConfig, Http, HttpSettings, StaticToken};
use gemnasium_bitbucket::model::{
    AccessToken, AccountUuid, CallbackUrl, Client, ClientSecret, Provider, Purpose, RedirectUri,
    ServiceUrl,
};
use gemnasium_bitbucket::store::{DynStore, MemoryStore};
use gemnasium_bitbucket::testing::{MockBitbucket, MockConsumer, MockUser};

pub const KEY: &str = "consumer-key";
pub const SECRET: &str = "consumer-secret-that-must-never-print";
/// Gemnasium's homepage in these tests (nothing listens there: callbacks are read, not served).
pub const HOMEPAGE: &str = "http://127.0.0.1:1";

pub struct World {
    pub bitbucket: MockBitbucket,
    pub provider: Provider,
    pub jane: AccountUuid,
    pub http: Http,
}

impl World {
    pub async fn new() -> Self {
        Self::with_consumer(MockConsumer::new(KEY, SECRET)).await
    }

    pub async fn with_consumer(consumer: MockConsumer) -> Self {
        let bitbucket = MockBitbucket::start().await;
        bitbucket.add_consumer(consumer);
        let jane = bitbucket.add_user(
            MockUser::new("jdoe")
                .with_email("old@example.com", false, true)
                .with_email("jane@example.com", true, true),
        );
        Self {
            provider: bitbucket.provider(),
            bitbucket,
            jane,
            http: http(Duration::from_secs(5)),
        }
    }

    pub fn client(&self, purpose: Purpose) -> Client {
        self.client_with(purpose, KEY, SECRET)
    }

    pub fn client_with(&self, purpose: Purpose, key: &str, secret: &str) -> Client {
        Client::new(
            self.provider.name.clone(),
            purpose,
            key.parse().unwrap(),
            ClientSecret::new(secret).unwrap(),
            purpose.recommended_scopes(),
        )
    }

    /// `http://127.0.0.1:1/auth/auth/bitbucket.org/{login|sync}/callback`.
    pub fn redirect(&self, purpose: Purpose) -> RedirectUri {
        let home = ServiceUrl::parse("homepage URL", HOMEPAGE).unwrap();
        CallbackUrl::new(&home, &self.provider.name)
            .unwrap()
            .redirect_uri(purpose)
    }

    /// A REST client for the mock's API with a fixed bearer token.
    pub fn api(&self, access_token: &str) -> ApiClient {
        ApiClient::new(
            self.http.clone(),
            ApiConfig::new(self.provider.api_url.clone()),
            Arc::new(StaticToken(AccessToken::new(access_token).unwrap())),
        )
    }

    /// A memory store holding this world's provider and both clients.
    pub async fn store(&self) -> DynStore {
        let store: DynStore = Arc::new(MemoryStore::new());
        self.fill(&store).await;
        store
    }

    pub async fn fill(&self, store: &DynStore) {
        let _ = store.create_provider(&self.provider).await.unwrap();
        for purpose in Purpose::ALL {
            let _ = store.create_client(&self.client(purpose)).await.unwrap();
        }
    }
}

/// The project's HTTP stack with a per-request `timeout`.
pub fn http(timeout: Duration) -> Http {
    Http::new(HttpSettings::new().timeout(timeout)).unwrap()
}
