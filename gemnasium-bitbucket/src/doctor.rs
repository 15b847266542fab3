//! Health checks behind `doctor`: each [`Finding`] is pass, warn or fail; a finding that is not
//! a pass names its [`Problem`], which says in neutral words how to fix it (a command-line
//! front end maps problems to its own commands).
//!
//! Everything here is read-only: no check writes to the store or spends a refresh token.
//! (Remembering when deprecations were last reported is the handle's job.)

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::model::{
    CallbackUrl, CredentialName, Expiry, Provider, ProviderKind, ProviderName, Purpose, ScopeNote,
    ScopeSet, ServiceUrl, StoredCredential, TokenKey, TokenState,
};
use crate::oauth::{Check, Verification};
use crate::store::{DeprecationNotice, Store, StoreError, StoredToken};

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// All good.
    Pass,
    /// Works, but something is likely to bite later.
    Warn,
    /// Broken: a feature cannot work until it is fixed.
    Fail,
}

impl Status {
    /// `pass`, `warn` or `fail`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// What a finding is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Subject {
    /// The store itself.
    Store {
        /// Where it is (no password).
        location: String,
    },
    /// The list of providers.
    Providers,
    /// One provider's settings.
    Provider {
        /// Its name.
        provider: ProviderName,
    },
    /// A client's recorded settings.
    Client {
        /// Its provider.
        provider: ProviderName,
        /// Its purpose.
        purpose: Purpose,
    },
    /// A client's consumer, as Bitbucket sees it.
    Consumer {
        /// Its provider.
        provider: ProviderName,
        /// Its purpose.
        purpose: Purpose,
    },
    /// A provider's source.
    Source {
        /// Its provider.
        provider: ProviderName,
    },
    /// Deprecations Bitbucket announced in its answers.
    Deprecations,
    /// A stored token.
    Token {
        /// Whose.
        key: TokenKey,
        /// The account as shown to people.
        account: String,
    },
    /// A stored access token or API token.
    Credential {
        /// Its provider.
        provider: ProviderName,
        /// Its name.
        name: CredentialName,
    },
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Store { location } => write!(f, "store {location}"),
            Subject::Providers => f.write_str("providers"),
            Subject::Credential { provider, name } => write!(f, "credential {provider}/{name}"),
            Subject::Provider { provider } => write!(f, "provider {provider}"),
            Subject::Client { provider, purpose } => write!(f, "client {provider}/{purpose}"),
            Subject::Consumer { provider, purpose } => write!(f, "consumer {provider}/{purpose}"),
            Subject::Source { provider } => write!(f, "source {provider}"),
            Subject::Deprecations => f.write_str("deprecations"),
            Subject::Token { key, account } => {
                write!(f, "token {}/{} {account}", key.provider, key.purpose)
            }
        }
    }
}

