//! The store traits implemented once in SQL for both database backends.
//!
//! SQLite and PostgreSQL accept the same statements here (`$N` placeholders, `ON CONFLICT`), so
//! one macro generates both implementations; each backend supplies its pool, how a write
//! transaction begins (`BEGIN IMMEDIATE` on SQLite, so a read-then-write transaction never fails
//! to upgrade its lock under concurrency), the clause that locks a row read for update (`FOR
//! UPDATE` on PostgreSQL) and how listings of one account are serialised.
//!
//! Creates use `INSERT … ON CONFLICT DO NOTHING` and, when nothing was inserted, compare with the
//! row that won: identical re-creates are `Unchanged` even when racing.
//!
//! Updates are partial and use row locks, not optimistic versions: the row is read under its
//! write lock (SQLite's database write lock taken by `BEGIN IMMEDIATE`, PostgreSQL's `SELECT …
//! FOR UPDATE`), patched and written in one transaction. Concurrent updates then queue instead of
//! failing, so a caller never has to retry, and none can undo another's fields. Each changing
//! update adds one to the row's `version`. Why locks: a configuration update is one short
//! transaction with no network call inside, so holding the lock costs microseconds, while
//! optimistic versions would make every racing writer (the replicas, a CLI run beside them)
//! re-read and retry, and an update that gave up would be lost. The `version` is therefore a
//! counter that proves no update was lost (after N reported updates it is 1 + N; see
//! `tests/it/replicas.rs`), not a precondition. Tokens are the exception: a refresh spans an
//! HTTP call that must not hold a database lock, so tokens use compare-and-swap on `version`
//! with a lease (`claim_refresh`, `swap_token`).
//!
//! Write transactions that fail transiently (PostgreSQL deadlock or serialisation failure,
//! SQLite busy after its timeout) are retried a few times with jitter; their effects are all or
//! nothing, so a retry is safe.

use crate::store::StoreError;

/// Whether `e` is a transient database failure after which the whole transaction may be retried.
pub(crate) fn is_transient(e: &StoreError) -> bool {
    let StoreError::Database(inner) = e else {
        return false;
    };
    let Some(sqlx::Error::Database(db)) = inner.downcast_ref::<sqlx::Error>() else {
        return false;
    };
    match db.code().as_deref() {
        // PostgreSQL: deadlock_detected, serialization_failure.
        Some("40P01" | "40001") => true,
        // SQLite: SQLITE_BUSY / SQLITE_LOCKED and their extended codes.
        Some(code) => code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6)),
        None => false,
    }
}

/// A test-only pause point inside a sync's listing write, before its transaction commits.
///
/// In debug builds with `GEMNASIUM_TEST_PAUSE_IN_WRITE=PATH` set, it creates the file `PATH` and
/// then sleeps for a minute, so that an end-to-end test (`tests/it/replicas.rs`) can `kill -9`
/// the process while the transaction holds uncommitted writes and then check that the store
/// still opens with the previous listing intact. Release builds compile it to nothing: no
/// environment variable can stall a production write.
pub(crate) async fn pause_in_write() {
    #[cfg(debug_assertions)]
    if let Some(marker) = std::env::var_os("GEMNASIUM_TEST_PAUSE_IN_WRITE") {
        if std::fs::write(&marker, b"paused inside the listing write\n").is_ok() {
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        }
    }
}

/// Runs the `async` block `$body` (a whole write transaction) and runs it again, up to six
/// times in all, while it fails transiently.
macro_rules! retry_transient {
    ($body:expr) => {{
        let mut attempt = 0u64;
        loop {
            attempt += 1;
            match $body.await {
                Err(e) if attempt < 6 && $crate::store::sql::is_transient(&e) => {
                    tracing::debug!(
                        attempt,
                        "transient database failure; retrying the transaction"
                    );
                    let jitter = rand::random::<u64>() % 25;
                    tokio::time::sleep(std::time::Duration::from_millis(20 * attempt + jitter))
                        .await;
                }
                result => break result,
            }
        }
    }};
}

pub(crate) use retry_transient;

