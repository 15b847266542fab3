//! Health checks behind `doctor`: each finding is pass, warn or fail, and says how to fix it.
//!
//! Everything here is read-only: no check writes to the store or spends a refresh token.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::model::{Provider, ProviderKind, Purpose, Scope, ScopeSet, TokenState};
use crate::store::{Store, StoreError, StoredToken};

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

/// One check's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What was checked, such as `client bitbucket.org/sync`.
    pub subject: String,
    /// The verdict.
    pub status: Status,
    /// What was found.
    pub message: String,
    /// How to fix it, when it is not a pass.
    pub fix: Option<String>,
}

impl Finding {
    /// A passing finding.
    #[must_use]
    pub fn pass(subject: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            status: Status::Pass,
            message: message.into(),
            fix: None,
        }
    }

    /// A warning with its fix.
    #[must_use]
    pub fn warn(
        subject: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            subject: subject.into(),
            status: Status::Warn,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }

    /// A failure with its fix.
    #[must_use]
    pub fn fail(
        subject: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            subject: subject.into(),
            status: Status::Fail,
            message: message.into(),
            fix: Some(fix.into()),
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
        format!("store {}", store.location()),
        format!("{} store opens and its schema is current", store.backend()),
    )];
    let providers = store.providers().await?;
    if providers.is_empty() {
        findings.push(Finding::fail(
            "providers",
            "no provider is configured",
            "run `configure`, or `auth provider create bitbucket.org bitbucket https://bitbucket.org/site/oauth2/authorize https://bitbucket.org/site/oauth2/access_token`",
        ));
    }
    for provider in &providers {
        findings.extend(check_provider_urls(provider));
        let clients = store.clients(Some(&provider.name)).await?;
        let source = store.source(&provider.name).await?;
        let has = |purpose| clients.iter().any(|c| c.purpose == purpose);
        for purpose in Purpose::ALL {
            if !has(purpose) {
                let why = match purpose {
                    Purpose::Login => "users cannot sign in with Bitbucket",
                    Purpose::Sync if source.is_some() => "the source cannot list repositories",
                    Purpose::Sync => "repositories cannot be imported",
                };
                let status_fail = purpose == Purpose::Sync && source.is_some();
                let subject = format!("client {}/{purpose}", provider.name);
                let message = format!("no {purpose} client: {why}");
                let fix = format!(
                    "run `auth clients create {} {purpose} KEY SECRET {}`",
                    provider.name,
                    purpose.recommended_scopes()
                );
                findings.push(if status_fail {
                    Finding::fail(subject, message, fix)
                } else {
                    Finding::warn(subject, message, fix)
                });
            }
        }
        for client in &clients {
            findings.push(check_client_scopes(
                &format!("client {}/{}", client.provider, client.purpose),
                client.purpose,
                &client.scopes,
            ));
        }
        match &source {
            None if has(Purpose::Sync) => findings.push(Finding::warn(
                format!("source {}", provider.name),
                "a sync client exists but no source: repo-syncer offers no Bitbucket repositories",
                format!(
                    "run `repo-syncer sources create {} \"Bitbucket Cloud\" bitbucket {}`",
                    provider.name, provider.api_url
                ),
            )),
            None => {}
            Some(source) if source.kind != provider.kind => findings.push(Finding::fail(
                format!("source {}", provider.name),
                format!("source kind {} differs from provider kind {}", source.kind, provider.kind),
                format!("delete and re-create the source with kind {}", provider.kind),
            )),
            Some(source) if source.api_url != provider.api_url => findings.push(Finding::warn(
                format!("source {}", provider.name),
                format!(
                    "source API URL {} differs from the provider's {}; sign-in and sync talk to different APIs",
                    source.api_url, provider.api_url
                ),
                format!(
                    "make them equal, e.g. `repo-syncer sources update {} --api-url {}`",
                    provider.name, provider.api_url
                ),
            )),
            Some(source) => findings.push(Finding::pass(
                format!("source {}", provider.name),
                format!("\"{}\" lists repositories from {}", source.display_name, source.api_url),
            )),
        }
    }
    Ok(findings)
}

