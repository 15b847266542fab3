//! How failures reach the user: one `error:` line, an optional `hint:` line, and an exit code
//! (1 for a wrong value or state, 2 for wrong usage). The library's errors are typed and
//! neutral; this is the one place that turns their kinds into this program's commands.

use std::fmt;
use std::process::ExitCode;

use gemnasium_bitbucket::api::{ApiError, SetupError};
use gemnasium_bitbucket::oauth::OAuthError;
use gemnasium_bitbucket::store::{Entity, StoreError};
use gemnasium_bitbucket::sync::CrawlError;
use gemnasium_bitbucket::Error;

use crate::output::escaped;

/// An error with advice on what to run next.
#[derive(Debug)]
pub struct Hinted {
    pub message: String,
    pub hint: String,
}

impl fmt::Display for Hinted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Hinted {}

/// Wrong usage of the command line (exit code 2, like clap's own usage errors).
#[derive(Debug)]
pub struct Usage(pub String);

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// `message` with `hint`, as an error.
pub fn hinted(message: impl fmt::Display, hint: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Hinted {
        message: message.to_string(),
        hint: hint.into(),
    })
}

/// `error` (kept as the source, so its kind still decides the exit code) with `hint`.
pub fn with_hint(error: impl Into<anyhow::Error>, hint: impl Into<String>) -> anyhow::Error {
    let error = error.into();
    let message = describe(&error);
    error.context(Hinted {
        message,
        hint: hint.into(),
    })
}

/// The error and its causes on one line, each said once: wrappers that repeat their cause's
/// words (transparent library errors) are not repeated.
pub fn describe(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if parts.last().is_some_and(|last| last.contains(&text)) {
            continue;
        }
        parts.push(text);
    }
    parts.join(": ")
}

/// A usage error.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Usage(message.into()))
}

