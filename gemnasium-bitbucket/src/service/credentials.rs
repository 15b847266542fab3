//! Stored sync credentials through the handle: access tokens and API tokens, each checked
//! against Bitbucket with its own probe before anything is stored (facts §10).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;

use super::{Bitbucket, Error};
use crate::api::repositories::ListRepositories;
use crate::api::{ApiClient, ApiError, Auth, Authorization, StaticAuthorization};
use crate::model::{
    AccountUuid, ApiScope, ApiScopeSet, CredentialKind, CredentialName, CredentialScopes,
    ProviderName, Scope, ScopeSet, SecretText, StoredCredential, WorkspaceSlug,
};
use crate::store::WriteOutcome;

/// A credential to check and store.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum NewCredential {
    /// A workspace, project or repository access token of `workspace`.
    AccessToken {
        /// The workspace it was created in.
        workspace: WorkspaceSlug,
        /// The token.
        token: SecretText,
    },
    /// A personal API token.
    ApiToken {
        /// The Atlassian account's email address.
        email: String,
        /// The token.
        token: SecretText,
        /// The one workspace it is limited to, if it is.
        workspace: Option<WorkspaceSlug>,
    },
}

/// What [`Bitbucket::add_credential`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AddedCredential {
    /// The credential as stored.
    pub credential: StoredCredential,
    /// [`WriteOutcome::Created`], or [`WriteOutcome::Unchanged`] when exactly this credential
    /// (kind, binding, token and expiry) was already stored under this name: re-running a
    /// provisioning script is not an error, and costs no request.
    pub outcome: WriteOutcome,
}

