//! Declarative configuration: the providers, clients and sources of a store as one TOML file
//! that operators review and apply, instead of a sequence of commands.
//!
//! [`Configuration`] reads and writes the file ([`Configuration::from_toml`],
//! [`Configuration::to_toml`]); [`plan`] compares it with what a store holds, item by item
//! (create, update, unchanged, delete), comparing secrets by fingerprint only; [`apply`] makes
//! the store match it in one transaction ([`Store::apply_config`]): all of the plan or nothing.
//! Applying twice changes nothing the second time.
//!
//! The file, in a stable order and without timestamps, so that exporting twice gives the same
//! bytes:
//!
//! ```toml
//! [[provider]]
//! name = "bitbucket.org"
//! kind = "bitbucket"
//! authorize_url = "https://bitbucket.org/site/oauth2/authorize"
//! token_url = "https://bitbucket.org/site/oauth2/access_token"
//! api_url = "https://api.bitbucket.org"
//! pkce = false
//! homepage = "https://gemnasium.example.com"   # optional
//! allowed_workspaces = ["acme"]                 # optional: anyone when absent
//!
//! [[client]]
//! provider = "bitbucket.org"
//! purpose = "sync"
//! key = "KEY"
//! secret = "env:GEMNASIUM_SECRET_BITBUCKET_ORG_SYNC"   # or the secret itself
//! scopes = ["repository", "webhook"]
//!
//! [[source]]
//! provider = "bitbucket.org"
//! display_name = "Bitbucket Cloud"
//! kind = "bitbucket"
//! api_url = "https://api.bitbucket.org"
//! ```
//!
//! A secret written `env:NAME` is read from the environment variable `NAME` when the file is
//! read; an unset variable fails the reading, so nothing can be applied with it.
//!
//! ```no_run
//! # async fn demo(store: gemnasium_bitbucket::store::DynStore) -> Result<(), Box<dyn std::error::Error>> {
//! use gemnasium_bitbucket::declarative::{self, Configuration};
//! let text = std::fs::read_to_string("gemnasium.toml")?;
//! let wanted = Configuration::from_toml(&text, |name| std::env::var(name).ok())?;
//! let plan = declarative::apply(store.as_ref(), &wanted, false).await?;
//! for item in &plan.items {
//!     println!("{} {} {}", item.change.as_str(), item.entity, item.key);
//! }
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::model::{
    Client, ClientSecret, ModelError, Provider, ProviderName, Purpose, ScopeSet, ServiceUrl, Source,
};
pub use crate::provision::Entity;
use crate::store::{ConfigChange, Store, StoreError};

/// Providers, clients and sources: a store's configuration, validated, in a stable order
/// (providers by name, clients by provider and purpose, sources by provider).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Configuration {
    providers: Vec<Provider>,
    clients: Vec<Client>,
    sources: Vec<Source>,
}

/// Why a configuration file could not be read or written. Never contains a secret.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigurationError {
    /// The text is not TOML of the expected shape.
    #[error("line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong (the offending text is not repeated: it may be a secret).
        message: String,
    },
    /// A value is invalid.
    #[error("{item}: {source}")]
    Invalid {
        /// Which item, such as `client bitbucket.org/login`.
        item: String,
        /// The rule it breaks.
        #[source]
        source: ModelError,
    },
    /// Two items have the same key.
    #[error("{entity} `{key}` appears twice")]
    Duplicate {
        /// What kind of item.
        entity: Entity,
        /// Its key.
        key: String,
    },
    /// A client or source names a provider the configuration does not have.
    #[error("{entity} `{key}` names provider `{provider}`, which the configuration does not have; add it")]
    MissingProvider {
        /// What kind of item.
        entity: Entity,
        /// Its key.
        key: String,
        /// The provider it names.
        provider: ProviderName,
    },
    /// Secrets refer to environment variables that are not set (or empty).
    #[error("environment variable(s) {} not set (referenced as secrets); set them and try again", names.join(", "))]
    UnsetVariables {
        /// The variables, in file order, each once.
        names: Vec<String>,
    },
    /// A secret starts with `env:` but no variable name follows.
    #[error("{item}: a secret written `env:…` must name an environment variable (letters, digits and _)")]
    BadReference {
        /// Which item.
        item: String,
    },
    /// A secret to write literally starts with `env:`, so it would read back as a reference.
    #[error("{item}: the secret starts with `env:` and cannot be written literally; export it as a reference")]
    AmbiguousSecret {
        /// Which item.
        item: String,
    },
}

