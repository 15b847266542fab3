//! The high-level "configure" plan: bring a store to the documented Bitbucket Cloud set-up.
//!
//! [`ConsumerForm`] tells the operator what to type into Bitbucket's "Add OAuth consumer" form
//! (consumers cannot be created through the API). [`apply`] then records the consumer: the
//! provider `bitbucket.org`, the `login` and `sync` clients and the "Bitbucket Cloud" source,
//! creating what is missing, updating what differs and leaving the rest alone, so re-running it
//! converges instead of duplicating.

use serde::Serialize;

use crate::model::{
    CallbackUrl, Client, ClientKey, ClientSecret, DisplayName, ModelError, Provider, ProviderKind,
    ProviderName, Purpose, Scope, ScopeSet, ServiceUrl, Source,
};
use crate::store::{ClientPatch, ProviderPatch, SourcePatch, Store, StoreError, WriteOutcome};

/// The name Gemnasium's documentation gives the consumer.
pub const CONSUMER_NAME: &str = "Gemnasium Enterprise";
/// The source's display name in the documented set-up.
pub const SOURCE_DISPLAY_NAME: &str = "Bitbucket Cloud";

/// What the operator enters on Bitbucket's "Add OAuth consumer" form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ConsumerForm {
    /// The consumer's name, unique in the workspace.
    pub name: String,
    /// The callback URL to register: `{homepage}/auth/auth/{provider}`.
    pub callback_url: CallbackUrl,
    /// The "URL" field: Gemnasium's homepage.
    pub url: String,
    /// The permission boxes to tick, such as `Account: Read`.
    pub permissions: Vec<String>,
    /// Leave "This is a private consumer" unticked (it only matters for client credentials).
    pub private: bool,
    /// Where the form is, when a workspace was given.
    pub form_link: Option<String>,
}

impl ConsumerForm {
    /// The form for `purposes` (login: account + email; sync: repository + webhook).
    ///
    /// # Errors
    /// [`ModelError::InvalidUrl`] when `homepage` has a query or fragment.
    pub fn new(
        site_url: &ServiceUrl,
        homepage: &ServiceUrl,
        provider: &ProviderName,
        purposes: &[Purpose],
        workspace: Option<&str>,
    ) -> Result<Self, ModelError> {
        let scopes = recommended_scopes(purposes);
        Ok(Self {
            name: CONSUMER_NAME.to_owned(),
            callback_url: CallbackUrl::new(homepage, provider)?,
            url: homepage.to_string(),
            permissions: scopes.iter().map(|s| s.checkbox().to_owned()).collect(),
            private: false,
            form_link: workspace.map(|w| {
                site_url
                    .join_path(&["account", "user", w, "oauth-consumers", "new"])
                    .to_string()
            }),
        })
    }
}

fn recommended_scopes(purposes: &[Purpose]) -> ScopeSet {
    purposes
        .iter()
        .flat_map(|p| p.recommended_scopes().iter().collect::<Vec<Scope>>())
        .collect()
}

/// Everything the documented set-up records (what a one-stop set-up command asks for).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Configuration {
    /// The provider (normally [`Provider::bitbucket_cloud`], URLs overridable), with
    /// Gemnasium's homepage when known.
    pub provider: Provider,
    /// The consumer's key.
    pub key: ClientKey,
    /// The consumer's secret.
    pub secret: ClientSecret,
    /// Which clients to record: both by default, one with `--login-only` / `--sync-only`.
    pub purposes: Vec<Purpose>,
    /// The source's display name (created when `sync` is among the purposes).
    pub source_display_name: DisplayName,
}

impl Configuration {
    /// The documented set-up for Bitbucket Cloud with both purposes.
    #[must_use]
    pub fn bitbucket_cloud(key: ClientKey, secret: ClientSecret) -> Self {
        Self {
            provider: Provider::bitbucket_cloud(),
            key,
            secret,
            purposes: Purpose::ALL.to_vec(),
            source_display_name: SOURCE_DISPLAY_NAME.parse().expect("constant is valid"),
        }
    }

    /// `self` with another provider (URLs of a test double, a homepage).
    #[must_use]
    pub fn with_provider(mut self, provider: Provider) -> Self {
        self.provider = provider;
        self
    }

    /// `self` recording only the clients of `purposes` (the source comes with `sync`).
    #[must_use]
    pub fn with_purposes(mut self, purposes: &[Purpose]) -> Self {
        self.purposes = purposes.to_vec();
        self
    }

    /// The clients this configuration records, with the scopes the documentation gives them.
    #[must_use]
    pub fn clients(&self) -> Vec<Client> {
        self.purposes
            .iter()
            .map(|purpose| {
                Client::new(
                    self.provider.name.clone(),
                    *purpose,
                    self.key.clone(),
                    self.secret.clone(),
                    purpose.recommended_scopes(),
                )
            })
            .collect()
    }

    /// The source this configuration records, when it syncs.
    #[must_use]
    pub fn source(&self) -> Option<Source> {
        self.purposes.contains(&Purpose::Sync).then(|| {
            Source::new(
                self.provider.name.clone(),
                self.source_display_name.clone(),
                ProviderKind::Bitbucket,
                self.provider.api_url.clone(),
            )
        })
    }
}

