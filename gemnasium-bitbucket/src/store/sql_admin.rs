//! Administration of both database backends: the secret-key checks made on opening a store with or
//! without a key, the encryption state, and re-sealing every secret in one transaction
//! (`store encrypt`, `store rotate-key`).

/// Where secrets live: (table, key columns, secret column, identity of a row's value). Every
/// secret column of the schema is listed here, so that encrypting, rotating and counting can
/// never miss one.
macro_rules! secret_columns {
    () => {
        [
            (
                "clients",
                "provider, purpose",
                "secret",
                (|k: &[String]| $crate::store::sealing::SecretIdentity::client_secret(&k[0], &k[1]))
                    as fn(&[String]) -> $crate::store::sealing::SecretIdentity,
            ),
            (
                "tokens",
                "provider, purpose, account_uuid",
                "access_token",
                |k: &[String]| {
                    $crate::store::sealing::SecretIdentity::access_token(&k[0], &k[1], &k[2])
                },
            ),
            (
                "tokens",
                "provider, purpose, account_uuid",
                "refresh_token",
                |k: &[String]| {
                    $crate::store::sealing::SecretIdentity::refresh_token(&k[0], &k[1], &k[2])
                },
            ),
            (
                "tracked_repositories",
                "source, uuid",
                "hook_secret",
                |k: &[String]| $crate::store::sealing::SecretIdentity::hook_secret(&k[0], &k[1]),
            ),
            (
                "credentials",
                "provider, name",
                "token",
                |k: &[String]| {
                    $crate::store::sealing::SecretIdentity::credential_token(&k[0], &k[1])
                },
            ),
        ]
    };
}