/// How [`Configuration::to_toml`] writes secrets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExportSecrets {
    /// As `env:VARIABLE` references ([`secret_variable`] names them); the file holds no secret.
    References,
    /// The secrets themselves: the file must then be kept like a password.
    Included,
}

/// The environment variable an exported reference names for the secret of `provider`'s
/// `purpose` client: `GEMNASIUM_SECRET_BITBUCKET_ORG_LOGIN` for `bitbucket.org`, `login`.
#[must_use]
pub fn secret_variable(provider: &ProviderName, purpose: Purpose) -> String {
    let provider: String = provider
        .as_str()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "GEMNASIUM_SECRET_{provider}_{}",
        purpose.as_str().to_ascii_uppercase()
    )
}

const REFERENCE: &str = "env:";

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn client_key(provider: &ProviderName, purpose: Purpose) -> String {
    format!("{provider}/{purpose}")
}

impl Configuration {
    /// A configuration of these items, sorted.
    ///
    /// # Errors
    /// [`ConfigurationError::Duplicate`] for two items with one key,
    /// [`ConfigurationError::MissingProvider`] for a client or source whose provider is not
    /// among `providers`, [`ConfigurationError::Invalid`] for an API URL on `bitbucket.org`.
    pub fn new(
        mut providers: Vec<Provider>,
        mut clients: Vec<Client>,
        mut sources: Vec<Source>,
    ) -> Result<Self, ConfigurationError> {
        providers.sort_by(|a, b| a.name.cmp(&b.name));
        clients.sort_by(|a, b| (&a.provider, a.purpose).cmp(&(&b.provider, b.purpose)));
        sources.sort_by(|a, b| a.provider.cmp(&b.provider));
        let mut names = BTreeSet::new();
        for p in &providers {
            if !names.insert(&p.name) {
                return Err(ConfigurationError::Duplicate {
                    entity: Entity::Provider,
                    key: p.name.to_string(),
                });
            }
            p.api_url
                .check_api_host()
                .map_err(|source| ConfigurationError::Invalid {
                    item: format!("provider {}", p.name),
                    source,
                })?;
        }
        let missing = |entity, key: String, provider: &ProviderName| {
            (!names.contains(provider)).then(|| ConfigurationError::MissingProvider {
                entity,
                key,
                provider: provider.clone(),
            })
        };
        for pair in clients.windows(2) {
            if (&pair[0].provider, pair[0].purpose) == (&pair[1].provider, pair[1].purpose) {
                return Err(ConfigurationError::Duplicate {
                    entity: Entity::Client,
                    key: client_key(&pair[0].provider, pair[0].purpose),
                });
            }
        }
        for c in &clients {
            if let Some(e) = missing(
                Entity::Client,
                client_key(&c.provider, c.purpose),
                &c.provider,
            ) {
                return Err(e);
            }
        }
        for pair in sources.windows(2) {
            if pair[0].provider == pair[1].provider {
                return Err(ConfigurationError::Duplicate {
                    entity: Entity::Source,
                    key: pair[0].provider.to_string(),
                });
            }
        }
        for s in &sources {
            if let Some(e) = missing(Entity::Source, s.provider.to_string(), &s.provider) {
                return Err(e);
            }
            s.api_url
                .check_api_host()
                .map_err(|source| ConfigurationError::Invalid {
                    item: format!("source {}", s.provider),
                    source,
                })?;
        }
        Ok(Self {
            providers,
            clients,
            sources,
        })
    }