/// The kinds of configuration rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Entity {
    /// A provider.
    Provider,
    /// A client.
    Client,
    /// A source.
    Source,
}

impl Entity {
    /// `provider`, `client` or `source`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Provider => "provider",
            Entity::Client => "client",
            Entity::Source => "source",
        }
    }
}

impl std::fmt::Display for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row `apply` touched and what happened to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Step {
    /// What kind of row.
    pub entity: Entity,
    /// The row's key, such as `bitbucket.org/login`.
    pub key: String,
    /// Created, updated or unchanged.
    pub outcome: WriteOutcome,
}

/// Records `config` in `store`: creates what is missing, updates what differs.
///
/// Idempotent: a second run reports every step `Unchanged`. The provider is written first so
/// that clients and the source always find it.
///
/// # Errors
/// Whatever the store reports; rows written before the failure stay (re-running converges).
pub async fn apply(store: &dyn Store, config: &Configuration) -> Result<Vec<Step>, StoreError> {
    let mut steps = Vec::new();
    let provider = &config.provider;
    let outcome = match store.provider(&provider.name).await? {
        None => store.create_provider(provider).await?,
        Some(_) => {
            store
                .update_provider(&provider.name, &ProviderPatch::all_of(provider))
                .await?
                .outcome
        }
    };
    steps.push(Step {
        entity: Entity::Provider,
        key: provider.name.to_string(),
        outcome,
    });
    for client in config.clients() {
        let outcome = match store.client(&client.provider, client.purpose).await? {
            None => store.create_client(&client).await?,
            Some(_) => {
                store
                    .update_client(
                        &client.provider,
                        client.purpose,
                        &ClientPatch::all_of(&client),
                    )
                    .await?
                    .outcome
            }
        };
        steps.push(Step {
            entity: Entity::Client,
            key: format!("{}/{}", client.provider, client.purpose),
            outcome,
        });
    }
    if let Some(source) = config.source() {
        let outcome = match store.source(&source.provider).await? {
            None => store.create_source(&source).await?,
            Some(_) => {
                store
                    .update_source(&source.provider, &SourcePatch::all_of(&source))
                    .await?
                    .outcome
            }
        };
        steps.push(Step {
            entity: Entity::Source,
            key: source.provider.to_string(),
            outcome,
        });
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ClientStore, MemoryStore, SourceStore};

    fn url(s: &str) -> ServiceUrl {
        ServiceUrl::parse("URL", s).unwrap()
    }

    #[test]
    fn consumer_form_lists_the_documented_boxes() {
        let form = ConsumerForm::new(
            &url("https://bitbucket.org"),
            &url("https://g.example"),
            &"bitbucket.org".parse().unwrap(),
            &Purpose::ALL,
            Some("acme"),
        )
        .unwrap();
        assert_eq!(form.name, "Gemnasium Enterprise");
        assert_eq!(
            form.callback_url.to_string(),
            "https://g.example/auth/auth/bitbucket.org"
        );
        assert_eq!(
            form.permissions,
            [
                "Account: Read",
                "Account: Email",
                "Repositories: Read",
                "Webhooks: Read and write"
            ]
        );
        assert_eq!(
            form.form_link.as_deref(),
            Some("https://bitbucket.org/account/user/acme/oauth-consumers/new")
        );
        assert!(!form.private);
    }

    #[tokio::test]
    async fn apply_creates_then_is_unchanged_then_updates() {
        let store = MemoryStore::new();
        let mut config = Configuration::bitbucket_cloud(
            "KEY".parse().unwrap(),
            ClientSecret::new("SECRET").unwrap(),
        );
        let first = apply(&store, &config).await.unwrap();
        assert_eq!(first.len(), 4);
        assert!(
            first.iter().all(|s| s.outcome == WriteOutcome::Created),
            "{first:?}"
        );
        let again = apply(&store, &config).await.unwrap();
        assert!(
            again.iter().all(|s| s.outcome == WriteOutcome::Unchanged),
            "{again:?}"
        );

        config.secret = ClientSecret::new("ROTATED").unwrap();
        let rotated = apply(&store, &config).await.unwrap();
        let outcomes: Vec<_> = rotated.iter().map(|s| (s.entity, s.outcome)).collect();
        assert_eq!(
            outcomes,
            [
                (Entity::Provider, WriteOutcome::Unchanged),
                (Entity::Client, WriteOutcome::Updated),
                (Entity::Client, WriteOutcome::Updated),
                (Entity::Source, WriteOutcome::Unchanged),
            ]
        );
        let name = config.provider.name.clone();
        let sync = store.client(&name, Purpose::Sync).await.unwrap().unwrap();
        assert_eq!(sync.secret.expose_secret(), "ROTATED");
        assert_eq!(sync.scopes.to_string(), "repository,webhook");
        let login = store.client(&name, Purpose::Login).await.unwrap().unwrap();
        assert_eq!(login.scopes.to_string(), "account,email");
        assert!(store.source(&name).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn login_only_records_no_source() {
        let store = MemoryStore::new();
        let config =
            Configuration::bitbucket_cloud("K".parse().unwrap(), ClientSecret::new("S").unwrap())
                .with_purposes(&[Purpose::Login]);
        let steps = apply(&store, &config).await.unwrap();
        assert_eq!(steps.len(), 2);
        assert!(store.sources().await.unwrap().is_empty());
    }
}
