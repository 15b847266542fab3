//! Rows as both SQL backends store them, and their conversion to and from the model.
//!
//! Times are unix seconds; `updated_on` is RFC 3339 text so that Bitbucket's microseconds
//! survive a round trip (otherwise every sync would see every repository as "updated").

use chrono::{DateTime, SecondsFormat, Utc};

use super::sealing::{Sealer, SecretIdentity};
use super::{Entity, StoreError, StoredRepository, StoredToken, TrackedRepository};
use crate::model::{
    AccessToken, AccountInfo, Client, ClientSecret, HookRecord, ModelError, Provider, RefreshToken,
    Repository, SecretText, ServiceUrl, Source, TokenKey, TokenSet,
};

fn invalid(entity: Entity, key: &str) -> impl FnOnce(ModelError) -> StoreError + '_ {
    move |source| StoreError::InvalidRow {
        entity,
        key: key.to_owned(),
        source,
    }
}

pub(crate) fn to_unix(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

pub(crate) fn from_unix(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).unwrap_or_default()
}

/// Now, at the precision the SQL backends store.
pub(crate) fn now() -> DateTime<Utc> {
    from_unix(Utc::now().timestamp())
}

#[derive(sqlx::FromRow)]
pub(crate) struct ProviderRow {
    pub name: String,
    pub kind: String,
    pub authorize_url: String,
    pub token_url: String,
    pub api_url: String,
    pub pkce: bool,
    pub homepage: Option<String>,
    pub version: i64,
    /// Comma-separated slugs; NULL or empty lets anyone sign in.
    pub allowed_workspaces: Option<String>,
}

impl ProviderRow {
    /// The model value and the row's version.
    pub fn into_versioned(self) -> Result<(Provider, i64), StoreError> {
        let version = self.version;
        Ok((self.into_model()?, version))
    }

