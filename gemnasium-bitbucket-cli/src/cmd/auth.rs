//! `auth provider …` and `auth clients …`.

use gemnasium_bitbucket::model::{
    Client, ClientKey, Provider, ProviderKind, ProviderName, Purpose, Scope, ScopeSet,
};

use super::{parse, parse_url, store_error, Ctx};
use crate::cli::{AuthCommand, ClientsCommand, ProviderCommand};
use crate::error::{hinted, usage};
use crate::output::{
    client_fields, client_json, print_fields, print_json, print_outcome, print_table, print_write,
    provider_fields, provider_json, secret_display, warn,
};

pub async fn run(ctx: &Ctx, command: AuthCommand) -> anyhow::Result<()> {
    match command {
        AuthCommand::Provider { command } => provider(ctx, command).await,
        AuthCommand::Clients { command } => clients(ctx, command).await,
        AuthCommand::Login {
            provider,
            purpose,
            homepage,
            pkce,
            timeout,
        } => super::oauth::login(ctx, &provider, &purpose, &homepage, pkce, timeout).await,
        AuthCommand::Tokens { command } => super::oauth::tokens(ctx, command).await,
    }
}

async fn provider(ctx: &Ctx, command: ProviderCommand) -> anyhow::Result<()> {
    match command {
        ProviderCommand::Create {
            name,
            kind,
            authorize_url,
            token_url,
            api_url,
            pkce,
        } => {
            let mut provider = Provider::new(
                parse::<ProviderName>(&name)?,
                parse::<ProviderKind>(&kind)?,
                parse_url("authorize URL", &authorize_url)?,
                parse_url("token URL", &token_url)?,
            );
            if let Some(api_url) = api_url {
                provider = provider.with_api_url(parse_url("API URL", &api_url)?);
            }
            provider.pkce = pkce;
            let store = ctx.open_store().await?;
            let outcome = store.create_provider(&provider).await.map_err(|e| {
                store_error(
                    e,
                    Some(format!(
                        "to change it: auth provider update {} --authorize-url {} --token-url {} --api-url {}",
                        provider.name, provider.authorize_url, provider.token_url, provider.api_url
                    )),
                )
            })?;
            print_write(ctx.json, "provider", provider.name.as_str(), outcome)
        }
        ProviderCommand::List => {
            let providers = ctx.open_store().await?.providers().await?;
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
                    ]
                })
                .collect();
            print_table(
                &["NAME", "KIND", "AUTHORIZE URL", "TOKEN URL", "API URL"],
                &rows,
                "no providers; add one with `auth provider create` or run `configure`",
            );
            Ok(())
        }
        ProviderCommand::Show { name } => {
            let name = parse::<ProviderName>(&name)?;
            let provider = find_provider(ctx, &name).await?;
            if ctx.json {
                return print_json(&provider_json(&provider));
            }
            print_fields(&provider_fields(&provider));
            Ok(())
        }
        ProviderCommand::Update {
            name,
            authorize_url,
            token_url,
            api_url,
            pkce,
        } => {
            let name = parse::<ProviderName>(&name)?;
            let authorize_url = authorize_url
                .map(|u| parse_url("authorize URL", &u))
                .transpose()?;
            let token_url = token_url.map(|u| parse_url("token URL", &u)).transpose()?;
            let api_url = api_url.map(|u| parse_url("API URL", &u)).transpose()?;
            if authorize_url.is_none() && token_url.is_none() && api_url.is_none() && pkce.is_none()
            {
                return Err(usage(
                    "nothing to update; pass --authorize-url, --token-url, --api-url or --pkce",
                ));
            }
            let mut provider = find_provider(ctx, &name).await?;
            provider.authorize_url = authorize_url.unwrap_or(provider.authorize_url);
            provider.token_url = token_url.unwrap_or(provider.token_url);
            provider.api_url = api_url.unwrap_or(provider.api_url);
            provider.pkce = pkce.unwrap_or(provider.pkce);
            let store = ctx.open_store().await?;
            let outcome = store
                .update_provider(&provider)
                .await
                .map_err(|e| store_error(e, None))?;
            print_write(ctx.json, "provider", name.as_str(), outcome)
        }
        ProviderCommand::Delete { name, cascade } => {
            let name = parse::<ProviderName>(&name)?;
            let store = ctx.open_store().await?;
            let removed = store
                .delete_provider(&name, cascade)
                .await
                .map_err(|e| store_error(e, None))?;
            if ctx.json {
                return print_json(&serde_json::json!({
                    "entity": "provider", "key": name, "outcome": "deleted", "removed": removed,
                }));
            }
            println!("provider {name}: deleted");
            if removed != Default::default() {
                println!(
                    "  with {} client(s), {} source(s) and {} stored token(s)",
                    removed.clients, removed.sources, removed.tokens
                );
            }
            Ok(())
        }
    }
}