/// What is wrong, typed, so that front ends can say how to fix it in their own terms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Problem {
    /// The store cannot be opened or read.
    StoreUnavailable,
    /// Others can read the store's files.
    StorePermissions,
    /// The store keeps consumer secrets and tokens in plain text (no secret key).
    PlainTextSecrets,
    /// No provider is configured.
    NoProvider,
    /// A provider's URL differs from Bitbucket Cloud's.
    UnusualUrl {
        /// The provider.
        provider: ProviderName,
        /// Which URL (`authorize URL`, `token URL`, `API URL`).
        field: &'static str,
        /// What Bitbucket Cloud uses.
        expected: ServiceUrl,
    },
    /// A provider's API URL is on the web site's host, which Bitbucket refuses for token calls.
    ApiUrlOnWebsite {
        /// The provider or source.
        provider: ProviderName,
    },
    /// The authorize and token URLs are on different hosts.
    HostsDiffer {
        /// The provider.
        provider: ProviderName,
    },
    /// Gemnasium's homepage is not recorded: the callback URL is unknown.
    NoHomepage {
        /// The provider.
        provider: ProviderName,
    },
    /// A purpose has no client.
    MissingClient {
        /// The provider.
        provider: ProviderName,
        /// The purpose.
        purpose: Purpose,
    },
    /// A client's scopes do not cover its purpose.
    ScopesMissing {
        /// The provider.
        provider: ProviderName,
        /// The purpose.
        purpose: Purpose,
        /// The scopes recorded.
        scopes: ScopeSet,
        /// The scopes missing.
        missing: ScopeSet,
    },
    /// A scope-policy warning.
    ScopeNote {
        /// The provider.
        provider: ProviderName,
        /// The purpose.
        purpose: Purpose,
        /// Which warning.
        #[serde(skip)]
        note: ScopeNote,
    },
    /// A sync client without a source.
    NoSource {
        /// The provider.
        provider: ProviderName,
        /// The API URL the source should use.
        api_url: ServiceUrl,
    },
    /// The source's kind is not the provider's.
    SourceKind {
        /// The provider.
        provider: ProviderName,
        /// The provider's kind.
        kind: ProviderKind,
    },
    /// The source lists from another API than the provider signs in with.
    SourceApiUrl {
        /// The provider.
        provider: ProviderName,
        /// The provider's API URL.
        api_url: ServiceUrl,
    },
    /// Bitbucket refuses the consumer's key and secret.
    ConsumerRefused {
        /// The provider.
        provider: ProviderName,
        /// The purpose.
        purpose: Purpose,
    },
    /// The consumer has no callback URL.
    ConsumerNoCallback {
        /// The callback URL to set, when the homepage is known.
        callback: Option<CallbackUrl>,
    },
    /// The consumer does not grant scopes its purpose needs.
    ConsumerScopes {
        /// What is missing.
        missing: ScopeSet,
    },
    /// Bitbucket's answer could not be read: nothing is known.
    ConsumerUnknown,
    /// Bitbucket could not be reached.
    Unreachable,
    /// Verification was skipped on request.
    NotVerified,
    /// A token's account must authorize again.
    TokenNeedsReauth {
        /// Whose.
        key: TokenKey,
    },
    /// An access token expired and there is no refresh token.
    TokenExpired {
        /// Whose.
        key: TokenKey,
    },
    /// Anyone with a Bitbucket account can sign in: no workspace limits it.
    SignInUnrestricted {
        /// The provider.
        provider: ProviderName,
    },
    /// Bitbucket answered `410` naming a deprecation: an endpoint this version calls is gone.
    Deprecated {
        /// The reference, such as `CHANGE-2770`.
        change: String,
        /// The announcement URL, when given.
        announcement: Option<String>,
    },
    /// A stored access or API token has expired, or expires within the warning period.
    CredentialExpiry {
        /// Its provider.
        provider: ProviderName,
        /// Its name.
        name: CredentialName,
        /// When, if known.
        expires_at: Option<DateTime<Utc>>,
    },
    /// Bitbucket no longer accepts a stored access or API token (revoked, expired, or its
    /// scopes changed).
    CredentialRejected {
        /// Its provider.
        provider: ProviderName,
        /// Its name.
        name: CredentialName,
    },
    /// A refresh token is idle long enough to risk Bitbucket's ~3-month expiry.
    TokenIdle {
        /// Whose.
        key: TokenKey,
        /// Days since last use.
        days: i64,
    },
}

