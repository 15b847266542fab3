//! SQLite backend (placeholder: being written).
use std::path::Path;

use super::StoreError;

/// The embedded default store.
#[derive(Debug)]
pub struct SqliteStore;

impl SqliteStore {
    /// Opens (creating and migrating) the file at `path`.
    ///
    /// # Errors
    /// Always, until implemented.
    pub async fn open(path: &Path) -> Result<super::MemoryStore, StoreError> {
        Err(StoreError::Open {
            location: path.display().to_string(),
            reason: "not implemented yet".into(),
        })
    }
}