    /// Everything `store` holds of its configuration.
    ///
    /// # Errors
    /// The store's failure.
    pub async fn from_store(store: &dyn Store) -> Result<Self, StoreError> {
        Ok(Self {
            providers: store.providers().await?,
            clients: store.clients(None).await?,
            sources: store.sources().await?,
        }
        .sorted())
    }

    fn sorted(self) -> Self {
        let Self {
            mut providers,
            mut clients,
            mut sources,
        } = self;
        providers.sort_by(|a, b| a.name.cmp(&b.name));
        clients.sort_by(|a, b| (&a.provider, a.purpose).cmp(&(&b.provider, b.purpose)));
        sources.sort_by(|a, b| a.provider.cmp(&b.provider));
        Self {
            providers,
            clients,
            sources,
        }
    }

    /// The providers, by name.
    #[must_use]
    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }

    /// The clients, by provider and purpose.
    #[must_use]
    pub fn clients(&self) -> &[Client] {
        &self.clients
    }

    /// The sources, by provider.
    #[must_use]
    pub fn sources(&self) -> &[Source] {
        &self.sources
    }

    /// The environment variables [`to_toml`](Self::to_toml) names for the clients' secrets, in
    /// client order.
    #[must_use]
    pub fn secret_variables(&self) -> Vec<String> {
        self.clients
            .iter()
            .map(|c| secret_variable(&c.provider, c.purpose))
            .collect()
    }

    /// Reads a configuration file. Secrets written `env:NAME` are looked up with `env` (pass
    /// `|name| std::env::var(name).ok()` for the process environment).
    ///
    /// # Errors
    /// [`ConfigurationError`]: syntax (by line and column, without repeating the text), invalid
    /// values, duplicates, missing providers, and every unset variable at once.
    pub fn from_toml(
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigurationError> {
        let document: Document = toml::from_str(text).map_err(|e| syntax(text, &e))?;
        let mut providers = Vec::with_capacity(document.providers.len());
        for (i, entry) in document.providers.into_iter().enumerate() {
            let item = format!("provider {}", entry.name_or(i + 1));
            providers.push(
                entry
                    .into_model()
                    .map_err(|source| ConfigurationError::Invalid { item, source })?,
            );
        }
        let mut clients = Vec::with_capacity(document.clients.len());
        let mut unset: Vec<String> = Vec::new();
        for (i, entry) in document.clients.into_iter().enumerate() {
            let item = format!("client {}", entry.key_or(i + 1));
            let secret = match entry.secret.0.strip_prefix(REFERENCE) {
                Some(name) if !is_variable_name(name) => {
                    return Err(ConfigurationError::BadReference { item });
                }
                Some(name) => match env(name).filter(|v| !v.is_empty()) {
                    Some(value) => value,
                    None => {
                        if !unset.iter().any(|n| n == name) {
                            unset.push(name.to_owned());
                        }
                        continue;
                    }
                },
                None => entry.secret.0.clone(),
            };
            clients.push(
                entry
                    .into_model(secret)
                    .map_err(|source| ConfigurationError::Invalid { item, source })?,
            );
        }
        if !unset.is_empty() {
            return Err(ConfigurationError::UnsetVariables { names: unset });
        }
        let mut sources = Vec::with_capacity(document.sources.len());
        for (i, entry) in document.sources.into_iter().enumerate() {
            let item = format!("source {}", entry.name_or(i + 1));
            sources.push(
                entry
                    .into_model()
                    .map_err(|source| ConfigurationError::Invalid { item, source })?,
            );
        }
        Self::new(providers, clients, sources)
    }

    /// The configuration as a TOML file: stable order, no timestamps (the same configuration
    /// always gives the same bytes), secrets as `secrets` says.
    ///
    /// # Errors
    /// [`ConfigurationError::AmbiguousSecret`] when an included secret starts with `env:`.
    pub fn to_toml(&self, secrets: ExportSecrets) -> Result<String, ConfigurationError> {
        let mut clients = Vec::with_capacity(self.clients.len());
        for c in &self.clients {
            let secret = match secrets {
                ExportSecrets::References => {
                    format!("{REFERENCE}{}", secret_variable(&c.provider, c.purpose))
                }
                ExportSecrets::Included => {
                    let value = c.secret.expose_secret();
                    if value.starts_with(REFERENCE) {
                        return Err(ConfigurationError::AmbiguousSecret {
                            item: format!("client {}", client_key(&c.provider, c.purpose)),
                        });
                    }
                    value.to_owned()
                }
            };
            clients.push(ClientEntry {
                provider: c.provider.to_string(),
                purpose: c.purpose.as_str().to_owned(),
                key: c.key.to_string(),
                secret: SecretField(secret),
                scopes: scope_list(&c.scopes),
            });
        }
        let document = Document {
            providers: self.providers.iter().map(ProviderEntry::from).collect(),
            clients,
            sources: self.sources.iter().map(SourceEntry::from).collect(),
        };
        let body = toml::to_string(&document).map_err(|e| ConfigurationError::Syntax {
            line: 0,
            column: 0,
            message: e.to_string(),
        })?;
        let header = match secrets {
            ExportSecrets::References => "# Providers, OAuth clients and sources of gemnasium-bitbucket.\n# Secrets are `env:VARIABLE` references, read from the environment when the file is applied.\n\n",
            ExportSecrets::Included => "# Providers, OAuth clients and sources of gemnasium-bitbucket.\n# This file holds secrets: keep it private.\n\n",
        };
        Ok(format!("{header}{body}"))
    }
}