impl Problem {
    /// How to fix it, in neutral words.
    #[must_use]
    pub fn advice(&self) -> String {
        match self {
            Problem::StoreUnavailable => "check the store location and its permissions, or restore it from a backup".into(),
            Problem::StorePermissions => "make the store's files readable by their owner only (chmod 600); opening the store for writing does it when it can".into(),
            Problem::PlainTextSecrets => "encrypt them: create a key (`store keygen`), set GEMNASIUM_SECRET_KEY to it wherever the store is used, then run `store encrypt`".into(),
            Problem::NoProvider => "record the Bitbucket Cloud set-up (provider, clients, source)".into(),
            Problem::UnusualUrl { field, expected, .. } => format!("unless this is deliberate, set the {field} to {expected}"),
            Problem::ApiUrlOnWebsite { .. } => "set the API URL to https://api.bitbucket.org".into(),
            Problem::HostsDiffer { .. } => "check both URLs; Bitbucket serves both from https://bitbucket.org".into(),
            Problem::NoHomepage { .. } => "record Gemnasium's homepage with the provider, so the callback URL is known".into(),
            Problem::MissingClient { purpose, .. } => format!("record a {purpose} client with scopes {}", purpose.recommended_scopes()),
            Problem::ScopesMissing { missing, scopes, .. } => {
                let boxes: Vec<_> = missing.iter().map(crate::model::Scope::checkbox).collect();
                let all: ScopeSet = scopes.iter().chain(missing.iter()).collect();
                format!("tick {} on the consumer, then set the client's scopes to {all}", boxes.join(", "))
            }
            Problem::ScopeNote { note, .. } => note.to_string(),
            Problem::NoSource { api_url, .. } => format!("record a source \"Bitbucket Cloud\" listing from {api_url}"),
            Problem::SourceKind { kind, .. } => format!("record the source again with kind {kind}"),
            Problem::SourceApiUrl { api_url, .. } => format!("make the source's API URL {api_url}, like the provider's"),
            Problem::ConsumerRefused { .. } => "copy the key and secret again from the consumer's page on Bitbucket and update the client".into(),
            Problem::ConsumerNoCallback { callback } => match callback {
                Some(cb) => format!("edit the consumer on Bitbucket: Callback URL {cb}"),
                None => "edit the consumer on Bitbucket: Callback URL {homepage}/auth/auth/bitbucket.org".into(),
            },
            Problem::ConsumerScopes { .. } => "tick those boxes on the consumer".into(),
            Problem::ConsumerUnknown => "check the provider's token URL, then verify again".into(),
            Problem::Unreachable => "check the network, or the provider's token URL".into(),
            Problem::NotVerified => "run the check online to verify the consumer on Bitbucket".into(),
            Problem::TokenNeedsReauth { .. } | Problem::TokenExpired { .. } => "the account owner signs in again".into(),
            Problem::CredentialExpiry { name, expires_at: None, .. } => format!("record when `{name}` expires (Bitbucket shows it when the token is created): store it again with its expiry date, so that its end is seen coming"),
            Problem::CredentialExpiry { name, .. } | Problem::CredentialRejected { name, .. } => format!("create a new token on Bitbucket, store it under a new name, sync with it, then delete `{name}` and revoke its token on Bitbucket"),
            Problem::TokenIdle { .. } => "refresh idle tokens daily (a refresh keeps them alive)".into(),
            Problem::SignInUnrestricted { .. } => "unless anyone with a Bitbucket account may sign in, limit sign-in to your workspaces".into(),
            Problem::Deprecated { announcement, .. } => match announcement {
                Some(url) => format!("read {url}, then upgrade to a version that no longer calls the removed endpoint (or report it)"),
                None => "upgrade to a version that no longer calls the removed endpoint (or report it)".into(),
            },
        }
    }
}

/// One check's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Finding {
    /// What was checked.
    pub subject: Subject,
    /// The verdict.
    pub status: Status,
    /// What was found.
    pub message: String,
    /// What is wrong, when it is not a pass.
    pub problem: Option<Problem>,
}

impl Finding {
    /// A passing finding.
    #[must_use]
    pub fn pass(subject: Subject, message: impl Into<String>) -> Self {
        Self {
            subject,
            status: Status::Pass,
            message: message.into(),
            problem: None,
        }
    }

    /// A warning about `problem`.
    #[must_use]
    pub fn warn(subject: Subject, message: impl Into<String>, problem: Problem) -> Self {
        Self {
            subject,
            status: Status::Warn,
            message: message.into(),
            problem: Some(problem),
        }
    }

    /// A failure because of `problem`.
    #[must_use]
    pub fn fail(subject: Subject, message: impl Into<String>, problem: Problem) -> Self {
        Self {
            subject,
            status: Status::Fail,
            message: message.into(),
            problem: Some(problem),
        }
    }
}

