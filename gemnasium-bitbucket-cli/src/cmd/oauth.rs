//! `auth clients verify`, `auth login` and `auth tokens …`.

use std::io::{BufRead, IsTerminal};
use std::time::Duration;

use anyhow::Context;
use gemnasium_bitbucket::model::{AccountUuid, Client, Provider, ProviderName, Purpose, TokenKey};
use gemnasium_bitbucket::oauth::{
    begin_authorization, complete_login, http_client, redirect_uri, verify_consumer, TokenManager,
    TokenSettings, Verdict, Verification,
};
use serde_json::json;

use super::configure::callback_for;
use super::{parse, Ctx};
use crate::cli::TokensCommand;
use crate::error::{hinted, usage};
use crate::output::{print_json, print_outcome, print_table};

/// The provider and client, or an error naming what to create.
pub async fn provider_and_client(
    ctx: &Ctx,
    provider: &str,
    purpose: &str,
) -> anyhow::Result<(Provider, Client)> {
    let name = parse::<ProviderName>(provider)?;
    let purpose = parse::<Purpose>(purpose)?;
    let store = ctx.open_store().await?;
    let provider = store.provider(&name).await?.ok_or_else(|| {
        hinted(
            format!("provider `{name}` does not exist"),
            "run `configure`, or list providers with `auth provider list`",
        )
    })?;
    let client = store.client(&name, purpose).await?.ok_or_else(|| {
        hinted(
            format!("client `{name}/{purpose}` does not exist"),
            format!("run `configure`, or `auth clients create {name} {purpose} KEY SECRET SCOPES`"),
        )
    })?;
    Ok((provider, client))
}

fn verdict(v: Verdict, yes: &str, no: &str) -> String {
    match v {
        Verdict::Yes => yes.to_owned(),
        Verdict::No => no.to_owned(),
        Verdict::Unknown => "unknown".to_owned(),
    }
}

/// The report lines of a verification: (label, value).
pub fn verification_lines(v: &Verification) -> Vec<(&'static str, String)> {
    if let Some(reason) = &v.unreachable {
        return vec![("bitbucket", format!("skipped (unreachable: {reason})"))];
    }
    let mut lines = vec![
        (
            "credentials",
            verdict(
                v.credentials_valid,
                "valid",
                "INVALID (Bitbucket refused the key and secret)",
            ),
        ),
        (
            "callback URL",
            verdict(
                v.callback_set,
                "set",
                "MISSING (set it to {homepage}/auth/auth/bitbucket.org)",
            ),
        ),
        (
            "private",
            verdict(v.private, "yes", "no (fine for sign-in and user syncs)"),
        ),
    ];
    if let Some(granted) = &v.granted {
        lines.push(("granted scopes", granted.to_string()));
    }
    if let Some(missing) = v.missing.as_ref().filter(|m| !m.is_empty()) {
        lines.push((
            "missing scopes",
            format!("{missing} (tick them on the consumer)"),
        ));
    }
    lines
}

pub async fn verify(
    ctx: &Ctx,
    provider: &str,
    purpose: &str,
    homepage: Option<&str>,
    timeout: u64,
) -> anyhow::Result<()> {
    let (provider, client) = provider_and_client(ctx, provider, purpose).await?;
    let callback = match homepage {
        Some(h) => callback_for(h, &provider.name)?,
        // Any redirect URI will do to test credentials with a made-up code.
        None => format!("https://gemnasium.invalid/auth/auth/{}", provider.name),
    };
    let http = http_client(Duration::from_secs(timeout));
    let v = verify_consumer(
        &http,
        &provider,
        &client,
        &redirect_uri(&callback, client.purpose),
    )
    .await;
    if ctx.json {
        print_json(&v)?;
    } else {
        println!("client {}/{}:", client.provider, client.purpose);
        for (label, value) in verification_lines(&v) {
            println!("  {:<15} {value}", format!("{label}:"));
        }
    }
    if let Some(reason) = &v.unreachable {
        return Err(hinted(
            format!("cannot reach Bitbucket at {}: {reason}", provider.token_url),
            "check the network, or the provider's token URL",
        ));
    }
    if v.has_problems() {
        return Err(hinted(
            format!(
                "the consumer of {}/{} has problems (see above)",
                client.provider, client.purpose
            ),
            "fix the consumer on Bitbucket, or the client with `auth clients update`",
        ));
    }
    Ok(())
}

fn read_callback() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(dialoguer::Input::<String>::new()
            .with_prompt("URL Bitbucket redirected to (or the code)")
            .interact_text()?);
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("could not read the callback URL")?;
    if line.trim().is_empty() {
        return Err(usage(
            "no callback URL on standard input; paste the URL Bitbucket redirected to",
        ));
    }
    Ok(line)
}

