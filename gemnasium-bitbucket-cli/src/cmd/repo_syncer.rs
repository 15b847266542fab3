//! `repo-syncer sources …`.

use gemnasium_bitbucket::model::{DisplayName, ProviderKind, ProviderName, Source};

use super::sync;
use super::{parse, parse_url, store_error, Ctx};
use crate::cli::{RepoSyncerCommand, ReposCommand, SourcesCommand};
use crate::error::{hinted, usage};
use crate::output::{
    print_fields, print_json, print_outcome, print_table, print_write, source_fields, source_json,
};

pub async fn run(ctx: &Ctx, command: RepoSyncerCommand) -> anyhow::Result<()> {
    match command {
        RepoSyncerCommand::Sources { command } => sources(ctx, command).await,
        RepoSyncerCommand::Repos {
            command:
                ReposCommand::List {
                    source,
                    who,
                    refresh,
                },
        } => sync::list(ctx, &source, &who, refresh).await,
        RepoSyncerCommand::Sync {
            source,
            who,
            workspace,
            hooks_url,
            events,
            dry_run,
        } => {
            sync::sync(
                ctx,
                &source,
                &who,
                workspace,
                hooks_url.as_deref(),
                &events,
                dry_run,
            )
            .await
        }
        RepoSyncerCommand::Track { source, full_names } => {
            sync::track(ctx, &source, &full_names).await
        }
        RepoSyncerCommand::Untrack {
            source,
            full_names,
            who,
            keep_hooks,
        } => sync::untrack_all(ctx, &source, &full_names, &who, keep_hooks).await,
    }
}

async fn sources(ctx: &Ctx, command: SourcesCommand) -> anyhow::Result<()> {
    match command {
        SourcesCommand::Create {
            provider,
            display_name,
            kind,
            api_url,
        } => {
            let source = Source {
                provider: parse::<ProviderName>(&provider)?,
                display_name: parse::<DisplayName>(&display_name)?,
                kind: parse::<ProviderKind>(&kind)?,
                api_url: parse_url("API URL", &api_url)?,
            };
            let store = ctx.open_store().await?;
            let outcome = store.create_source(&source).await.map_err(|e| {
                store_error(
                    e,
                    Some(format!(
                        "to change it: repo-syncer sources update {} --display-name \"{}\" --api-url {}",
                        source.provider, source.display_name, source.api_url
                    )),
                )
            })?;
            print_write(ctx.json, "source", source.provider.as_str(), outcome)
        }
        SourcesCommand::List => {
            let sources = ctx.open_store().await?.sources().await?;
            if ctx.json {
                return print_json(&sources.iter().map(source_json).collect::<Vec<_>>());
            }
            let rows: Vec<Vec<String>> = sources
                .iter()
                .map(|s| {
                    vec![
                        s.provider.to_string(),
                        s.display_name.to_string(),
                        s.kind.to_string(),
                        s.api_url.to_string(),
                    ]
                })
                .collect();
            print_table(
                &["PROVIDER", "DISPLAY NAME", "KIND", "API URL"],
                &rows,
                "no sources; add one with `repo-syncer sources create` or run `configure`",
            );
            Ok(())
        }
        SourcesCommand::Show { provider } => {
            let source = find_source(ctx, &provider).await?;
            if ctx.json {
                return print_json(&source_json(&source));
            }
            print_fields(&source_fields(&source));
            Ok(())
        }
        SourcesCommand::Update {
            provider,
            display_name,
            api_url,
        } => {
            let provider = parse::<ProviderName>(&provider)?;
            let display_name = display_name.map(|d| parse::<DisplayName>(&d)).transpose()?;
            let api_url = api_url.map(|u| parse_url("API URL", &u)).transpose()?;
            if display_name.is_none() && api_url.is_none() {
                return Err(usage("nothing to update; pass --display-name or --api-url"));
            }
            let mut source = find_source(ctx, provider.as_str()).await?;
            source.display_name = display_name.unwrap_or(source.display_name);
            source.api_url = api_url.unwrap_or(source.api_url);
            let store = ctx.open_store().await?;
            let outcome = store
                .update_source(&source)
                .await
                .map_err(|e| store_error(e, None))?;
            print_write(ctx.json, "source", provider.as_str(), outcome)
        }
        SourcesCommand::Delete {
            provider,
            who,
            keep_hooks,
        } => {
            let provider = parse::<ProviderName>(&provider)?;
            let store = ctx.open_store().await?;
            if !keep_hooks {
                let removed = sync::remove_all_hooks(&store, &provider, &who).await?;
                if removed > 0 && !ctx.json {
                    println!("removed {removed} webhook(s) from Bitbucket");
                }
            }
            store
                .delete_source(&provider)
                .await
                .map_err(|e| store_error(e, None))?;
            print_outcome(ctx.json, "source", provider.as_str(), "deleted")
        }
    }
}

async fn find_source(ctx: &Ctx, provider: &str) -> anyhow::Result<Source> {
    let provider = parse::<ProviderName>(provider)?;
    ctx.open_store()
        .await?
        .source(&provider)
        .await?
        .ok_or_else(|| {
            hinted(
                format!("source `{provider}` does not exist"),
                "list sources with `repo-syncer sources list`",
            )
        })
}
