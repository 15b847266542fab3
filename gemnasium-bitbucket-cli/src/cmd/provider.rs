//! `auth provider …`.

use gemnasium_bitbucket::model::{Provider, ProviderName};
use gemnasium_bitbucket::store::{ProviderPatch, StoreError};
use gemnasium_bitbucket::Error;

use super::{Access, Ctx};
use crate::cli::ProviderCommand;
use crate::error::{hinted, usage, with_hint};
use crate::outln;
use crate::output::{
    print_fields, print_json, print_outcome, print_table, print_updated, provider_fields,
    provider_json,
};

pub async fn run(ctx: &Ctx, command: ProviderCommand) -> anyhow::Result<()> {
    match command {
        ProviderCommand::Create {
            name,
            kind,
            authorize_url,
            token_url,
            api_url,
            pkce,
            homepage,
            allow_workspaces,
        } => {
            let mut provider = Provider::new(name, kind, authorize_url, token_url)
                .with_pkce(pkce)
                .with_allowed_workspaces(allow_workspaces.into_iter().collect());
            if let Some(api_url) = api_url {
                provider = provider.with_api_url(api_url);
            }
            if let Some(homepage) = homepage {
                provider = provider.with_homepage(homepage)?;
            }
            let bitbucket = ctx.bitbucket(Access::Write, 30).await?;
            let outcome = bitbucket
                .create_provider(&provider)
                .await
                .map_err(|e| match e {
                    Error::Store(StoreError::Conflict { .. }) => with_hint(
                        e,
                        format!(
                            "to change it: auth provider update {} --authorize-url {} --token-url {} --api-url {}",
                            provider.name, provider.authorize_url, provider.token_url, provider.api_url
                        ),
                    ),
                    other => other.into(),
                })?;
            print_outcome(
                ctx.json,
                "provider",
                provider.name.as_str(),
                outcome.as_str(),
            )
        }
        ProviderCommand::List => {
            let providers = ctx.open_store(Access::Read).await?.providers().await?;
            if ctx.json {
                return print_json(&providers.iter().map(provider_json).collect::<Vec<_>>());
            }
            let rows: Vec<Vec<String>> = providers
                .iter()
                .map(|p| {
                    vec![
                        p.name.to_string(),
                        p.kind.to_string(),
                        p.authorize_url.to_string(),
                        p.token_url.to_string(),
                        p.api_url.to_string(),
                        p.allowed_workspaces.to_string(),
                    ]
                })
                .collect();
            Ok(print_table(
                &[
                    "NAME",
                    "KIND",
                    "AUTHORIZE URL",
                    "TOKEN URL",
                    "API URL",
                    "SIGN-IN FROM",
                ],
                &rows,
                "no providers; add one with `auth provider create` or run `configure`",
            )?)
        }
        ProviderCommand::Show { name } => {
            let provider = find(ctx, &name).await?;
            if ctx.json {
                return print_json(&provider_json(&provider));
            }
            Ok(print_fields(&provider_fields(&provider))?)
        }
        ProviderCommand::Update {
            name,
            authorize_url,
            token_url,
            api_url,
            pkce,
            homepage,
            allow_workspaces,
            any_workspace,
        } => {
            let mut patch = ProviderPatch::new();
            if any_workspace || !allow_workspaces.is_empty() {
                patch = patch.allowed_workspaces(allow_workspaces.into_iter().collect());
            }
            if let Some(u) = authorize_url {
                patch = patch.authorize_url(u);
            }
            if let Some(u) = token_url {
                patch = patch.token_url(u);
            }
            if let Some(u) = api_url {
                patch = patch.api_url(u);
            }
            if let Some(p) = pkce {
                patch = patch.pkce(p);
            }
            if let Some(h) = homepage {
                patch = patch.homepage(h);
            }
            if patch.is_empty() {
                return Err(usage(
                    "nothing to update; pass --authorize-url, --token-url, --api-url, --pkce, --homepage, --allow-workspace or --any-workspace",
                ));
            }
            let bitbucket = ctx.bitbucket(Access::Write, 30).await?;
            let updated = bitbucket.update_provider(&name, &patch).await?;
            print_updated(
                ctx.json,
                "provider",
                name.as_str(),
                updated.outcome.as_str(),
                updated.version,
            )
        }
        ProviderCommand::Delete { name, cascade } => {
            let store = ctx.open_store(Access::Write).await?;
            let removed = store.delete_provider(&name, cascade).await?;
            if ctx.json {
                return print_json(&serde_json::json!({
                    "entity": "provider", "key": name, "outcome": "deleted", "removed": removed,
                }));
            }
            outln!("provider {name}: deleted")?;
            if removed != Default::default() {
                outln!(
                    "  with {} client(s), {} source(s), {} stored token(s) and {} stored credential(s)",
                    removed.clients,
                    removed.sources,
                    removed.tokens,
                    removed.credentials
                )?;
            }
            Ok(())
        }
    }
}

async fn find(ctx: &Ctx, name: &ProviderName) -> anyhow::Result<Provider> {
    ctx.open_store(Access::Read)
        .await?
        .provider(name)
        .await?
        .ok_or_else(|| {
            hinted(
                format!("provider `{name}` does not exist"),
                "list providers with `auth provider list`",
            )
        })
}
