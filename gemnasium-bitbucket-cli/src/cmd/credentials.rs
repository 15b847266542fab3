//! `auth credentials …`: access tokens and API tokens stored for syncing.

use gemnasium_bitbucket::model::{CredentialKind, Expiry, StoredCredential};
use gemnasium_bitbucket::service::NewCredential;
use gemnasium_bitbucket::store::{WriteOutcome, EXPIRY_WARNING};
use serde_json::json;

use super::{Access, Ctx};
use crate::cli::CredentialsCommand;
use crate::outln;
use crate::output::{print_json, print_outcome, print_table};
use crate::secret_input::read_token;

/// What binds a credential, in words: its workspace, or the email of an API token.
pub fn bound_to(kind: &CredentialKind) -> String {
    match kind {
        CredentialKind::AccessToken { workspace } => format!("workspace {workspace}"),
        CredentialKind::ApiToken {
            email,
            workspace: Some(workspace),
        } => format!("{email} (workspace {workspace})"),
        CredentialKind::ApiToken { email, .. } => email.clone(),
        _ => String::new(),
    }
}

/// A credential as JSON (never its token).
pub fn credential_json(c: &StoredCredential) -> serde_json::Value {
    let now = chrono::Utc::now();
    json!({
        "provider": c.provider, "name": c.name, "kind": c.kind.as_str(), "bound_to": bound_to(&c.kind),
        "account": c.account, "identity": c.identity, "scopes": c.scopes.to_string(),
        "expires_at": c.expires_at, "expiry": Expiry::of(c.expires_at, now, EXPIRY_WARNING),
        "created_at": c.created_at,
    })
}

/// `expires_at` for a table, with what it means now.
pub fn expiry_cell(expires_at: Option<chrono::DateTime<chrono::Utc>>) -> String {
    let Some(at) = expires_at else {
        return "unknown".to_owned();
    };
    let date = at.format("%Y-%m-%d %H:%M UTC");
    match Expiry::of(expires_at, chrono::Utc::now(), EXPIRY_WARNING) {
        Expiry::Expired => format!("{date} (expired)"),
        Expiry::Soon => format!("{date} (soon)"),
        _ => date.to_string(),
    }
}

pub async fn run(ctx: &Ctx, command: CredentialsCommand) -> anyhow::Result<()> {
    match command {
        CredentialsCommand::Add {
            provider,
            name,
            access_token_env,
            access_token_stdin,
            api_token_env,
            api_token_stdin,
            workspace,
            email,
            expires_at,
        } => {
            let new = match email {
                Some(email) => NewCredential::ApiToken {
                    email,
                    token: read_token(api_token_env.as_deref(), api_token_stdin, "API token")?,
                    workspace,
                },
                None => NewCredential::AccessToken {
                    // clap requires --workspace with an access token.
                    workspace: workspace.ok_or_else(|| {
                        crate::error::usage("an access token needs --workspace SLUG")
                    })?,
                    token: read_token(
                        access_token_env.as_deref(),
                        access_token_stdin,
                        "access token",
                    )?,
                },
            };
            let bitbucket = ctx.bitbucket(Access::Write, 30).await?;
            let added = bitbucket
                .add_credential(&provider, name, new, expires_at)
                .await?;
            let stored = &added.credential;
            if ctx.json {
                let mut shown = credential_json(stored);
                shown["outcome"] = json!(added.outcome.as_str());
                return print_json(&shown);
            }
            let verb = match added.outcome {
                WriteOutcome::Unchanged => "already stored",
                _ => "stored",
            };
            outln!(
                "credential {}/{} {verb}: {} of {}, acting as {} (scopes shown to work: {}), expires {}",
                stored.provider,
                stored.name,
                stored.kind.as_str(),
                bound_to(&stored.kind),
                stored.identity,
                stored.scopes,
                expiry_cell(stored.expires_at)
            )?;
            outln!(
                "sync with it: repo-syncer sync {} --credential {}",
                stored.provider,
                stored.name
            )?;
            Ok(())
        }
        CredentialsCommand::List { provider } => {
            let bitbucket = ctx.bitbucket(Access::Read, 30).await?;
            let credentials = bitbucket.credentials(provider.as_ref()).await?;
            if ctx.json {
                let rows: Vec<_> = credentials.iter().map(credential_json).collect();
                return print_json(&rows);
            }
            let rows: Vec<Vec<String>> = credentials
                .iter()
                .map(|c| {
                    vec![
                        c.provider.to_string(),
                        c.name.to_string(),
                        c.kind.as_str().to_owned(),
                        bound_to(&c.kind),
                        c.identity.clone(),
                        c.scopes.to_string(),
                        expiry_cell(c.expires_at),
                    ]
                })
                .collect();
            Ok(print_table(
                &[
                    "PROVIDER", "NAME", "KIND", "BOUND TO", "ACTS AS", "SCOPES", "EXPIRES",
                ],
                &rows,
                "no stored credentials; add one with `auth credentials add PROVIDER NAME --access-token-env VAR --workspace SLUG`",
            )?)
        }
        CredentialsCommand::Verify { provider, name } => {
            let bitbucket = ctx.bitbucket(Access::Read, 10).await?;
            let scopes = bitbucket.verify_credential(&provider, &name).await?;
            if ctx.json {
                return print_json(&json!({
                    "provider": provider, "name": name, "accepted": true,
                    "scopes": scopes.to_string(),
                }));
            }
            outln!("credential {provider}/{name}: accepted by Bitbucket (scopes shown to work: {scopes})")?;
            Ok(())
        }
        CredentialsCommand::Delete { provider, name } => {
            let bitbucket = ctx.bitbucket(Access::Write, 30).await?;
            bitbucket.delete_credential(&provider, &name).await?;
            print_outcome(
                ctx.json,
                "credential",
                &format!("{provider}/{name}"),
                "deleted",
            )
        }
    }
}