/// Checks that providers, clients and sources are consistent with each other and with
/// Bitbucket's requirements.
///
/// # Errors
/// Only when the store cannot be read.
pub async fn check_configuration(store: &dyn Store) -> Result<Vec<Finding>, StoreError> {
    let mut findings = vec![Finding::pass(
        Subject::Store {
            location: store.location(),
        },
        format!("{} store opens and its schema is current", store.backend()),
    )];
    for warning in store.warnings() {
        findings.push(Finding::warn(
            Subject::Store {
                location: store.location(),
            },
            warning,
            Problem::StorePermissions,
        ));
    }
    let secrets = store.secrets_at_rest().await?;
    if secrets.persisted && secrets.plain > 0 {
        findings.push(Finding::warn(
            Subject::Store {
                location: store.location(),
            },
            format!(
                "{} secret(s) (consumer secrets, tokens, webhook secrets) are stored in plain text: a copy or backup of the store leaks them",
                secrets.plain
            ),
            Problem::PlainTextSecrets,
        ));
    }
    let providers = store.providers().await?;
    if providers.is_empty() {
        findings.push(Finding::fail(
            Subject::Providers,
            "no provider is configured",
            Problem::NoProvider,
        ));
    }
    for provider in &providers {
        findings.extend(check_provider(provider));
        let clients = store.clients(Some(&provider.name)).await?;
        let source = store.source(&provider.name).await?;
        let has = |purpose| clients.iter().any(|c| c.purpose == purpose);
        for purpose in Purpose::ALL {
            if has(purpose) {
                continue;
            }
            let why = match purpose {
                Purpose::Login => "users cannot sign in with Bitbucket",
                Purpose::Sync if source.is_some() => "the source cannot list repositories",
                Purpose::Sync => "repositories cannot be imported",
            };
            let subject = Subject::Client {
                provider: provider.name.clone(),
                purpose,
            };
            let message = format!("no {purpose} client: {why}");
            let problem = Problem::MissingClient {
                provider: provider.name.clone(),
                purpose,
            };
            findings.push(if purpose == Purpose::Sync && source.is_some() {
                Finding::fail(subject, message, problem)
            } else {
                Finding::warn(subject, message, problem)
            });
        }
        for client in &clients {
            findings.extend(check_client_scopes(
                &client.provider,
                client.purpose,
                &client.scopes,
            ));
        }
        let subject = Subject::Source {
            provider: provider.name.clone(),
        };
        match &source {
            None if has(Purpose::Sync) => findings.push(Finding::warn(
                subject,
                "a sync client exists but no source: repo-syncer offers no Bitbucket repositories",
                Problem::NoSource {
                    provider: provider.name.clone(),
                    api_url: provider.api_url.clone(),
                },
            )),
            None => {}
            Some(source) if source.kind != provider.kind => findings.push(Finding::fail(
                subject,
                format!("source kind {} differs from provider kind {}", source.kind, provider.kind),
                Problem::SourceKind {
                    provider: provider.name.clone(),
                    kind: provider.kind,
                },
            )),
            Some(source) if source.api_url.check_api_host().is_err() => findings.push(Finding::fail(
                subject,
                format!("source API URL {} is Bitbucket's web site, which refuses token-authenticated calls since 2026", source.api_url),
                Problem::ApiUrlOnWebsite {
                    provider: provider.name.clone(),
                },
            )),
            Some(source) if source.api_url != provider.api_url => findings.push(Finding::warn(
                subject,
                format!(
                    "source API URL {} differs from the provider's {}; sign-in and sync talk to different APIs",
                    source.api_url, provider.api_url
                ),
                Problem::SourceApiUrl {
                    provider: provider.name.clone(),
                    api_url: provider.api_url.clone(),
                },
            )),
            Some(source) => findings.push(Finding::pass(
                subject,
                format!("\"{}\" lists repositories from {}", source.display_name, source.api_url),
            )),
        }
    }
    Ok(findings)
}

