//! `doctor`: pass/warn/fail lines, each with a fix; read-only unless `--refresh`.

use gemnasium_bitbucket::doctor::{Finding, Problem, Status, Subject};
use gemnasium_bitbucket::service::DoctorOptions;

use super::{Access, Ctx};
use crate::cli::DoctorArgs;
use crate::outln;
use crate::output::print_json;

pub async fn run(ctx: &Ctx, args: DoctorArgs) -> anyhow::Result<std::process::ExitCode> {
    let store = match ctx.open_store(Access::Read).await {
        Ok(store) => store,
        Err(e) => {
            let finding = Finding::fail(
                Subject::Store {
                    location: ctx.store.clone().unwrap_or_else(|| "(default)".to_owned()),
                },
                format!("{e:#}"),
                Problem::StoreUnavailable,
            );
            return report(ctx, &[finding]);
        }
    };
    let bitbucket = ctx.handle(store, 10)?;
    let options = DoctorOptions::new()
        .offline(args.offline)
        .refresh(args.refresh);
    let findings = bitbucket.doctor(&options).await?;
    report(ctx, &findings)
}

/// How to fix `problem` with this program's commands.
fn fix(problem: &Problem) -> String {
    match problem {
        Problem::StoreUnavailable => "fix --store (or GEMNASIUM_STORE), or restore the store from a backup".into(),
        Problem::NoProvider => "run `configure`, or `auth provider create bitbucket.org bitbucket https://bitbucket.org/site/oauth2/authorize https://bitbucket.org/site/oauth2/access_token`".into(),
        Problem::UnusualUrl { provider, field, expected } => format!(
            "unless this is deliberate, `auth provider update {provider} --{} {expected}`",
            field.to_lowercase().replace(' ', "-")
        ),
        Problem::ApiUrlOnWebsite { provider } => format!(
            "`auth provider update {provider} --api-url https://api.bitbucket.org` and `repo-syncer sources update {provider} --api-url https://api.bitbucket.org`"
        ),
        Problem::NoHomepage { provider } => format!(
            "`auth provider update {provider} --homepage https://YOUR-GEMNASIUM` (or re-run `configure`)"
        ),
        Problem::MissingClient { provider, purpose } => format!(
            "run `auth clients create {provider} {purpose} KEY SECRET {}`",
            purpose.recommended_scopes()
        ),
        Problem::ScopesMissing { provider, purpose, scopes, missing } => {
            let boxes: Vec<_> = missing.iter().map(gemnasium_bitbucket::Scope::checkbox).collect();
            let all: gemnasium_bitbucket::ScopeSet = scopes.iter().chain(missing.iter()).collect();
            format!(
                "tick {} on the consumer, then `auth clients update {provider} {purpose} --scopes {all}`",
                boxes.join(", ")
            )
        }
        Problem::NoSource { provider, api_url } => format!(
            "run `repo-syncer sources create {provider} \"Bitbucket Cloud\" bitbucket {api_url}`"
        ),
        Problem::SourceApiUrl { provider, api_url } => format!(
            "make them equal, e.g. `repo-syncer sources update {provider} --api-url {api_url}`"
        ),
        Problem::ConsumerRefused { provider, purpose } => format!(
            "copy them again and `auth clients update {provider} {purpose} --key KEY --secret-stdin`"
        ),
        Problem::NotVerified => "run doctor without --offline".into(),
        Problem::TokenNeedsReauth { key } | Problem::TokenExpired { key } => {
            format!("the account owner runs `auth login {} {}` again", key.provider, key.purpose)
        }
        Problem::TokenIdle { .. } => {
            "run `auth tokens refresh --older-than 30d` (daily from cron)".into()
        }
        Problem::SignInUnrestricted { provider } => format!(
            "unless anyone with a Bitbucket account may sign in: `auth provider update {provider} --allow-workspace SLUG` (repeatable)"
        ),
        other => other.advice(),
    }
}

fn report(ctx: &Ctx, findings: &[Finding]) -> anyhow::Result<std::process::ExitCode> {
    let failed = findings.iter().any(|f| f.status == Status::Fail);
    if ctx.json {
        let findings: Vec<_> = findings
            .iter()
            .map(|f| {
                serde_json::json!({
                    "subject": f.subject.to_string(),
                    "status": f.status,
                    "message": f.message,
                    "problem": f.problem,
                    "fix": f.problem.as_ref().map(fix),
                })
            })
            .collect();
        print_json(&serde_json::json!({"ok": !failed, "findings": findings}))?;
    } else {
        for f in findings {
            outln!("{:<4}  {}: {}", f.status.as_str(), f.subject, f.message)?;
            if let Some(problem) = &f.problem {
                outln!("      fix: {}", fix(problem))?;
            }
        }
        let count = |s| findings.iter().filter(|f| f.status == s).count();
        outln!(
            "\n{} pass, {} warn, {} fail",
            count(Status::Pass),
            count(Status::Warn),
            count(Status::Fail)
        )?;
    }
    Ok(if failed {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    })
}
