//! Both database backends, as a whole: a configuration plan applied in one transaction, every
//! row read from one snapshot and written in one transaction (`store migrate`), and the row
//! counts and schema version (`store status`).
//!
//! Expanded beside [`impl_sql_store`](super::sql::impl_sql_store) in each backend's module,
//! whose row helpers (`fetch_provider`, `fetch_client`, `fetch_source`, `provider_exists`) and
//! column lists it uses.

/// Tables in the order their rows are deleted (children first); inserts go the other way.
pub(crate) const CONTENT_TABLES: [&str; 9] = [
    "tokens",
    "repositories",
    "workspace_listings",
    "tracked_repositories",
    "credentials",
    "clients",
    "sources",
    "providers",
    "deprecation_notices",
];

macro_rules! impl_sql_contents {
    ($store:ty, $db:ty, $migrator:path, $snapshot:literal) => {
        impl $store {
            async fn sql_apply_config(
                &self,
                changes: &[$crate::store::ConfigChange],
            ) -> Result<(), $crate::store::StoreError> {
                $crate::store::sql::retry_transient!(async {
                    let mut tx = self.begin_write().await?;
                    for change in changes {
                        self.apply_one(&mut tx, change).await?;
                    }
                    tx.commit().await?;
                    Ok(())
                })
            }

            async fn apply_one(
                &self,
                tx: &mut sqlx::Transaction<'static, $db>,
                change: &$crate::store::ConfigChange,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::sealing::SecretIdentity as Identity;
                use $crate::store::{ConfigChange as C, Entity as E, StoreError as Error};
                match change {
                    C::PutProvider(p) => {
                        let sql = match fetch_provider(&mut **tx, p.name.as_str(), true).await? {
                            Some((current, _)) if current == *p => return Ok(()),
                            Some(_) => "UPDATE providers SET kind = $2, authorize_url = $3, token_url = $4, api_url = $5, pkce = $6, homepage = $7, allowed_workspaces = $8, version = version + 1 WHERE name = $1",
                            None => "INSERT INTO providers (name, kind, authorize_url, token_url, api_url, pkce, homepage, allowed_workspaces) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        };
                        sqlx::query(sql)
                            .bind(p.name.as_str())
                            .bind(p.kind.as_str())
                            .bind(p.authorize_url.to_string())
                            .bind(p.token_url.to_string())
                            .bind(p.api_url.to_string())
                            .bind(p.pkce)
                            .bind(p.homepage.as_ref().map(ToString::to_string))
                            .bind(p.allowed_workspaces.to_list())
                            .execute(&mut **tx)
                            .await?;
                    }
                    C::PutClient(c) => {
                        if !provider_exists(tx, &c.provider).await? {
                            return Err(Error::MissingProvider {
                                provider: c.provider.clone(),
                            });
                        }
                        let sql = match fetch_client(&self.sealer, &mut **tx, &c.provider, c.purpose, true).await? {
                            Some((current, _)) if current == *c => return Ok(()),
                            Some(_) => "UPDATE clients SET key = $3, secret = $4, scopes = $5, version = version + 1 WHERE provider = $1 AND purpose = $2",
                            None => "INSERT INTO clients (provider, purpose, key, secret, scopes) VALUES ($1, $2, $3, $4, $5)",
                        };
                        sqlx::query(sql)
                            .bind(c.provider.as_str())
                            .bind(c.purpose.as_str())
                            .bind(c.key.as_str())
                            .bind(self.sealer.seal(
                                &Identity::client_secret(c.provider.as_str(), c.purpose.as_str()),
                                c.secret.expose_secret(),
                            ))
                            .bind(c.scopes.to_string())
                            .execute(&mut **tx)
                            .await?;
                    }
                    C::PutSource(s) => {
                        if !provider_exists(tx, &s.provider).await? {
                            return Err(Error::MissingProvider {
                                provider: s.provider.clone(),
                            });
                        }
                        let sql = match fetch_source(&mut **tx, &s.provider, true).await? {
                            Some((current, _)) if current == *s => return Ok(()),
                            Some(_) => "UPDATE sources SET display_name = $2, kind = $3, api_url = $4, version = version + 1 WHERE provider = $1",
                            None => "INSERT INTO sources (provider, display_name, kind, api_url) VALUES ($1, $2, $3, $4)",
                        };
                        sqlx::query(sql)
                            .bind(s.provider.as_str())
                            .bind(s.display_name.as_str())
                            .bind(s.kind.as_str())
                            .bind(s.api_url.to_string())
                            .execute(&mut **tx)
                            .await?;
                    }
                    C::DeleteClient(provider, purpose) => {
                        sqlx::query("DELETE FROM tokens WHERE provider = $1 AND purpose = $2")
                            .bind(provider.as_str())
                            .bind(purpose.as_str())
                            .execute(&mut **tx)
                            .await?;
                        let deleted =
                            sqlx::query("DELETE FROM clients WHERE provider = $1 AND purpose = $2")
                                .bind(provider.as_str())
                                .bind(purpose.as_str())
                                .execute(&mut **tx)
                                .await?
                                .rows_affected();
                        if deleted == 0 {
                            return Err(Error::NotFound {
                                entity: E::Client,
                                key: format!("{provider}/{purpose}"),
                            });
                        }
                    }
                    C::DeleteSource(provider) => {
                        for statement in [
                            "DELETE FROM repositories WHERE source = $1",
                            "DELETE FROM workspace_listings WHERE source = $1",
                            "DELETE FROM tracked_repositories WHERE source = $1",
                        ] {
                            sqlx::query(statement)
                                .bind(provider.as_str())
                                .execute(&mut **tx)
                                .await?;
                        }
                        let deleted = sqlx::query("DELETE FROM sources WHERE provider = $1")
                            .bind(provider.as_str())
                            .execute(&mut **tx)
                            .await?
                            .rows_affected();
                        if deleted == 0 {
                            return Err(Error::NotFound {
                                entity: E::Source,
                                key: provider.to_string(),
                            });
                        }
                    }
                    C::DeleteProvider(name) => {
                        let mut left = [0usize; 3];
                        for (i, table) in ["clients", "sources", "credentials"].into_iter().enumerate() {
                            let (n,): (i64,) = sqlx::query_as(&format!(
                                "SELECT COUNT(*) FROM {table} WHERE provider = $1"
                            ))
                            .bind(name.as_str())
                            .fetch_one(&mut **tx)
                            .await?;
                            left[i] = usize::try_from(n).unwrap_or_default();
                        }
                        if left != [0, 0, 0] {
                            return Err(Error::ProviderInUse {
                                provider: name.clone(),
                                clients: left[0],
                                sources: left[1],
                                credentials: left[2],
                            });
                        }
                        sqlx::query("DELETE FROM tokens WHERE provider = $1")
                            .bind(name.as_str())
                            .execute(&mut **tx)
                            .await?;
                        let deleted = sqlx::query("DELETE FROM providers WHERE name = $1")
                            .bind(name.as_str())
                            .execute(&mut **tx)
                            .await?
                            .rows_affected();
                        if deleted == 0 {
                            return Err(Error::NotFound {
                                entity: E::Provider,
                                key: name.to_string(),
                            });
                        }
                    }
                }
                Ok(())
            }

            async fn sql_export_contents(
                &self,
            ) -> Result<$crate::store::StoreContents, $crate::store::StoreError> {
                use $crate::store::rows::{
                    ClientRow, ProviderRow, RepositoryRow, SourceRow, TokenRow, TrackedRow,
                };
                use $crate::store::events::from_millis;
                // One snapshot for every table.
                let mut tx = self.pool.begin().await?;
                if !$snapshot.is_empty() {
                    sqlx::query($snapshot).execute(&mut *tx).await?;
                }
                let meta = |name: &'static str| {
                    sqlx::query_as::<_, (String,)>("SELECT value FROM store_meta WHERE name = $1")
                        .bind(name)
                };
                let installation_id = meta("installation_id")
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|(v,)| v)
                    .unwrap_or_default();
                let doctor_reported_at = meta($crate::store::events::DOCTOR_REPORTED_AT)
                    .fetch_optional(&mut *tx)
                    .await?
                    .and_then(|(v,)| v.parse::<i64>().ok())
                    .map(from_millis);
                let providers = sqlx::query_as::<_, ProviderRow>(&format!(
                    "SELECT {PROVIDER_COLUMNS} FROM providers ORDER BY name"
                ))
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .map(ProviderRow::into_model)
                .collect::<Result<_, _>>()?;
                let clients = sqlx::query_as::<_, ClientRow>(&format!(
                    "SELECT {CLIENT_COLUMNS} FROM clients ORDER BY provider, purpose"
                ))
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .map(|row| row.into_model(&self.sealer))
                .collect::<Result<_, _>>()?;
                let sources = sqlx::query_as::<_, SourceRow>(&format!(
                    "SELECT {SOURCE_COLUMNS} FROM sources ORDER BY provider"
                ))
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .map(SourceRow::into_model)
                .collect::<Result<_, _>>()?;
                let tokens = sqlx::query_as::<_, TokenRow>(&format!(
                    "SELECT {TOKEN_COLUMNS} FROM tokens"
                ))
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .map(|row| row.into_model(&self.sealer))
                .collect::<Result<_, _>>()?;
                let credentials = sqlx::query_as::<_, $crate::store::sql_credentials::CredentialRow>(
                    &format!(
                        "SELECT {} FROM credentials",
                        $crate::store::sql_credentials::CREDENTIAL_COLUMNS
                    ),
                )
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .map(|row| row.into_model(&self.sealer))
                .collect::<Result<_, _>>()?;
                let repositories = sqlx::query_as::<_, RepositoryRow>(&format!(
                    "SELECT {REPOSITORY_COLUMNS} FROM repositories"
                ))
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .map(RepositoryRow::into_model)
                .collect::<Result<_, _>>()?;
                let tracked = sqlx::query_as::<_, TrackedRow>(&format!(
                    "SELECT {TRACKED_COLUMNS} FROM tracked_repositories"
                ))
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .map(|row| row.into_model(&self.sealer))
                .collect::<Result<_, _>>()?;
                let listing_rows: Vec<(String, String, String, i64, i64, i64)> = sqlx::query_as(
                    "SELECT source, account_uuid, workspace, complete_at, full_at, repositories FROM workspace_listings",
                )
                .fetch_all(&mut *tx)
                .await?;
                let mut listings = Vec::with_capacity(listing_rows.len());
                for (source, account, workspace, complete_at, full_at, count) in listing_rows {
                    let key = format!("{source}/{account}/{workspace}");
                    let invalid = |source| $crate::store::StoreError::InvalidRow {
                        entity: $crate::store::Entity::Repository,
                        key: key.clone(),
                        source,
                    };
                    listings.push((
                        source.parse().map_err(invalid)?,
                        account.parse().map_err(invalid)?,
                        $crate::store::ListingState::new(
                            workspace,
                            $crate::store::rows::from_unix(complete_at),
                            $crate::store::rows::from_unix(full_at),
                            u64::try_from(count).unwrap_or_default(),
                        ),
                    ));
                }
                let deprecations = sqlx::query_as::<_, (String, Option<String>, i64, i64, i64)>(
                    "SELECT change_ref, announcement, first_seen_ms, last_seen_ms, seen_count FROM deprecation_notices",
                )
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .map(|(change, announcement, first, last, count)| {
                    $crate::store::DeprecationNotice {
                        change,
                        announcement,
                        first_seen: from_millis(first),
                        last_seen: from_millis(last),
                        count,
                    }
                })
                .collect();
                tx.rollback().await?;
                Ok($crate::store::StoreContents {
                    installation_id,
                    providers,
                    clients,
                    sources,
                    tokens,
                    credentials,
                    repositories,
                    tracked,
                    listings,
                    deprecations,
                    doctor_reported_at,
                }
                .sorted())
            }

            async fn sql_import_contents(
                &self,
                contents: &$crate::store::StoreContents,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::rows::{time_text, to_unix};
                use $crate::store::sealing::SecretIdentity as Identity;
                let mut tx = self.begin_write().await?;
                for table in $crate::store::sql_contents::CONTENT_TABLES {
                    sqlx::query(&format!("DELETE FROM {table}"))
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query("DELETE FROM store_meta WHERE name IN ('installation_id', $1)")
                    .bind($crate::store::events::DOCTOR_REPORTED_AT)
                    .execute(&mut *tx)
                    .await?;
                if !contents.installation_id.is_empty() {
                    sqlx::query("INSERT INTO store_meta (name, value) VALUES ('installation_id', $1)")
                        .bind(&contents.installation_id)
                        .execute(&mut *tx)
                        .await?;
                }
                if let Some(at) = contents.doctor_reported_at {
                    sqlx::query("INSERT INTO store_meta (name, value) VALUES ($1, $2)")
                        .bind($crate::store::events::DOCTOR_REPORTED_AT)
                        .bind($crate::store::events::to_millis(at).to_string())
                        .execute(&mut *tx)
                        .await?;
                }
                for p in &contents.providers {
                    sqlx::query(
                        "INSERT INTO providers (name, kind, authorize_url, token_url, api_url, pkce, homepage, allowed_workspaces) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
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
                    .await?;
                }
                for c in &contents.clients {
                    sqlx::query(
                        "INSERT INTO clients (provider, purpose, key, secret, scopes) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(c.provider.as_str())
                    .bind(c.purpose.as_str())
                    .bind(c.key.as_str())
                    .bind(self.sealer.seal(
                        &Identity::client_secret(c.provider.as_str(), c.purpose.as_str()),
                        c.secret.expose_secret(),
                    ))
                    .bind(c.scopes.to_string())
                    .execute(&mut *tx)
                    .await?;
                }
                for s in &contents.sources {
                    sqlx::query(
                        "INSERT INTO sources (provider, display_name, kind, api_url) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(s.provider.as_str())
                    .bind(s.display_name.as_str())
                    .bind(s.kind.as_str())
                    .bind(s.api_url.to_string())
                    .execute(&mut *tx)
                    .await?;
                }
                for t in &contents.tokens {
                    let (provider, purpose, account) =
                        (t.key.provider.as_str(), t.key.purpose.as_str(), t.key.account.as_str());
                    sqlx::query(&format!(
                        "INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
                    ))
                    .bind(provider)
                    .bind(purpose)
                    .bind(account)
                    .bind(t.account.account_id.as_deref())
                    .bind(t.account.nickname.as_deref())
                    .bind(t.account.display_name.as_deref())
                    .bind(self.sealer.seal(
                        &Identity::access_token(provider, purpose, account),
                        t.tokens.access_token.expose_secret(),
                    ))
                    .bind(t.tokens.refresh_token.as_ref().map(|r| {
                        self.sealer.seal(
                            &Identity::refresh_token(provider, purpose, account),
                            r.expose_secret(),
                        )
                    }))
                    .bind(t.tokens.expires_at.map(to_unix))
                    .bind(t.tokens.scopes.to_string())
                    .bind(t.state.as_str())
                    .bind(t.version)
                    .bind(to_unix(t.created_at))
                    .bind(t.refreshed_at.map(to_unix))
                    .bind(t.last_error.as_deref())
                    .bind(t.lease_until.map(to_unix))
                    .execute(&mut *tx)
                    .await?;
                }
                for c in &contents.credentials {
                    $crate::store::sql_credentials::bind_credential(
                        sqlx::query($crate::store::sql_credentials::INSERT_CREDENTIAL),
                        &self.sealer,
                        c,
                    )
                    .execute(&mut *tx)
                    .await?;
                }
                for r in &contents.repositories {
                    let repo = &r.repository;
                    sqlx::query(&format!(
                        "INSERT INTO repositories ({REPOSITORY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
                    ))
                    .bind(r.source.as_str())
                    .bind(r.account.as_str())
                    .bind(repo.uuid.as_str())
                    .bind(&repo.full_name)
                    .bind(&repo.workspace)
                    .bind(&repo.name)
                    .bind(repo.is_private)
                    .bind(repo.main_branch.as_deref())
                    .bind(repo.html_url.as_deref())
                    .bind(time_text(repo.updated_on))
                    .bind(to_unix(r.first_seen))
                    .bind(to_unix(r.last_seen))
                    .bind(r.gone_since.map(to_unix))
                    .bind(time_text(repo.created_on))
                    .bind(repo.scm.as_deref())
                    .bind(repo.project_key.as_deref())
                    .bind(repo.language.as_deref())
                    .bind(repo.clone_https.as_deref())
                    .bind(repo.fork_of.as_deref())
                    .execute(&mut *tx)
                    .await?;
                }
                for t in &contents.tracked {
                    let hook = t.hook.as_ref();
                    sqlx::query(&format!(
                        "INSERT INTO tracked_repositories ({TRACKED_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                    ))
                    .bind(t.source.as_str())
                    .bind(t.uuid.as_str())
                    .bind(&t.full_name)
                    .bind(hook.map(|h| h.uuid.as_str()))
                    .bind(hook.map(|h| h.url.as_str()))
                    .bind(hook.map(|h| {
                        self.sealer.seal(
                            &Identity::hook_secret(t.source.as_str(), t.uuid.as_str()),
                            h.secret.expose_secret(),
                        )
                    }))
                    .bind(hook.map(|h| h.events.join(",")))
                    .bind(t.checked_at.map(to_unix))
                    .bind(t.proven_at.map(to_unix))
                    .execute(&mut *tx)
                    .await?;
                }
                for (source, account, listing) in &contents.listings {
                    sqlx::query(
                        "INSERT INTO workspace_listings (source, account_uuid, workspace, complete_at, full_at, repositories) VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(source.as_str())
                    .bind(account.as_str())
                    .bind(&listing.workspace)
                    .bind(to_unix(listing.complete_at))
                    .bind(to_unix(listing.full_at))
                    .bind(i64::try_from(listing.count).unwrap_or(i64::MAX))
                    .execute(&mut *tx)
                    .await?;
                }
                for d in &contents.deprecations {
                    sqlx::query(
                        "INSERT INTO deprecation_notices (change_ref, announcement, first_seen_ms, last_seen_ms, seen_count) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(&d.change)
                    .bind(d.announcement.as_deref())
                    .bind($crate::store::events::to_millis(d.first_seen))
                    .bind($crate::store::events::to_millis(d.last_seen))
                    .bind(d.count)
                    .execute(&mut *tx)
                    .await?;
                }
                let found = sql_row_counts(&mut tx).await?;
                if let Some((table, expected, found)) = contents.counts().first_difference(&found) {
                    return Err($crate::store::StoreError::CopyMismatch {
                        table,
                        expected,
                        found,
                    });
                }
                tx.commit().await?;
                // Replaced secrets must not linger in the journal.
                self.after_rewrite().await?;
                Ok(())
            }

            async fn sql_inventory(
                &self,
            ) -> Result<$crate::store::Inventory, $crate::store::StoreError> {
                let mut tx = self.pool.begin().await?;
                if !$snapshot.is_empty() {
                    sqlx::query($snapshot).execute(&mut *tx).await?;
                }
                let rows = sql_row_counts(&mut tx).await?;
                let (schema_version,): (Option<i64>,) =
                    sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations")
                        .fetch_one(&mut *tx)
                        .await?;
                tx.rollback().await?;
                Ok($crate::store::Inventory {
                    schema_version,
                    supported_schema_version: ($migrator).iter().map(|m| m.version).max(),
                    rows,
                })
            }
        }

        /// Every kind of row counted inside `tx`.
        async fn sql_row_counts(
            tx: &mut sqlx::Transaction<'static, $db>,
        ) -> Result<$crate::store::RowCounts, $crate::store::StoreError> {
            let mut counts = [0usize; 11];
            for (slot, sql) in counts.iter_mut().zip([
                "SELECT COUNT(*) FROM providers",
                "SELECT COUNT(*) FROM clients",
                "SELECT COUNT(*) FROM sources",
                "SELECT COUNT(*) FROM tokens",
                "SELECT COUNT(*) FROM credentials",
                "SELECT COUNT(*) FROM repositories",
                "SELECT COUNT(*) FROM repositories WHERE gone_since IS NOT NULL",
                "SELECT COUNT(*) FROM tracked_repositories",
                "SELECT COUNT(*) FROM tracked_repositories WHERE hook_uuid IS NOT NULL AND hook_url IS NOT NULL AND hook_secret IS NOT NULL",
                "SELECT COUNT(*) FROM workspace_listings",
                "SELECT COUNT(*) FROM deprecation_notices",
            ]) {
                let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut **tx).await?;
                *slot = usize::try_from(n).unwrap_or(usize::MAX);
            }
            let [providers, clients, sources, tokens, credentials, repositories, gone_repositories, tracked, hooks, listings, deprecations] =
                counts;
            Ok($crate::store::RowCounts {
                providers,
                clients,
                sources,
                tokens,
                credentials,
                repositories,
                gone_repositories,
                tracked,
                hooks,
                listings,
                deprecations,
            })
        }
    };
}

pub(crate) use impl_sql_contents;