fn check_provider(provider: &Provider) -> Vec<Finding> {
    let subject = || Subject::Provider {
        provider: provider.name.clone(),
    };
    let mut findings = Vec::new();
    if provider.authorize_url.origin() != provider.token_url.origin() {
        findings.push(Finding::warn(
            subject(),
            format!(
                "authorize URL ({}) and token URL ({}) are on different hosts",
                provider.authorize_url, provider.token_url
            ),
            Problem::HostsDiffer {
                provider: provider.name.clone(),
            },
        ));
    }
    if provider.api_url.check_api_host().is_err() {
        findings.push(Finding::fail(
            subject(),
            format!(
                "API URL {} is Bitbucket's web site, which refuses token-authenticated calls since 2026",
                provider.api_url
            ),
            Problem::ApiUrlOnWebsite {
                provider: provider.name.clone(),
            },
        ));
    }
    let test_server = provider.authorize_url.is_loopback() || provider.api_url.is_loopback();
    if provider.kind == ProviderKind::Bitbucket && !test_server {
        let cloud = Provider::bitbucket_cloud();
        for (field, have, want) in [
            (
                "authorize URL",
                &provider.authorize_url,
                &cloud.authorize_url,
            ),
            ("token URL", &provider.token_url, &cloud.token_url),
            ("API URL", &provider.api_url, &cloud.api_url),
        ] {
            if have != want {
                findings.push(Finding::warn(
                    subject(),
                    format!("{field} is {have}; Bitbucket Cloud's is {want}"),
                    Problem::UnusualUrl {
                        provider: provider.name.clone(),
                        field,
                        expected: want.clone(),
                    },
                ));
            }
        }
    }
    match provider.callback_url() {
        Some(callback) => findings.push(Finding::pass(
            subject(),
            format!("callback URL to register on the consumer: {callback}"),
        )),
        None => findings.push(Finding::warn(
            subject(),
            "Gemnasium's homepage is not recorded, so the callback URL to register is unknown and sign-in needs it given each time",
            Problem::NoHomepage {
                provider: provider.name.clone(),
            },
        )),
    }
    if findings.iter().all(|f| f.status == Status::Pass) {
        findings.push(Finding::pass(
            subject(),
            format!(
                "authorize, token and API URLs are well formed ({})",
                provider.api_url
            ),
        ));
    }
    if provider.allowed_workspaces.is_empty() {
        findings.push(Finding::warn(
            subject(),
            "anyone with a Bitbucket account can sign in: no allowed workspaces are set",
            Problem::SignInUnrestricted {
                provider: provider.name.clone(),
            },
        ));
    } else {
        findings.push(Finding::pass(
            subject(),
            format!(
                "sign-in is limited to members of {}",
                provider.allowed_workspaces
            ),
        ));
    }
    findings
}

/// What the scope policy says of a client: missing required scopes fail; notes warn.
#[must_use]
pub fn check_client_scopes(
    provider: &ProviderName,
    purpose: Purpose,
    scopes: &ScopeSet,
) -> Vec<Finding> {
    let subject = || Subject::Client {
        provider: provider.clone(),
        purpose,
    };
    let review = purpose.review(scopes);
    if !review.covers_purpose() {
        return vec![Finding::fail(
            subject(),
            format!(
                "scopes {scopes} do not cover {purpose}: missing {}",
                review.missing
            ),
            Problem::ScopesMissing {
                provider: provider.clone(),
                purpose,
                scopes: scopes.clone(),
                missing: review.missing.clone(),
            },
        )];
    }
    if review.notes.is_empty() {
        return vec![Finding::pass(
            subject(),
            format!("scopes {scopes} cover {purpose}"),
        )];
    }
    review
        .notes
        .into_iter()
        .map(|note| {
            Finding::warn(
                subject(),
                note.to_string(),
                Problem::ScopeNote {
                    provider: provider.clone(),
                    purpose,
                    note,
                },
            )
        })
        .collect()
}

/// The finding of a consumer verification. Only a clear acceptance passes; an answer that
/// cannot be read is a failure, with the reason.
#[must_use]
pub fn consumer_finding(provider: &Provider, purpose: Purpose, v: &Verification) -> Finding {
    let subject = Subject::Consumer {
        provider: provider.name.clone(),
        purpose,
    };
    if let Some(reason) = &v.unreachable {
        return Finding::fail(
            subject,
            format!("cannot reach Bitbucket to verify the consumer: {reason}"),
            Problem::Unreachable,
        );
    }
    if v.credentials == Check::No {
        return Finding::fail(
            subject,
            "Bitbucket refuses the key and secret",
            Problem::ConsumerRefused {
                provider: provider.name.clone(),
                purpose,
            },
        );
    }
    if v.callback == Check::No {
        return Finding::fail(
            subject,
            "the consumer has no callback URL: Bitbucket refuses every sign-in",
            Problem::ConsumerNoCallback {
                callback: provider.callback_url(),
            },
        );
    }
    if let Some(missing) = v.missing.as_ref().filter(|m| !m.is_empty()) {
        return Finding::fail(
            subject,
            format!("the consumer does not grant {missing}"),
            Problem::ConsumerScopes {
                missing: missing.clone(),
            },
        );
    }
    for (part, check) in [
        ("key and secret", &v.credentials),
        ("callback URL", &v.callback),
        ("private flag", &v.private),
    ] {
        if let Check::Unknown(reason) = check {
            return Finding::fail(
                subject,
                format!("{part}: unknown ({reason})"),
                Problem::ConsumerUnknown,
            );
        }
    }
    let unknown_scopes: Vec<&str> = v.granted.iter().flat_map(ScopeSet::unknown).collect();
    if !unknown_scopes.is_empty() {
        return Finding::pass(
            subject,
            format!(
                "key and secret accepted by Bitbucket; it also grants scopes this version does not know: {}",
                unknown_scopes.join(" ")
            ),
        );
    }
    Finding::pass(subject, "key and secret accepted by Bitbucket")
}