impl Bitbucket {
    /// Checks `new` against `provider`'s source (the API URL it syncs) and stores it as
    /// `name`, expiring at `expires_at` when given. Access tokens are probed with
    /// `GET /2.0/workspaces/{slug}` (never `/2.0/user`, which Bitbucket refuses them), API
    /// tokens with `GET /2.0/user`; then a repository listing and, when the workspace has a
    /// repository, its webhook listing show the scopes a sync needs. Writing webhooks cannot
    /// be checked without changing a repository: a token lacking that scope is reported by the
    /// first sync that installs hooks, with the words Bitbucket names.
    ///
    /// ```no_run
    /// # async fn demo(bitbucket: gemnasium_bitbucket::Bitbucket) -> Result<(), Box<dyn std::error::Error>> {
    /// use gemnasium_bitbucket::model::SecretText;
    /// use gemnasium_bitbucket::service::NewCredential;
    /// let token = SecretText::new(std::env::var("ACME_ACCESS_TOKEN")?)?;
    /// let new = NewCredential::AccessToken { workspace: "acme".parse()?, token };
    /// let added = bitbucket
    ///     .add_credential(&"bitbucket.org".parse()?, "acme-bot".parse()?, new, None)
    ///     .await?;
    /// println!("{} acts as {}", added.credential.name, added.credential.identity);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::NoProvider`], [`Error::NoSource`], [`Error::CredentialExists`] when another
    /// credential has that name, [`Error::CredentialExpired`] for an expiry already past,
    /// [`Error::CredentialRefused`] when Bitbucket refuses the token, its email, its workspace
    /// or its scopes; nothing is stored then.
    pub async fn add_credential(
        &self,
        provider: &ProviderName,
        name: CredentialName,
        new: NewCredential,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<AddedCredential, Error> {
        self.provider(provider).await?;
        let source = self.source(provider).await?;
        if let Some(at) = expires_at.filter(|at| *at <= Utc::now()) {
            return Err(Error::CredentialExpired { name, at });
        }
        let (kind, token) = match new {
            NewCredential::AccessToken { workspace, token } => {
                (CredentialKind::AccessToken { workspace }, token)
            }
            NewCredential::ApiToken {
                email,
                token,
                workspace,
            } => (CredentialKind::ApiToken { email, workspace }, token),
        };
        if let Some(existing) = self.store().credential(provider, &name).await? {
            // Stored times keep whole seconds: compare the expiry at that precision.
            let seconds = |t: Option<DateTime<Utc>>| t.map(|t| t.timestamp());
            if existing.kind == kind
                && existing.secret == token
                && seconds(existing.expires_at) == seconds(expires_at)
            {
                return Ok(AddedCredential {
                    credential: existing,
                    outcome: WriteOutcome::Unchanged,
                });
            }
            return Err(Error::CredentialExists {
                provider: provider.clone(),
                name,
            });
        }
        let api = self.credential_api(&source.api_url, provider, &name, &kind, &token);
        let refused = |reason: String| Error::CredentialRefused {
            name: name.clone(),
            reason,
        };
        let probed = probe(&api, &kind).await.map_err(refused)?;
        let credential = StoredCredential::new(
            provider.clone(),
            name,
            kind,
            token,
            probed.scopes,
            probed.account,
            probed.identity,
            expires_at,
        );
        self.store().add_credential(&credential).await?;
        Ok(AddedCredential {
            credential,
            outcome: WriteOutcome::Created,
        })
    }

    /// Every stored credential (or `provider`'s), by provider then name.
    ///
    /// # Errors
    /// The store's failure.
    pub async fn credentials(
        &self,
        provider: Option<&ProviderName>,
    ) -> Result<Vec<StoredCredential>, Error> {
        Ok(self.store().credentials(provider).await?)
    }

    /// Deletes a stored credential (Bitbucket is not told: revoke the token there too).
    ///
    /// # Errors
    /// [`Error::NoCredential`] when there is none of that name, or the store's failure.
    pub async fn delete_credential(
        &self,
        provider: &ProviderName,
        name: &CredentialName,
    ) -> Result<(), Error> {
        if self.store().delete_credential(provider, name).await? {
            Ok(())
        } else {
            Err(Error::NoCredential {
                provider: provider.clone(),
                name: name.clone(),
            })
        }
    }

    /// Checks the stored credential `name` against Bitbucket again, with the probes
    /// [`add_credential`](Self::add_credential) made (Bitbucket does not say when a token is
    /// revoked or expires: asking is the only way to know). Returns the scopes shown to work.
    ///
    /// # Errors
    /// [`Error::NoCredential`], [`Error::NoSource`], [`Error::CredentialExpired`] when its
    /// recorded expiry has passed (nothing is sent), [`Error::CredentialRejected`] when
    /// Bitbucket refuses it, or the store's failure.
    pub async fn verify_credential(
        &self,
        provider: &ProviderName,
        name: &CredentialName,
    ) -> Result<CredentialScopes, Error> {
        let stored = self.usable_credential(provider, name).await?;
        self.check_credential(&stored).await
    }

    /// [`verify_credential`](Self::verify_credential) of a credential already read, whose
    /// expiry the caller has checked.
    pub(crate) async fn check_credential(
        &self,
        stored: &StoredCredential,
    ) -> Result<CredentialScopes, Error> {
        let source = self.source(&stored.provider).await?;
        let api = self.credential_api(
            &source.api_url,
            &stored.provider,
            &stored.name,
            &stored.kind,
            &stored.secret,
        );
        let rejected = |reason: String| Error::CredentialRejected {
            name: stored.name.clone(),
            reason,
        };
        let probed = probe(&api, &stored.kind).await.map_err(rejected)?;
        if probed.account != stored.account {
            return Err(rejected(format!(
                "it now acts as {} ({}), not as the {} it was stored for",
                probed.identity, probed.account, stored.identity
            )));
        }
        Ok(probed.scopes)
    }

    /// The stored credential `name` of `provider`, usable now.
    pub(crate) async fn usable_credential(
        &self,
        provider: &ProviderName,
        name: &CredentialName,
    ) -> Result<StoredCredential, Error> {
        let stored = self
            .store()
            .credential(provider, name)
            .await?
            .ok_or_else(|| Error::NoCredential {
                provider: provider.clone(),
                name: name.clone(),
            })?;
        match stored.expires_at.filter(|at| *at <= Utc::now()) {
            Some(at) => Err(Error::CredentialExpired {
                name: name.clone(),
                at,
            }),
            None => Ok(stored),
        }
    }

    /// A REST client sending `token` as `kind` requires, on the credential's own budget
    /// (each access or API token has its own allowance, facts §9).
    pub(crate) fn credential_api(
        &self,
        api_url: &crate::model::ServiceUrl,
        provider: &ProviderName,
        name: &CredentialName,
        kind: &CredentialKind,
        token: &SecretText,
    ) -> ApiClient {
        let auth: Arc<dyn Auth> = Arc::new(StaticAuthorization(authorization(kind, token)));
        let key = credential_budget_key(provider, name);
        let ledger = Arc::new(self.ledger(&key, "credential", 1));
        self.api_with_ledger(api_url, &key, auth, Some(ledger))
    }
}

/// The budget key of one stored credential.
fn credential_budget_key(provider: &ProviderName, name: &CredentialName) -> String {
    format!("credential:{provider}/{name}")
}

/// The header `kind` sends `token` in: Bearer for access tokens, Basic `email:token` for API
/// tokens.
pub(crate) fn authorization(kind: &CredentialKind, token: &SecretText) -> Authorization {
    match kind {
        CredentialKind::AccessToken { .. } => Authorization::Bearer(
            crate::model::AccessToken::new(token.expose_secret())
                .unwrap_or_else(|_| unreachable!("a SecretText is a valid AccessToken")),
        ),
        CredentialKind::ApiToken { email, .. } => Authorization::Basic {
            username: email.clone(),
            password: token.clone(),
        },
    }
}

/// What a probe learnt.
struct Probed {
    account: AccountUuid,
    identity: String,
    scopes: CredentialScopes,
}

/// A stable UUID standing for what an access token acts as (its workspace), under which its
/// listings are recorded: Bitbucket gives such a token no user of its own to key them by.
fn workspace_account(workspace: &str) -> AccountUuid {
    AccountUuid::derived(&format!("access-token-workspace:{workspace}"))
}

/// The identity probe and scope checks of `kind`, through `api` (which sends its token).
async fn probe(api: &ApiClient, kind: &CredentialKind) -> Result<Probed, String> {
    match kind {
        CredentialKind::AccessToken { workspace } => probe_access_token(api, workspace).await,
        CredentialKind::ApiToken { email, workspace } => {
            probe_api_token(api, email, workspace.as_ref()).await
        }
    }
}

/// Words for a scope refusal: what Bitbucket required and granted, verbatim.
fn lacks(what: &str, error: &ApiError, fix: &str) -> String {
    match error {
        ApiError::MissingScopes { required, granted } => format!(
            "it lacks a scope needed to {what} (Bitbucket requires {}; the token has {}): {fix}",
            words(required),
            words(granted)
        ),
        other => format!("it cannot {what}: {other}"),
    }
}

fn words(words: &[String]) -> String {
    if words.is_empty() {
        "none named".to_owned()
    } else {
        words.join(", ")
    }
}

/// The first repository of `workspace` (proving the repository scope), if it has one.
async fn first_repository(api: &ApiClient, workspace: &str) -> Result<Option<String>, ApiError> {
    let options = ListRepositories {
        pagelen: 1,
        ..ListRepositories::default()
    };
    let repositories = api.repositories();
    let mut pages = std::pin::pin!(repositories.pages(workspace, &options));
    Ok(pages
        .try_next()
        .await?
        .and_then(|page| page.values.into_iter().next())
        .map(|repo| repo.full_name))
}

async fn probe_access_token(api: &ApiClient, workspace: &WorkspaceSlug) -> Result<Probed, String> {
    let found = match api.workspaces().get(workspace.as_str()).await {
        Ok(found) => found,
        Err(ApiError::Unauthorized { message, .. }) => {
            return Err(format!(
                "Bitbucket refused the access token at /2.0/workspaces/{workspace} ({}): check that it was copied whole and has neither expired nor been revoked",
                quoted(&message)
            ))
        }
        Err(ApiError::NotFound { .. } | ApiError::Forbidden { .. }) => {
            return Err(format!(
                "the access token cannot see workspace `{workspace}`: it belongs to another workspace, project or repository; give --workspace the workspace it was created in"
            ))
        }
        Err(other) => return Err(format!("checking workspace `{workspace}` failed: {other}")),
    };
    let mut scopes = ScopeSet::new();
    let repo = first_repository(api, workspace.as_str())
        .await
        .map_err(|e| {
            lacks(
                "list repositories",
                &e,
                "create an access token with the Repositories: Read permission",
            )
        })?;
    scopes.insert(Scope::Repository);
    if let Some(repo) = repo {
        prove_hooks(api, &repo).await.map_err(|e| {
            lacks(
                "manage webhooks",
                &e,
                "create an access token with the Webhooks: Read and write permission",
            )
        })?;
        scopes.insert(Scope::Webhook);
    }
    Ok(Probed {
        account: workspace_account(found.uuid.as_deref().unwrap_or(workspace.as_str())),
        identity: found.slug,
        scopes: CredentialScopes::OAuth(scopes),
    })
}

async fn probe_api_token(
    api: &ApiClient,
    email: &str,
    workspace: Option<&WorkspaceSlug>,
) -> Result<Probed, String> {
    const FIX: &str = "create an API token with scopes including";
    let user = match api.user().get().await {
        Ok(user) => user,
        Err(ApiError::Unauthorized { message, .. }) => {
            return Err(format!(
                "Bitbucket refused the API token for {email} at /2.0/user ({}): the email must be the Atlassian account's, the token must have been created as an \"API token with scopes\" (a scopeless one is refused everywhere), and must not have expired or been revoked",
                quoted(&message)
            ))
        }
        Err(e) => {
            return Err(lacks(
                "read the account",
                &e,
                &format!("{FIX} {}", ApiScope::read_user()),
            ))
        }
    };
    let mut scopes: ApiScopeSet = [ApiScope::read_user()].into_iter().collect();
    let first = match workspace {
        Some(slug) => match api.workspaces().get(slug.as_str()).await {
            Ok(found) => Some(found.slug),
            Err(ApiError::NotFound { .. } | ApiError::Forbidden { .. }) => {
                return Err(format!(
                    "the API token's account cannot see workspace `{slug}`: the account is not a member, or the token is limited to another workspace"
                ))
            }
            Err(e) => {
                return Err(lacks(
                    "read workspaces",
                    &e,
                    &format!("{FIX} {}", ApiScope::read_workspace()),
                ))
            }
        },
        None => api
            .workspaces()
            .mine()
            .await
            .map_err(|e| {
                lacks(
                    "list workspaces",
                    &e,
                    &format!("{FIX} {}", ApiScope::read_workspace()),
                )
            })?
            .first()
            .map(|w| w.slug().to_owned()),
    };
    scopes.insert(ApiScope::read_workspace());
    if let Some(first) = first {
        let repo = first_repository(api, &first).await.map_err(|e| {
            lacks(
                "list repositories",
                &e,
                &format!("{FIX} {}", ApiScope::read_repository()),
            )
        })?;
        scopes.insert(ApiScope::read_repository());
        if let Some(repo) = repo {
            prove_hooks(api, &repo).await.map_err(|e| {
                lacks(
                    "read webhooks",
                    &e,
                    &format!("{FIX} {}", ApiScope::read_webhook()),
                )
            })?;
            scopes.insert(ApiScope::read_webhook());
        }
    }
    Ok(Probed {
        identity: user
            .nickname
            .clone()
            .unwrap_or_else(|| user.uuid.to_string()),
        account: user.uuid,
        scopes: CredentialScopes::Api(scopes),
    })
}

/// Lists `repo`'s webhooks. Only a refusal for scopes counts against the credential: a
/// repository the credential cannot administer says nothing of its scopes.
async fn prove_hooks(api: &ApiClient, repo: &str) -> Result<(), ApiError> {
    match api.hooks(repo)?.list().await {
        Ok(_) | Err(ApiError::Forbidden { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Bitbucket's 401 message for a sentence: quoted, or described when there was none (the API
/// layer describes a missing body in parentheses, such as "(empty body)").
fn quoted(message: &str) -> String {
    let message = message.trim();
    if message.is_empty() {
        return "401 with no message".to_owned();
    }
    match message.strip_prefix('(').and_then(|m| m.strip_suffix(')')) {
        Some(described) => format!("401 with an {described}"),
        None => format!("401 \"{message}\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_access_token_account_is_stable_per_workspace() {
        assert_eq!(workspace_account("{ws-1}"), workspace_account("{ws-1}"));
        assert_ne!(workspace_account("{ws-1}"), workspace_account("{ws-2}"));
    }

    #[test]
    fn basic_for_api_tokens_bearer_for_access_tokens() {
        let token = SecretText::new("tok").unwrap();
        let api = CredentialKind::ApiToken {
            email: "jane@example.com".into(),
            workspace: None,
        };
        assert!(matches!(
            authorization(&api, &token),
            Authorization::Basic { ref username, .. } if username == "jane@example.com"
        ));
        let access = CredentialKind::AccessToken {
            workspace: "acme".parse().unwrap(),
        };
        assert!(matches!(
            authorization(&access, &token),
            Authorization::Bearer(_)
        ));
    }

    #[test]
    fn refusals_quote_bitbucket_or_say_there_was_nothing_to_quote() {
        assert_eq!(quoted(" Bad token "), "401 \"Bad token\"");
        assert_eq!(quoted("(empty body)"), "401 with an empty body");
        assert_eq!(quoted(""), "401 with no message");
    }
}