/// Whether `e` is a write to a closed pipe (`… | head -1`): the reader is gone, which is not
/// an error of ours.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Prints `e` to stderr and picks the exit code.
pub fn report(e: &anyhow::Error) -> ExitCode {
    if is_broken_pipe(e) {
        return ExitCode::SUCCESS;
    }
    // `downcast_ref` on the anyhow error also finds a hint attached as context.
    let explicit = e
        .downcast_ref::<Hinted>()
        .or_else(|| e.chain().find_map(|c| c.downcast_ref::<Hinted>()));
    let message = match explicit {
        Some(h) => h.message.clone(),
        None => describe(e),
    };
    eprintln!("error: {}", escaped(&message));
    let hint = explicit.map(|h| h.hint.clone()).or_else(|| hint_for(e));
    if let Some(hint) = hint {
        eprintln!("hint: {}", escaped(&hint));
    }
    if e.downcast_ref::<Usage>().is_some() || e.chain().any(|c| c.downcast_ref::<Usage>().is_some())
    {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}

/// What to run next, for the library's error kinds.
fn hint_for(e: &anyhow::Error) -> Option<String> {
    e.chain().find_map(|cause| {
        if let Some(e) = cause.downcast_ref::<Error>() {
            return service_hint(e);
        }
        if let Some(e) = cause.downcast_ref::<StoreError>() {
            return store_hint(e);
        }
        if let Some(e) = cause.downcast_ref::<OAuthError>() {
            return oauth_hint(e);
        }
        if let Some(e) = cause.downcast_ref::<ApiError>() {
            return api_hint(e);
        }
        None
    })
}

fn service_hint(e: &Error) -> Option<String> {
    Some(match e {
        Error::Store(e) => return store_hint(e),
        Error::OAuth(e) => return oauth_hint(e),
        Error::Api(e) => return api_hint(e),
        Error::Setup(SetupError::CaCertificate(_)) => {
            "give a readable PEM file of the CA certificate with --ca-cert (or GEMNASIUM_CA_CERT)".into()
        }
        Error::Crawl(CrawlError::Workspaces(_)) => {
            "nothing was written; fix the cause and run sync again".into()
        }
        Error::NoProvider(p) => {
            format!("run `configure`, or create it with `auth provider create {p} bitbucket https://bitbucket.org/site/oauth2/authorize https://bitbucket.org/site/oauth2/access_token`")
        }
        Error::NoClient { provider, purpose } => format!(
            "run `configure`, or `auth clients create {provider} {purpose} KEY SECRET {}`",
            purpose.recommended_scopes()
        ),
        Error::NoSource(p) => format!(
            "create it with `repo-syncer sources create {p} \"Bitbucket Cloud\" bitbucket https://api.bitbucket.org`, or run `configure`"
        ),
        Error::NoHomepage(p) => format!(
            "pass --homepage URL, or record it once: `auth provider update {p} --homepage URL` (`configure` records it too)"
        ),
        Error::NoAccount(p) => format!(
            "an account owner runs `auth login {p} sync`, use --as-consumer with a private consumer, or --credential NAME with a stored access or API token (`auth credentials list`)"
        ),
        Error::AmbiguousAccount { .. } => "choose one with --account UUID (see `auth tokens list`)".into(),
        Error::UnknownAccount { .. } => "list the accounts that can sync with `auth tokens list`".into(),
        Error::ScopesNotCovered { review, .. } => format!(
            "tick {} on the Bitbucket consumer and add {} to the scopes, or pass --allow-missing-scopes",
            review.missing_boxes().join(", "),
            review.missing
        ),
        Error::NotListed { source_name, .. } => format!(
            "check the name (workspace/slug), or run `repo-syncer sync {source_name}` first"
        ),
        Error::NotTracked { source_name, .. } => {
            format!("see `repo-syncer repos list {source_name}`")
        }
        Error::NoCredential { provider, .. } => {
            format!("list stored credentials with `auth credentials list {provider}`")
        }
        Error::CredentialExists { provider, name } => format!(
            "choose another name, or replace it: `auth credentials delete {provider} {name}`, then add it again"
        ),
        Error::CredentialExpired { .. } => "create a new token on Bitbucket, then `auth credentials add` it (and delete the old one)".into(),
        Error::CredentialRejected { .. } => "create a new token on Bitbucket, `auth credentials add` it under a new name, then `auth credentials delete` this one".into(),
        Error::CredentialRefused { .. } => "fix the token or its options as said above, then run the same command again".into(),
        Error::WorkspaceNotAllowed { .. } => {
            "sign in with an account that belongs to one of those workspaces, or ask an administrator to add the account to one (`auth provider show PROVIDER` lists them)".into()
        }
        _ => return None,
    })
}

fn store_hint(e: &StoreError) -> Option<String> {
    Some(match e {
        StoreError::MissingProvider { provider } => format!(
            "create it first with `auth provider create {provider} bitbucket AUTHORIZE_URL TOKEN_URL`"
        ),
        StoreError::NotFound {
            entity: Entity::Provider,
            ..
        } => "list providers with `auth provider list`".into(),
        StoreError::NotFound {
            entity: Entity::Client,
            ..
        } => "list clients with `auth clients list`".into(),
        StoreError::NotFound {
            entity: Entity::Source,
            ..
        } => "list sources with `repo-syncer sources list`".into(),
        StoreError::ProviderInUse { provider, .. } => {
            format!("`auth provider delete {provider} --cascade` deletes them all")
        }
        StoreError::Open { .. } | StoreError::InvalidLocation { .. } => {
            "choose another location with --store (or GEMNASIUM_STORE)".into()
        }
        StoreError::Corrupt { .. } => {
            "restore it from a backup, or point --store elsewhere".into()
        }
        _ => return None,
    })
}

fn oauth_hint(e: &OAuthError) -> Option<String> {
    Some(match e {
        OAuthError::NeedsReauth { key, .. } | OAuthError::NoToken(key) => {
            format!("the account owner runs `auth login {} {}`", key.provider, key.purpose)
        }
        OAuthError::NoClient { provider, purpose } => format!(
            "run `configure`, or `auth clients create {provider} {purpose} KEY SECRET {}`",
            purpose.recommended_scopes()
        ),
        OAuthError::InvalidCredentials => {
            "copy the key and secret again, then `auth clients update PROVIDER PURPOSE --key KEY --secret-stdin`".into()
        }
        OAuthError::StateMismatch
        | OAuthError::WrongRedirect { .. }
        | OAuthError::CodeRejected { .. }
        | OAuthError::MissingCode => {
            "start `auth login` again and paste the URL your browser was sent to".into()
        }
        OAuthError::NotPrivateConsumer => {
            "tick \"This is a private consumer\" on Bitbucket, or sync as an account (`auth login PROVIDER sync`)".into()
        }
        OAuthError::Unreachable { .. } | OAuthError::TokenEndpointStatus { .. } => {
            "check the network, or the provider's token URL (`auth provider show PROVIDER`)".into()
        }
        OAuthError::Api(e) => return api_hint(e),
        OAuthError::Store(e) => return store_hint(e),
        _ => return None,
    })
}

fn api_hint(e: &ApiError) -> Option<String> {
    Some(match e {
        ApiError::MissingScopes { .. } => {
            "tick the named permissions on the consumer, record them with `auth clients update PROVIDER PURPOSE --scopes …`, then sign in again".into()
        }
        ApiError::RateLimited { .. } | ApiError::Deadline(_) => {
            "run it again later; syncs resume where they stopped".into()
        }
        ApiError::Unauthorized { .. } => {
            "the account owner signs in again with `auth login PROVIDER PURPOSE`".into()
        }
        ApiError::Setup(_) => "give a readable PEM CA certificate with --ca-cert".into(),
        ApiError::Retired { .. } => {
            "Bitbucket removed an endpoint this version calls: read the announcement, then upgrade (`doctor` lists the deprecations seen)".into()
        }
        _ => return None,
    })
}
