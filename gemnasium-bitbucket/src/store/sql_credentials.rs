//! [`CredentialStore`](crate::store::CredentialStore) in SQL for both database backends (the
//! statements are the same on SQLite and PostgreSQL), and the `credentials` row shared with
//! `store migrate` ([`impl_sql_contents`](super::sql_contents::impl_sql_contents)).
//!
//! The token is sealed with [`SecretIdentity::credential_token`] (provider and name), and the
//! column is listed in [`secret_columns`](super::sql_admin::secret_columns), so encrypting,
//! rotating, decrypting and counting secrets cover it. Times are unix seconds, as for tokens.

use super::rows::{from_unix, to_unix};
use super::sealing::{Sealer, SecretIdentity};
use super::{Entity, StoreError};
use crate::model::{
    ApiScopeSet, CredentialKind, CredentialScopes, ModelError, ScopeSet, SecretText,
    StoredCredential,
};

/// The columns of `credentials`, in the order [`CredentialRow`] and the inserts use.
pub(crate) const CREDENTIAL_COLUMNS: &str = "provider, name, kind, workspace, email, token, scope_family, scopes, account_uuid, identity, expires_at, created_at";

/// An insert of every column of `credentials` (bind with [`bind_credential`]).
pub(crate) const INSERT_CREDENTIAL: &str = "INSERT INTO credentials (provider, name, kind, workspace, email, token, scope_family, scopes, account_uuid, identity, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

/// `provider/name`, the key shown in errors.
pub(crate) fn credential_key(provider: &str, name: &str) -> String {
    format!("{provider}/{name}")
}

/// A `credentials` row as stored.
#[derive(sqlx::FromRow)]
pub(crate) struct CredentialRow {
    pub provider: String,
    pub name: String,
    pub kind: String,
    pub workspace: Option<String>,
    pub email: Option<String>,
    pub token: String,
    pub scope_family: String,
    pub scopes: String,
    pub account_uuid: String,
    pub identity: String,
    pub expires_at: Option<i64>,
    pub created_at: i64,
}

impl CredentialRow {
    /// The model value, its token opened with `sealer`.
    pub fn into_model(mut self, sealer: &Sealer) -> Result<StoredCredential, StoreError> {
        let key = credential_key(&self.provider, &self.name);
        self.token = sealer.open(
            &SecretIdentity::credential_token(&self.provider, &self.name),
            std::mem::take(&mut self.token),
        )?;
        // A row no model value can come from (edited by hand): said plainly, values excepted.
        let malformed =
            |what: String| StoreError::Database(format!("stored credential `{key}` {what}").into());
        match (
            self.kind.as_str(),
            self.workspace.is_some(),
            self.email.is_some(),
        ) {
            ("access_token", false, _) => {
                return Err(malformed("is an access token without a workspace".into()))
            }
            ("api_token", _, false) => {
                return Err(malformed("is an API token without an email".into()))
            }
            ("access_token" | "api_token", _, _) => {}
            (other, _, _) => {
                return Err(malformed(format!(
                    "has unknown kind `{other}` (known: access_token, api_token)"
                )))
            }
        }
        if !matches!(self.scope_family.as_str(), "oauth" | "api") {
            return Err(malformed(format!(
                "has unknown scope family `{}` (known: oauth, api)",
                self.scope_family
            )));
        }
        let parse = || -> Result<StoredCredential, ModelError> {
            let workspace = self.workspace.as_deref().map(str::parse).transpose()?;
            let kind = match (self.kind.as_str(), workspace) {
                ("access_token", Some(workspace)) => CredentialKind::AccessToken { workspace },
                (_, workspace) => CredentialKind::ApiToken {
                    email: self.email.unwrap_or_default(),
                    workspace,
                },
            };
            let scopes = if self.scope_family == "oauth" {
                // Lenient, as for tokens: a scope Bitbucket adds later must not make a stored
                // credential unreadable.
                CredentialScopes::OAuth(ScopeSet::parse_lenient(&self.scopes))
            } else {
                CredentialScopes::Api(self.scopes.parse::<ApiScopeSet>()?)
            };
            let mut credential = StoredCredential::new(
                self.provider.parse()?,
                self.name.parse()?,
                kind,
                SecretText::new(self.token)?,
                scopes,
                self.account_uuid.parse()?,
                self.identity,
                self.expires_at.map(from_unix),
            );
            credential.created_at = from_unix(self.created_at);
            Ok(credential)
        };
        parse().map_err(|source| StoreError::InvalidRow {
            entity: Entity::Credential,
            key: key.clone(),
            source,
        })
    }
}

