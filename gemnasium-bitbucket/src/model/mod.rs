//! The domain model: validated, I/O-free data.
//!
//! Every type here is checked when it is constructed (`FromStr`, `TryFrom<String>` or `new`),
//! so a value that exists is a value that is valid. Errors say which rule failed and how to fix it.

mod client;
mod credential;
mod error;
mod hook;
mod name;
mod oauth;
mod provider;
mod repo;
mod scope;
mod secret;
mod source;
mod token;
mod url;
mod uuid;
mod workspace;

pub use self::client::{Client, ClientKey, Purpose, ScopeNote, ScopeReview};
pub use self::credential::{
    ApiScope, ApiScopeSet, CredentialKind, CredentialName, CredentialScopes, Expiry,
    StoredCredential,
};
pub use self::error::ModelError;
pub use self::hook::{HookEvents, EVENT_KEYS};
pub use self::name::{DisplayName, ProviderName};
pub use self::oauth::{check_homepage, CallbackUrl, RedirectUri};
pub use self::provider::{Provider, ProviderKind};
pub use self::repo::{HookRecord, Repository};
pub use self::scope::{Implications, Scope, ScopeSet};
pub use self::secret::{
    AccessToken, AuthorizationCode, ClientSecret, CsrfState, PkceVerifier, RefreshToken, SecretText,
};
pub use self::source::Source;
pub use self::token::{AccountInfo, TokenKey, TokenSet, TokenState};
pub use self::url::ServiceUrl;
pub use self::uuid::{AccountUuid, HookUuid, RepoUuid, RequestUuid, WorkspaceUuid};
pub use self::workspace::{WorkspaceSet, WorkspaceSlug};
