use thiserror::Error;

/// A value was rejected while building a model type.
///
/// Messages name the offending value (never a secret) and say how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A provider name broke one of the naming rules.
    #[error("invalid provider name `{value}`: {reason}")]
    InvalidProviderName {
        /// The rejected input.
        value: String,
        /// Which rule failed and how to comply.
        reason: String,
    },
    /// A provider kind we do not support.
    #[error("unknown provider kind `{value}`; known kinds: {known}")]
    UnknownProviderKind {
        /// The rejected input.
        value: String,
        /// Comma-separated list of supported kinds.
        known: String,
    },
    /// A URL that is not an absolute `https` URL (or `http` on a loopback host).
    #[error("invalid {field} `{value}`: {reason}")]
    InvalidUrl {
        /// Which field held the URL (for example `authorize URL`).
        field: &'static str,
        /// The rejected input.
        value: String,
        /// Which rule failed and how to comply.
        reason: String,
    },
    /// A client purpose other than `login` or `sync`.
    #[error("unknown purpose `{value}`; use `login` (sign users in) or `sync` (list repositories, install webhooks)")]
    UnknownPurpose {
        /// The rejected input.
        value: String,
    },
    /// A scope that Bitbucket OAuth consumers do not have.
    #[error("unknown scope `{value}`{}; known scopes: {known}", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    UnknownScope {
        /// The rejected input.
        value: String,
        /// The closest known scope, when one is close.
        suggestion: Option<String>,
        /// Comma-separated list of every known scope.
        known: String,
    },
    /// An API-token (Forge style) scope given where an OAuth consumer scope is needed.
    #[error("`{value}` is an API-token scope; OAuth consumers use the short form{}", short.as_ref().map(|s| format!(", here `{s}`")).unwrap_or_else(|| String::from(" such as `repository` or `webhook`")))]
    ApiTokenScope {
        /// The rejected input.
        value: String,
        /// The equivalent OAuth consumer scope, when there is one.
        short: Option<String>,
    },
    /// A scope Bitbucket has retired.
    #[error("scope `{value}` was removed by Bitbucket: {hint}")]
    RemovedScope {
        /// The rejected input.
        value: String,
        /// What to use instead.
        hint: &'static str,
    },
    /// An empty scope list.
    #[error(
        "no scopes given; list them separated by commas or spaces, for example `account,email`"
    )]
    EmptyScopes,
    /// A client key (the consumer's `client_id`) that cannot be right.
    #[error("invalid OAuth consumer key: {reason}")]
    InvalidClientKey {
        /// Which rule failed.
        reason: String,
    },
    /// A secret that cannot be right. Never contains the secret itself.
    #[error("invalid {what}: {reason}")]
    InvalidSecret {
        /// Which secret (for example `consumer secret`).
        what: &'static str,
        /// Which rule failed.
        reason: String,
    },
    /// A display name that is empty, too long or has control characters.
    #[error("invalid display name `{value}`: {reason}")]
    InvalidDisplayName {
        /// The rejected input.
        value: String,
        /// Which rule failed.
        reason: String,
    },
    /// A Bitbucket UUID that is not of the form `{…}`.
    #[error("invalid Bitbucket {what} UUID `{value}`: expected the form {{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}}")]
    InvalidUuid {
        /// What it identifies (`account`, `repository`).
        what: &'static str,
        /// The rejected input.
        value: String,
    },
    /// A webhook event key Bitbucket does not have (or removed).
    #[error("unknown webhook event `{value}`: {reason}")]
    UnknownEvent {
        /// The rejected input.
        value: String,
        /// Why, and the keys that work.
        reason: String,
    },
    /// A workspace slug that cannot be right.
    #[error("invalid workspace `{value}`: {reason}")]
    InvalidWorkspace {
        /// The rejected input.
        value: String,
        /// Which rule failed and how to comply.
        reason: String,
    },
    /// A stored credential's name that cannot be used.
    #[error("invalid credential name `{value}`: {reason}")]
    InvalidCredentialName {
        /// The rejected input.
        value: String,
        /// Which rule failed and how to comply.
        reason: String,
    },
    /// A word that is not an API-token scope.
    #[error("invalid API-token scope `{value}`: {reason}")]
    InvalidApiScope {
        /// The rejected input.
        value: String,
        /// Which rule failed and how to comply.
        reason: String,
    },
    /// A token state name that is not known.
    #[error("unknown token state `{value}`; known states: active, needs_reauth")]
    UnknownTokenState {
        /// The rejected input.
        value: String,
    },
}
