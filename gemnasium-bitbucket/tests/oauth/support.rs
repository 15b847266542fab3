use std::sync::Arc;
use std::time::Duration;

use gemnasium_bitbucket::model::{AccountUuid, Client, ClientSecret, Provider, Purpose};
use gemnasium_bitbucket::oauth::{http_client, redirect_uri};
use gemnasium_bitbucket::store::{DynStore, MemoryStore};
use gemnasium_bitbucket::testing::{MockBitbucket, MockConsumer, MockUser};

pub const KEY: &str = "consumer-key";
pub const SECRET: &str = "consumer-secret-that-must-never-print";

pub struct World {
    pub bitbucket: MockBitbucket,
    pub provider: Provider,
    pub jane: AccountUuid,
    pub http: reqwest::Client,
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
            http: http_client(Duration::from_secs(5)),
        }
    }

    pub fn client(&self, purpose: Purpose) -> Client {
        self.client_with(purpose, KEY, SECRET)
    }

    pub fn client_with(&self, purpose: Purpose, key: &str, secret: &str) -> Client {
        Client {
            provider: self.provider.name.clone(),
            purpose,
            key: key.parse().unwrap(),
            secret: ClientSecret::new(secret).unwrap(),
            scopes: purpose.recommended_scopes(),
        }
    }

    pub fn redirect(&self, purpose: Purpose) -> String {
        redirect_uri("http://127.0.0.1:1/auth/auth/bitbucket.org", purpose)
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