    pub fn into_model(self) -> Result<Provider, StoreError> {
        let fail = invalid(Entity::Provider, &self.name);
        let parse = || -> Result<Provider, ModelError> {
            let provider = Provider::new(
                self.name.parse()?,
                self.kind.parse()?,
                ServiceUrl::parse("authorize URL", &self.authorize_url)?,
                ServiceUrl::parse("token URL", &self.token_url)?,
            )
            .with_api_url(ServiceUrl::parse("API URL", &self.api_url)?)
            .with_pkce(self.pkce)
            .with_allowed_workspaces(self.allowed_workspaces.as_deref().unwrap_or("").parse()?);
            match &self.homepage {
                Some(h) => provider.with_homepage(ServiceUrl::parse("homepage URL", h)?),
                None => Ok(provider),
            }
        };
        parse().map_err(fail)
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ClientRow {
    pub provider: String,
    pub purpose: String,
    pub key: String,
    pub secret: String,
    pub scopes: String,
    pub version: i64,
}

impl ClientRow {
    /// The model value and the row's version.
    pub fn into_versioned(self, sealer: &Sealer) -> Result<(Client, i64), StoreError> {
        let version = self.version;
        Ok((self.into_model(sealer)?, version))
    }

    pub fn into_model(mut self, sealer: &Sealer) -> Result<Client, StoreError> {
        let key = format!("{}/{}", self.provider, self.purpose);
        self.secret = sealer.open(
            &SecretIdentity::client_secret(&self.provider, &self.purpose),
            std::mem::take(&mut self.secret),
        )?;
        let parse = || -> Result<Client, ModelError> {
            Ok(Client::new(
                self.provider.parse()?,
                self.purpose.parse()?,
                self.key.parse()?,
                ClientSecret::new(self.secret)?,
                self.scopes.parse()?,
            ))
        };
        parse().map_err(invalid(Entity::Client, &key))
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SourceRow {
    pub provider: String,
    pub display_name: String,
    pub kind: String,
    pub api_url: String,
    pub version: i64,
}

impl SourceRow {
    /// The model value and the row's version.
    pub fn into_versioned(self) -> Result<(Source, i64), StoreError> {
        let version = self.version;
        Ok((self.into_model()?, version))
    }

    pub fn into_model(self) -> Result<Source, StoreError> {
        let fail = invalid(Entity::Source, &self.provider);
        let parse = || -> Result<Source, ModelError> {
            Ok(Source::new(
                self.provider.parse()?,
                self.display_name.parse()?,
                self.kind.parse()?,
                ServiceUrl::parse("API URL", &self.api_url)?,
            ))
        };
        parse().map_err(fail)
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct TokenRow {
    pub provider: String,
    pub purpose: String,
    pub account_uuid: String,
    pub account_id: Option<String>,
    pub nickname: Option<String>,
    pub display_name: Option<String>,
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_at: Option<i64>,
    pub scopes: String,
    pub state: String,
    pub version: i64,
    pub created_at: i64,
    pub refreshed_at: Option<i64>,
    pub last_error: Option<String>,
    pub lease_until: Option<i64>,
}

impl TokenRow {
    pub fn into_model(mut self, sealer: &Sealer) -> Result<StoredToken, StoreError> {
        let key = format!("{}/{}/{}", self.provider, self.purpose, self.account_uuid);
        let (provider, purpose, account) = (&self.provider, &self.purpose, &self.account_uuid);
        self.access_token = sealer.open(
            &SecretIdentity::access_token(provider, purpose, account),
            std::mem::take(&mut self.access_token),
        )?;
        self.refresh_token = self
            .refresh_token
            .take()
            .map(|t| {
                sealer.open(
                    &SecretIdentity::refresh_token(provider, purpose, account),
                    t,
                )
            })
            .transpose()?;
        let parse = || -> Result<StoredToken, ModelError> {
            let account = self.account_uuid.parse()?;
            Ok(StoredToken {
                key: TokenKey {
                    provider: self.provider.parse()?,
                    purpose: self.purpose.parse()?,
                    account: crate::model::AccountUuid::clone(&account),
                },
                account: AccountInfo {
                    uuid: account,
                    account_id: self.account_id,
                    nickname: self.nickname,
                    display_name: self.display_name,
                },
                tokens: TokenSet {
                    access_token: AccessToken::new(self.access_token)?,
                    refresh_token: self.refresh_token.map(RefreshToken::new).transpose()?,
                    expires_at: self.expires_at.map(from_unix),
                    // Lenient: a scope Bitbucket adds later must not make a stored token unreadable.
                    scopes: crate::model::ScopeSet::parse_lenient(&self.scopes),
                },
                state: self.state.parse()?,
                version: self.version,
                created_at: from_unix(self.created_at),
                refreshed_at: self.refreshed_at.map(from_unix),
                last_error: self.last_error,
                lease_until: self.lease_until.map(from_unix),
            })
        };
        parse().map_err(invalid(Entity::Token, &key))
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct RepositoryRow {
    pub source: String,
    pub account_uuid: String,
    pub uuid: String,
    pub full_name: String,
    pub workspace: String,
    pub name: String,
    pub is_private: bool,
    pub main_branch: Option<String>,
    pub html_url: Option<String>,
    pub updated_on: Option<String>,
    pub first_seen: i64,
    pub last_seen: i64,
    pub gone_since: Option<i64>,
    pub created_on: Option<String>,
    pub scm: Option<String>,
    pub project_key: Option<String>,
    pub language: Option<String>,
    pub clone_https: Option<String>,
    pub fork_of: Option<String>,
}

/// A time as RFC 3339 text, keeping Bitbucket's sub-second digits.
pub(crate) fn time_text(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

fn parse_time(t: Option<String>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc))
}

impl RepositoryRow {
    pub fn into_model(self) -> Result<StoredRepository, StoreError> {
        let key = format!("{}/{}", self.source, self.full_name);
        let parse = || -> Result<StoredRepository, ModelError> {
            Ok(StoredRepository {
                source: self.source.parse()?,
                account: self.account_uuid.parse()?,
                repository: {
                    let mut repo = Repository::new(self.uuid.parse()?, self.full_name);
                    repo.workspace = self.workspace;
                    repo.name = self.name;
                    repo.is_private = self.is_private;
                    repo.main_branch = self.main_branch;
                    repo.html_url = self.html_url;
                    repo.updated_on = parse_time(self.updated_on);
                    repo.created_on = parse_time(self.created_on);
                    repo.scm = self.scm;
                    repo.project_key = self.project_key;
                    repo.language = self.language;
                    repo.clone_https = self.clone_https;
                    repo.fork_of = self.fork_of;
                    repo
                },
                first_seen: from_unix(self.first_seen),
                last_seen: from_unix(self.last_seen),
                gone_since: self.gone_since.map(from_unix),
            })
        };
        parse().map_err(invalid(Entity::Repository, &key))
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct TrackedRow {
    pub source: String,
    pub uuid: String,
    pub full_name: String,
    pub hook_uuid: Option<String>,
    pub hook_url: Option<String>,
    pub hook_secret: Option<String>,
    pub hook_events: Option<String>,
    pub checked_at: Option<i64>,
    pub proven_at: Option<i64>,
}

impl TrackedRow {
    pub fn into_model(mut self, sealer: &Sealer) -> Result<TrackedRepository, StoreError> {
        let key = format!("{}/{}", self.source, self.full_name);
        self.hook_secret = self
            .hook_secret
            .take()
            .map(|s| sealer.open(&SecretIdentity::hook_secret(&self.source, &self.uuid), s))
            .transpose()?;
        let parse = || -> Result<TrackedRepository, ModelError> {
            let hook = match (self.hook_uuid, self.hook_url, self.hook_secret) {
                (Some(uuid), Some(url), Some(secret)) => Some(HookRecord::new(
                    uuid.parse()?,
                    url,
                    SecretText::new(secret)?,
                    self.hook_events
                        .unwrap_or_default()
                        .split(',')
                        .filter(|e| !e.is_empty())
                        .map(str::to_owned)
                        .collect(),
                )),
                _ => None,
            };
            Ok(TrackedRepository {
                source: self.source.parse()?,
                uuid: self.uuid.parse()?,
                full_name: self.full_name,
                hook,
                checked_at: self.checked_at.map(from_unix),
                proven_at: self.proven_at.map(from_unix),
            })
        };
        parse().map_err(invalid(Entity::Repository, &key))
    }
}