/// Findings about stored user tokens at `now`: re-authorization needed, expiring access tokens
/// without a refresh token, and refresh tokens idle long enough to risk Bitbucket's ~3-month
/// expiry.
#[must_use]
pub fn check_tokens(tokens: &[StoredToken], now: DateTime<Utc>) -> Vec<Finding> {
    tokens
        .iter()
        .map(|t| {
            let subject = Subject::Token {
                key: t.key.clone(),
                account: t
                    .account
                    .nickname
                    .clone()
                    .unwrap_or_else(|| t.key.account.to_string()),
            };
            let key = t.key.clone();
            if t.state == TokenState::NeedsReauth {
                return Finding::fail(
                    subject,
                    format!(
                        "needs re-authorization: {}",
                        t.last_error.as_deref().unwrap_or("the refresh token was refused")
                    ),
                    Problem::TokenNeedsReauth { key },
                );
            }
            if t.tokens.refresh_token.is_none() && t.tokens.expires_within(now, Duration::zero()) {
                return Finding::warn(
                    subject,
                    "access token expired and there is no refresh token",
                    Problem::TokenExpired { key },
                );
            }
            let last_use = t.refreshed_at.unwrap_or(t.created_at);
            let days = (now - last_use).num_days();
            match t.tokens.refresh_token.as_ref().and(t.expires_at()) {
                Some(dies) if dies <= now => Finding::fail(
                    subject,
                    format!(
                        "refresh token unused for {days} days: Bitbucket has most likely expired it (about 3 months idle)"
                    ),
                    Problem::TokenNeedsReauth { key },
                ),
                Some(dies) if dies - now <= crate::store::EXPIRY_WARNING => Finding::warn(
                    subject,
                    format!(
                        "refresh token unused for {days} days; it expires around {} unless refreshed",
                        dies.format("%Y-%m-%d")
                    ),
                    Problem::TokenIdle { key, days },
                ),
                _ => Finding::pass(subject, format!("{} (scopes {})", t.state, t.tokens.scopes)),
            }
        })
        .collect()
}

/// Findings about stored access and API tokens at `now`: expired (fail), expiring within
/// [`EXPIRY_WARNING`](crate::store::EXPIRY_WARNING) (warn), or of unknown expiry (warn: Bitbucket
/// does not report it, and both kinds do expire).
#[must_use]
pub fn check_credentials(credentials: &[StoredCredential], now: DateTime<Utc>) -> Vec<Finding> {
    credentials
        .iter()
        .map(|c| {
            let subject = Subject::Credential {
                provider: c.provider.clone(),
                name: c.name.clone(),
            };
            let problem = Problem::CredentialExpiry {
                provider: c.provider.clone(),
                name: c.name.clone(),
                expires_at: c.expires_at,
            };
            let kind = c.kind.as_str().replace('_', " ");
            match (
                Expiry::of(c.expires_at, now, crate::store::EXPIRY_WARNING),
                c.expires_at,
            ) {
                (Expiry::Expired, Some(at)) => Finding::fail(
                    subject,
                    format!("{kind} expired on {}", at.format("%Y-%m-%d %H:%M UTC")),
                    problem,
                ),
                (Expiry::Soon, Some(at)) => Finding::warn(
                    subject,
                    format!(
                        "{kind} expires in {} day(s), on {}",
                        (at - now).num_days(),
                        at.format("%Y-%m-%d %H:%M UTC")
                    ),
                    problem,
                ),
                (Expiry::Unknown, _) => Finding::warn(
                    subject,
                    format!("{kind} of {}: its expiry was not recorded", c.identity),
                    problem,
                ),
                _ => Finding::pass(
                    subject,
                    format!(
                        "{kind} of {} (scopes {}), expires {}",
                        c.identity,
                        c.scopes,
                        c.expires_at
                            .map(|at| at.format("%Y-%m-%d").to_string())
                            .unwrap_or_default()
                    ),
                ),
            }
        })
        .collect()
}