macro_rules! impl_sql_admin {
    ($store:ty, $db:ty) => {
        use $crate::store::sealing::{self as sealing, SecretKey};
        use $crate::store::{SecretsAtRest, StoreError as SealingError};

        const SECRET_KEY_ID: &str = "secret_key_id";

        /// Every stored secret: the key columns' values, the column, and the stored text.
        async fn all_secrets<'e, E>(
            executor: &mut E,
        ) -> Result<Vec<(&'static str, &'static str, &'static str, Vec<String>, String)>, SealingError>
        where
            for<'c> &'c mut E: sqlx::Executor<'c, Database = $db>,
        {
            let mut found = Vec::new();
            for (table, keys, column, _) in $crate::store::sql_admin::secret_columns!() {
                let sql = format!("SELECT {keys}, {column} FROM {table} WHERE {column} IS NOT NULL");
                let rows = sqlx::query(&sql).fetch_all(&mut *executor).await?;
                let width = keys.split(',').count();
                for row in rows {
                    use sqlx::Row as _;
                    let mut key_values = Vec::with_capacity(width);
                    for i in 0..width {
                        key_values.push(row.try_get::<String, _>(i)?);
                    }
                    let value: String = row.try_get(width)?;
                    found.push((table, keys, column, key_values, value));
                }
            }
            Ok(found)
        }

        async fn stored_key_id<'e, E: sqlx::Executor<'e, Database = $db>>(
            executor: E,
        ) -> Result<Option<String>, SealingError> {
            let row: Option<(String,)> =
                sqlx::query_as("SELECT value FROM store_meta WHERE name = $1")
                    .bind(SECRET_KEY_ID)
                    .fetch_optional(executor)
                    .await?;
            Ok(row.map(|(v,)| v))
        }

        impl $store {
            /// Checks `key` against the store and uses it from now on, as
            /// [`open_with`](crate::store::open_with) does. Nothing is written unless the
            /// store had no key and holds no secret yet, in which case it records `key`'s id
            /// (its secrets are encrypted from then on).
            ///
            /// # Errors
            /// [`StoreError::SecretKeyRequired`](crate::store::StoreError::SecretKeyRequired),
            /// [`StoreError::WrongSecretKey`](crate::store::StoreError::WrongSecretKey) or
            /// [`StoreError::PlainSecrets`](crate::store::StoreError::PlainSecrets).
            pub async fn use_secret_key(&self, key: Option<SecretKey>) -> Result<(), SealingError> {
                let location = $crate::store::Store::location(self);
                let state = self.sql_secrets_at_rest().await?;
                match (state.key_id, key) {
                    (None, None) => Ok(()),
                    (Some(key_id), None) => Err(SealingError::SecretKeyRequired { location, key_id }),
                    (Some(expected), Some(key)) if expected != key.id().as_str() => {
                        Err(SealingError::WrongSecretKey {
                            location,
                            expected,
                            given: key.id().to_string(),
                        })
                    }
                    (Some(_), Some(key)) => {
                        self.sealer.set_key(Some(key));
                        Ok(())
                    }
                    (None, Some(_)) if state.plain > 0 => Err(SealingError::PlainSecrets {
                        location,
                        count: state.plain,
                    }),
                    (None, Some(key)) => {
                        // Several processes may open a fresh store at once: the first id
                        // recorded wins, and a different key loses with WrongSecretKey.
                        let claimed = sqlx::query(
                            "INSERT INTO store_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                        )
                        .bind(SECRET_KEY_ID)
                        .bind(key.id().as_str())
                        .execute(&self.pool)
                        .await;
                        match claimed.map_err(SealingError::from) {
                            Ok(_) => {}
                            // A read-only store holding no secret: nothing to encrypt or check.
                            Err(SealingError::ReadOnly { .. }) => {
                                self.sealer.set_key(Some(key));
                                return Ok(());
                            }
                            Err(e) => return Err(e),
                        }
                        match stored_key_id(&self.pool).await? {
                            Some(id) if id == key.id().as_str() => {
                                self.sealer.set_key(Some(key));
                                Ok(())
                            }
                            Some(expected) => Err(SealingError::WrongSecretKey {
                                location,
                                expected,
                                given: key.id().to_string(),
                            }),
                            None => Err(SealingError::Database("the secret key id vanished while opening".into())),
                        }
                    }
                }
            }

            async fn sql_secrets_at_rest(&self) -> Result<SecretsAtRest, SealingError> {
                let mut conn = self.pool.acquire().await?;
                let key_id = stored_key_id(&mut *conn).await?;
                let secrets = all_secrets(&mut *conn).await?;
                let encrypted = secrets.iter().filter(|s| sealing::is_sealed(&s.4)).count();
                Ok(SecretsAtRest {
                    persisted: true,
                    key_id,
                    encrypted,
                    plain: secrets.len() - encrypted,
                })
            }

            async fn sql_reseal_secrets(&self, key: Option<&SecretKey>) -> Result<usize, SealingError> {
                let current = self.sealer.key();
                let mut tx = self.begin_write().await?;
                let secrets = all_secrets(&mut *tx).await?;
                let mut rewritten = 0;
                for (table, keys, column, key_values, stored) in secrets {
                    let identity = $crate::store::sql_admin::secret_columns!()
                        .into_iter()
                        .find(|c| c.0 == table && c.2 == column)
                        .map(|c| (c.3)(&key_values))
                        .ok_or_else(|| SealingError::Database("unknown secret column".into()))?;
                    // A plain value in an encrypted store (written by a process that opened the
                    // store before it had a key) is taken as it is, so re-sealing repairs it.
                    let plain = if sealing::is_sealed(&stored) {
                        sealing::open_with(current.as_ref(), &identity, stored)?
                    } else {
                        stored
                    };
                    let new = match key {
                        Some(key) => sealing::seal_with(key, &identity, &plain),
                        None => plain,
                    };
                    let conditions = keys
                        .split(", ")
                        .enumerate()
                        .map(|(i, k)| format!("{k} = ${}", i + 2))
                        .collect::<Vec<_>>()
                        .join(" AND ");
                    let sql = format!("UPDATE {table} SET {column} = $1 WHERE {conditions}");
                    let mut query = sqlx::query(&sql).bind(new);
                    for value in key_values {
                        query = query.bind(value);
                    }
                    query.execute(&mut *tx).await?;
                    rewritten += 1;
                }
                sqlx::query("DELETE FROM store_meta WHERE name = $1")
                    .bind(SECRET_KEY_ID)
                    .execute(&mut *tx)
                    .await?;
                if let Some(key) = key {
                    sqlx::query("INSERT INTO store_meta (name, value) VALUES ($1, $2)")
                        .bind(SECRET_KEY_ID)
                        .bind(key.id().as_str())
                        .execute(&mut *tx)
                        .await?;
                }
                pause_for_tests("GEMNASIUM_TEST_PAUSE_IN_RESEAL").await;
                tx.commit().await?;
                self.sealer.set_key(key.cloned());
                self.after_rewrite().await?;
                Ok(rewritten)
            }

        }

        /// In debug builds only, when `variable` names a file: creates it and waits, so that a
        /// test can kill the process inside a write transaction.
        async fn pause_for_tests(variable: &str) {
            if cfg!(debug_assertions) {
                if let Some(marker) = std::env::var_os(variable) {
                    let _ = std::fs::write(&marker, b"paused");
                    tokio::time::sleep(std::time::Duration::from_secs(120)).await;
                }
            }
        }
    };
}

/// [`Store`](crate::store::Store) for a database backend: all of it is the same SQL but the
/// backend's name, its location and its warnings.
macro_rules! impl_store_for_sql {
    (
        $store:ty,
        $backend:literal,
        location($this:ident) = $location:expr,
        warnings($that:ident) = $warnings:expr
    ) => {
        #[async_trait::async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            fn location(&self) -> String {
                let $this = self;
                $location
            }

            fn warnings(&self) -> Vec<String> {
                let $that = self;
                $warnings
            }

            async fn installation_id(&self) -> Result<String, StoreError> {
                installation_id_of(&self.pool).await
            }

            async fn secrets_at_rest(&self) -> Result<SecretsAtRest, StoreError> {
                self.sql_secrets_at_rest().await
            }

            async fn reseal_secrets(&self, key: Option<&SecretKey>) -> Result<usize, StoreError> {
                self.sql_reseal_secrets(key).await
            }

            async fn apply_config(
                &self,
                changes: &[crate::store::ConfigChange],
            ) -> Result<(), StoreError> {
                self.sql_apply_config(changes).await
            }

            async fn export_contents(&self) -> Result<crate::store::StoreContents, StoreError> {
                self.sql_export_contents().await
            }

            async fn import_contents(
                &self,
                contents: &crate::store::StoreContents,
            ) -> Result<(), StoreError> {
                self.sql_import_contents(contents).await
            }

            async fn inventory(&self) -> Result<crate::store::Inventory, StoreError> {
                self.sql_inventory().await
            }
        }
    };
}

pub(crate) use impl_sql_admin;
pub(crate) use impl_store_for_sql;
pub(crate) use secret_columns;
