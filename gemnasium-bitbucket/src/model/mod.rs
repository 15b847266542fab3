//! The domain model: validated, I/O-free data.
//!
//! Every type here is checked when it is constructed (`FromStr`, `TryFrom<String>` or `new`),
//! so a value that exists is a value that is valid. Errors say which rule failed and how to fix it.

mod client;
mod error;
mod name;
mod provider;
mod repo;
mod scope;
mod secret;
mod source;
mod token;
mod url;

pub use self::client::{Client, ClientKey, Purpose};
pub use self::error::ModelError;
pub use self::name::{DisplayName, ProviderName};
pub use self::provider::{Provider, ProviderKind};
pub use self::repo::{HookRecord, Repository};
pub use self::scope::{Implications, Scope, ScopeSet};
pub use self::secret::{AccessToken, ClientSecret, RefreshToken, SecretText};
pub use self::source::Source;
pub use self::token::{AccountInfo, AccountUuid, RepoUuid, TokenKey, TokenSet, TokenState};
pub use self::url::ServiceUrl;
