//! `configure`: the one-stop set-up Gemnasium's documentation promises.

use std::io::IsTerminal;

use gemnasium_bitbucket::model::{ClientSecret, Provider, Purpose, ServiceUrl};
use gemnasium_bitbucket::oauth::{Check, Verification};
use gemnasium_bitbucket::provision::{Configuration, ConsumerForm};
use serde_json::json;

use super::{Access, Ctx};
use crate::cli::ConfigureArgs;
use crate::error::{hinted, usage};
use crate::output::{print_json, warn};
use crate::{args, outln};

fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

fn prompt(label: &str, allow_empty: bool) -> anyhow::Result<String> {
    Ok(dialoguer::Input::<String>::new()
        .with_prompt(label)
        .allow_empty(allow_empty)
        .interact_text()?)
}

/// Asks until the answer parses (a terminal user can retype), with `parse`'s error shown.
fn prompt_parsed<T, E: std::fmt::Display>(
    label: &str,
    parse: impl Fn(&str) -> Result<T, E>,
) -> anyhow::Result<T> {
    loop {
        match parse(prompt(label, false)?.trim()) {
            Ok(value) => return Ok(value),
            Err(e) => crate::output::note(format!("  {e}")),
        }
    }
}

pub async fn run(ctx: &Ctx, args: ConfigureArgs) -> anyhow::Result<()> {
    let interactive = interactive() && !args.yes;
    if !interactive {
        let mut missing = Vec::new();
        if args.homepage.is_none() {
            missing.push("--homepage URL");
        }
        if args.key.is_none() {
            missing.push("--key KEY");
        }
        if !args.secret_flags.given() {
            missing.push("--secret-env VAR or --secret-stdin");
        }
        if !missing.is_empty() {
            return Err(usage(format!(
                "configure needs {} when it cannot ask (no terminal, or --yes)",
                missing.join(", ")
            )));
        }
    }
    let purposes = if args.login_only {
        vec![Purpose::Login]
    } else if args.sync_only {
        vec![Purpose::Sync]
    } else {
        Purpose::ALL.to_vec()
    };

    let homepage: ServiceUrl = match args.homepage {
        Some(h) => h,
        None => prompt_parsed(
            "Gemnasium homepage URL (e.g. https://gemnasium.example.com)",
            args::homepage,
        )?,
    };
    let workspace = match (&args.workspace, interactive) {
        (Some(w), _) => Some(w.clone()),
        (None, true) => Some(prompt(
            "Bitbucket workspace that will own the consumer (optional)",
            true,
        )?)
        .filter(|w| !w.trim().is_empty()),
        (None, false) => None,
    };
    let provider = Provider::bitbucket_at(&args.site_url, args.api_url.clone())
        .with_homepage(homepage.clone())?;
    let form = ConsumerForm::new(
        &args.site_url,
        &homepage,
        &provider.name,
        &purposes,
        workspace.as_deref(),
    )?;
    if !ctx.json {
        print_form(&form)?;
    }

    let key = match args.key {
        Some(k) => k,
        None => prompt_parsed("Consumer Key", args::client_key)?,
    };
    let secret = match args.secret_flags.resolve(None, false)? {
        Some(secret) => secret,
        None => ClientSecret::new(
            dialoguer::Password::new()
                .with_prompt("Consumer Secret (input hidden)")
                .interact()?,
        )?,
    };
    if interactive
        && !dialoguer::Confirm::new()
            .with_prompt("Record this consumer for Gemnasium?")
            .default(true)
            .interact()?
    {
        return Err(hinted(
            "cancelled; nothing was recorded",
            "run `configure` again when ready",
        ));
    }

    let bitbucket = ctx.bitbucket(Access::Write, 10).await?;
    // Re-running configure must not lift a sign-in limit by omission: without either flag,
    // the recorded workspaces stay.
    let allowed = if args.any_workspace || !args.allow_workspaces.is_empty() {
        args.allow_workspaces.into_iter().collect()
    } else {
        bitbucket
            .store()
            .provider(&provider.name)
            .await?
            .map(|p| p.allowed_workspaces)
            .unwrap_or_default()
    };
    let provider = provider.with_allowed_workspaces(allowed);
    let config = Configuration::bitbucket_cloud(key, secret)
        .with_provider(provider)
        .with_purposes(&purposes);
    let verification = if args.no_verify {
        None
    } else {
        let clients = config.clients();
        let first = clients.first().expect("at least one purpose");
        let v = bitbucket.verify_client(&config.provider, first).await;
        if v.credentials == Check::No {
            return Err(hinted(
                "Bitbucket refused the consumer key and secret (Invalid OAuth client credentials); nothing was recorded",
                "copy the Key and Secret again from the consumer's page on Bitbucket",
            ));
        }
        Some(v)
    };

    let steps = bitbucket.apply(&config).await?;
    if ctx.json {
        return print_json(&json!({
            "consumer_form": form,
            "steps": steps,
            "verification": verification,
        }));
    }
    outln!("\nRecorded in {}:", bitbucket.store().location())?;
    for step in &steps {
        outln!("  {} {}: {}", step.entity, step.key, step.outcome.as_str())?;
    }
    print_verification(verification.as_ref(), &form)?;
    outln!("\nNext:")?;
    if config.purposes.contains(&Purpose::Login) {
        outln!("  - users can sign in with Bitbucket at {homepage}")?;
        if config.provider.allowed_workspaces.is_empty() {
            outln!("    (anyone with a Bitbucket account; limit it with --allow-workspace SLUG)")?;
        } else {
            outln!(
                "    (members of {} only)",
                config.provider.allowed_workspaces
            )?;
        }
    }
    if config.purposes.contains(&Purpose::Sync) {
        outln!(
            "  - authorize an account for repository import: auth login {} sync",
            config.provider.name
        )?;
    }
    outln!("  - check everything at any time: gemnasium-bitbucket doctor")?;
    Ok(())
}

