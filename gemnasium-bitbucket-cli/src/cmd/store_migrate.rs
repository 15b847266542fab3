//! `store migrate` and `store status`.

use gemnasium_bitbucket::store::{self, MigrateError, SecretKey, StoreOptions};
use serde_json::json;

use super::Ctx;
use crate::error::{hinted, with_hint};
use crate::outln;
use crate::output::{print_fields, print_json};

/// The key in `variable` (base64), or the default one (GEMNASIUM_SECRET_KEY or
/// GEMNASIUM_SECRET_KEY_FILE) when no variable is named.
fn options(variable: Option<&str>) -> anyhow::Result<StoreOptions> {
    let Some(variable) = variable else {
        return Ok(StoreOptions::from_env()?);
    };
    let text = std::env::var(variable)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| {
            hinted(
                format!("environment variable {variable} is not set"),
                format!("export {variable}=KEY (the store's key, base64), or leave the option out to use GEMNASIUM_SECRET_KEY"),
            )
        })?;
    Ok(StoreOptions::new().secret_key(Some(SecretKey::from_base64(&text, variable)?)))
}

pub async fn migrate(
    ctx: &Ctx,
    from: &str,
    to: &str,
    force: bool,
    from_key_env: Option<&str>,
    to_key_env: Option<&str>,
) -> anyhow::Result<()> {
    let from_options = options(from_key_env)?;
    let to_options = match to_key_env {
        Some(_) => options(to_key_env)?,
        None => StoreOptions::from_env()?,
    };
    let source = store::open_for_reading_with(from, &from_options)
        .await
        .map_err(|e| with_hint(e, "check --from (and the source's key: --from-key-env VAR)"))?;
    let target = store::open_with(to, &to_options)
        .await
        .map_err(|e| with_hint(e, "check --to (and the target's key: --to-key-env VAR)"))?;
    let report = match store::migrate(source.as_ref(), target.as_ref(), force).await {
        Ok(report) => report,
        Err(e @ MigrateError::TargetNotEmpty { .. }) => {
            return Err(with_hint(
                e,
                "copy into an empty store, or add --force to replace what the target holds",
            ))
        }
        Err(e) => return Err(e.into()),
    };
    if ctx.json {
        return print_json(&json!({
            "from": report.from,
            "to": report.to,
            "rows": report.rows,
            "replaced": report.replaced,
            "secrets": secrets_json(&report.secrets),
        }));
    }
    let rows = report.rows;
    outln!(
        "copied {} into {}, verified: {} provider(s), {} client(s), {} source(s), {} token(s), {} credential(s), {} repositories ({} gone), {} tracked ({} with a webhook), {} listing state(s), {} deprecation notice(s)",
        report.from,
        report.to,
        rows.providers,
        rows.clients,
        rows.sources,
        rows.tokens,
        rows.credentials,
        rows.repositories,
        rows.gone_repositories,
        rows.tracked,
        rows.hooks,
        rows.listings,
        rows.deprecations,
    )?;
    outln!("secrets in the target: {}", report.secrets.describe())?;
    Ok(())
}

fn secrets_json(s: &store::SecretsAtRest) -> serde_json::Value {
    json!({
        "state": s.describe(),
        "key_id": s.key_id,
        "encrypted": s.encrypted,
        "plain": s.plain,
        "persisted": s.persisted,
    })
}

pub async fn status(ctx: &Ctx) -> anyhow::Result<()> {
    let store = ctx.open_store(super::Access::Read).await?;
    let status = store::status(store.as_ref()).await?;
    if ctx.json {
        return print_json(&json!({
            "backend": status.backend,
            "location": status.location,
            "schema_version": status.schema_version,
            "supported_schema_version": status.supported_schema_version,
            "rows": status.rows,
            "secrets": secrets_json(&status.secrets),
        }));
    }
    let schema = match (status.schema_version, status.supported_schema_version) {
        (Some(found), Some(known)) if found == known => format!("{found} (current)"),
        (Some(found), Some(known)) => format!("{found} (this program knows {known})"),
        (Some(found), None) => found.to_string(),
        (None, _) => "none (in memory)".to_owned(),
    };
    let rows = status.rows;
    print_fields(&[
        ("backend", status.backend.to_owned()),
        ("location", status.location.clone()),
        ("schema version", schema),
        ("secrets", status.secrets.describe()),
        ("providers", rows.providers.to_string()),
        ("clients", rows.clients.to_string()),
        ("sources", rows.sources.to_string()),
        ("tokens", rows.tokens.to_string()),
        ("credentials", rows.credentials.to_string()),
        (
            "repositories",
            format!("{} ({} gone)", rows.repositories, rows.gone_repositories),
        ),
        (
            "tracked",
            format!("{} ({} with a webhook)", rows.tracked, rows.hooks),
        ),
        ("listing states", rows.listings.to_string()),
        ("deprecation notices", rows.deprecations.to_string()),
    ])?;
    Ok(())
}
