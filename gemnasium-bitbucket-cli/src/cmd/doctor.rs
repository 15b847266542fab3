//! `doctor`: pass/warn/fail lines, each with a fix; read-only unless `--refresh`.

use std::time::Duration;

use gemnasium_bitbucket::doctor::{check_configuration, check_tokens, Finding, Status};
use gemnasium_bitbucket::model::TokenState;
use gemnasium_bitbucket::oauth::{
    http_client, redirect_uri, verify_consumer, TokenManager, TokenSettings, Verdict,
};

use super::Ctx;
use crate::cli::DoctorArgs;
use crate::output::print_json;

pub async fn run(ctx: &Ctx, args: DoctorArgs) -> anyhow::Result<std::process::ExitCode> {
    let store = match ctx.open_store().await {
        Ok(store) => store,
        Err(e) => {
            let finding = Finding::fail(
                "store",
                format!("{e:#}"),
                "fix --store (or GEMNASIUM_STORE), or restore the store from a backup",
            );
            return report(ctx, &[finding]);
        }
    };
    let mut findings = check_configuration(store.as_ref()).await?;
    let http = http_client(Duration::from_secs(args.timeout));
    for client in store.clients(None).await? {
        let subject = format!("consumer {}/{}", client.provider, client.purpose);
        if args.offline {
            findings.push(Finding::warn(
                subject,
                "not verified (--offline)",
                "run doctor without --offline",
            ));
            continue;
        }
        let Some(provider) = store.provider(&client.provider).await? else {
            continue;
        };
        let callback = format!("https://gemnasium.invalid/auth/auth/{}", provider.name);
        let v = verify_consumer(
            &http,
            &provider,
            &client,
            &redirect_uri(&callback, client.purpose),
        )
        .await;
        findings.push(if let Some(reason) = v.unreachable {
            Finding::warn(
                subject,
                format!("verification skipped (unreachable: {reason})"),
                "check the network, or the provider's token URL",
            )
        } else if v.credentials_valid == Verdict::No {
            Finding::fail(
                subject,
                "Bitbucket refuses the key and secret",
                format!(
                    "copy them again and `auth clients update {} {} --key KEY --secret-stdin`",
                    client.provider, client.purpose
                ),
            )
        } else if v.callback_set == Verdict::No {
            Finding::fail(
                subject,
                "the consumer has no callback URL: Bitbucket refuses every sign-in",
                "edit the consumer on Bitbucket: Callback URL {homepage}/auth/auth/bitbucket.org",
            )
        } else if let Some(missing) = v.missing.filter(|m| !m.is_empty()) {
            Finding::fail(
                subject,
                format!("the consumer does not grant {missing}"),
                "tick those boxes on the consumer",
            )
        } else {
            Finding::pass(subject, "key and secret accepted by Bitbucket")
        });
    }
    let tokens = store.tokens(None).await?;
    findings.extend(check_tokens(&tokens, chrono::Utc::now()));
    if args.refresh {
        let manager = TokenManager::new(store.clone(), http.clone(), TokenSettings::default());
        for token in tokens.iter().filter(|t| t.state == TokenState::Active) {
            let subject = format!(
                "refresh {}/{} {}",
                token.key.provider, token.key.purpose, token.key.account
            );
            findings.push(match manager.access_token(&token.key).await {
                Ok(_) => Finding::pass(subject, "usable (refreshed if it was expiring)"),
                Err(e) => Finding::fail(
                    subject,
                    e.to_string(),
                    "the account owner runs `auth login` again",
                ),
            });
        }
    }
    report(ctx, &findings)
}

fn report(ctx: &Ctx, findings: &[Finding]) -> anyhow::Result<std::process::ExitCode> {
    let failed = findings.iter().any(|f| f.status == Status::Fail);
    if ctx.json {
        print_json(&serde_json::json!({"ok": !failed, "findings": findings}))?;
    } else {
        for f in findings {
            println!("{:<4}  {}: {}", f.status.as_str(), f.subject, f.message);
            if let Some(fix) = &f.fix {
                println!("      fix: {fix}");
            }
        }
        let count = |s| findings.iter().filter(|f| f.status == s).count();
        println!(
            "\n{} pass, {} warn, {} fail",
            count(Status::Pass),
            count(Status::Warn),
            count(Status::Fail)
        );
    }
    Ok(if failed {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    })
}
