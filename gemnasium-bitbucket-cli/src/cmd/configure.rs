//! `configure`: the one-stop set-up Gemnasium's documentation promises.

use std::io::IsTerminal;
use std::time::Duration;

use gemnasium_bitbucket::model::{ClientKey, ClientSecret, Provider, Purpose, ServiceUrl};
use gemnasium_bitbucket::oauth::{
    http_client, redirect_uri, verify_consumer, Verdict, Verification,
};
use gemnasium_bitbucket::provision::{apply, callback_url, Configuration, ConsumerForm};
use serde_json::json;

use super::{parse, parse_url, store_error, Ctx};
use crate::cli::ConfigureArgs;
use crate::error::{hinted, usage};
use crate::output::{print_json, warn};

fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

fn prompt(label: &str, allow_empty: bool) -> anyhow::Result<String> {
    Ok(dialoguer::Input::<String>::new()
        .with_prompt(label)
        .allow_empty(allow_empty)
        .interact_text()?)
}

pub async fn run(ctx: &Ctx, args: ConfigureArgs) -> anyhow::Result<()> {
    let interactive = interactive() && !args.yes;
    let secret_flag_given =
        args.secret_flags.secret_stdin || args.secret_flags.secret_env.is_some();
    if !interactive {
        let mut missing = Vec::new();
        if args.homepage.is_none() {
            missing.push("--homepage URL");
        }
        if args.key.is_none() {
            missing.push("--key KEY");
        }
        if !secret_flag_given {
            missing.push("--secret-env VAR or --secret-stdin");
        }
        if !missing.is_empty() {
            return Err(usage(format!(
                "configure needs {} when it cannot ask (no terminal, or --yes)",
                missing.join(", ")
            )));
        }
    }
    let site = parse_url("site URL", &args.site_url)?;
    let api = parse_url("API URL", &args.api_url)?;
    let purposes = if args.login_only {
        vec![Purpose::Login]
    } else if args.sync_only {
        vec![Purpose::Sync]
    } else {
        Purpose::ALL.to_vec()
    };

    let homepage = match &args.homepage {
        Some(h) => h.clone(),
        None => prompt(
            "Gemnasium homepage URL (e.g. https://gemnasium.example.com)",
            false,
        )?,
    };
    let homepage = parse_url("homepage URL", &homepage)?;
    let workspace = match (&args.workspace, interactive) {
        (Some(w), _) => Some(w.clone()),
        (None, true) => Some(prompt(
            "Bitbucket workspace that will own the consumer (optional)",
            true,
        )?)
        .filter(|w| !w.trim().is_empty()),
        (None, false) => None,
    };
    let provider = Provider::bitbucket_at(&site, api);
    let form = ConsumerForm::new(
        &site,
        &homepage,
        &provider.name,
        &purposes,
        workspace.as_deref(),
    )?;
    if !ctx.json {
        print_form(&form);
    }

    let key = match &args.key {
        Some(k) => k.clone(),
        None => prompt("Consumer Key", false)?,
    };
    let key = parse::<ClientKey>(&key)?;
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

    let config = Configuration {
        purposes,
        provider,
        ..Configuration::bitbucket_cloud(key, secret)
    };
    let callback = callback_url(&homepage, &config.provider.name)?;
    let verification = if args.no_verify {
        None
    } else {
        let clients = config.clients();
        let first = clients.first().expect("at least one purpose");
        let http = http_client(Duration::from_secs(args.timeout));
        let v = verify_consumer(
            &http,
            &config.provider,
            first,
            &redirect_uri(&callback, first.purpose),
        )
        .await;
        if v.credentials_valid == Verdict::No {
            return Err(hinted(
                "Bitbucket refused the consumer key and secret (Invalid OAuth client credentials); nothing was recorded",
                "copy the Key and Secret again from the consumer's page on Bitbucket",
            ));
        }
        Some(v)
    };

    let store = ctx.open_store().await?;
    let steps = apply(store.as_ref(), &config)
        .await
        .map_err(|e| store_error(e, None))?;
    if ctx.json {
        return print_json(&json!({
            "consumer_form": form,
            "steps": steps,
            "verification": verification,
        }));
    }
    println!("\nRecorded in {}:", store.location());
    for step in &steps {
        println!("  {} {}: {}", step.entity, step.key, step.outcome.as_str());
    }
    print_verification(verification.as_ref(), &callback);
    println!("\nNext:");
    if config.purposes.contains(&Purpose::Login) {
        println!("  - users can sign in with Bitbucket at {homepage}");
    }
    if config.purposes.contains(&Purpose::Sync) {
        println!(
            "  - authorize an account for repository import: auth login {} sync --homepage {homepage}",
            config.provider.name
        );
    }
    println!("  - check everything at any time: gemnasium-bitbucket doctor");
    Ok(())
}

fn print_form(form: &ConsumerForm) {
    println!(
        "Create the OAuth consumer on Bitbucket (consumers cannot be created through the API):"
    );
    match &form.form_link {
        Some(link) => println!("  Form:          {link}"),
        None => println!("  Form:          Workspace settings > Apps and features > OAuth consumers > Add consumer"),
    }
    println!("  Name:          {}", form.name);
    println!("  Callback URL:  {}", form.callback_url);
    println!("  URL:           {}", form.url);
    println!("  Private:       leave \"This is a private consumer\" unticked");
    println!("  Permissions:   {}", form.permissions.join(", "));
    println!("  (Bitbucket grants exactly the ticked boxes, whatever is asked; the scopes recorded mirror them.)\n");
}

fn print_verification(v: Option<&Verification>, callback: &str) {
    let Some(v) = v else {
        println!("\nConsumer verification: skipped (--no-verify)");
        return;
    };
    if let Some(reason) = &v.unreachable {
        println!("\nConsumer verification: skipped (unreachable: {reason})");
        return;
    }
    println!("\nConsumer verification:");
    println!("  key and secret: accepted by Bitbucket");
    match v.callback_set {
        Verdict::No => warn(format!(
            "the consumer has no callback URL; edit it on Bitbucket and set {callback}"
        )),
        Verdict::Yes => println!("  callback URL:   set"),
        Verdict::Unknown => println!("  callback URL:   unknown"),
    }
    match (&v.granted, &v.missing) {
        (Some(granted), Some(missing)) if !missing.is_empty() => warn(format!(
            "the consumer grants {granted} but lacks {missing}; tick those boxes on Bitbucket"
        )),
        (Some(granted), _) => println!("  scopes granted: {granted}"),
        _ => {}
    }
    if v.private == Verdict::Yes {
        println!("  private:        yes (fine; only needed for --as-consumer syncs)");
    }
}

/// Checks a homepage URL into the callback URL, for commands that take `--homepage`.
pub fn callback_for(
    homepage: &str,
    provider: &gemnasium_bitbucket::model::ProviderName,
) -> anyhow::Result<String> {
    let homepage: ServiceUrl = parse_url("homepage URL", homepage)?;
    Ok(callback_url(&homepage, provider)?)
}