fn print_form(form: &ConsumerForm) -> std::io::Result<()> {
    outln!("Create the OAuth consumer on Bitbucket (consumers cannot be created through the API;")?;
    outln!("some pages call it an \"OAuth client\"):")?;
    match &form.form_link {
        Some(link) => outln!("  Form:          {link}")?,
        None => outln!("  Form:          Workspace settings > Apps and features > OAuth consumers > Add consumer")?,
    }
    outln!("  Name:          {}", form.name)?;
    outln!("  Callback URL:  {}", form.callback_url)?;
    outln!("  URL:           {}", form.url)?;
    outln!("  Private:       leave \"This is a private consumer\" unticked")?;
    outln!("  Permissions:   {}", form.permissions.join(", "))?;
    outln!("  (Bitbucket grants exactly the ticked boxes, whatever is asked; the scopes recorded mirror them.)\n")
}

/// Prints what verification found. Only a clear acceptance is reported as accepted; an answer
/// that could not be read is a warning (the consumer is recorded anyway, and `doctor` or
/// `auth clients verify` check it again).
fn print_verification(v: Option<&Verification>, form: &ConsumerForm) -> std::io::Result<()> {
    let Some(v) = v else {
        return outln!("\nConsumer verification: skipped (--no-verify)");
    };
    if let Some(reason) = &v.unreachable {
        return outln!("\nConsumer verification: skipped (unreachable: {reason}); check later with `auth clients verify`");
    }
    outln!("\nConsumer verification:")?;
    match &v.credentials {
        Check::Yes => outln!("  key and secret: accepted by Bitbucket")?,
        Check::Unknown(reason) => warn(format!(
            "key and secret: unknown, Bitbucket's answer could not be read ({reason}); check later with `auth clients verify`"
        )),
        Check::No => {}
    }
    match &v.callback {
        Check::No => warn(format!(
            "the consumer has no callback URL; edit it on Bitbucket and set {}",
            form.callback_url
        )),
        Check::Yes => outln!("  callback URL:   set")?,
        Check::Unknown(_) => outln!("  callback URL:   unknown")?,
    }
    match (&v.granted, &v.missing) {
        (Some(granted), Some(missing)) if !missing.is_empty() => warn(format!(
            "the consumer grants {granted} but lacks {missing}; tick those boxes on Bitbucket"
        )),
        (Some(granted), _) => outln!("  scopes granted: {granted}")?,
        _ => {}
    }
    if v.private == Check::Yes {
        outln!("  private:        yes (fine; only needed for --as-consumer syncs)")?;
    }
    Ok(())
}
