//! `export` and `apply`: the configuration as one TOML file.

use std::io::{Read as _, Write as _};
use std::path::Path;

use gemnasium_bitbucket::declarative::{
    Change, Configuration, ConfigurationError, ExportSecrets, FieldChange, Plan,
};
use serde_json::json;

use super::{Access, Ctx};
use crate::error::hinted;
use crate::output::{line, note, print_json, warn};

/// Seconds allowed per request (neither command calls Bitbucket; the handle wants one).
const TIMEOUT: u64 = 10;

pub async fn export(ctx: &Ctx, include_secrets: bool) -> anyhow::Result<()> {
    let bitbucket = ctx.bitbucket(Access::Read, TIMEOUT).await?;
    let config = bitbucket.export_configuration().await?;
    let secrets = if include_secrets {
        ExportSecrets::Included
    } else {
        ExportSecrets::References
    };
    let text = config.to_toml(secrets)?;
    let variables = match secrets {
        ExportSecrets::References => config.secret_variables(),
        _ => Vec::new(),
    };
    if ctx.json {
        print_json(&json!({"toml": text, "secret_variables": variables}))?;
    } else {
        // Exact bytes: the file is for `apply`, not for a terminal.
        std::io::stdout().lock().write_all(text.as_bytes())?;
    }
    if include_secrets && !config.clients().is_empty() {
        warn(format!(
            "the output holds {} secret(s) in plain text; keep it like a password",
            config.clients().len()
        ));
    } else if !variables.is_empty() {
        note(format!(
            "secrets are written as env: references; before `apply`, set {}",
            variables.join(", ")
        ));
    }
    Ok(())
}

pub async fn apply(ctx: &Ctx, file: &Path, dry_run: bool, prune: bool) -> anyhow::Result<()> {
    let shown = file.display().to_string();
    let text = if shown == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(|e| {
            hinted(
                format!("cannot read standard input: {e}"),
                "pipe the TOML file in, or give its path",
            )
        })?;
        text
    } else {
        std::fs::read_to_string(file).map_err(|e| {
            hinted(
                format!("cannot read {shown}: {e}"),
                "give the path of a file written by `gemnasium-bitbucket export`",
            )
        })?
    };
    let wanted = Configuration::from_toml(&text, |name| std::env::var(name).ok())
        .map_err(|e| file_error(&shown, e))?;
    let access = if dry_run { Access::Read } else { Access::Write };
    let bitbucket = ctx.bitbucket(access, TIMEOUT).await?;
    let plan = if dry_run {
        bitbucket.plan_configuration(&wanted, prune).await?
    } else {
        bitbucket.apply_configuration(&wanted, prune).await?
    };
    if ctx.json {
        return print_json(&json!({
            "dry_run": dry_run,
            "prune": prune,
            "applied": plan.applied,
            "summary": plan.summary(),
            "items": plan.items,
        }));
    }
    print_plan(&plan, dry_run)?;
    Ok(())
}

/// A configuration error, with the file's name and advice.
fn file_error(file: &str, e: ConfigurationError) -> anyhow::Error {
    let hint = match &e {
        ConfigurationError::UnsetVariables { .. } => {
            "export each variable with its client's consumer secret (nothing was written)"
        }
        _ => "fix the file (`gemnasium-bitbucket export` shows the expected shape); nothing was written",
    };
    hinted(format!("{file}: {e}"), hint)
}

fn value(v: Option<&String>) -> &str {
    v.map_or("(unset)", String::as_str)
}

fn print_plan(plan: &Plan, dry_run: bool) -> anyhow::Result<()> {
    for item in &plan.items {
        let mut head = format!("{:<10} {} {}", item.change.as_str(), item.entity, item.key);
        if item.change == Change::Kept {
            head.push_str(" (not in the file; --prune deletes it)");
        }
        line(head)?;
        for FieldChange {
            field, from, to, ..
        } in &item.fields
        {
            match item.change {
                Change::Create => line(format!("             {field}: {}", value(to.as_ref())))?,
                _ => line(format!(
                    "             {field}: {} -> {}",
                    value(from.as_ref()),
                    value(to.as_ref())
                ))?,
            }
        }
    }
    let s = plan.summary();
    let counts = format!(
        "{} to create, {} to update, {} unchanged, {} to delete, {} kept",
        s.create, s.update, s.unchanged, s.delete, s.kept
    );
    if dry_run {
        line(format!("dry run, nothing written: {counts}"))?;
    } else if plan.applied {
        line(format!(
            "applied in one transaction: {} created, {} updated, {} unchanged, {} deleted, {} kept",
            s.create, s.update, s.unchanged, s.delete, s.kept
        ))?;
    } else {
        line(format!("nothing to change: {counts}"))?;
    }
    Ok(())
}