fn check_provider_urls(provider: &Provider) -> Vec<Finding> {
    let subject = format!("provider {}", provider.name);
    let mut findings = Vec::new();
    if provider.authorize_url.origin() != provider.token_url.origin() {
        findings.push(Finding::warn(
            &subject,
            format!(
                "authorize URL ({}) and token URL ({}) are on different hosts",
                provider.authorize_url, provider.token_url
            ),
            "check both URLs; Bitbucket serves both from https://bitbucket.org",
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
                    &subject,
                    format!("{field} is {have}; Bitbucket Cloud's is {want}"),
                    format!(
                        "unless this is deliberate, `auth provider update {} --{} {want}`",
                        provider.name,
                        field.to_lowercase().replace(' ', "-")
                    ),
                ));
            }
        }
    }
    if findings.is_empty() {
        findings.push(Finding::pass(
            subject,
            format!(
                "authorize, token and API URLs are well formed ({})",
                provider.api_url
            ),
        ));
    }
    findings
}

/// Whether `scopes` serve `purpose`: missing required scopes fail; useful extras warn.
#[must_use]
pub fn check_client_scopes(subject: &str, purpose: Purpose, scopes: &ScopeSet) -> Finding {
    let missing = scopes.missing(&purpose.required_scopes());
    if !missing.is_empty() {
        let boxes: Vec<_> = missing.iter().map(Scope::checkbox).collect();
        return Finding::fail(
            subject,
            format!("scopes {scopes} do not cover {purpose}: missing {missing}"),
            format!(
                "tick {} on the consumer, then `auth clients update {} --scopes {}`",
                boxes.join(", "),
                subject.trim_start_matches("client ").replace('/', " "),
                scopes.iter().chain(missing.iter()).collect::<ScopeSet>()
            ),
        );
    }
    match purpose {
        Purpose::Login if !scopes.contains(Scope::Email) => Finding::warn(
            subject,
            "no `email` scope: new users cannot sign up (Bitbucket's /user has no address)",
            "tick Account: Email on the consumer and add `email` to the client's scopes",
        ),
        Purpose::Sync if !scopes.closure(Default::default()).contains(Scope::Account) => {
            Finding::warn(
                subject,
                "no `account` scope: listing workspaces (/2.0/user/workspaces) may be refused with 403",
                "tick Account: Read on the consumer and add `account` to the sync client's scopes if sync reports missing scopes",
            )
        }
        _ => Finding::pass(subject, format!("scopes {scopes} cover {purpose}")),
    }
}