async fn find_provider(ctx: &Ctx, name: &ProviderName) -> anyhow::Result<Provider> {
    ctx.open_store()
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

/// Refuses scopes that do not cover `purpose` unless allowed. Returns the warnings to print once
/// the write succeeded (a warning before an error would be noise).
fn check_scopes(
    purpose: Purpose,
    scopes: &ScopeSet,
    allow_missing: bool,
) -> anyhow::Result<Vec<String>> {
    let mut warnings = Vec::new();
    let missing = scopes.missing(&purpose.required_scopes());
    if !missing.is_empty() {
        let boxes: Vec<_> = missing.iter().map(Scope::checkbox).collect();
        let message =
            format!("scopes `{scopes}` do not cover the {purpose} purpose: missing {missing}");
        if !allow_missing {
            return Err(hinted(
                message,
                format!(
                    "tick {} on the Bitbucket consumer and add {missing} to SCOPES, or pass --allow-missing-scopes",
                    boxes.join(", ")
                ),
            ));
        }
        warnings.push(format!(
            "{message} (recorded anyway: --allow-missing-scopes)"
        ));
    }
    if purpose == Purpose::Login && !scopes.contains(Scope::Email) {
        warnings.push("without the `email` scope new users cannot sign up (Bitbucket's /user has no address); tick Account: Email on the consumer and add `email`".to_owned());
    }
    Ok(warnings)
}

fn update_client_hint(c: &Client) -> String {
    format!(
        "to change it: auth clients update {} {} --key {} --scopes {} --secret-stdin",
        c.provider, c.purpose, c.key, c.scopes
    )
}

async fn clients(ctx: &Ctx, command: ClientsCommand) -> anyhow::Result<()> {
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
            let provider = parse::<ProviderName>(&provider)?;
            let purpose = parse::<Purpose>(&purpose)?;
            let key = parse::<ClientKey>(&key)?;
            // With --secret-stdin/--secret-env the secret is not on the command line, so the
            // fourth positional value is SCOPES.
            let (secret_arg, scopes) = match scopes {
                Some(scopes) => (Some(secret), scopes),
                None if secret_flags.secret_stdin || secret_flags.secret_env.is_some() => {
                    (None, secret)
                }
                None => {
                    return Err(usage(
                        "SCOPES is missing: give KEY SECRET SCOPES (e.g. `KEY SECRET account,email`), or KEY SCOPES with --secret-stdin/--secret-env",
                    ))
                }
            };
            let scopes = parse::<ScopeSet>(&scopes)?;
            let warnings = check_scopes(purpose, &scopes, allow_missing_scopes)?;
            let secret = secret_flags
                .resolve(secret_arg.as_deref(), true)?
                .ok_or_else(|| usage("no secret given"))?;
            let client = Client {
                provider,
                purpose,
                key,
                secret,
                scopes,
            };
            let store = ctx.open_store().await?;
            let outcome = store
                .create_client(&client)
                .await
                .map_err(|e| store_error(e, Some(update_client_hint(&client))))?;
            warnings.into_iter().for_each(warn);
            print_write(
                ctx.json,
                "client",
                &format!("{}/{}", client.provider, client.purpose),
                outcome,
            )
        }
        ClientsCommand::List { provider } => {
            let provider = provider.map(|p| parse::<ProviderName>(&p)).transpose()?;
            let clients = ctx.open_store().await?.clients(provider.as_ref()).await?;
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
            print_table(
                &["PROVIDER", "PURPOSE", "KEY", "SECRET", "SCOPES"],
                &rows,
                "no clients; add them with `auth clients create` or run `configure`",
            );
            Ok(())
        }
        ClientsCommand::Show { provider, purpose } => {
            let client = find_client(ctx, &provider, &purpose).await?;
            if ctx.json {
                return print_json(&client_json(&client));
            }
            print_fields(&client_fields(&client));
            Ok(())
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
            let provider_name = parse::<ProviderName>(&provider)?;
            let purpose_value = parse::<Purpose>(&purpose)?;
            let key = key.map(|k| parse::<ClientKey>(&k)).transpose()?;
            let scopes = scopes.map(|s| parse::<ScopeSet>(&s)).transpose()?;
            let warnings = match &scopes {
                Some(scopes) => check_scopes(purpose_value, scopes, allow_missing_scopes)?,
                None => Vec::new(),
            };
            let mut client =
                find_client(ctx, provider_name.as_str(), purpose_value.as_str()).await?;
            let secret = secret_flags.resolve(secret.as_deref(), false)?;
            if key.is_none() && secret.is_none() && scopes.is_none() {
                return Err(usage(
                    "nothing to update; pass --key, --secret (or --secret-stdin/--secret-env) or --scopes",
                ));
            }
            client.key = key.unwrap_or(client.key);
            client.secret = secret.unwrap_or(client.secret);
            client.scopes = scopes.unwrap_or(client.scopes);
            let store = ctx.open_store().await?;
            let outcome = store
                .update_client(&client)
                .await
                .map_err(|e| store_error(e, None))?;
            warnings.into_iter().for_each(warn);
            print_write(
                ctx.json,
                "client",
                &format!("{provider_name}/{purpose_value}"),
                outcome,
            )
        }
        ClientsCommand::Verify {
            provider,
            purpose,
            homepage,
            timeout,
        } => super::oauth::verify(ctx, &provider, &purpose, homepage.as_deref(), timeout).await,
        ClientsCommand::Delete { provider, purpose } => {
            let provider = parse::<ProviderName>(&provider)?;
            let purpose = parse::<Purpose>(&purpose)?;
            let store = ctx.open_store().await?;
            store
                .delete_client(&provider, purpose)
                .await
                .map_err(|e| store_error(e, None))?;
            print_outcome(
                ctx.json,
                "client",
                &format!("{provider}/{purpose}"),
                "deleted",
            )
        }
    }
}

async fn find_client(ctx: &Ctx, provider: &str, purpose: &str) -> anyhow::Result<Client> {
    let provider = parse::<ProviderName>(provider)?;
    let purpose = parse::<Purpose>(purpose)?;
    ctx.open_store()
        .await?
        .client(&provider, purpose)
        .await?
        .ok_or_else(|| {
            hinted(
                format!("client `{provider}/{purpose}` does not exist"),
                format!("list clients with `auth clients list`, or create it with `auth clients create {provider} {purpose} KEY SECRET SCOPES`"),
            )
        })
}
