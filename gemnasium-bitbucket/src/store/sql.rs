//! The store traits implemented once in SQL for both database backends.
//!
//! SQLite and PostgreSQL accept the same statements here (`$N` placeholders, `ON CONFLICT`), so
//! one macro generates both implementations; each backend only supplies its pool and how a write
//! transaction begins (`BEGIN IMMEDIATE` on SQLite, so a read-then-write transaction never fails
//! to upgrade its lock under concurrency).
//!
//! Creates use `INSERT … ON CONFLICT DO NOTHING` and, when nothing was inserted, compare with the
//! row that won: identical re-creates are `Unchanged` even when racing.

macro_rules! impl_sql_store {
    ($store:ty, $db:ty) => {
        use $crate::store::memory::{client_key, token_key};
        use $crate::store::rows::{
            self, ClientRow, ProviderRow, RepositoryRow, SourceRow, TokenRow, TrackedRow,
        };
        use $crate::store::{
            ClientStore, Entity, ListingChanges, ProviderStore, Removed, RepoStore, SourceStore,
            StoreError, StoredRepository, StoredToken, Swap, TokenStore, TrackedRepository,
            WorkspaceListing, WriteOutcome,
        };
        use $crate::model::{
            AccountInfo, AccountUuid, Client, HookRecord, Provider, ProviderName, Purpose,
            RepoUuid, Source, TokenKey, TokenSet, TokenState,
        };

        type Tx = sqlx::Transaction<'static, $db>;

        async fn fetch_provider(
            tx: &mut Tx,
            name: &str,
        ) -> Result<Option<Provider>, StoreError> {
            sqlx::query_as::<_, ProviderRow>(
                "SELECT name, kind, authorize_url, token_url, api_url, pkce FROM providers WHERE name = $1",
            )
            .bind(name)
            .fetch_optional(&mut **tx)
            .await?
            .map(ProviderRow::into_model)
            .transpose()
        }

        async fn provider_exists(tx: &mut Tx, name: &ProviderName) -> Result<bool, StoreError> {
            Ok(fetch_provider(tx, name.as_str()).await?.is_some())
        }

        async fn source_exists(tx: &mut Tx, name: &ProviderName) -> Result<bool, StoreError> {
            let row: Option<(String,)> =
                sqlx::query_as("SELECT provider FROM sources WHERE provider = $1")
                    .bind(name.as_str())
                    .fetch_optional(&mut **tx)
                    .await?;
            Ok(row.is_some())
        }

        async fn fetch_client(
            tx: &mut Tx,
            provider: &ProviderName,
            purpose: Purpose,
        ) -> Result<Option<Client>, StoreError> {
            sqlx::query_as::<_, ClientRow>(
                "SELECT provider, purpose, key, secret, scopes FROM clients WHERE provider = $1 AND purpose = $2",
            )
            .bind(provider.as_str())
            .bind(purpose.as_str())
            .fetch_optional(&mut **tx)
            .await?
            .map(ClientRow::into_model)
            .transpose()
        }

        async fn fetch_source(
            tx: &mut Tx,
            provider: &ProviderName,
        ) -> Result<Option<Source>, StoreError> {
            sqlx::query_as::<_, SourceRow>(
                "SELECT provider, display_name, kind, api_url FROM sources WHERE provider = $1",
            )
            .bind(provider.as_str())
            .fetch_optional(&mut **tx)
            .await?
            .map(SourceRow::into_model)
            .transpose()
        }

        const TOKEN_COLUMNS: &str = "provider, purpose, account_uuid, account_id, nickname, display_name, access_token, refresh_token, expires_at, scopes, state, version, created_at, refreshed_at, last_error, lease_until";

        async fn fetch_token(tx: &mut Tx, key: &TokenKey) -> Result<Option<StoredToken>, StoreError> {
            sqlx::query_as::<_, TokenRow>(&format!(
                "SELECT {TOKEN_COLUMNS} FROM tokens WHERE provider = $1 AND purpose = $2 AND account_uuid = $3"
            ))
            .bind(key.provider.as_str())
            .bind(key.purpose.as_str())
            .bind(key.account.as_str())
            .fetch_optional(&mut **tx)
            .await?
            .map(TokenRow::into_model)
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
                let mut tx = self.begin_write().await?;
                let inserted = sqlx::query(
                    "INSERT INTO providers (name, kind, authorize_url, token_url, api_url, pkce) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING",
                )
                .bind(p.name.as_str())
                .bind(p.kind.as_str())
                .bind(p.authorize_url.to_string())
                .bind(p.token_url.to_string())
                .bind(p.api_url.to_string())
                .bind(p.pkce)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let outcome = if inserted == 1 {
                    WriteOutcome::Created
                } else {
                    let existing = fetch_provider(&mut tx, p.name.as_str()).await?;
                    conflict_or_unchanged(existing, p, Entity::Provider, p.name.to_string())?
                };
                tx.commit().await?;
                Ok(outcome)
            }

            async fn provider(&self, name: &ProviderName) -> Result<Option<Provider>, StoreError> {
                let mut tx = self.pool.begin().await?;
                fetch_provider(&mut tx, name.as_str()).await
            }

            async fn providers(&self) -> Result<Vec<Provider>, StoreError> {
                sqlx::query_as::<_, ProviderRow>(
                    "SELECT name, kind, authorize_url, token_url, api_url, pkce FROM providers ORDER BY name",
                )
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(ProviderRow::into_model)
                .collect()
            }

            async fn update_provider(&self, p: &Provider) -> Result<WriteOutcome, StoreError> {
                let mut tx = self.begin_write().await?;
                let outcome = match fetch_provider(&mut tx, p.name.as_str()).await? {
                    None => {
                        return Err(StoreError::NotFound {
                            entity: Entity::Provider,
                            key: p.name.to_string(),
                        })
                    }
                    Some(existing) if existing.kind != p.kind => {
                        return Err(StoreError::Conflict {
                            entity: Entity::Provider,
                            key: p.name.to_string(),
                        })
                    }
                    Some(existing) if existing == *p => WriteOutcome::Unchanged,
                    Some(_) => {
                        sqlx::query(
                            "UPDATE providers SET authorize_url = $2, token_url = $3, api_url = $4, pkce = $5 WHERE name = $1",
                        )
                        .bind(p.name.as_str())
                        .bind(p.authorize_url.to_string())
                        .bind(p.token_url.to_string())
                        .bind(p.api_url.to_string())
                        .bind(p.pkce)
                        .execute(&mut *tx)
                        .await?;
                        WriteOutcome::Updated
                    }
                };
                tx.commit().await?;
                Ok(outcome)
            }

            async fn delete_provider(
                &self,
                name: &ProviderName,
                cascade: bool,
            ) -> Result<Removed, StoreError> {
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
                ] {
                    let (n,): (i64,) = sqlx::query_as(&count(table))
                        .bind(name.as_str())
                        .fetch_one(&mut *tx)
                        .await?;
                    *slot = usize::try_from(n).unwrap_or_default();
                }
                if !cascade && (removed.clients > 0 || removed.sources > 0) {
                    return Err(StoreError::ProviderInUse {
                        provider: name.clone(),
                        clients: removed.clients,
                        sources: removed.sources,
                    });
                }
                for statement in [
                    "DELETE FROM tokens WHERE provider = $1",
                    "DELETE FROM clients WHERE provider = $1",
                    "DELETE FROM repositories WHERE source = $1",
                    "DELETE FROM tracked_repositories WHERE source = $1",
                    "DELETE FROM sources WHERE provider = $1",
                    "DELETE FROM providers WHERE name = $1",
                ] {
                    sqlx::query(statement).bind(name.as_str()).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(removed)
            }
        }

        #[async_trait::async_trait]
        impl ClientStore for $store {
            async fn create_client(&self, c: &Client) -> Result<WriteOutcome, StoreError> {
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
                .bind(c.secret.expose_secret())
                .bind(c.scopes.to_string())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let outcome = if inserted == 1 {
                    WriteOutcome::Created
                } else {
                    let existing = fetch_client(&mut tx, &c.provider, c.purpose).await?;
                    conflict_or_unchanged(
                        existing,
                        c,
                        Entity::Client,
                        client_key(&c.provider, c.purpose),
                    )?
                };
                tx.commit().await?;
                Ok(outcome)
            }

            async fn client(
                &self,
                provider: &ProviderName,
                purpose: Purpose,
            ) -> Result<Option<Client>, StoreError> {
                // One SELECT is atomic on its own: a transaction would only add BEGIN/ROLLBACK
                // round trips (the hot path of every API call).
                sqlx::query_as::<_, ClientRow>(
                    "SELECT provider, purpose, key, secret, scopes FROM clients WHERE provider = $1 AND purpose = $2",
                )
                .bind(provider.as_str())
                .bind(purpose.as_str())
                .fetch_optional(&self.pool)
                .await?
                .map(ClientRow::into_model)
                .transpose()
            }

            async fn clients(
                &self,
                provider: Option<&ProviderName>,
            ) -> Result<Vec<Client>, StoreError> {
                sqlx::query_as::<_, ClientRow>(
                    "SELECT provider, purpose, key, secret, scopes FROM clients WHERE ($1 IS NULL OR provider = $1) ORDER BY provider, purpose",
                )
                .bind(provider.map(ProviderName::as_str))
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(ClientRow::into_model)
                .collect()
            }

            async fn update_client(&self, c: &Client) -> Result<WriteOutcome, StoreError> {
                let mut tx = self.begin_write().await?;
                let outcome = match fetch_client(&mut tx, &c.provider, c.purpose).await? {
                    None => {
                        return Err(StoreError::NotFound {
                            entity: Entity::Client,
                            key: client_key(&c.provider, c.purpose),
                        })
                    }
                    Some(existing) if existing == *c => WriteOutcome::Unchanged,
                    Some(_) => {
                        sqlx::query(
                            "UPDATE clients SET key = $3, secret = $4, scopes = $5 WHERE provider = $1 AND purpose = $2",
                        )
                        .bind(c.provider.as_str())
                        .bind(c.purpose.as_str())
                        .bind(c.key.as_str())
                        .bind(c.secret.expose_secret())
                        .bind(c.scopes.to_string())
                        .execute(&mut *tx)
                        .await?;
                        WriteOutcome::Updated
                    }
                };
                tx.commit().await?;
                Ok(outcome)
            }

            async fn delete_client(
                &self,
                provider: &ProviderName,
                purpose: Purpose,
            ) -> Result<(), StoreError> {
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
            }
        }

        #[async_trait::async_trait]
        impl SourceStore for $store {
            async fn create_source(&self, s: &Source) -> Result<WriteOutcome, StoreError> {
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
                    let existing = fetch_source(&mut tx, &s.provider).await?;
                    conflict_or_unchanged(existing, s, Entity::Source, s.provider.to_string())?
                };
                tx.commit().await?;
                Ok(outcome)
            }

            async fn source(&self, provider: &ProviderName) -> Result<Option<Source>, StoreError> {
                let mut tx = self.pool.begin().await?;
                fetch_source(&mut tx, provider).await
            }

            async fn sources(&self) -> Result<Vec<Source>, StoreError> {
                sqlx::query_as::<_, SourceRow>(
                    "SELECT provider, display_name, kind, api_url FROM sources ORDER BY provider",
                )
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(SourceRow::into_model)
                .collect()
            }

            async fn update_source(&self, s: &Source) -> Result<WriteOutcome, StoreError> {
                let mut tx = self.begin_write().await?;
                let outcome = match fetch_source(&mut tx, &s.provider).await? {
                    None => {
                        return Err(StoreError::NotFound {
                            entity: Entity::Source,
                            key: s.provider.to_string(),
                        })
                    }
                    Some(existing) if existing == *s => WriteOutcome::Unchanged,
                    Some(_) => {
                        sqlx::query(
                            "UPDATE sources SET display_name = $2, kind = $3, api_url = $4 WHERE provider = $1",
                        )
                        .bind(s.provider.as_str())
                        .bind(s.display_name.as_str())
                        .bind(s.kind.as_str())
                        .bind(s.api_url.to_string())
                        .execute(&mut *tx)
                        .await?;
                        WriteOutcome::Updated
                    }
                };
                tx.commit().await?;
                Ok(outcome)
            }

            async fn delete_source(&self, provider: &ProviderName) -> Result<(), StoreError> {
                let mut tx = self.begin_write().await?;
                for statement in [
                    "DELETE FROM repositories WHERE source = $1",
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
                let current = fetch_token(&mut tx, key).await?;
                tx.commit().await?;
                Ok(match (changed, current) {
                    (1, Some(stored)) => Swap::Swapped(stored),
                    (_, current) => Swap::Stale(current),
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
                let mut tx = self.begin_write().await?;
                if fetch_client(&mut tx, provider, purpose).await?.is_none() {
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
                let version = fetch_token(&mut tx, &key).await?.map_or(0, |t| t.version) + 1;
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
                .bind(tokens.access_token.expose_secret())
                .bind(tokens.refresh_token.as_ref().map(|t| t.expose_secret()))
                .bind(tokens.expires_at.map(rows::to_unix))
                .bind(tokens.scopes.to_string())
                .bind(TokenState::Active.as_str())
                .bind(version)
                .bind(rows::to_unix(rows::now()))
                .execute(&mut *tx)
                .await?;
                let stored = fetch_token(&mut tx, &key).await?;
                tx.commit().await?;
                stored.ok_or_else(|| StoreError::NotFound {
                    entity: Entity::Token,
                    key: token_key(&key),
                })
            }

            async fn token(&self, key: &TokenKey) -> Result<Option<StoredToken>, StoreError> {
                let mut tx = self.pool.begin().await?;
                fetch_token(&mut tx, key).await
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
                .map(TokenRow::into_model)
                .collect()
            }

            async fn swap_token(
                &self,
                key: &TokenKey,
                expected_version: i64,
                tokens: &TokenSet,
            ) -> Result<Swap, StoreError> {
                let mut tx = self.begin_write().await?;
                let swapped = sqlx::query(
                    "UPDATE tokens SET access_token = $4, refresh_token = $5, expires_at = $6, scopes = $7, \
                     state = $8, version = version + 1, refreshed_at = $9, last_error = NULL, lease_until = NULL \
                     WHERE provider = $1 AND purpose = $2 AND account_uuid = $3 AND version = $10",
                )
                .bind(key.provider.as_str())
                .bind(key.purpose.as_str())
                .bind(key.account.as_str())
                .bind(tokens.access_token.expose_secret())
                .bind(tokens.refresh_token.as_ref().map(|t| t.expose_secret()))
                .bind(tokens.expires_at.map(rows::to_unix))
                .bind(tokens.scopes.to_string())
                .bind(TokenState::Active.as_str())
                .bind(rows::to_unix(rows::now()))
                .bind(expected_version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let current = fetch_token(&mut tx, key).await?;
                tx.commit().await?;
                Ok(match (swapped, current) {
                    (1, Some(stored)) => Swap::Swapped(stored),
                    (_, current) => Swap::Stale(current),
                })
            }

            async fn mark_needs_reauth(
                &self,
                key: &TokenKey,
                expected_version: i64,
                reason: &str,
            ) -> Result<Swap, StoreError> {
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
                let current = fetch_token(&mut tx, key).await?;
                tx.commit().await?;
                Ok(match (marked, current) {
                    (1, Some(stored)) => Swap::Swapped(stored),
                    (_, current) => Swap::Stale(current),
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

        const REPOSITORY_COLUMNS: &str = "source, account_uuid, uuid, full_name, workspace, name, is_private, main_branch, html_url, updated_on, first_seen, last_seen, gone_since";

        #[async_trait::async_trait]
        impl RepoStore for $store {
            async fn record_listings(
                &self,
                source: &ProviderName,
                account: &AccountUuid,
                listings: &[WorkspaceListing],
                seen_at: chrono::DateTime<chrono::Utc>,
            ) -> Result<ListingChanges, StoreError> {
                let seen = rows::to_unix(seen_at);
                let mut tx = self.begin_write().await?;
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
                            "INSERT INTO repositories ({REPOSITORY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, NULL) \
                             ON CONFLICT (source, account_uuid, uuid) DO UPDATE SET full_name = $4, workspace = $5, name = $6, \
                             is_private = $7, main_branch = $8, html_url = $9, updated_on = $10, last_seen = $11, gone_since = NULL"
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
                        .bind(rows::updated_on_text(repo))
                        .bind(seen)
                        .execute(&mut *tx)
                        .await?;
                    }
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
                tx.commit().await?;
                Ok(changes)
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
            }

            async fn tracked(
                &self,
                source: &ProviderName,
            ) -> Result<Vec<TrackedRepository>, StoreError> {
                sqlx::query_as::<_, TrackedRow>(
                    "SELECT source, uuid, full_name, hook_uuid, hook_url, hook_secret, hook_events, checked_at \
                     FROM tracked_repositories WHERE source = $1 ORDER BY full_name",
                )
                .bind(source.as_str())
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(TrackedRow::into_model)
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
                .bind(hook.map(|h| h.secret.expose_secret()))
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
                let mut tx = self.begin_write().await?;
                let row = sqlx::query_as::<_, TrackedRow>(
                    "SELECT source, uuid, full_name, hook_uuid, hook_url, hook_secret, hook_events, checked_at \
                     FROM tracked_repositories WHERE source = $1 AND uuid = $2",
                )
                .bind(source.as_str())
                .bind(uuid.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM tracked_repositories WHERE source = $1 AND uuid = $2")
                    .bind(source.as_str())
                    .bind(uuid.as_str())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                row.map(TrackedRow::into_model).transpose()
            }
        }
    };
}

pub(crate) use impl_sql_store;
