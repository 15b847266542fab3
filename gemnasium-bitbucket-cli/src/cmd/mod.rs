//! One module per command family; each turns parsed arguments into library calls and output.

mod auth;
mod configure;
mod doctor;
mod links;
mod oauth;
mod repo_syncer;
mod sync;

use gemnasium_bitbucket::model::ModelError;
use gemnasium_bitbucket::store::{self, DynStore, Entity, StoreError};

use crate::cli::{Cli, Command};
use crate::error::hinted;

/// Global options every command may need.
pub struct Ctx {
    pub store: Option<String>,
    pub json: bool,
}

impl Ctx {
    /// Opens the configured store (default: SQLite in the user's data directory).
    pub async fn open_store(&self) -> anyhow::Result<DynStore> {
        let location = match &self.store {
            Some(location) => location.clone(),
            None => default_store_location()?,
        };
        store::open(&location)
            .await
            .map_err(|e| store_error(e, None))
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
    };
    let done = std::process::ExitCode::SUCCESS;
    match cli.command {
        Command::Configure(args) => configure::run(&ctx, args).await.map(|()| done),
        Command::Doctor(args) => doctor::run(&ctx, args).await,
        Command::Auth(args) => auth::run(&ctx, args.command).await.map(|()| done),
        Command::RepoSyncer(args) => repo_syncer::run(&ctx, args.command).await.map(|()| done),
        Command::Links { dir, force } => links::run(&ctx, &dir, force).map(|()| done),
    }
}

/// Turns a store error into one with advice; `update_hint` is the exact command that would
/// change the conflicting row.
pub fn store_error(e: StoreError, update_hint: Option<String>) -> anyhow::Error {
    let hint = match &e {
        StoreError::Conflict { .. } => update_hint,
        StoreError::NotFound {
            entity: Entity::Provider,
            ..
        } => Some("list providers with `auth provider list`".to_owned()),
        StoreError::NotFound {
            entity: Entity::Client,
            ..
        } => Some("list clients with `auth clients list`".to_owned()),
        StoreError::NotFound {
            entity: Entity::Source,
            ..
        } => Some("list sources with `repo-syncer sources list`".to_owned()),
        StoreError::ProviderInUse { provider, .. } => Some(format!(
            "`auth provider delete {provider} --cascade` deletes them all"
        )),
        _ => None,
    };
    match hint {
        Some(hint) => hinted(e, hint),
        None => anyhow::Error::new(e),
    }
}

/// Parses a command-line value into a model type, keeping the model's explanation.
pub fn parse<T>(value: &str) -> anyhow::Result<T>
where
    T: std::str::FromStr<Err = ModelError>,
{
    value.parse::<T>().map_err(anyhow::Error::new)
}

/// Parses a URL argument named `field` (for messages).
pub fn parse_url(
    field: &'static str,
    value: &str,
) -> anyhow::Result<gemnasium_bitbucket::model::ServiceUrl> {
    gemnasium_bitbucket::model::ServiceUrl::parse(field, value).map_err(anyhow::Error::new)
}
