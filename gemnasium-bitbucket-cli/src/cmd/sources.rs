//! `repo-syncer sources …`.

use gemnasium_bitbucket::model::{ProviderName, Source};
use gemnasium_bitbucket::store::{SourcePatch, StoreError};
use gemnasium_bitbucket::Error;

use super::sync::credential;
use super::{Access, Ctx};
use crate::cli::SourcesCommand;
use crate::error::{hinted, usage, with_hint};
use crate::outln;
use crate::output::{
    print_fields, print_json, print_outcome, print_table, print_updated, source_fields, source_json,
};

pub async fn run(ctx: &Ctx, command: SourcesCommand) -> anyhow::Result<()> {
    match command {
        SourcesCommand::Create {
            provider,
            display_name,
            kind,
            api_url,
        } => {
            let source = Source::new(provider, display_name, kind, api_url);
            let bitbucket = ctx.bitbucket(Access::Write, 30).await?;
            let outcome = bitbucket.create_source(&source).await.map_err(|e| match e {
                Error::Store(StoreError::Conflict { .. }) => with_hint(
                    e,
                    format!(
                        "to change it: repo-syncer sources update {} --display-name \"{}\" --api-url {}",
                        source.provider, source.display_name, source.api_url
                    ),
                ),
                other => other.into(),
            })?;
            print_outcome(
                ctx.json,
                "source",
                source.provider.as_str(),
                outcome.as_str(),
            )
        }
        SourcesCommand::List => {
            let sources = ctx.open_store(Access::Read).await?.sources().await?;
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
            Ok(print_table(
                &["PROVIDER", "DISPLAY NAME", "KIND", "API URL"],
                &rows,
                "no sources; add one with `repo-syncer sources create` or run `configure`",
            )?)
        }
        SourcesCommand::Show { provider } => {
            let source = find(ctx, &provider).await?;
            if ctx.json {
                return print_json(&source_json(&source));
            }
            Ok(print_fields(&source_fields(&source))?)
        }
        SourcesCommand::Update {
            provider,
            display_name,
            api_url,
        } => {
            let mut patch = SourcePatch::new();
            if let Some(name) = display_name {
                patch = patch.display_name(name);
            }
            if let Some(url) = api_url {
                patch = patch.api_url(url);
            }
            if patch.is_empty() {
                return Err(usage("nothing to update; pass --display-name or --api-url"));
            }
            let bitbucket = ctx.bitbucket(Access::Write, 30).await?;
            let updated = bitbucket.update_source(&provider, &patch).await?;
            print_updated(
                ctx.json,
                "source",
                provider.as_str(),
                updated.outcome.as_str(),
                updated.version,
            )
        }
        SourcesCommand::Delete {
            provider,
            who,
            keep_hooks,
        } => {
            let bitbucket = ctx.bitbucket(Access::Write, 30).await?;
            let credential = credential(&who);
            let removed = bitbucket
                .delete_source(&provider, credential, keep_hooks)
                .await
                .map_err(|e| {
                    hinted(
                        format!(
                            "cannot remove our webhooks from Bitbucket ({}); the source was not deleted",
                            crate::error::describe(&e.into())
                        ),
                        "fix access to Bitbucket and retry, or pass --keep-hooks to leave the webhooks there",
                    )
                })?;
            if removed > 0 && !ctx.json {
                outln!("removed {removed} webhook(s) from Bitbucket")?;
            }
            print_outcome(ctx.json, "source", provider.as_str(), "deleted")
        }
    }
}

async fn find(ctx: &Ctx, provider: &ProviderName) -> anyhow::Result<Source> {
    ctx.open_store(Access::Read)
        .await?
        .source(provider)
        .await?
        .ok_or_else(|| {
            hinted(
                format!("source `{provider}` does not exist"),
                "list sources with `repo-syncer sources list`",
            )
        })
}
