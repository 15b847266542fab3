//! `auth clients …`.

use gemnasium_bitbucket::model::{Client, ProviderName, Purpose, ScopeNote, ScopeReview};
use gemnasium_bitbucket::store::{ClientPatch, StoreError};
use gemnasium_bitbucket::Error;

use super::{Access, Ctx};
use crate::args;
use crate::cli::ClientsCommand;
use crate::error::{hinted, usage, with_hint};
use crate::output::{
    client_fields, client_json, print_fields, print_json, print_outcome, print_table,
    print_updated, secret_display, warn,
};

pub async fn run(ctx: &Ctx, command: ClientsCommand) -> anyhow::Result<()> {
    match command {
        ClientsCommand::Create {
            provider,
            purpose,
            key,
            secret,
            scopes,
            secret_flags,
            allow_missing_scopes,
        } => {
            // With --secret-stdin/--secret-env the secret is not on the command line, so the
            // fourth positional value is SCOPES.
            let (secret_arg, scopes) = match scopes {
                Some(scopes) => (Some(secret), scopes),
                None if secret_flags.given() => (None, secret),
                None => {
                    return Err(usage(
                        "SCOPES is missing: give KEY SECRET SCOPES (e.g. `KEY SECRET account,email`), or KEY SCOPES with --secret-stdin/--secret-env",
                    ))
                }
            };
            let scopes = args::scopes(&scopes)?;
            let review = purpose.review(&scopes);
            if !review.covers_purpose() && !allow_missing_scopes {
                return Err(Error::ScopesNotCovered {
                    scopes,
                    review: Box::new(review),
                }
                .into());
            }
            let secret = secret_flags
                .resolve(secret_arg.as_deref(), true)?
                .ok_or_else(|| usage("no secret given"))?;
            let client = Client::new(provider, purpose, key, secret, scopes);
            let bitbucket = ctx.bitbucket(Access::Write, 30).await?;
            let written = bitbucket
                .create_client(&client, allow_missing_scopes)
                .await
                .map_err(|e| match e {
                    Error::Store(StoreError::Conflict { .. }) => with_hint(
                        e,
                        format!(
                            "to change it: auth clients update {} {} --key {} --scopes {} --secret-stdin",
                            client.provider, client.purpose, client.key, client.scopes
                        ),
                    ),
                    other => other.into(),
                })?;
            warn_review(&written.review, allow_missing_scopes);
            print_outcome(
                ctx.json,
                "client",
                &format!("{}/{}", client.provider, client.purpose),
                written.outcome.as_str(),
            )
        }
        ClientsCommand::List { provider } => {
            let clients = ctx
                .open_store(Access::Read)
                .await?
                .clients(provider.as_ref())
                .await?;
            if ctx.json {
                return print_json(&clients.iter().map(client_json).collect::<Vec<_>>());
            }
            let rows: Vec<Vec<String>> = clients
                .iter()
                .map(|c| {
                    vec![
                        c.provider.to_string(),
                        c.purpose.to_string(),
                        c.key.to_string(),
                        secret_display(c),
                        c.scopes.to_string(),
                    ]
                })
                .collect();
            Ok(print_table(
                &["PROVIDER", "PURPOSE", "KEY", "SECRET", "SCOPES"],
                &rows,
                "no clients; add them with `auth clients create` or run `configure`",
            )?)
        }
        ClientsCommand::Show { provider, purpose } => {
            let client = find(ctx, &provider, purpose).await?;
            if ctx.json {
                return print_json(&client_json(&client));
            }
            Ok(print_fields(&client_fields(&client))?)
        }
        ClientsCommand::Update {
            provider,
            purpose,
            key,
            secret,
            secret_flags,
            scopes,
            allow_missing_scopes,
        } => {
            let mut patch = ClientPatch::new();
            if let Some(key) = key {
                patch = patch.key(key);
            }
            if let Some(scopes) = scopes {
                let review = purpose.review(&scopes);
                if !review.covers_purpose() && !allow_missing_scopes {
                    return Err(Error::ScopesNotCovered {
                        scopes,
                        review: Box::new(review),
                    }
                    .into());
                }
                patch = patch.scopes(scopes);
            }
            if let Some(secret) = secret_flags.resolve(secret.as_deref(), false)? {
                patch = patch.secret(secret);
            }
            if patch.is_empty() {
                return Err(usage(
                    "nothing to update; pass --key, --secret (or --secret-stdin/--secret-env) or --scopes",
                ));
            }
            let bitbucket = ctx.bitbucket(Access::Write, 30).await?;
            let (updated, review) = bitbucket
                .update_client(&provider, purpose, &patch, allow_missing_scopes)
                .await?;
            if let Some(review) = review {
                warn_review(&review, allow_missing_scopes);
            }
            print_updated(
                ctx.json,
                "client",
                &format!("{provider}/{purpose}"),
                updated.outcome.as_str(),
                updated.version,
            )
        }
        ClientsCommand::Verify { provider, purpose } => {
            super::login::verify(ctx, &provider, purpose).await
        }
        ClientsCommand::Delete { provider, purpose } => {
            let store = ctx.open_store(Access::Write).await?;
            store.delete_client(&provider, purpose).await?;
            print_outcome(
                ctx.json,
                "client",
                &format!("{provider}/{purpose}"),
                "deleted",
            )
        }
    }
}

/// Prints the scope policy's warnings once the write succeeded (a warning before an error
/// would be noise).
fn warn_review(review: &ScopeReview, allowed_missing: bool) {
    if allowed_missing && !review.covers_purpose() {
        warn(format!(
            "scopes do not cover the {} purpose: missing {} (recorded anyway: --allow-missing-scopes)",
            review.purpose, review.missing
        ));
    }
    for note in &review.notes {
        // The sync client's `account` note is doctor's business: the documented set-up omits it.
        if *note != ScopeNote::NoAccountForWorkspaces {
            warn(note);
        }
    }
}

async fn find(ctx: &Ctx, provider: &ProviderName, purpose: Purpose) -> anyhow::Result<Client> {
    ctx.open_store(Access::Read)
        .await?
        .client(provider, purpose)
        .await?
        .ok_or_else(|| {
            hinted(
                format!("client `{provider}/{purpose}` does not exist"),
                format!("list clients with `auth clients list`, or create it with `auth clients create {provider} {purpose} KEY SECRET SCOPES`"),
            )
        })
}