/// `kind`, `workspace` and `email` of `kind`.
fn kind_columns(kind: &CredentialKind) -> (&'static str, Option<&str>, Option<&str>) {
    match kind {
        CredentialKind::AccessToken { workspace } => {
            (kind.as_str(), Some(workspace.as_str()), None)
        }
        CredentialKind::ApiToken { email, workspace } => (
            kind.as_str(),
            workspace.as_ref().map(|w| w.as_str()),
            Some(email.as_str()),
        ),
    }
}

/// `scope_family` and `scopes` of `scopes`.
fn scope_columns(scopes: &CredentialScopes) -> (&'static str, String) {
    match scopes {
        CredentialScopes::OAuth(set) => ("oauth", set.to_string()),
        CredentialScopes::Api(set) => ("api", set.to_string()),
    }
}

/// Binds every column of `c` to `query` ([`INSERT_CREDENTIAL`]), the token sealed with `sealer`.
pub(crate) fn bind_credential<'q, DB>(
    query: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>,
    sealer: &Sealer,
    c: &StoredCredential,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let (kind, workspace, email) = kind_columns(&c.kind);
    let (family, scopes) = scope_columns(&c.scopes);
    query
        .bind(c.provider.as_str().to_owned())
        .bind(c.name.as_str().to_owned())
        .bind(kind.to_owned())
        .bind(workspace.map(str::to_owned))
        .bind(email.map(str::to_owned))
        .bind(sealer.seal(
            &SecretIdentity::credential_token(c.provider.as_str(), c.name.as_str()),
            c.secret.expose_secret(),
        ))
        .bind(family.to_owned())
        .bind(scopes)
        .bind(c.account.as_str().to_owned())
        .bind(c.identity.clone())
        .bind(c.expires_at.map(to_unix))
        .bind(to_unix(c.created_at))
}

macro_rules! impl_sql_credentials {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::CredentialStore for $store {
            async fn add_credential(
                &self,
                credential: &$crate::model::StoredCredential,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::sql_credentials::{
                    bind_credential, credential_key, INSERT_CREDENTIAL,
                };
                use $crate::store::StoreError as Error;
                let insert = format!("{INSERT_CREDENTIAL} ON CONFLICT (provider, name) DO NOTHING");
                $crate::store::sql::retry_transient!(async {
                    let mut tx = self.begin_write().await?;
                    let provider: Option<(String,)> =
                        sqlx::query_as("SELECT name FROM providers WHERE name = $1")
                            .bind(credential.provider.as_str())
                            .fetch_optional(&mut *tx)
                            .await?;
                    if provider.is_none() {
                        return Err(Error::MissingProvider {
                            provider: credential.provider.clone(),
                        });
                    }
                    let inserted = bind_credential(sqlx::query(&insert), &self.sealer, credential)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if inserted == 0 {
                        return Err(Error::Conflict {
                            entity: $crate::store::Entity::Credential,
                            key: credential_key(
                                credential.provider.as_str(),
                                credential.name.as_str(),
                            ),
                        });
                    }
                    tx.commit().await?;
                    Ok(())
                })
            }

            async fn credential(
                &self,
                provider: &$crate::model::ProviderName,
                name: &$crate::model::CredentialName,
            ) -> Result<Option<$crate::model::StoredCredential>, $crate::store::StoreError> {
                use $crate::store::sql_credentials::{CredentialRow, CREDENTIAL_COLUMNS};
                sqlx::query_as::<_, CredentialRow>(&format!(
                    "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE provider = $1 AND name = $2"
                ))
                .bind(provider.as_str())
                .bind(name.as_str())
                .fetch_optional(&self.pool)
                .await?
                .map(|row| row.into_model(&self.sealer))
                .transpose()
            }

            async fn credentials(
                &self,
                provider: Option<&$crate::model::ProviderName>,
            ) -> Result<Vec<$crate::model::StoredCredential>, $crate::store::StoreError> {
                use $crate::store::sql_credentials::{CredentialRow, CREDENTIAL_COLUMNS};
                let mut found = sqlx::query_as::<_, CredentialRow>(&format!(
                    "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE ($1 IS NULL OR provider = $1)"
                ))
                .bind(provider.map($crate::model::ProviderName::as_str))
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|row| row.into_model(&self.sealer))
                .collect::<Result<Vec<_>, _>>()?;
                // Sorted here, not by ORDER BY: PostgreSQL's collation may order `-` and `.`
                // differently from the bytes every other backend compares.
                found.sort_by(|a, b| (&a.provider, &a.name).cmp(&(&b.provider, &b.name)));
                Ok(found)
            }

            async fn delete_credential(
                &self,
                provider: &$crate::model::ProviderName,
                name: &$crate::model::CredentialName,
            ) -> Result<bool, $crate::store::StoreError> {
                let deleted = sqlx::query("DELETE FROM credentials WHERE provider = $1 AND name = $2")
                    .bind(provider.as_str())
                    .bind(name.as_str())
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                Ok(deleted > 0)
            }
        }
    };
}

pub(crate) use impl_sql_credentials;
