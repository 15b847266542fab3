//! Partial updates: each names only the fields it changes, and the store applies it to the row
//! as it is at write time, under the row's write lock, so that concurrent updates of different
//! fields never undo each other (a read here and a full write there would).

use super::WriteOutcome;
use crate::model::{
    Client, ClientKey, ClientSecret, DisplayName, Provider, ScopeSet, ServiceUrl, Source,
    WorkspaceSet,
};

/// What an update did, and the row as it is now.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub struct Updated<T> {
    /// `Updated`, or `Unchanged` when the row already held the values.
    pub outcome: WriteOutcome,
    /// The row after the update.
    pub value: T,
    /// The row's version after the update: 1 when created, plus one per changing update.
    pub version: i64,
}

impl<T> Updated<T> {
    /// An update's result.
    pub fn new(outcome: WriteOutcome, value: T, version: i64) -> Self {
        Self {
            outcome,
            value,
            version,
        }
    }
}

/// Changes to a provider; unset fields keep their value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct ProviderPatch {
    authorize_url: Option<ServiceUrl>,
    token_url: Option<ServiceUrl>,
    api_url: Option<ServiceUrl>,
    pkce: Option<bool>,
    homepage: Option<ServiceUrl>,
    allowed_workspaces: Option<WorkspaceSet>,
}

impl ProviderPatch {
    /// A patch that changes nothing yet.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the authorization endpoint.
    pub fn authorize_url(mut self, url: ServiceUrl) -> Self {
        self.authorize_url = Some(url);
        self
    }
    /// Sets the token endpoint.
    pub fn token_url(mut self, url: ServiceUrl) -> Self {
        self.token_url = Some(url);
        self
    }
    /// Sets the REST API origin.
    pub fn api_url(mut self, url: ServiceUrl) -> Self {
        self.api_url = Some(url);
        self
    }
    /// Turns PKCE on or off.
    pub fn pkce(mut self, pkce: bool) -> Self {
        self.pkce = Some(pkce);
        self
    }
    /// Sets Gemnasium's homepage.
    pub fn homepage(mut self, homepage: ServiceUrl) -> Self {
        self.homepage = Some(homepage);
        self
    }
    /// Replaces the workspaces whose members may sign in (empty: anyone).
    pub fn allowed_workspaces(mut self, workspaces: WorkspaceSet) -> Self {
        self.allowed_workspaces = Some(workspaces);
        self
    }
    /// Every field of `provider` (to make a row equal to it).
    pub fn all_of(provider: &Provider) -> Self {
        Self {
            authorize_url: Some(provider.authorize_url.clone()),
            token_url: Some(provider.token_url.clone()),
            api_url: Some(provider.api_url.clone()),
            pkce: Some(provider.pkce),
            homepage: provider.homepage.clone(),
            allowed_workspaces: Some(provider.allowed_workspaces.clone()),
        }
    }
    /// Whether it changes nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
    /// `current` with the patch applied.
    #[must_use]
    pub fn apply(&self, current: &Provider) -> Provider {
        let mut p = current.clone();
        if let Some(v) = &self.authorize_url {
            p.authorize_url = v.clone();
        }
        if let Some(v) = &self.token_url {
            p.token_url = v.clone();
        }
        if let Some(v) = &self.api_url {
            p.api_url = v.clone();
        }
        if let Some(v) = self.pkce {
            p.pkce = v;
        }
        if let Some(v) = &self.homepage {
            p.homepage = Some(v.clone());
        }
        if let Some(v) = &self.allowed_workspaces {
            p.allowed_workspaces = v.clone();
        }
        p
    }
}

/// Changes to a client; unset fields keep their value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct ClientPatch {
    key: Option<ClientKey>,
    secret: Option<ClientSecret>,
    scopes: Option<ScopeSet>,
}

impl ClientPatch {
    /// A patch that changes nothing yet.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the consumer key.
    pub fn key(mut self, key: ClientKey) -> Self {
        self.key = Some(key);
        self
    }
    /// Sets the consumer secret.
    pub fn secret(mut self, secret: ClientSecret) -> Self {
        self.secret = Some(secret);
        self
    }
    /// Sets the scopes.
    pub fn scopes(mut self, scopes: ScopeSet) -> Self {
        self.scopes = Some(scopes);
        self
    }
    /// Every field of `client` (to make a row equal to it).
    pub fn all_of(client: &Client) -> Self {
        Self {
            key: Some(client.key.clone()),
            secret: Some(client.secret.clone()),
            scopes: Some(client.scopes.clone()),
        }
    }
    /// The scopes it sets, if any.
    #[must_use]
    pub fn new_scopes(&self) -> Option<&ScopeSet> {
        self.scopes.as_ref()
    }
    /// Whether it changes nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
    /// `current` with the patch applied.
    #[must_use]
    pub fn apply(&self, current: &Client) -> Client {
        let mut c = current.clone();
        if let Some(v) = &self.key {
            c.key = v.clone();
        }
        if let Some(v) = &self.secret {
            c.secret = v.clone();
        }
        if let Some(v) = &self.scopes {
            c.scopes = v.clone();
        }
        c
    }
}

/// Changes to a source; unset fields keep their value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct SourcePatch {
    display_name: Option<DisplayName>,
    api_url: Option<ServiceUrl>,
}

impl SourcePatch {
    /// A patch that changes nothing yet.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the label users see.
    pub fn display_name(mut self, name: DisplayName) -> Self {
        self.display_name = Some(name);
        self
    }
    /// Sets the REST API origin.
    pub fn api_url(mut self, url: ServiceUrl) -> Self {
        self.api_url = Some(url);
        self
    }
    /// Every field of `source` (to make a row equal to it).
    pub fn all_of(source: &Source) -> Self {
        Self {
            display_name: Some(source.display_name.clone()),
            api_url: Some(source.api_url.clone()),
        }
    }
    /// Whether it changes nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
    /// `current` with the patch applied.
    #[must_use]
    pub fn apply(&self, current: &Source) -> Source {
        let mut s = current.clone();
        if let Some(v) = &self.display_name {
            s.display_name = v.clone();
        }
        if let Some(v) = &self.api_url {
            s.api_url = v.clone();
        }
        s
    }
}
