use thiserror::Error;

use super::webhook::WebhookError;
use crate::api::{ApiError, SetupError};
use crate::model::{AccountUuid, ModelError, ProviderName, Purpose, ScopeReview};
use crate::oauth::OAuthError;
use crate::store::StoreError;
use crate::sync::{CrawlError, HookError};

/// Why a [`Bitbucket`](super::Bitbucket) operation failed. Each variant is a kind a front end
/// can act on; messages are neutral (no command names) and never contain secrets.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The HTTP stack could not be built.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// The store failed or refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An OAuth step failed.
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    /// A REST call failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A value was invalid.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A sync could not list anything.
    #[error(transparent)]
    Crawl(#[from] CrawlError),
    /// A webhook change failed.
    #[error(transparent)]
    Hook(#[from] HookError),
    /// A delivery was refused.
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    /// No such provider.
    #[error("provider `{0}` does not exist")]
    NoProvider(ProviderName),
    /// The provider has no client for the purpose.
    #[error("no {purpose} client is configured for provider {provider}")]
    NoClient {
        /// The provider.
        provider: ProviderName,
        /// The purpose.
        purpose: Purpose,
    },
    /// No source for the provider.
    #[error("source `{0}` does not exist")]
    NoSource(ProviderName),
    /// Gemnasium's homepage is needed but not recorded with the provider.
    #[error("Gemnasium's homepage is not recorded for provider {0}, so the redirect URI is unknown; record it, or give it for this sign-in")]
    NoHomepage(ProviderName),
    /// No account has authorized the sync client.
    #[error("no account has authorized the sync client of {0}")]
    NoAccount(ProviderName),
    /// Several accounts can sync and none was chosen.
    #[error("several accounts can sync {provider} ({}); choose one", accounts.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
    AmbiguousAccount {
        /// The provider.
        provider: ProviderName,
        /// The candidates.
        accounts: Vec<AccountUuid>,
    },
    /// The account has no stored sync token.
    #[error("account {account} has no stored sync token for {provider}")]
    UnknownAccount {
        /// The provider.
        provider: ProviderName,
        /// The account asked for.
        account: AccountUuid,
    },
    /// A client's scopes do not cover its purpose (and no override was given).
    #[error("scopes `{scopes}` do not cover the {} purpose: missing {}", review.purpose, review.missing)]
    ScopesNotCovered {
        /// The scopes given.
        scopes: crate::model::ScopeSet,
        /// The review (boxed: it is large and errors travel by value).
        review: Box<ScopeReview>,
    },
    /// A repository to track is not in the last listing.
    #[error(
        "repository `{full_name}` is not in the last listing of {source_name}; nothing was tracked"
    )]
    NotListed {
        /// The source.
        source_name: ProviderName,
        /// The name asked for.
        full_name: String,
    },
    /// The account signing in is a member of none of the workspaces the provider allows;
    /// nothing was stored.
    #[error("{account} is not a member of any workspace allowed to sign in ({required}); nothing was stored")]
    WorkspaceNotAllowed {
        /// The account, as shown to people.
        account: String,
        /// The workspaces one of which the account must belong to.
        required: crate::model::WorkspaceSet,
    },
    /// No stored credential of that name.
    #[error("no credential `{name}` is stored for {provider}")]
    NoCredential {
        /// The provider.
        provider: ProviderName,
        /// The name asked for.
        name: crate::model::CredentialName,
    },
    /// A credential of that name is already stored.
    #[error("another credential named `{name}` already exists for {provider}; delete it first to replace it (nothing was changed)")]
    CredentialExists {
        /// The provider.
        provider: ProviderName,
        /// The name.
        name: crate::model::CredentialName,
    },
    /// The credential's expiry has passed (or, when adding, is already past).
    #[error("credential `{name}` expired at {at}; create a new token on Bitbucket and store it")]
    CredentialExpired {
        /// The credential.
        name: crate::model::CredentialName,
        /// When it expired.
        at: chrono::DateTime<chrono::Utc>,
    },
    /// Bitbucket refused a credential being added; nothing was stored.
    #[error("credential `{name}` was not stored: {reason}")]
    CredentialRefused {
        /// The credential.
        name: crate::model::CredentialName,
        /// What Bitbucket refused and how to fix it (never the token).
        reason: String,
    },
    /// Bitbucket no longer accepts a stored credential.
    #[error("Bitbucket no longer accepts credential `{name}`: {reason}")]
    CredentialRejected {
        /// The credential.
        name: crate::model::CredentialName,
        /// What Bitbucket refused (never the token).
        reason: String,
    },
    /// A repository to untrack is not tracked.
    #[error("repository `{full_name}` is not tracked by {source_name}; nothing was changed")]
    NotTracked {
        /// The source.
        source_name: ProviderName,
        /// The name asked for.
        full_name: String,
    },
}