pub async fn login(
    ctx: &Ctx,
    provider: &str,
    purpose: &str,
    homepage: &str,
    pkce: bool,
    timeout: u64,
) -> anyhow::Result<()> {
    let (provider, client) = provider_and_client(ctx, provider, purpose).await?;
    let callback = callback_for(homepage, &provider.name)?;
    let pending = begin_authorization(
        &provider,
        &client,
        &redirect_uri(&callback, client.purpose),
        pkce || provider.pkce,
    )?;
    eprintln!("Open this URL, sign in to Bitbucket and grant access:");
    // The URL goes to stdout alone on its line, so scripts can pick it up.
    println!("{}", pending.url());
    eprintln!(
        "Then paste the URL your browser was sent to (it starts with {callback}/{}/callback):",
        client.purpose
    );
    let pasted = read_callback()?;
    let store = ctx.open_store().await?;
    let http = http_client(Duration::from_secs(timeout));
    let (identity, stored) =
        complete_login(store.as_ref(), &http, &provider, &client, &pending, &pasted).await?;
    if ctx.json {
        return print_json(&json!({
            "account": identity.uuid, "nickname": identity.nickname, "display_name": identity.display_name,
            "email": identity.email, "purpose": client.purpose, "scopes": stored.tokens.scopes.to_string(),
        }));
    }
    println!(
        "signed in as {} ({}){}; token stored for {}/{} with scopes {}",
        identity.nickname.as_deref().unwrap_or("?"),
        identity.uuid,
        identity
            .email
            .map(|e| format!(", email {e}"))
            .unwrap_or_else(|| ", no confirmed email".to_owned()),
        client.provider,
        client.purpose,
        stored.tokens.scopes
    );
    Ok(())
}

/// Parses `30d`, `12h`, `45m`, `10s` or plain seconds.
fn parse_duration(text: &str) -> anyhow::Result<chrono::Duration> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: i64 = number.parse().map_err(|_| {
        usage(format!(
            "invalid duration `{text}`; use e.g. 30d, 12h, 45m or 10s"
        ))
    })?;
    Ok(match unit {
        "d" => chrono::Duration::days(n),
        "h" => chrono::Duration::hours(n),
        "m" => chrono::Duration::minutes(n),
        "s" | "" => chrono::Duration::seconds(n),
        _ => {
            return Err(usage(format!(
                "invalid duration `{text}`; use e.g. 30d, 12h, 45m or 10s"
            )))
        }
    })
}

fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map_or_else(
        || "-".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

pub async fn tokens(ctx: &Ctx, command: TokensCommand) -> anyhow::Result<()> {
    match command {
        TokensCommand::List { provider } => {
            let provider = provider.map(|p| parse::<ProviderName>(&p)).transpose()?;
            let tokens = ctx.open_store().await?.tokens(provider.as_ref()).await?;
            if ctx.json {
                let rows: Vec<_> = tokens
                    .iter()
                    .map(|t| json!({
                        "provider": t.key.provider, "purpose": t.key.purpose, "account": t.key.account,
                        "nickname": t.account.nickname, "scopes": t.tokens.scopes.to_string(),
                        "expires_at": t.tokens.expires_at, "refreshed_at": t.refreshed_at,
                        "created_at": t.created_at, "state": t.state, "last_error": t.last_error,
                        "has_refresh_token": t.tokens.refresh_token.is_some(),
                    }))
                    .collect();
                return print_json(&rows);
            }
            let rows: Vec<Vec<String>> = tokens
                .iter()
                .map(|t| {
                    vec![
                        t.key.provider.to_string(),
                        t.key.purpose.to_string(),
                        t.key.account.to_string(),
                        t.account.nickname.clone().unwrap_or_default(),
                        t.tokens.scopes.to_string(),
                        when(t.tokens.expires_at),
                        when(t.refreshed_at),
                        t.state.to_string(),
                    ]
                })
                .collect();
            print_table(
                &["PROVIDER", "PURPOSE", "ACCOUNT", "NICKNAME", "SCOPES", "EXPIRES", "LAST REFRESH", "STATE"],
                &rows,
                "no stored tokens; an account owner runs `auth login PROVIDER PURPOSE --homepage URL`",
            );
            Ok(())
        }
        TokensCommand::Delete {
            provider,
            purpose,
            account,
        } => {
            let key = TokenKey {
                provider: parse::<ProviderName>(&provider)?,
                purpose: parse::<Purpose>(&purpose)?,
                account: parse::<AccountUuid>(&account)?,
            };
            let deleted = ctx.open_store().await?.delete_token(&key).await?;
            if !deleted {
                return Err(hinted(
                    format!("no stored token for {provider}/{purpose} {}", key.account),
                    "list tokens with `auth tokens list`",
                ));
            }
            print_outcome(
                ctx.json,
                "token",
                &format!("{provider}/{purpose}/{}", key.account),
                "deleted",
            )
        }
        TokensCommand::Refresh {
            older_than,
            timeout,
        } => {
            let older_than = parse_duration(&older_than)?;
            let store = ctx.open_store().await?;
            let manager = TokenManager::new(
                store,
                http_client(Duration::from_secs(timeout)),
                TokenSettings::default(),
            );
            let report = manager.refresh_idle(older_than).await?;
            let failed = report
                .iter()
                .filter(|r| r.outcome.starts_with("failed"))
                .count();
            if ctx.json {
                print_json(&report)?;
            } else if report.is_empty() {
                println!("no stored tokens");
            } else {
                for r in &report {
                    println!(
                        "{}/{} {}: {}",
                        r.key.provider, r.key.purpose, r.key.account, r.outcome
                    );
                }
            }
            if failed > 0 {
                return Err(hinted(
                    format!("{failed} token(s) could not be refreshed"),
                    "accounts marked needs_reauth must sign in again with `auth login`",
                ));
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations() {
        assert_eq!(
            super::parse_duration("30d").unwrap(),
            chrono::Duration::days(30)
        );
        assert_eq!(
            super::parse_duration("12h").unwrap(),
            chrono::Duration::hours(12)
        );
        assert_eq!(
            super::parse_duration("0s").unwrap(),
            chrono::Duration::zero()
        );
        assert_eq!(
            super::parse_duration("90").unwrap(),
            chrono::Duration::seconds(90)
        );
        assert!(super::parse_duration("3 weeks").is_err());
        assert!(super::parse_duration("d").is_err());
    }
}