macro_rules! impl_sql_store {
    ($store:ty, $db:ty, $for_update:literal) => {
        use $crate::store::memory::{client_key, token_key};
        use $crate::store::rows::{
            self, ClientRow, ProviderRow, RepositoryRow, SourceRow, TokenRow, TrackedRow,
        };
        use $crate::store::sql::retry_transient;
        use $crate::store::sealing::{SecretIdentity, Sealer};
        use $crate::store::{
            ClientPatch, ClientStore, Entity, HookLease, ListingChanges, ProviderPatch,
            ProviderStore, Removed, RepoStore, SourcePatch, SourceStore, Store, StoreError,
            StoredRepository, StoredToken, Swap, TokenStore, TrackedRepository, Updated,
            WorkspaceListing, WriteOutcome, BudgetGrant, BudgetPolicy, BudgetStore, ListingKind,
            ListingState,
        };
        use $crate::model::{
            AccountInfo, AccountUuid, Client, HookRecord, HookUuid, Provider, ProviderName,
            Purpose, RepoUuid, Source, TokenKey, TokenSet, TokenState,
        };

        type Tx = sqlx::Transaction<'static, $db>;

        const PROVIDER_COLUMNS: &str =
            "name, kind, authorize_url, token_url, api_url, pkce, homepage, version, allowed_workspaces";
        const CLIENT_COLUMNS: &str = "provider, purpose, key, secret, scopes, version";
        const SOURCE_COLUMNS: &str = "provider, display_name, kind, api_url, version";
        const TRACKED_COLUMNS: &str = "source, uuid, full_name, hook_uuid, hook_url, hook_secret, hook_events, checked_at, proven_at";

        /// The provider and its version; `lock` reads it for update.
        async fn fetch_provider<'e, E: sqlx::Executor<'e, Database = $db>>(
            executor: E,
            name: &str,
            lock: bool,
        ) -> Result<Option<(Provider, i64)>, StoreError> {
            let sql = format!(
                "SELECT {PROVIDER_COLUMNS} FROM providers WHERE name = $1{}",
                if lock { $for_update } else { "" }
            );
            sqlx::query_as::<_, ProviderRow>(&sql)
                .bind(name)
                .fetch_optional(executor)
                .await?
                .map(ProviderRow::into_versioned)
                .transpose()
        }

        async fn provider_exists(tx: &mut Tx, name: &ProviderName) -> Result<bool, StoreError> {
            Ok(fetch_provider(&mut **tx, name.as_str(), false).await?.is_some())
        }

        async fn source_exists(tx: &mut Tx, name: &ProviderName) -> Result<bool, StoreError> {
            let row: Option<(String,)> =
                sqlx::query_as("SELECT provider FROM sources WHERE provider = $1")
                    .bind(name.as_str())
                    .fetch_optional(&mut **tx)
                    .await?;
            Ok(row.is_some())
        }

        /// The client and its version; `lock` reads it for update.
        async fn fetch_client<'e, E: sqlx::Executor<'e, Database = $db>>(
            sealer: &Sealer,
            executor: E,
            provider: &ProviderName,
            purpose: Purpose,
            lock: bool,
        ) -> Result<Option<(Client, i64)>, StoreError> {
            let sql = format!(
                "SELECT {CLIENT_COLUMNS} FROM clients WHERE provider = $1 AND purpose = $2{}",
                if lock { $for_update } else { "" }
            );
            sqlx::query_as::<_, ClientRow>(&sql)
                .bind(provider.as_str())
                .bind(purpose.as_str())
                .fetch_optional(executor)
                .await?
                .map(|row| row.into_versioned(sealer))
                .transpose()
        }

        /// The source and its version; `lock` reads it for update.
        async fn fetch_source<'e, E: sqlx::Executor<'e, Database = $db>>(
            executor: E,
            provider: &ProviderName,
            lock: bool,
        ) -> Result<Option<(Source, i64)>, StoreError> {
            let sql = format!(
                "SELECT {SOURCE_COLUMNS} FROM sources WHERE provider = $1{}",
                if lock { $for_update } else { "" }
            );
            sqlx::query_as::<_, SourceRow>(&sql)
                .bind(provider.as_str())
                .fetch_optional(executor)
                .await?
                .map(SourceRow::into_versioned)
                .transpose()
        }

        const TOKEN_COLUMNS: &str = "provider, purpose, account_uuid, account_id, nickname, display_name, access_token, refresh_token, expires_at, scopes, state, version, created_at, refreshed_at, last_error, lease_until";

        async fn fetch_token<'e, E: sqlx::Executor<'e, Database = $db>>(
            sealer: &Sealer,
            executor: E,
            key: &TokenKey,
        ) -> Result<Option<StoredToken>, StoreError> {
            sqlx::query_as::<_, TokenRow>(&format!(
                "SELECT {TOKEN_COLUMNS} FROM tokens WHERE provider = $1 AND purpose = $2 AND account_uuid = $3"
            ))
            .bind(key.provider.as_str())
            .bind(key.purpose.as_str())
            .bind(key.account.as_str())
            .fetch_optional(executor)
            .await?
            .map(|row| row.into_model(sealer))
            .transpose()
        }

        async fn fetch_tracked<'e, E: sqlx::Executor<'e, Database = $db>>(
            sealer: &Sealer,
            executor: E,
            source: &ProviderName,
            uuid: &RepoUuid,
        ) -> Result<Option<TrackedRepository>, StoreError> {
            sqlx::query_as::<_, TrackedRow>(&format!(
                "SELECT {TRACKED_COLUMNS} FROM tracked_repositories WHERE source = $1 AND uuid = $2"
            ))
            .bind(source.as_str())
            .bind(uuid.as_str())
            .fetch_optional(executor)
            .await?
            .map(|row| row.into_model(sealer))
            .transpose()
        }

        fn conflict_or_unchanged<T: PartialEq>(
            existing: Option<T>,
            wanted: &T,
            entity: Entity,
            key: String,
        ) -> Result<WriteOutcome, StoreError> {
            match existing {
                Some(existing) if existing == *wanted => Ok(WriteOutcome::Unchanged),
                _ => Err(StoreError::Conflict { entity, key }),
            }
        }

        #[async_trait::async_trait]
        impl ProviderStore for $store {
            async fn create_provider(&self, p: &Provider) -> Result<WriteOutcome, StoreError> {
                retry_transient!(async {
                    let mut tx = self.begin_write().await?;
                    let inserted = sqlx::query(
                        "INSERT INTO providers (name, kind, authorize_url, token_url, api_url, pkce, homepage, allowed_workspaces) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (name) DO NOTHING",
                    )
                    .bind(p.name.as_str())
                    .bind(p.kind.as_str())
                    .bind(p.authorize_url.to_string())
                    .bind(p.token_url.to_string())
                    .bind(p.api_url.to_string())
                    .bind(p.pkce)
                    .bind(p.homepage.as_ref().map(ToString::to_string))
                    .bind(p.allowed_workspaces.to_list())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    let outcome = if inserted == 1 {
                        WriteOutcome::Created
                    } else {
                        let existing = fetch_provider(&mut *tx, p.name.as_str(), false).await?;
                        conflict_or_unchanged(existing.map(|(p, _)| p), p, Entity::Provider, p.name.to_string())?
                    };
                    tx.commit().await?;
                    Ok(outcome)
                })
            }

            async fn provider(&self, name: &ProviderName) -> Result<Option<Provider>, StoreError> {
                Ok(fetch_provider(&self.pool, name.as_str(), false).await?.map(|(p, _)| p))
            }

            async fn providers(&self) -> Result<Vec<Provider>, StoreError> {
                sqlx::query_as::<_, ProviderRow>(&format!(
                    "SELECT {PROVIDER_COLUMNS} FROM providers ORDER BY name"
                ))
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(ProviderRow::into_model)
                .collect()
            }

            async fn update_provider(
                &self,
                name: &ProviderName,
                patch: &ProviderPatch,
            ) -> Result<Updated<Provider>, StoreError> {
                retry_transient!(async {
                    let mut tx = self.begin_write().await?;
                    let Some((current, version)) = fetch_provider(&mut *tx, name.as_str(), true).await? else {
                        return Err(StoreError::NotFound {
                            entity: Entity::Provider,
                            key: name.to_string(),
                        });
                    };
                    let new = patch.apply(&current);
                    if new == current {
                        return Ok(Updated::new(WriteOutcome::Unchanged, current, version));
                    }
                    sqlx::query(
                        "UPDATE providers SET authorize_url = $2, token_url = $3, api_url = $4, pkce = $5, homepage = $6, allowed_workspaces = $7, version = version + 1 WHERE name = $1",
                    )
                    .bind(name.as_str())
                    .bind(new.authorize_url.to_string())
                    .bind(new.token_url.to_string())
                    .bind(new.api_url.to_string())
                    .bind(new.pkce)
                    .bind(new.homepage.as_ref().map(ToString::to_string))
                    .bind(new.allowed_workspaces.to_list())
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(Updated::new(WriteOutcome::Updated, new, version + 1))
                })
            }

            async fn delete_provider(
                &self,
                name: &ProviderName,
                cascade: bool,
            ) -> Result<Removed, StoreError> {
                retry_transient!(async {
                    let mut tx = self.begin_write().await?;
                    if !provider_exists(&mut tx, name).await? {
                        return Err(StoreError::NotFound {
                            entity: Entity::Provider,
                            key: name.to_string(),
                        });
                    }
                    let count = |table: &'static str| {
                        format!("SELECT COUNT(*) FROM {table} WHERE provider = $1")
                    };
                    let mut removed = Removed::default();
                    for (table, slot) in [
                        ("clients", &mut removed.clients),
                        ("sources", &mut removed.sources),
                        ("tokens", &mut removed.tokens),
                        ("credentials", &mut removed.credentials),
                    ] {
                        let (n,): (i64,) = sqlx::query_as(&count(table))
                            .bind(name.as_str())
                            .fetch_one(&mut *tx)
                            .await?;
                        *slot = usize::try_from(n).unwrap_or_default();
                    }
                    if !cascade
                        && (removed.clients > 0 || removed.sources > 0 || removed.credentials > 0)
                    {
                        return Err(StoreError::ProviderInUse {
                            provider: name.clone(),
                            clients: removed.clients,
                            sources: removed.sources,
                            credentials: removed.credentials,
                        });
                    }
                    for statement in [
                        "DELETE FROM tokens WHERE provider = $1",
                        "DELETE FROM clients WHERE provider = $1",
                        "DELETE FROM credentials WHERE provider = $1",
                        "DELETE FROM repositories WHERE source = $1",
                        "DELETE FROM workspace_listings WHERE source = $1",
                        "DELETE FROM tracked_repositories WHERE source = $1",
                        "DELETE FROM sources WHERE provider = $1",
                        "DELETE FROM providers WHERE name = $1",
                    ] {
                        sqlx::query(statement).bind(name.as_str()).execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    Ok(removed)
                })
            }
        }

        #[async_trait::async_trait]
        impl ClientStore for $store {
            async fn create_client(&self, c: &Client) -> Result<WriteOutcome, StoreError> {
                retry_transient!(async {
                    let mut tx = self.begin_write().await?;
                    if !provider_exists(&mut tx, &c.provider).await? {
                        return Err(StoreError::MissingProvider {
                            provider: c.provider.clone(),
                        });
                    }
                    let inserted = sqlx::query(
                        "INSERT INTO clients (provider, purpose, key, secret, scopes) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (provider, purpose) DO NOTHING",
                    )
                    .bind(c.provider.as_str())
                    .bind(c.purpose.as_str())
                    .bind(c.key.as_str())
                    .bind(self.sealer.seal(
                        &SecretIdentity::client_secret(c.provider.as_str(), c.purpose.as_str()),
                        c.secret.expose_secret(),
                    ))
                    .bind(c.scopes.to_string())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    let outcome = if inserted == 1 {
                        WriteOutcome::Created
                    } else {
                        let existing = fetch_client(&self.sealer, &mut *tx, &c.provider, c.purpose, false).await?;
                        conflict_or_unchanged(
                            existing.map(|(c, _)| c),
                            c,
                            Entity::Client,
                            client_key(&c.provider, c.purpose),
                        )?
                    };
                    tx.commit().await?;
                    Ok(outcome)
                })
            }

            async fn client(
                &self,
                provider: &ProviderName,
                purpose: Purpose,
            ) -> Result<Option<Client>, StoreError> {
                // One SELECT is atomic on its own: a transaction would only add BEGIN/ROLLBACK
                // round trips (the hot path of every API call).
                Ok(fetch_client(&self.sealer, &self.pool, provider, purpose, false).await?.map(|(c, _)| c))
            }

            async fn clients(
                &self,
                provider: Option<&ProviderName>,
            ) -> Result<Vec<Client>, StoreError> {
                sqlx::query_as::<_, ClientRow>(&format!(
                    "SELECT {CLIENT_COLUMNS} FROM clients WHERE ($1 IS NULL OR provider = $1) ORDER BY provider, purpose"
                ))
                .bind(provider.map(ProviderName::as_str))
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|row| row.into_model(&self.sealer))
                .collect()
            }

            async fn update_client(
                &self,
                provider: &ProviderName,
                purpose: Purpose,
                patch: &ClientPatch,
            ) -> Result<Updated<Client>, StoreError> {
                retry_transient!(async {
                    let mut tx = self.begin_write().await?;
                    let Some((current, version)) = fetch_client(&self.sealer, &mut *tx, provider, purpose, true).await? else {
                        return Err(StoreError::NotFound {
                            entity: Entity::Client,
                            key: client_key(provider, purpose),
                        });
                    };
                    let new = patch.apply(&current);
                    if new == current {
                        return Ok(Updated::new(WriteOutcome::Unchanged, current, version));
                    }
                    sqlx::query(
                        "UPDATE clients SET key = $3, secret = $4, scopes = $5, version = version + 1 WHERE provider = $1 AND purpose = $2",
                    )
                    .bind(provider.as_str())
                    .bind(purpose.as_str())
                    .bind(new.key.as_str())
                    .bind(self.sealer.seal(
                        &SecretIdentity::client_secret(provider.as_str(), purpose.as_str()),
                        new.secret.expose_secret(),
                    ))
                    .bind(new.scopes.to_string())
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(Updated::new(WriteOutcome::Updated, new, version + 1))
                })
            }

            async fn delete_client(
                &self,
                provider: &ProviderName,
                purpose: Purpose,
            ) -> Result<(), StoreError> {
                retry_transient!(async {
                    let mut tx = self.begin_write().await?;
                    sqlx::query("DELETE FROM tokens WHERE provider = $1 AND purpose = $2")
                        .bind(provider.as_str())
                        .bind(purpose.as_str())
                        .execute(&mut *tx)
                        .await?;
                    let deleted = sqlx::query("DELETE FROM clients WHERE provider = $1 AND purpose = $2")
                        .bind(provider.as_str())
                        .bind(purpose.as_str())
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if deleted == 0 {
                        return Err(StoreError::NotFound {
                            entity: Entity::Client,
                            key: client_key(provider, purpose),
                        });
                    }
                    tx.commit().await?;
                    Ok(())
                })
            }
        }

        #[async_trait::async_trait]
        impl SourceStore for $store {
            async fn create_source(&self, s: &Source) -> Result<WriteOutcome, StoreError> {
                retry_transient!(async {
                    let mut tx = self.begin_write().await?;
                    if !provider_exists(&mut tx, &s.provider).await? {
                        return Err(StoreError::MissingProvider {
                            provider: s.provider.clone(),
                        });
                    }
                    let inserted = sqlx::query(
                        "INSERT INTO sources (provider, display_name, kind, api_url) VALUES ($1, $2, $3, $4) ON CONFLICT (provider) DO NOTHING",
                    )
                    .bind(s.provider.as_str())
                    .bind(s.display_name.as_str())
                    .bind(s.kind.as_str())
                    .bind(s.api_url.to_string())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    let outcome = if inserted == 1 {
                        WriteOutcome::Created
                    } else {
                        let existing = fetch_source(&mut *tx, &s.provider, false).await?;
                        conflict_or_unchanged(existing.map(|(s, _)| s), s, Entity::Source, s.provider.to_string())?
                    };
                    tx.commit().await?;
                    Ok(outcome)
                })
            }

            async fn source(&self, provider: &ProviderName) -> Result<Option<Source>, StoreError> {
                Ok(fetch_source(&self.pool, provider, false).await?.map(|(s, _)| s))
            }

            async fn sources(&self) -> Result<Vec<Source>, StoreError> {
                sqlx::query_as::<_, SourceRow>(&format!(
                    "SELECT {SOURCE_COLUMNS} FROM sources ORDER BY provider"
                ))
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(SourceRow::into_model)
                .collect()
            }

            async fn update_source(
                &self,
                provider: &ProviderName,
                patch: &SourcePatch,
            ) -> Result<Updated<Source>, StoreError> {
                retry_transient!(async {
                    let mut tx = self.begin_write().await?;
                    let Some((current, version)) = fetch_source(&mut *tx, provider, true).await? else {
                        return Err(StoreError::NotFound {
                            entity: Entity::Source,
                            key: provider.to_string(),
                        });
                    };
                    let new = patch.apply(&current);
                    if new == current {
                        return Ok(Updated::new(WriteOutcome::Unchanged, current, version));
                    }
                    sqlx::query(
                        "UPDATE sources SET display_name = $2, api_url = $3, version = version + 1 WHERE provider = $1",
                    )
                    .bind(provider.as_str())
                    .bind(new.display_name.as_str())
                    .bind(new.api_url.to_string())
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(Updated::new(WriteOutcome::Updated, new, version + 1))
                })
            }

            async fn delete_source(&self, provider: &ProviderName) -> Result<(), StoreError> {
                retry_transient!(async {
                    let mut tx = self.begin_write().await?;
                    for statement in [
                        "DELETE FROM repositories WHERE source = $1",
                        "DELETE FROM workspace_listings WHERE source = $1",
                        "DELETE FROM tracked_repositories WHERE source = $1",
                    ] {
                        sqlx::query(statement).bind(provider.as_str()).execute(&mut *tx).await?;
                    }
                    let deleted = sqlx::query("DELETE FROM sources WHERE provider = $1")
                        .bind(provider.as_str())
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if deleted == 0 {
                        return Err(StoreError::NotFound {
                            entity: Entity::Source,
                            key: provider.to_string(),
                        });
                    }
                    tx.commit().await?;
                    Ok(())
                })
            }
        }

        impl $store {
            /// Runs a compare-and-swap `statement` ($1-$3 key, $4 version, then `extra` as $5,
            /// $6) and reports the outcome with the row as it is afterwards.
            async fn token_cas(
                &self,
                key: &TokenKey,
                statement: &'static str,
                expected_version: i64,
                extra: Option<(i64, i64)>,
            ) -> Result<Swap, StoreError> {
                retry_transient!(async {
                let mut tx = self.begin_write().await?;
                let mut query = sqlx::query(statement)
                    .bind(key.provider.as_str())
                    .bind(key.purpose.as_str())
                    .bind(key.account.as_str())
                    .bind(expected_version);
                if let Some((a, b)) = extra {
                    query = query.bind(a).bind(b);
                }
                let changed = query.execute(&mut *tx).await?.rows_affected();
                let current = fetch_token(&self.sealer, &mut *tx, key).await?;
                tx.commit().await?;
                Ok(match (changed, current) {
                    (1, Some(stored)) => Swap::Swapped(stored),
                    (_, current) => Swap::Stale(current),
                })
                })
            }
        }

        #[async_trait::async_trait]
        impl TokenStore for $store {
            async fn put_token(
                &self,
                provider: &ProviderName,
                purpose: Purpose,
                account: &AccountInfo,
                tokens: &TokenSet,
            ) -> Result<StoredToken, StoreError> {
                retry_transient!(async {
                let mut tx = self.begin_write().await?;
                if fetch_client(&self.sealer, &mut *tx, provider, purpose, false).await?.is_none() {
                    return Err(StoreError::NotFound {
                        entity: Entity::Client,
                        key: client_key(provider, purpose),
                    });
                }
                let key = TokenKey {
                    provider: provider.clone(),
                    purpose,
                    account: account.uuid.clone(),
                };
                let version = fetch_token(&self.sealer, &mut *tx, &key).await?.map_or(0, |t| t.version) + 1;
                sqlx::query(&format!(
                    "INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL, NULL, NULL) \
                     ON CONFLICT (provider, purpose, account_uuid) DO UPDATE SET \
                     account_id = $4, nickname = $5, display_name = $6, access_token = $7, refresh_token = $8, \
                     expires_at = $9, scopes = $10, state = $11, version = $12, created_at = $13, refreshed_at = NULL, \
                     last_error = NULL, lease_until = NULL"
                ))
                .bind(provider.as_str())
                .bind(purpose.as_str())
                .bind(account.uuid.as_str())
                .bind(account.account_id.as_deref())
                .bind(account.nickname.as_deref())
                .bind(account.display_name.as_deref())
                .bind(self.sealer.seal(
                    &SecretIdentity::access_token(provider.as_str(), purpose.as_str(), account.uuid.as_str()),
                    tokens.access_token.expose_secret(),
                ))
                .bind(tokens.refresh_token.as_ref().map(|t| self.sealer.seal(
                    &SecretIdentity::refresh_token(provider.as_str(), purpose.as_str(), account.uuid.as_str()),
                    t.expose_secret(),
                )))
                .bind(tokens.expires_at.map(rows::to_unix))
                .bind(tokens.scopes.to_string())
                .bind(TokenState::Active.as_str())
                .bind(version)
                .bind(rows::to_unix(rows::now()))
                .execute(&mut *tx)
                .await?;
                let stored = fetch_token(&self.sealer, &mut *tx, &key).await?;
                tx.commit().await?;
                stored.ok_or_else(|| StoreError::NotFound {
                    entity: Entity::Token,
                    key: token_key(&key),
                })
                })
            }

            async fn token(&self, key: &TokenKey) -> Result<Option<StoredToken>, StoreError> {
                fetch_token(&self.sealer, &self.pool, key).await
            }

            async fn tokens(
                &self,
                provider: Option<&ProviderName>,
            ) -> Result<Vec<StoredToken>, StoreError> {
                sqlx::query_as::<_, TokenRow>(&format!(
                    "SELECT {TOKEN_COLUMNS} FROM tokens WHERE ($1 IS NULL OR provider = $1) ORDER BY provider, purpose, account_uuid"
                ))
                .bind(provider.map(ProviderName::as_str))
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|row| row.into_model(&self.sealer))
                .collect()
            }

            async fn swap_token(
                &self,
                key: &TokenKey,
                expected_version: i64,
                tokens: &TokenSet,
            ) -> Result<Swap, StoreError> {
                retry_transient!(async {
                let mut tx = self.begin_write().await?;
                let swapped = sqlx::query(
                    "UPDATE tokens SET access_token = $4, refresh_token = $5, expires_at = $6, scopes = $7, \
                     state = $8, version = version + 1, refreshed_at = $9, last_error = NULL, lease_until = NULL \
                     WHERE provider = $1 AND purpose = $2 AND account_uuid = $3 AND version = $10",
                )
                .bind(key.provider.as_str())
                .bind(key.purpose.as_str())
                .bind(key.account.as_str())
                .bind(self.sealer.seal(
                    &SecretIdentity::access_token(key.provider.as_str(), key.purpose.as_str(), key.account.as_str()),
                    tokens.access_token.expose_secret(),
                ))
                .bind(tokens.refresh_token.as_ref().map(|t| self.sealer.seal(
                    &SecretIdentity::refresh_token(key.provider.as_str(), key.purpose.as_str(), key.account.as_str()),
                    t.expose_secret(),
                )))
                .bind(tokens.expires_at.map(rows::to_unix))
                .bind(tokens.scopes.to_string())
                .bind(TokenState::Active.as_str())
                .bind(rows::to_unix(rows::now()))
                .bind(expected_version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let current = fetch_token(&self.sealer, &mut *tx, key).await?;
                tx.commit().await?;
                Ok(match (swapped, current) {
                    (1, Some(stored)) => Swap::Swapped(stored),
                    (_, current) => Swap::Stale(current),
                })
                })
            }

            async fn mark_needs_reauth(
                &self,
                key: &TokenKey,
                expected_version: i64,
                reason: &str,
            ) -> Result<Swap, StoreError> {
                retry_transient!(async {
                let mut tx = self.begin_write().await?;
                let marked = sqlx::query(
                    "UPDATE tokens SET state = $4, version = version + 1, last_error = $5, lease_until = NULL \
                     WHERE provider = $1 AND purpose = $2 AND account_uuid = $3 AND version = $6",
                )
                .bind(key.provider.as_str())
                .bind(key.purpose.as_str())
                .bind(key.account.as_str())
                .bind(TokenState::NeedsReauth.as_str())
                .bind(reason)
                .bind(expected_version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let current = fetch_token(&self.sealer, &mut *tx, key).await?;
                tx.commit().await?;
                Ok(match (marked, current) {
                    (1, Some(stored)) => Swap::Swapped(stored),
                    (_, current) => Swap::Stale(current),
                })
                })
            }

            async fn claim_refresh(
                &self,
                key: &TokenKey,
                expected_version: i64,
                now: chrono::DateTime<chrono::Utc>,
                until: chrono::DateTime<chrono::Utc>,
            ) -> Result<Swap, StoreError> {
                self.token_cas(
                    key,
                    "UPDATE tokens SET version = version + 1, lease_until = $5 \
                     WHERE provider = $1 AND purpose = $2 AND account_uuid = $3 AND version = $4 \
                     AND (lease_until IS NULL OR lease_until <= $6)",
                    expected_version,
                    Some((rows::to_unix(until), rows::to_unix(now))),
                )
                .await
            }

            async fn release_refresh(
                &self,
                key: &TokenKey,
                expected_version: i64,
            ) -> Result<Swap, StoreError> {
                self.token_cas(
                    key,
                    "UPDATE tokens SET version = version + 1, lease_until = NULL \
                     WHERE provider = $1 AND purpose = $2 AND account_uuid = $3 AND version = $4",
                    expected_version,
                    None,
                )
                .await
            }

            async fn delete_token(&self, key: &TokenKey) -> Result<bool, StoreError> {
                let deleted = sqlx::query(
                    "DELETE FROM tokens WHERE provider = $1 AND purpose = $2 AND account_uuid = $3",
                )
                .bind(key.provider.as_str())
                .bind(key.purpose.as_str())
                .bind(key.account.as_str())
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(deleted > 0)
            }
        }

        const REPOSITORY_COLUMNS: &str = "source, account_uuid, uuid, full_name, workspace, name, is_private, main_branch, html_url, updated_on, first_seen, last_seen, gone_since, created_on, scm, project_key, language, clone_https, fork_of";

        #[async_trait::async_trait]
        impl RepoStore for $store {
            async fn record_listings(
                &self,
                source: &ProviderName,
                account: &AccountUuid,
                listings: &[WorkspaceListing],
                seen_at: chrono::DateTime<chrono::Utc>,
            ) -> Result<ListingChanges, StoreError> {
                retry_transient!(async {
                let seen = rows::to_unix(seen_at);
                let mut tx = self.begin_write().await?;
                // Two syncs of one account would otherwise upsert the same rows concurrently.
                super::serialize_listings(&mut tx, source, account).await?;
                if !source_exists(&mut tx, source).await? {
                    return Err(StoreError::NotFound {
                        entity: Entity::Source,
                        key: source.to_string(),
                    });
                }
                let mut changes = ListingChanges::default();
                for listing in listings {
                    let previous: Vec<StoredRepository> = sqlx::query_as::<_, RepositoryRow>(&format!(
                        "SELECT {REPOSITORY_COLUMNS} FROM repositories WHERE source = $1 AND account_uuid = $2 AND workspace = $3"
                    ))
                    .bind(source.as_str())
                    .bind(account.as_str())
                    .bind(&listing.workspace)
                    .fetch_all(&mut *tx)
                    .await?
                    .into_iter()
                    .map(RepositoryRow::into_model)
                    .collect::<Result<_, _>>()?;
                    let previous: std::collections::BTreeMap<&RepoUuid, &StoredRepository> =
                        previous.iter().map(|r| (&r.repository.uuid, r)).collect();
                    let mut listed = std::collections::BTreeSet::new();
                    for repo in &listing.repositories {
                        if !listed.insert(&repo.uuid) {
                            continue;
                        }
                        match previous.get(&repo.uuid) {
                            Some(old) if old.gone_since.is_some() => changes.new += 1,
                            Some(old) if old.repository == *repo => changes.unchanged += 1,
                            Some(_) => changes.updated += 1,
                            None => changes.new += 1,
                        }
                        sqlx::query(&format!(
                            "INSERT INTO repositories ({REPOSITORY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, NULL, $12, $13, $14, $15, $16, $17) \
                             ON CONFLICT (source, account_uuid, uuid) DO UPDATE SET full_name = $4, workspace = $5, name = $6, \
                             is_private = $7, main_branch = $8, html_url = $9, updated_on = $10, last_seen = $11, gone_since = NULL, \
                             created_on = $12, scm = $13, project_key = $14, language = $15, clone_https = $16, fork_of = $17"
                        ))
                        .bind(source.as_str())
                        .bind(account.as_str())
                        .bind(repo.uuid.as_str())
                        .bind(&repo.full_name)
                        .bind(&repo.workspace)
                        .bind(&repo.name)
                        .bind(repo.is_private)
                        .bind(repo.main_branch.as_deref())
                        .bind(repo.html_url.as_deref())
                        .bind(rows::time_text(repo.updated_on))
                        .bind(seen)
                        .bind(rows::time_text(repo.created_on))
                        .bind(repo.scm.as_deref())
                        .bind(repo.project_key.as_deref())
                        .bind(repo.language.as_deref())
                        .bind(repo.clone_https.as_deref())
                        .bind(repo.fork_of.as_deref())
                        .execute(&mut *tx)
                        .await?;
                    }
                    match listing.kind {
                        ListingKind::Full => {
                            for (uuid, old) in &previous {
                                if old.gone_since.is_none() && !listed.contains(uuid) {
                                    changes.gone += 1;
                                    sqlx::query(
                                        "UPDATE repositories SET gone_since = $4 WHERE source = $1 AND account_uuid = $2 AND uuid = $3",
                                    )
                                    .bind(source.as_str())
                                    .bind(account.as_str())
                                    .bind(uuid.as_str())
                                    .bind(seen)
                                    .execute(&mut *tx)
                                    .await?;
                                }
                            }
                        }
                        // Bitbucket's count proved the others are still there, unchanged.
                        ListingKind::Incremental => {
                            changes.unchanged += previous
                                .iter()
                                .filter(|(uuid, old)| old.gone_since.is_none() && !listed.contains(*uuid))
                                .count();
                            sqlx::query(
                                "UPDATE repositories SET last_seen = $4 WHERE source = $1 AND account_uuid = $2 AND workspace = $3 AND gone_since IS NULL",
                            )
                            .bind(source.as_str())
                            .bind(account.as_str())
                            .bind(&listing.workspace)
                            .bind(seen)
                            .execute(&mut *tx)
                            .await?;
                        }
                    }
                    // An incremental listing keeps the last full one's time (the epoch when
                    // there was none, so that the next sync lists in full).
                    let count = i64::try_from(listing.count).unwrap_or(i64::MAX);
                    let full_at = match listing.kind {
                        ListingKind::Full => seen,
                        ListingKind::Incremental => 0,
                    };
                    sqlx::query(
                        "INSERT INTO workspace_listings (source, account_uuid, workspace, complete_at, full_at, repositories) \
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (source, account_uuid, workspace) DO UPDATE SET \
                         complete_at = $4, repositories = $6, \
                         full_at = CASE WHEN $7 THEN $4 ELSE workspace_listings.full_at END",
                    )
                    .bind(source.as_str())
                    .bind(account.as_str())
                    .bind(&listing.workspace)
                    .bind(seen)
                    .bind(full_at)
                    .bind(count)
                    .bind(listing.kind == ListingKind::Full)
                    .execute(&mut *tx)
                    .await?;
                }
                $crate::store::sql::pause_in_write().await;
                tx.commit().await?;
                Ok(changes)
                })
            }

            async fn listing_states(
                &self,
                source: &ProviderName,
                account: &AccountUuid,
            ) -> Result<Vec<ListingState>, StoreError> {
                let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
                    "SELECT workspace, complete_at, full_at, repositories FROM workspace_listings \
                     WHERE source = $1 AND account_uuid = $2 ORDER BY workspace",
                )
                .bind(source.as_str())
                .bind(account.as_str())
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(workspace, complete_at, full_at, count)| {
                        ListingState::new(
                            workspace,
                            rows::from_unix(complete_at),
                            rows::from_unix(full_at),
                            u64::try_from(count).unwrap_or_default(),
                        )
                    })
                    .collect())
            }

            async fn prove_hook(
                &self,
                source: &ProviderName,
                uuid: &RepoUuid,
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), StoreError> {
                // One statement: a later proof recorded concurrently is never replaced.
                let at = rows::to_unix(at);
                let updated = sqlx::query(
                    "UPDATE tracked_repositories SET proven_at = CASE WHEN proven_at IS NULL OR proven_at < $3 THEN $3 ELSE proven_at END \
                     WHERE source = $1 AND uuid = $2",
                )
                .bind(source.as_str())
                .bind(uuid.as_str())
                .bind(at)
                .execute(&self.pool)
                .await?
                .rows_affected();
                if updated == 0 {
                    return Err(StoreError::NotFound {
                        entity: Entity::Repository,
                        key: format!("{source}/{uuid}"),
                    });
                }
                Ok(())
            }

            async fn repositories(
                &self,
                source: &ProviderName,
                account: Option<&AccountUuid>,
            ) -> Result<Vec<StoredRepository>, StoreError> {
                sqlx::query_as::<_, RepositoryRow>(&format!(
                    "SELECT {REPOSITORY_COLUMNS} FROM repositories WHERE source = $1 AND ($2 IS NULL OR account_uuid = $2) ORDER BY full_name, account_uuid"
                ))
                .bind(source.as_str())
                .bind(account.map(AccountUuid::as_str))
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(RepositoryRow::into_model)
                .collect()
            }

            async fn track(
                &self,
                source: &ProviderName,
                uuid: &RepoUuid,
                full_name: &str,
            ) -> Result<WriteOutcome, StoreError> {
                retry_transient!(async {
                let mut tx = self.begin_write().await?;
                if !source_exists(&mut tx, source).await? {
                    return Err(StoreError::NotFound {
                        entity: Entity::Source,
                        key: source.to_string(),
                    });
                }
                let inserted = sqlx::query(
                    "INSERT INTO tracked_repositories (source, uuid, full_name) VALUES ($1, $2, $3) ON CONFLICT (source, uuid) DO NOTHING",
                )
                .bind(source.as_str())
                .bind(uuid.as_str())
                .bind(full_name)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok(if inserted == 1 { WriteOutcome::Created } else { WriteOutcome::Unchanged })
                })
            }

            async fn tracked(
                &self,
                source: &ProviderName,
            ) -> Result<Vec<TrackedRepository>, StoreError> {
                sqlx::query_as::<_, TrackedRow>(
                    &format!("SELECT {TRACKED_COLUMNS} FROM tracked_repositories WHERE source = $1 ORDER BY full_name"),
                )
                .bind(source.as_str())
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|row| row.into_model(&self.sealer))
                .collect()
            }

            async fn record_hook(
                &self,
                source: &ProviderName,
                uuid: &RepoUuid,
                hook: Option<&HookRecord>,
                checked_at: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), StoreError> {
                let updated = sqlx::query(
                    "UPDATE tracked_repositories SET hook_uuid = $3, hook_url = $4, hook_secret = $5, hook_events = $6, checked_at = $7 \
                     WHERE source = $1 AND uuid = $2",
                )
                .bind(source.as_str())
                .bind(uuid.as_str())
                .bind(hook.map(|h| h.uuid.as_str()))
                .bind(hook.map(|h| h.url.as_str()))
                .bind(hook.map(|h| self.sealer.seal(
                    &SecretIdentity::hook_secret(source.as_str(), uuid.as_str()),
                    h.secret.expose_secret(),
                )))
                .bind(hook.map(|h| h.events.join(",")))
                .bind(rows::to_unix(checked_at))
                .execute(&self.pool)
                .await?
                .rows_affected();
                if updated == 0 {
                    return Err(StoreError::NotFound {
                        entity: Entity::Repository,
                        key: format!("{source}/{uuid}"),
                    });
                }
                Ok(())
            }

            async fn untrack(
                &self,
                source: &ProviderName,
                uuid: &RepoUuid,
            ) -> Result<Option<TrackedRepository>, StoreError> {
                retry_transient!(async {
                    let mut tx = self.begin_write().await?;
                    let row = fetch_tracked(&self.sealer, &mut *tx, source, uuid).await?;
                    sqlx::query("DELETE FROM tracked_repositories WHERE source = $1 AND uuid = $2")
                        .bind(source.as_str())
                        .bind(uuid.as_str())
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(row)
                })
            }

            async fn tracked_repository(
                &self,
                source: &ProviderName,
                uuid: &RepoUuid,
            ) -> Result<Option<TrackedRepository>, StoreError> {
                fetch_tracked(&self.sealer, &self.pool, source, uuid).await
            }

            async fn tracked_by_hook(
                &self,
                hook: &HookUuid,
            ) -> Result<Option<TrackedRepository>, StoreError> {
                sqlx::query_as::<_, TrackedRow>(&format!(
                    "SELECT {TRACKED_COLUMNS} FROM tracked_repositories WHERE hook_uuid = $1 ORDER BY source LIMIT 1"
                ))
                .bind(hook.as_str())
                .fetch_optional(&self.pool)
                .await?
                .map(|row| row.into_model(&self.sealer))
                .transpose()
            }

            async fn claim_hook(
                &self,
                source: &ProviderName,
                uuid: &RepoUuid,
                holder: &str,
                now: chrono::DateTime<chrono::Utc>,
                until: chrono::DateTime<chrono::Utc>,
            ) -> Result<HookLease, StoreError> {
                // One statement: the claim is atomic without a transaction.
                let claimed = sqlx::query(
                    "UPDATE tracked_repositories SET lease_holder = $3, lease_until = $5 \
                     WHERE source = $1 AND uuid = $2 AND (lease_until IS NULL OR lease_until <= $4 OR lease_holder = $3)",
                )
                .bind(source.as_str())
                .bind(uuid.as_str())
                .bind(holder)
                .bind(rows::to_unix(now))
                .bind(rows::to_unix(until))
                .execute(&self.pool)
                .await?
                .rows_affected();
                if claimed == 1 {
                    return Ok(HookLease::Claimed);
                }
                let held: Option<(Option<i64>,)> = sqlx::query_as(
                    "SELECT lease_until FROM tracked_repositories WHERE source = $1 AND uuid = $2",
                )
                .bind(source.as_str())
                .bind(uuid.as_str())
                .fetch_optional(&self.pool)
                .await?;
                Ok(match held {
                    None => HookLease::NotTracked,
                    // Released between the two statements: busy until now, so the caller retries.
                    Some((until,)) => HookLease::Busy(until.map_or(now, rows::from_unix)),
                })
            }

            async fn release_hook(
                &self,
                source: &ProviderName,
                uuid: &RepoUuid,
                holder: &str,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE tracked_repositories SET lease_holder = NULL, lease_until = NULL \
                     WHERE source = $1 AND uuid = $2 AND lease_holder = $3",
                )
                .bind(source.as_str())
                .bind(uuid.as_str())
                .bind(holder)
                .execute(&self.pool)
                .await?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl BudgetStore for $store {
            async fn reserve_requests(
                &self,
                consumer: &str,
                account: &str,
                policy: &BudgetPolicy,
                want: u64,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<BudgetGrant, StoreError> {
                retry_transient!(async {
                    let mut tx = self.begin_write().await?;
                    // The consumer's lock row: on PostgreSQL its row lock makes concurrent
                    // reservations queue (SQLite's write transaction already does).
                    sqlx::query(
                        "INSERT INTO consumer_budget (consumer, slot, account, used) VALUES ($1, -1, '', 0) \
                         ON CONFLICT (consumer, slot, account) DO UPDATE SET used = 0",
                    )
                    .bind(consumer)
                    .execute(&mut *tx)
                    .await?;
                    let oldest = policy.oldest_counted(now);
                    sqlx::query("DELETE FROM consumer_budget WHERE consumer = $1 AND slot >= 0 AND slot <= $2")
                        .bind(consumer)
                        .bind(oldest)
                        .execute(&mut *tx)
                        .await?;
                    let usage: Vec<(i64, String, i64)> = sqlx::query_as(
                        "SELECT slot, account, used FROM consumer_budget WHERE consumer = $1 AND slot > $2",
                    )
                    .bind(consumer)
                    .bind(oldest)
                    .fetch_all(&mut *tx)
                    .await?;
                    let usage: Vec<(i64, String, u64)> = usage
                        .into_iter()
                        .map(|(slot, a, n)| (slot, a, u64::try_from(n).unwrap_or_default()))
                        .collect();
                    let (granted, resume_at) =
                        $crate::store::budget::decide(&usage, account, policy, want);
                    if granted > 0 {
                        sqlx::query(
                            "INSERT INTO consumer_budget (consumer, slot, account, used) VALUES ($1, $2, $3, $4) \
                             ON CONFLICT (consumer, slot, account) DO UPDATE SET used = consumer_budget.used + $4",
                        )
                        .bind(consumer)
                        .bind(policy.slot(now))
                        .bind(account)
                        .bind(i64::try_from(granted).unwrap_or(i64::MAX))
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                    Ok(BudgetGrant { granted, resume_at })
                })
            }
        }

        /// The installation id, created by the first process to ask.
        async fn installation_id_of(pool: &sqlx::Pool<$db>) -> Result<String, StoreError> {
            sqlx::query("INSERT INTO store_meta (name, value) VALUES ('installation_id', $1) ON CONFLICT (name) DO NOTHING")
                .bind($crate::store::new_installation_id())
                .execute(pool)
                .await?;
            let (id,): (String,) = sqlx::query_as("SELECT value FROM store_meta WHERE name = 'installation_id'")
                .fetch_one(pool)
                .await?;
            Ok(id)
        }

    };
}

pub(crate) use impl_sql_store;