/// Findings about stored user tokens at `now`: re-authorization needed, expiring access tokens
/// without a refresh token, and refresh tokens idle long enough to risk Bitbucket's ~3-month expiry.
#[must_use]
pub fn check_tokens(tokens: &[StoredToken], now: DateTime<Utc>) -> Vec<Finding> {
    let idle_limit = Duration::days(60);
    tokens
        .iter()
        .map(|t| {
            let subject = format!(
                "token {}/{} {}",
                t.key.provider,
                t.key.purpose,
                t.account.nickname.as_deref().unwrap_or(t.key.account.as_str())
            );
            let login = format!("`auth login {} {}`", t.key.provider, t.key.purpose);
            if t.state == TokenState::NeedsReauth {
                return Finding::fail(
                    subject,
                    format!(
                        "needs re-authorization: {}",
                        t.last_error.as_deref().unwrap_or("the refresh token was refused")
                    ),
                    format!("the account owner runs {login} again"),
                );
            }
            let last_use = t.refreshed_at.unwrap_or(t.created_at);
            if t.tokens.refresh_token.is_none() && t.tokens.expires_within(now, Duration::zero()) {
                return Finding::warn(
                    subject,
                    "access token expired and there is no refresh token",
                    format!("run {login} again"),
                );
            }
            if t.tokens.refresh_token.is_some() && now - last_use > idle_limit {
                return Finding::warn(
                    subject,
                    format!(
                        "refresh token unused for {} days; Bitbucket expires unused refresh tokens after about 3 months",
                        (now - last_use).num_days()
                    ),
                    "run `auth tokens refresh --older-than 30d` (daily from cron)",
                );
            }
            Finding::pass(subject, format!("{} (scopes {})", t.state, t.tokens.scopes))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        AccessToken, AccountInfo, Client, ClientSecret, RefreshToken, Source, TokenKey, TokenSet,
    };
    use crate::store::{ClientStore, MemoryStore, ProviderStore, SourceStore};

    fn statuses(findings: &[Finding]) -> Vec<(Status, &str)> {
        findings
            .iter()
            .map(|f| (f.status, f.subject.as_str()))
            .collect()
    }

    fn client(purpose: Purpose, scopes: &str) -> Client {
        Client {
            provider: "bitbucket.org".parse().unwrap(),
            purpose,
            key: "KEY".parse().unwrap(),
            secret: ClientSecret::new("SECRET").unwrap(),
            scopes: scopes.parse().unwrap(),
        }
    }

    #[tokio::test]
    async fn empty_store_fails() {
        let findings = check_configuration(&MemoryStore::new()).await.unwrap();
        assert!(findings
            .iter()
            .any(|f| f.status == Status::Fail && f.subject == "providers"));
    }

    #[tokio::test]
    async fn documented_setup_is_healthy_apart_from_the_account_hint() {
        let store = MemoryStore::new();
        let p = Provider::bitbucket_cloud();
        let _ = store.create_provider(&p).await.unwrap();
        let _ = store
            .create_client(&client(Purpose::Login, "account,email"))
            .await
            .unwrap();
        let _ = store
            .create_client(&client(Purpose::Sync, "repository,webhook"))
            .await
            .unwrap();
        let source = Source {
            provider: p.name.clone(),
            display_name: "Bitbucket Cloud".parse().unwrap(),
            kind: p.kind,
            api_url: p.api_url.clone(),
        };
        let _ = store.create_source(&source).await.unwrap();
        let findings = check_configuration(&store).await.unwrap();
        let not_pass: Vec<_> = findings
            .iter()
            .filter(|f| f.status != Status::Pass)
            .collect();
        assert_eq!(not_pass.len(), 1, "{findings:#?}");
        assert!(not_pass[0].message.contains("/2.0/user/workspaces"));
    }

    #[tokio::test]
    async fn broken_setups_fail_with_fixes() {
        let store = MemoryStore::new();
        let p = Provider::bitbucket_cloud();
        let _ = store.create_provider(&p).await.unwrap();
        let _ = store
            .create_client(&client(Purpose::Login, "email"))
            .await
            .unwrap();
        let source = Source {
            provider: p.name.clone(),
            display_name: "Bitbucket Cloud".parse().unwrap(),
            kind: p.kind,
            api_url: crate::model::ServiceUrl::parse("API URL", "https://api.example.org").unwrap(),
        };
        let _ = store.create_source(&source).await.unwrap();
        let findings = check_configuration(&store).await.unwrap();
        let s = statuses(&findings);
        assert!(
            s.contains(&(Status::Fail, "client bitbucket.org/sync")),
            "{s:?}"
        );
        assert!(
            s.contains(&(Status::Fail, "client bitbucket.org/login")),
            "{s:?}"
        );
        assert!(s.contains(&(Status::Warn, "source bitbucket.org")), "{s:?}");
        let login = findings
            .iter()
            .find(|f| f.subject == "client bitbucket.org/login")
            .unwrap();
        assert!(
            login.fix.as_deref().unwrap().contains("Account: Read"),
            "{login:?}"
        );
        assert!(
            login
                .fix
                .as_deref()
                .unwrap()
                .contains("--scopes account,email"),
            "{login:?}"
        );
    }

    #[test]
    fn token_findings() {
        let now = Utc::now();
        let token = |state, refresh: bool, age_days: i64, expires_in_min: i64| StoredToken {
            key: TokenKey {
                provider: "bitbucket.org".parse().unwrap(),
                purpose: Purpose::Sync,
                account: "{0000-aa}".parse().unwrap(),
            },
            account: AccountInfo {
                uuid: "{0000-aa}".parse().unwrap(),
                account_id: None,
                nickname: Some("jdoe".into()),
                display_name: None,
            },
            tokens: TokenSet {
                access_token: AccessToken::new("at").unwrap(),
                refresh_token: refresh.then(|| RefreshToken::new("rt").unwrap()),
                expires_at: Some(now + Duration::minutes(expires_in_min)),
                scopes: "repository".parse().unwrap(),
            },
            state,
            version: 1,
            created_at: now - Duration::days(age_days),
            refreshed_at: None,
            last_error: Some("Invalid refresh_token".into()),
            lease_until: None,
        };
        let findings = check_tokens(
            &[
                token(TokenState::NeedsReauth, true, 1, 60),
                token(TokenState::Active, false, 1, -5),
                token(TokenState::Active, true, 75, 60),
                token(TokenState::Active, true, 1, 60),
            ],
            now,
        );
        let got: Vec<_> = findings.iter().map(|f| f.status).collect();
        assert_eq!(
            got,
            [Status::Fail, Status::Warn, Status::Warn, Status::Pass]
        );
        assert!(findings[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("auth login bitbucket.org sync"));
        assert!(findings[2].message.contains("75 days"));
        assert!(!format!("{findings:?}").contains("\"at\""));
    }
}
