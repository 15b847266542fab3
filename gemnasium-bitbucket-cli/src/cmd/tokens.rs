//! `auth tokens …`.

use gemnasium_bitbucket::model::{StoredCredential, TokenKey};
use serde_json::json;

use super::credentials::{credential_json, expiry_cell};
use super::{Access, Ctx};
use crate::cli::TokensCommand;
use crate::error::hinted;
use crate::outln;
use crate::output::{print_json, print_outcome, print_table};

fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map_or_else(
        || "-".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

pub async fn run(ctx: &Ctx, command: TokensCommand) -> anyhow::Result<()> {
    match command {
        TokensCommand::List { provider } => {
            let store = ctx.open_store(Access::Read).await?;
            let tokens = store.tokens(provider.as_ref()).await?;
            let credentials = store.credentials(provider.as_ref()).await?;
            let now = chrono::Utc::now();
            let state = |c: &StoredCredential| {
                if c.expired_at(now) {
                    "expired"
                } else {
                    "active"
                }
            };
            if ctx.json {
                let rows: Vec<_> = tokens
                    .iter()
                    .map(|t| json!({
                        "provider": t.key.provider, "kind": "oauth", "purpose": t.key.purpose, "account": t.key.account,
                        "nickname": t.account.nickname, "scopes": t.tokens.scopes.to_string(),
                        "expires_at": t.tokens.expires_at, "grant_expires_at": t.expires_at(),
                        "refreshed_at": t.refreshed_at,
                        "created_at": t.created_at, "state": t.state, "last_error": t.last_error,
                        "has_refresh_token": t.tokens.refresh_token.is_some(),
                    }))
                    .chain(credentials.iter().map(|c| {
                        let mut row = credential_json(c);
                        row["purpose"] = json!("sync");
                        row["grant_expires_at"] = json!(c.expires_at);
                        row["state"] = json!(state(c));
                        row
                    }))
                    .collect();
                return print_json(&rows);
            }
            let rows: Vec<Vec<String>> = tokens
                .iter()
                .map(|t| {
                    vec![
                        t.key.provider.to_string(),
                        "oauth".to_owned(),
                        "-".to_owned(),
                        t.key.purpose.to_string(),
                        t.key.account.to_string(),
                        t.account.nickname.clone().unwrap_or_default(),
                        t.tokens.scopes.to_string(),
                        when(t.tokens.expires_at),
                        when(t.expires_at()),
                        when(t.refreshed_at),
                        t.state.to_string(),
                    ]
                })
                .chain(credentials.iter().map(|c| {
                    vec![
                        c.provider.to_string(),
                        c.kind.as_str().to_owned(),
                        c.name.to_string(),
                        "sync".to_owned(),
                        c.account.to_string(),
                        c.identity.clone(),
                        c.scopes.to_string(),
                        expiry_cell(c.expires_at),
                        expiry_cell(c.expires_at),
                        "-".to_owned(),
                        state(c).to_owned(),
                    ]
                }))
                .collect();
            Ok(print_table(
                &[
                    "PROVIDER",
                    "KIND",
                    "NAME",
                    "PURPOSE",
                    "ACCOUNT",
                    "NICKNAME",
                    "SCOPES",
                    "ACCESS EXPIRES",
                    "GRANT EXPIRES",
                    "LAST REFRESH",
                    "STATE",
                ],
                &rows,
                "no stored tokens; an account owner runs `auth login PROVIDER PURPOSE`, or store an access or API token with `auth credentials add`",
            )?)
        }
        TokensCommand::Delete {
            provider,
            purpose,
            account,
        } => {
            let key = TokenKey {
                provider,
                purpose,
                account,
            };
            let deleted = ctx
                .open_store(Access::Write)
                .await?
                .delete_token(&key)
                .await?;
            let shown = format!("{}/{}/{}", key.provider, key.purpose, key.account);
            if !deleted {
                return Err(hinted(
                    format!("no stored token for {shown}"),
                    "list tokens with `auth tokens list`",
                ));
            }
            print_outcome(ctx.json, "token", &shown, "deleted")
        }
        TokensCommand::Refresh { older_than } => {
            let bitbucket = ctx.bitbucket(Access::Write, 30).await?;
            let report = bitbucket.refresh_idle(older_than).await?;
            let failed = report.iter().filter(|r| r.outcome.failed()).count();
            if ctx.json {
                print_json(&report)?;
            } else if report.is_empty() {
                outln!("no stored tokens")?;
            } else {
                for r in &report {
                    outln!(
                        "{}/{} {}: {}",
                        r.key.provider,
                        r.key.purpose,
                        r.key.account,
                        r.outcome
                    )?;
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
