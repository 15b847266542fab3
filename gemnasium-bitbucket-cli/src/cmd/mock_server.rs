//! `mock-server`: the library's `MockBitbucket`, seeded and served until SIGINT or SIGTERM.

use anyhow::Context;
use gemnasium_bitbucket::testing::served::{MockSetup, MockSetupOptions};
use gemnasium_bitbucket::testing::MockBitbucket;

use super::Ctx;
use crate::cli::MockServerArgs;
use crate::error::hinted;
use crate::output::print_json;

pub async fn run(ctx: &Ctx, args: MockServerArgs) -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", args.port)).map_err(|e| {
        hinted(
            format!("cannot listen on 127.0.0.1:{}: {e}", args.port),
            "choose another --port, or --port 0 for any free one",
        )
    })?;
    let mock = MockBitbucket::start_on(listener).await;
    let options = MockSetupOptions::new()
        .workspaces(args.workspaces)
        .latency(std::time::Duration::from_millis(args.latency_ms))
        .callback(args.callback)
        .signed_in(args.signed_in);
    let setup = mock
        .seed(&options)
        .map_err(|e| hinted(e, "give --signed-in jdoe or --signed-in rroe"))?;
    if ctx.json {
        print_json(&setup)?;
    } else {
        print_setup(&setup);
    }
    shutdown_signal().await?;
    eprintln!("mock Bitbucket stopped");
    Ok(())
}

/// The homepage whose callback the consumer registers: the callback less its fixed suffix.
fn homepage_of(callback: &str) -> &str {
    callback
        .strip_suffix("/auth/auth/bitbucket.org")
        .unwrap_or(callback)
}

fn print_setup(setup: &MockSetup) {
    let users: Vec<String> = setup
        .users
        .iter()
        .map(|u| format!("{} ({})", u.nickname, u.display_name))
        .collect();
    let signed_in = setup.signed_in.as_deref().map_or_else(
        || "nobody (authorizing shows a page to choose the user)".to_owned(),
        |u| format!("{u} (authorizing succeeds at once)"),
    );
    println!("mock Bitbucket listening on {}", setup.base_url);
    println!("  consumer key:    {}", setup.key);
    println!(
        "  consumer secret: {} (the mock's own test value)",
        setup.secret
    );
    println!("  callback URL:    {}", setup.callback);
    println!("  scopes:          {}", setup.scopes);
    println!("  users:           {}", users.join(", "));
    println!("  signed in:       {signed_in}");
    println!(
        "  workspaces:      {} ({} repositories)",
        setup.workspaces, setup.repositories
    );
    println!();
    println!("Record it (a store of your choice with --store or GEMNASIUM_STORE):");
    println!(
        "  BB_SECRET={} gemnasium-bitbucket configure --homepage {} --site-url {} --api-url {} --key {} --secret-env BB_SECRET --yes",
        setup.secret,
        homepage_of(&setup.callback),
        setup.site_url,
        setup.api_url,
        setup.key
    );
    println!("Or sync without signing in, with a workspace access token or jdoe's API token:");
    if let Some(access) = &setup.access_token {
        println!(
            "  ACCESS_TOKEN={} gemnasium-bitbucket auth credentials add bitbucket.org {}-bot --access-token-env ACCESS_TOKEN --workspace {} --expires-at {}",
            access.token, access.workspace, access.workspace, access.expires_on
        );
    }
    println!(
        "  API_TOKEN={} gemnasium-bitbucket auth credentials add bitbucket.org jdoe-api --api-token-env API_TOKEN --email {} --expires-at {}",
        setup.api_token.token, setup.api_token.email, setup.api_token.expires_on
    );
    println!("  gemnasium-bitbucket repo-syncer sync bitbucket.org --credential jdoe-api");
    println!("Deliver a signed repo:push to every hook of a repository:");
    println!(
        "  curl -X POST '{}/_mock/push?repo=acme/r00'",
        setup.base_url
    );
    println!(
        "Users, repositories, hooks and deliveries: {}/ in a browser. Ctrl-C stops.",
        setup.base_url
    );
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot listen for SIGTERM")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("cannot listen for Ctrl-C")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("cannot listen for Ctrl-C")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::homepage_of;

    #[test]
    fn the_homepage_is_the_callback_less_its_suffix() {
        assert_eq!(
            homepage_of("http://127.0.0.1:8080/auth/auth/bitbucket.org"),
            "http://127.0.0.1:8080"
        );
        assert_eq!(homepage_of("http://x/other"), "http://x/other");
    }
}
