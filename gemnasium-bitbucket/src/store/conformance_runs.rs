//! The conformance suite (`testing::conformance`) on every built-in backend.

mod memory {
    crate::store_conformance!(async {
        std::sync::Arc::new(crate::store::MemoryStore::new()) as crate::store::DynStore
    });
}

#[cfg(feature = "sqlite")]
mod sqlite {
    crate::store_conformance!(async {
        let dir = tempfile::tempdir().unwrap().keep();
        std::sync::Arc::new(
            crate::store::SqliteStore::open(&dir.join("store.db"))
                .await
                .unwrap(),
        ) as crate::store::DynStore
    });
}

#[cfg(feature = "postgres")]
mod postgres {
    crate::store_conformance!(optional: crate::testing::conformance::postgres_for_tests());
}