/// Findings about deprecations Bitbucket announced (a `410` naming a `CHANGE-NNNN`) after
/// `since` (the last report; `None`: ever): one failure per deprecation, or one pass.
#[must_use]
pub fn check_deprecations(
    notices: &[DeprecationNotice],
    since: Option<DateTime<Utc>>,
) -> Vec<Finding> {
    let fresh: Vec<&DeprecationNotice> = notices
        .iter()
        .filter(|n| since.is_none_or(|s| n.last_seen > s))
        .collect();
    if fresh.is_empty() {
        let message = match since {
            Some(s) => format!(
                "no removed endpoint answered since the last report ({})",
                s.format("%Y-%m-%d %H:%M UTC")
            ),
            None => "no removed endpoint answered so far".to_owned(),
        };
        return vec![Finding::pass(Subject::Deprecations, message)];
    }
    fresh
        .into_iter()
        .map(|n| {
            Finding::fail(
                Subject::Deprecations,
                format!(
                    "Bitbucket answered 410 {} ({} time(s), last {}){}: an endpoint this version calls was removed",
                    n.change,
                    n.count,
                    n.last_seen.format("%Y-%m-%d %H:%M UTC"),
                    n.announcement
                        .as_ref()
                        .map(|a| format!("; see {a}"))
                        .unwrap_or_default()
                ),
                Problem::Deprecated {
                    change: n.change.clone(),
                    announcement: n.announcement.clone(),
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod expiry_tests {
    use chrono::{Duration, TimeZone, Utc};

    use super::{check_tokens, Status};
    use crate::model::{
        AccessToken, AccountInfo, Purpose, RefreshToken, TokenKey, TokenSet, TokenState,
    };
    use crate::store::StoredToken;

    fn token(last_use_days_ago: i64, refresh: bool, now: chrono::DateTime<Utc>) -> StoredToken {
        let account = AccountInfo {
            uuid: "{d1f4c2a0-0000-4000-8000-000000000001}".parse().unwrap(),
            account_id: None,
            nickname: Some("jdoe".into()),
            display_name: None,
        };
        StoredToken {
            key: TokenKey {
                provider: "bitbucket.org".parse().unwrap(),
                purpose: Purpose::Sync,
                account: account.uuid.clone(),
            },
            account,
            tokens: TokenSet {
                access_token: AccessToken::new("a").unwrap(),
                refresh_token: refresh.then(|| RefreshToken::new("r").unwrap()),
                expires_at: Some(now + Duration::hours(1)),
                scopes: "repository".parse().unwrap(),
            },
            state: TokenState::Active,
            version: 1,
            created_at: now - Duration::days(200),
            refreshed_at: Some(now - Duration::days(last_use_days_ago)),
            last_error: None,
            lease_until: None,
        }
    }

    #[test]
    fn a_refresh_token_warns_14_days_before_its_idle_expiry_and_fails_after() {
        let now = Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap();
        let status = |days, refresh| check_tokens(&[token(days, refresh, now)], now)[0].status;
        assert_eq!(status(1, true), Status::Pass);
        assert_eq!(status(75, true), Status::Pass);
        assert_eq!(status(77, true), Status::Warn);
        assert_eq!(status(89, true), Status::Warn);
        assert_eq!(status(90, true), Status::Fail);
        assert_eq!(status(120, true), Status::Fail);
        // Without a refresh token nothing idles out.
        assert_eq!(status(120, false), Status::Pass);
        let t = token(10, true, now);
        assert_eq!(t.expires_at(), Some(now + Duration::days(80)));
    }
}
