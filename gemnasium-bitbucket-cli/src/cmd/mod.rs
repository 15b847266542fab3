//! One module per command family; each turns parsed arguments into one call on the
//! [`Bitbucket`] handle and prints the result.

mod clients;
mod completions;
mod configure;
mod credentials;
mod declarative;
mod doctor;
mod links;
mod login;
#[cfg(feature = "mock-server")]
mod mock_server;
mod provider;
mod sources;
mod store_admin;
mod store_migrate;
mod sync;
mod tokens;

use std::time::Duration;

use gemnasium_bitbucket::store::{self, DynStore};
use gemnasium_bitbucket::Bitbucket;

use crate::cli::{AuthCommand, Cli, Command, NetArgs};
use crate::error::{hinted, with_hint};

/// Whether a command only reads the store (then a read-only store is fine).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Global options every command may need.
pub struct Ctx {
    pub store: Option<String>,
    pub json: bool,
    pub net: NetArgs,
}

impl Ctx {
    fn location(&self) -> anyhow::Result<String> {
        match &self.store {
            Some(location) => Ok(location.clone()),
            None => default_store_location(),
        }
    }

    /// Opens the configured store (default: SQLite in the user's data directory).
    pub async fn open_store(&self, access: Access) -> anyhow::Result<DynStore> {
        let location = self.location()?;
        let options = store::StoreOptions::from_env()?;
        let store = match access {
            Access::Read => store::open_for_reading_with(&location, &options).await?,
            Access::Write => store::open_with(&location, &options).await?,
        };
        Ok(store)
    }

    /// Opens the store and the handle over it, with this invocation's network options;
    /// `default_timeout` applies when `--timeout` is not given.
    pub async fn bitbucket(
        &self,
        access: Access,
        default_timeout: u64,
    ) -> anyhow::Result<Bitbucket> {
        let store = self.open_store(access).await?;
        self.handle(store, default_timeout)
    }

    /// The handle over an open store.
    pub fn handle(&self, store: DynStore, default_timeout: u64) -> anyhow::Result<Bitbucket> {
        let timeout = Duration::from_secs(self.net.timeout.unwrap_or(default_timeout).max(1));
        let mut retry = gemnasium_bitbucket::api::RetryPolicy::default();
        retry.base_delay = Duration::from_millis(self.net.retry_base_ms);
        let mut builder = Bitbucket::builder(store).retry(retry).timeout(timeout);
        if let Some(path) = &self.net.ca_cert {
            let pem = std::fs::read(path).map_err(|e| {
                hinted(
                    format!("cannot read the CA certificate {}: {e}", path.display()),
                    "give a readable PEM file with --ca-cert",
                )
            })?;
            builder = builder.extra_ca_pem(pem);
        }
        builder.build().map_err(|e| {
            with_hint(
                e,
                "give a PEM file holding the CA certificate (-----BEGIN CERTIFICATE-----) with --ca-cert",
            )
        })
    }
}

fn default_store_location() -> anyhow::Result<String> {
    let dir = dirs::data_dir().ok_or_else(|| {
        hinted(
            "cannot find your data directory to keep the default store in",
            "pass --store sqlite://PATH or set GEMNASIUM_STORE",
        )
    })?;
    Ok(format!(
        "sqlite://{}",
        dir.join("gemnasium-bitbucket").join("store.db").display()
    ))
}

/// Runs the command; `Ok` carries the exit code for commands that report rather than fail
/// (`doctor` exits 1 on a failed check without an `error:` line).
pub async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    let ctx = Ctx {
        store: cli.store,
        json: cli.json,
        net: cli.net,
    };
    let done = std::process::ExitCode::SUCCESS;
    match cli.command {
        Command::Configure(args) => configure::run(&ctx, args).await.map(|()| done),
        Command::Doctor(args) => doctor::run(&ctx, args).await,
        Command::Auth(args) => match args.command {
            AuthCommand::Provider { command } => provider::run(&ctx, *command).await,
            AuthCommand::Clients { command } => clients::run(&ctx, command).await,
            AuthCommand::Login {
                provider,
                purpose,
                homepage,
                pkce,
            } => login::login(&ctx, &provider, purpose, homepage, pkce).await,
            AuthCommand::Tokens { command } => tokens::run(&ctx, command).await,
            AuthCommand::Credentials { command } => credentials::run(&ctx, command).await,
        }
        .map(|()| done),
        Command::RepoSyncer(args) => sync::run(&ctx, args.command).await.map(|()| done),
        Command::Links { dir, force } => links::run(&ctx, &dir, force).map(|()| done),
        #[cfg(feature = "mock-server")]
        Command::MockServer(args) => mock_server::run(&ctx, args).await.map(|()| done),
        Command::Completions { shell } => completions::completions(shell).map(|()| done),
        Command::Man => completions::man().map(|()| done),
        Command::Store { command } => store_admin::run(&ctx, command).await.map(|()| done),
        Command::Export { include_secrets } => declarative::export(&ctx, include_secrets)
            .await
            .map(|()| done),
        Command::Apply {
            file,
            dry_run,
            prune,
        } => declarative::apply(&ctx, &file, dry_run, prune)
            .await
            .map(|()| done),
    }
}
