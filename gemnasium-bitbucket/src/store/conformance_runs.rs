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

/// Encryption at rest must be invisible to every rule: the same suite, on stores with a key.
#[cfg(feature = "sqlite")]
mod sqlite_encrypted {
    crate::store_conformance!(async {
        let dir = tempfile::tempdir().unwrap().keep();
        let store = crate::store::SqliteStore::open(&dir.join("store.db"))
            .await
            .unwrap();
        store
            .use_secret_key(Some(crate::store::SecretKey::generate()))
            .await
            .unwrap();
        std::sync::Arc::new(store) as crate::store::DynStore
    });
}

#[cfg(feature = "postgres")]
mod postgres_encrypted {
    crate::store_conformance!(optional: async {
        let url = crate::testing::conformance::postgres_url_for_tests()?;
        let schema = format!("t_{:016x}", rand::random::<u64>());
        let store = crate::store::PostgresStore::connect_in_schema(&url, &schema)
            .await
            .expect("PostgreSQL at DATABASE_URL is reachable");
        store
            .use_secret_key(Some(crate::store::SecretKey::generate()))
            .await
            .unwrap();
        Some(std::sync::Arc::new(store) as crate::store::DynStore)
    });
}
