//! The store conformance suite: every rule a backend must keep, written once. The built-in
//! backends run it, and so can yours: implement [`Store`](crate::store::Store) and call
//! [`store_conformance!`](crate::store_conformance) in a test module with an expression that
//! opens a fresh, empty store (a future of [`DynStore`]):
//!
//! ```ignore
//! mod my_store_conforms {
//!     gemnasium_bitbucket::store_conformance!(async {
//!         std::sync::Arc::new(MyStore::connect_fresh().await) as gemnasium_bitbucket::store::DynStore
//!     });
//! }
//! ```
//!
//! Each check gets its own fresh store and runs as its own `#[tokio::test]`, so a failure names
//! the rule broken. A backend that cannot be opened (no database configured) can use the
//! `optional:` form, whose expression yields `Option<DynStore>`: `None` prints a skip notice.

pub mod config;
pub mod credentials;
pub mod events;
pub mod repos;

use crate::store::DynStore;

/// Runs every repository check on `store`, clearing between checks.
pub async fn repository_checks(store: DynStore) {
    let bb: crate::model::ProviderName = "bitbucket.org".parse().expect("a valid name");
    for name in repos::CHECKS {
        // Each check wants an empty store; clear what the previous one created.
        if store
            .provider(&bb)
            .await
            .expect("the store reads")
            .is_some()
        {
            let _ = store
                .delete_provider(&bb, true)
                .await
                .expect("the store deletes");
        }
        repos::run(name, &*store).await;
    }
}

/// Generates one `#[tokio::test]` per conformance check, each on a fresh store opened by the
/// given expression (see the [module docs](crate::testing::conformance)).
#[macro_export]
macro_rules! store_conformance {
    (optional: $open:expr) => {
        $crate::store_conformance!(@checks $open;
            provider_create_is_idempotent_and_conflicts,
            clients_and_sources_need_their_provider,
            one_client_per_provider_and_purpose,
            one_source_per_provider,
            updates_report_not_found_unchanged_and_updated,
            concurrent_updates_of_different_fields_lose_nothing,
            installation_id_is_stable,
            deleting_a_used_provider_needs_cascade,
            deleting_a_client_drops_its_tokens,
            tokens_are_versioned_compare_and_swap,
            long_tokens_and_odd_secrets_round_trip,
            lists_are_ordered,
            concurrent_creates_agree,
        );
        $crate::store_conformance!(@events $open;
            delivery_ids_are_claimed_once_within_retention,
            concurrent_attempts_of_one_delivery_claim_it_once,
            deprecations_are_remembered_with_the_doctor_report_time,
            allowed_workspaces_round_trip,
        );
        $crate::store_conformance!(@credentials $open;
            credentials_round_trip_in_order_and_are_deleted,
            credential_names_are_unique_per_provider_and_need_it,
            deleting_a_provider_with_credentials_needs_cascade,
        );
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn repository_checks() {
            let opened: Option<$crate::store::DynStore> = $open.await;
            if let Some(store) = opened {
                $crate::testing::conformance::repository_checks(store).await;
            }
        }
    };
    (@checks $open:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let opened: Option<$crate::store::DynStore> = $open.await;
                if let Some(store) = opened {
                    $crate::testing::conformance::config::$check(store).await;
                }
            }
        )*
    };
    (@events $open:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let opened: Option<$crate::store::DynStore> = $open.await;
                if let Some(store) = opened {
                    $crate::testing::conformance::events::$check(store).await;
                }
            }
        )*
    };
    (@credentials $open:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let opened: Option<$crate::store::DynStore> = $open.await;
                if let Some(store) = opened {
                    $crate::testing::conformance::credentials::$check(store).await;
                }
            }
        )*
    };
    ($open:expr) => {
        $crate::store_conformance!(optional: async {
            let store: $crate::store::DynStore = $open.await;
            Some(store)
        });
    };
}

/// `DATABASE_URL`, or `None` (the test skips) when it is unset outside CI.
///
/// # Panics
/// Under CI (`CI` set) when `DATABASE_URL` is not: PostgreSQL tests may not skip there.
#[must_use]
pub fn postgres_url_for_tests() -> Option<String> {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "DATABASE_URL must be set under CI: PostgreSQL tests may not skip"
        );
        eprintln!("skipping a PostgreSQL test: DATABASE_URL is not set");
        return None;
    };
    Some(url)
}

/// Opens a PostgreSQL store in a fresh schema of `DATABASE_URL`'s database, for conformance
/// runs; `None` (with a notice on stderr) when `DATABASE_URL` is unset, except under CI (`CI`
/// set), where a missing database fails instead of skipping silently.
///
/// # Panics
/// Under CI without `DATABASE_URL`, or when the database cannot be reached.
#[cfg(feature = "postgres")]
pub async fn postgres_for_tests() -> Option<DynStore> {
    let url = postgres_url_for_tests()?;
    let schema = format!("t_{:016x}", rand::random::<u64>());
    Some(std::sync::Arc::new(
        crate::store::PostgresStore::connect_in_schema(&url, &schema)
            .await
            .expect("PostgreSQL at DATABASE_URL is reachable"),
    ))
}