/// A TOML error as line, column and message, without the source excerpt toml prints (the
/// offending line may hold a secret).
fn syntax(text: &str, e: &toml::de::Error) -> ConfigurationError {
    let (line, column) = e.span().map_or((0, 0), |span| {
        let before = &text[..span.start.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    });
    ConfigurationError::Syntax {
        line,
        column,
        message: e.message().trim().to_owned(),
    }
}

fn scope_list(scopes: &ScopeSet) -> Vec<String> {
    scopes
        .to_string()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The file's shape.
#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[serde(default, rename = "provider", skip_serializing_if = "Vec::is_empty")]
    providers: Vec<ProviderEntry>,
    #[serde(default, rename = "client", skip_serializing_if = "Vec::is_empty")]
    clients: Vec<ClientEntry>,
    #[serde(default, rename = "source", skip_serializing_if = "Vec::is_empty")]
    sources: Vec<SourceEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderEntry {
    name: String,
    kind: String,
    authorize_url: String,
    token_url: String,
    api_url: String,
    #[serde(default)]
    pkce: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    homepage: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    allowed_workspaces: Vec<String>,
}

impl ProviderEntry {
    fn name_or(&self, index: usize) -> String {
        if self.name.is_empty() {
            format!("#{index}")
        } else {
            self.name.clone()
        }
    }

    fn into_model(self) -> Result<Provider, ModelError> {
        let provider = Provider::new(
            self.name.parse()?,
            self.kind.parse()?,
            ServiceUrl::parse("authorize URL", &self.authorize_url)?,
            ServiceUrl::parse("token URL", &self.token_url)?,
        )
        .with_api_url(ServiceUrl::parse("API URL", &self.api_url)?)
        .with_pkce(self.pkce)
        .with_allowed_workspaces(self.allowed_workspaces.join(",").parse()?);
        match &self.homepage {
            Some(h) => provider.with_homepage(ServiceUrl::parse("homepage URL", h)?),
            None => Ok(provider),
        }
    }
}

impl From<&Provider> for ProviderEntry {
    fn from(p: &Provider) -> Self {
        Self {
            name: p.name.to_string(),
            kind: p.kind.as_str().to_owned(),
            authorize_url: p.authorize_url.to_string(),
            token_url: p.token_url.to_string(),
            api_url: p.api_url.to_string(),
            pkce: p.pkce,
            homepage: p.homepage.as_ref().map(ToString::to_string),
            allowed_workspaces: p
                .allowed_workspaces
                .iter()
                .map(|w| w.as_str().to_owned())
                .collect(),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientEntry {
    provider: String,
    purpose: String,
    key: String,
    secret: SecretField,
    scopes: Vec<String>,
}

impl ClientEntry {
    fn key_or(&self, index: usize) -> String {
        if self.provider.is_empty() {
            format!("#{index}")
        } else {
            format!("{}/{}", self.provider, self.purpose)
        }
    }

    fn into_model(self, secret: String) -> Result<Client, ModelError> {
        Ok(Client::new(
            self.provider.parse()?,
            self.purpose.parse()?,
            self.key.parse()?,
            ClientSecret::new(secret)?,
            self.scopes.join(",").parse()?,
        ))
    }
}

/// A secret as written in the file: a reference or the value. Its `Debug` hides it, and a
/// value of the wrong type is refused without being repeated.
struct SecretField(String);

impl fmt::Debug for SecretField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretField([redacted])")
    }
}

impl Serialize for SecretField {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SecretField {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match toml::Value::deserialize(deserializer)? {
            toml::Value::String(s) => Ok(Self(s)),
            _ => Err(serde::de::Error::custom(
                "a secret must be a string: \"env:VARIABLE\" or the secret itself",
            )),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceEntry {
    provider: String,
    display_name: String,
    kind: String,
    api_url: String,
}

impl SourceEntry {
    fn name_or(&self, index: usize) -> String {
        if self.provider.is_empty() {
            format!("#{index}")
        } else {
            self.provider.clone()
        }
    }

    fn into_model(self) -> Result<Source, ModelError> {
        Ok(Source::new(
            self.provider.parse()?,
            self.display_name.parse()?,
            self.kind.parse()?,
            ServiceUrl::parse("API URL", &self.api_url)?,
        ))
    }
}

impl From<&Source> for SourceEntry {
    fn from(s: &Source) -> Self {
        Self {
            provider: s.provider.to_string(),
            display_name: s.display_name.to_string(),
            kind: s.kind.as_str().to_owned(),
            api_url: s.api_url.to_string(),
        }
    }
}

/// What applying does to one item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Change {
    /// In the file, not in the store: created.
    Create,
    /// In both, different: the store's row becomes the file's.
    Update,
    /// In both, equal: nothing written.
    Unchanged,
    /// In the store, not in the file, and pruning: deleted (a client with its tokens, a source
    /// with its listings and tracked repositories).
    Delete,
    /// In the store, not in the file, not pruning: left as it is.
    Kept,
}

impl Change {
    /// `create`, `update`, `unchanged`, `delete` or `kept`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Create => "create",
            Change::Update => "update",
            Change::Unchanged => "unchanged",
            Change::Delete => "delete",
            Change::Kept => "kept",
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One field that differs: its value in the store (`from`) and in the file (`to`). Secrets
/// appear as fingerprints (`sha256:1a2b3c4d`), never as themselves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FieldChange {
    /// The field, as the file names it.
    pub field: &'static str,
    /// The stored value (`None`: unset, or the item is created).
    pub from: Option<String>,
    /// The file's value (`None`: unset).
    pub to: Option<String>,
}

/// One item of a [`Plan`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PlanItem {
    /// Provider, client or source.
    pub entity: Entity,
    /// Its key: `bitbucket.org`, or `bitbucket.org/login` for a client.
    pub key: String,
    /// What applying does to it.
    pub change: Change,
    /// For a create, every field set; for an update, the fields that differ.
    pub fields: Vec<FieldChange>,
}

/// How many items of each change a plan holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Summary {
    /// Items created.
    pub create: usize,
    /// Items updated.
    pub update: usize,
    /// Items unchanged.
    pub unchanged: usize,
    /// Items deleted.
    pub delete: usize,
    /// Items kept though not in the file.
    pub kept: usize,
}

/// What applying a configuration does to a store, item by item ([`plan`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Plan {
    /// Providers, then clients, then sources, each by key.
    pub items: Vec<PlanItem>,
    /// Whether it was written ([`apply`] with changes to make).
    pub applied: bool,
    /// The writes, in the order the store's rules need (providers first, deletions of
    /// clients and sources before their provider's).
    #[serde(skip)]
    changes: Vec<ConfigChange>,
}

impl Plan {
    /// Whether applying changes anything.
    #[must_use]
    pub fn changes_anything(&self) -> bool {
        !self.changes.is_empty()
    }

    /// The writes applying makes, in order.
    #[must_use]
    pub fn store_changes(&self) -> &[ConfigChange] {
        &self.changes
    }

    /// How many items of each change.
    #[must_use]
    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for item in &self.items {
            *match item.change {
                Change::Create => &mut summary.create,
                Change::Update => &mut summary.update,
                Change::Unchanged => &mut summary.unchanged,
                Change::Delete => &mut summary.delete,
                Change::Kept => &mut summary.kept,
            } += 1;
        }
        summary
    }
}

type Fields = Vec<(&'static str, Option<String>)>;

fn provider_fields(p: &Provider) -> Fields {
    vec![
        ("kind", Some(p.kind.as_str().to_owned())),
        ("authorize_url", Some(p.authorize_url.to_string())),
        ("token_url", Some(p.token_url.to_string())),
        ("api_url", Some(p.api_url.to_string())),
        ("pkce", Some(p.pkce.to_string())),
        ("homepage", p.homepage.as_ref().map(ToString::to_string)),
        (
            "allowed_workspaces",
            (!p.allowed_workspaces.is_empty()).then(|| p.allowed_workspaces.to_list()),
        ),
    ]
}

fn client_fields(c: &Client) -> Fields {
    vec![
        ("key", Some(c.key.to_string())),
        ("secret", Some(c.secret.fingerprint())),
        ("scopes", Some(c.scopes.to_string())),
    ]
}

fn source_fields(s: &Source) -> Fields {
    vec![
        ("display_name", Some(s.display_name.to_string())),
        ("kind", Some(s.kind.as_str().to_owned())),
        ("api_url", Some(s.api_url.to_string())),
    ]
}

/// Compares the items of one kind, adding plan items and store changes.
#[allow(clippy::too_many_arguments)]
fn compare<K: Ord + Clone, T: PartialEq>(
    entity: Entity,
    current: BTreeMap<K, &T>,
    wanted: BTreeMap<K, &T>,
    prune: bool,
    shown: impl Fn(&K) -> String,
    fields: impl Fn(&T) -> Fields,
    items: &mut Vec<PlanItem>,
    mut write: impl FnMut(&T),
    mut delete: impl FnMut(&K),
) {
    let keys: BTreeSet<&K> = current.keys().chain(wanted.keys()).collect();
    for key in keys {
        let (change, fields) = match (current.get(key), wanted.get(key)) {
            (None, Some(new)) => {
                write(new);
                let set = fields(new)
                    .into_iter()
                    .filter_map(|(field, to)| {
                        to.map(|to| FieldChange {
                            field,
                            from: None,
                            to: Some(to),
                        })
                    })
                    .collect();
                (Change::Create, set)
            }
            (Some(old), Some(new)) if old == new => (Change::Unchanged, Vec::new()),
            (Some(old), Some(new)) => {
                write(new);
                let differing = fields(old)
                    .into_iter()
                    .zip(fields(new))
                    .filter(|((_, from), (_, to))| from != to)
                    .map(|((field, from), (_, to))| FieldChange { field, from, to })
                    .collect();
                (Change::Update, differing)
            }
            (Some(_), None) if prune => {
                delete(key);
                (Change::Delete, Vec::new())
            }
            (Some(_), None) => (Change::Kept, Vec::new()),
            (None, None) => continue,
        };
        items.push(PlanItem {
            entity,
            key: shown(key),
            change,
            fields,
        });
    }
}

/// What applying `wanted` to a store holding `current` does: each item created, updated,
/// unchanged, or (not in `wanted`) deleted when `prune`, kept otherwise. Secrets are compared
/// in full and shown by fingerprint.
#[must_use]
pub fn plan(current: &Configuration, wanted: &Configuration, prune: bool) -> Plan {
    let mut items = Vec::new();
    let (mut puts, mut client_deletes, mut source_deletes, mut provider_deletes) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    compare(
        Entity::Provider,
        current
            .providers
            .iter()
            .map(|p| (p.name.clone(), p))
            .collect(),
        wanted
            .providers
            .iter()
            .map(|p| (p.name.clone(), p))
            .collect(),
        prune,
        ToString::to_string,
        provider_fields,
        &mut items,
        |p: &Provider| puts.push(ConfigChange::PutProvider(p.clone())),
        |name: &ProviderName| provider_deletes.push(ConfigChange::DeleteProvider(name.clone())),
    );
    compare(
        Entity::Client,
        current
            .clients
            .iter()
            .map(|c| ((c.provider.clone(), c.purpose), c))
            .collect(),
        wanted
            .clients
            .iter()
            .map(|c| ((c.provider.clone(), c.purpose), c))
            .collect(),
        prune,
        |(provider, purpose)| client_key(provider, *purpose),
        client_fields,
        &mut items,
        |c: &Client| puts.push(ConfigChange::PutClient(c.clone())),
        |(provider, purpose): &(ProviderName, Purpose)| {
            client_deletes.push(ConfigChange::DeleteClient(provider.clone(), *purpose));
        },
    );
    compare(
        Entity::Source,
        current
            .sources
            .iter()
            .map(|s| (s.provider.clone(), s))
            .collect(),
        wanted
            .sources
            .iter()
            .map(|s| (s.provider.clone(), s))
            .collect(),
        prune,
        ToString::to_string,
        source_fields,
        &mut items,
        |s: &Source| puts.push(ConfigChange::PutSource(s.clone())),
        |provider: &ProviderName| source_deletes.push(ConfigChange::DeleteSource(provider.clone())),
    );
    let mut changes = puts;
    changes.extend(client_deletes);
    changes.extend(source_deletes);
    changes.extend(provider_deletes);
    Plan {
        items,
        applied: false,
        changes,
    }
}

/// Makes `store` match `wanted`: plans against what it holds and, when that changes
/// anything, writes the whole plan in one transaction ([`Store::apply_config`]). Items not in
/// `wanted` are deleted only when `prune`. Applying the same configuration again reports
/// every item unchanged and writes nothing.
///
/// The plan is made from a read just before the write; a row changed by someone else in
/// between is overwritten with the file's values (the file is the truth), and a provider that
/// gained a client meanwhile is not deleted (the whole apply fails, writing nothing).
///
/// # Errors
/// The store's failure or refusal; then nothing was written.
pub async fn apply(
    store: &dyn Store,
    wanted: &Configuration,
    prune: bool,
) -> Result<Plan, StoreError> {
    let mut plan = plan(&Configuration::from_store(store).await?, wanted, prune);
    if plan.changes_anything() {
        store.apply_config(&plan.changes).await?;
        plan.applied = true;
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_named_after_provider_and_purpose() {
        assert_eq!(
            secret_variable(&"bitbucket.org".parse().unwrap(), Purpose::Login),
            "GEMNASIUM_SECRET_BITBUCKET_ORG_LOGIN"
        );
        assert!(is_variable_name("A_1") && is_variable_name("_x"));
        assert!(!is_variable_name("") && !is_variable_name("1A") && !is_variable_name("A-B"));
    }

    #[test]
    fn syntax_errors_do_not_repeat_the_line() {
        let text = "[[client]]\nprovider = \"bitbucket.org\"\nsecret = \"hunter2-unterminated\n";
        let e = Configuration::from_toml(text, |_| None).unwrap_err();
        let shown = e.to_string();
        assert!(shown.starts_with("line 3"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        let text = "[[client]]\nprovider = \"p\"\npurpose = \"login\"\nkey = \"k\"\nsecret = 424242\nscopes = []\n";
        let shown = Configuration::from_toml(text, |_| None)
            .unwrap_err()
            .to_string();
        assert!(shown.contains("a secret must be a string"), "{shown}");
        assert!(!shown.contains("424242"), "{shown}");
    }
}
