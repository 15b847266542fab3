//! PostgreSQL backend (placeholder: being written).

use super::StoreError;

/// Shared store for replicas.
#[derive(Debug)]
pub struct PostgresStore;

impl PostgresStore {
    /// Connects to `url` and migrates.
    ///
    /// # Errors
    /// Always, until implemented.
    pub async fn connect(url: &str) -> Result<super::MemoryStore, StoreError> {
        Err(StoreError::Open {
            location: url.to_owned(),
            reason: "not implemented yet".into(),
        })
    }
}
