//! `store …`: the secret key of secrets at rest.

use gemnasium_bitbucket::store::{self, SecretKey, StoreError, StoreOptions};
use serde_json::json;

use super::Ctx;
use crate::cli::StoreCommand;
use crate::error::hinted;
use crate::outln;
use crate::output::{note, print_json};

pub async fn run(ctx: &Ctx, command: StoreCommand) -> anyhow::Result<()> {
    match command {
        StoreCommand::Keygen => keygen(),
        StoreCommand::Encrypt => encrypt(ctx).await,
        StoreCommand::RotateKey { new_key_env } => rotate(ctx, &new_key_env).await,
        StoreCommand::Decrypt => decrypt(ctx).await,
        StoreCommand::Migrate {
            from,
            to,
            force,
            from_key_env,
            to_key_env,
        } => {
            super::store_migrate::migrate(
                ctx,
                &from,
                &to,
                force,
                from_key_env.as_deref(),
                to_key_env.as_deref(),
            )
            .await
        }
        StoreCommand::Status => super::store_migrate::status(ctx).await,
    }
}

fn keygen() -> anyhow::Result<()> {
    let key = SecretKey::generate();
    note(format!(
        "a new secret key, id {}; keep it like a password (losing it loses every stored secret), \
         give it as GEMNASIUM_SECRET_KEY or in a file named by GEMNASIUM_SECRET_KEY_FILE:",
        key.id()
    ));
    // The bare key is the last line, so that `| tail -1` takes it.
    outln!("{}", key.to_base64())?;
    Ok(())
}

fn key_from_env() -> anyhow::Result<SecretKey> {
    SecretKey::from_env()?.ok_or_else(|| {
        hinted(
            "no secret key given",
            "set GEMNASIUM_SECRET_KEY (or GEMNASIUM_SECRET_KEY_FILE) to a key from `gemnasium-bitbucket store keygen`",
        )
    })
}

async fn encrypt(ctx: &Ctx) -> anyhow::Result<()> {
    let key = key_from_env()?;
    let location = ctx.location()?;
    // Opened without the key: the store's own state decides what happens.
    let store = match store::open(&location).await {
        Ok(store) => store,
        Err(StoreError::SecretKeyRequired { key_id, .. }) if key_id == key.id().as_str() => {
            return report(ctx, "unchanged", 0, key.id().as_str());
        }
        Err(e) => return Err(e.into()),
    };
    let rewritten = store.reseal_secrets(Some(&key)).await?;
    report(ctx, "encrypted", rewritten, key.id().as_str())
}

async fn rotate(ctx: &Ctx, new_key_env: &str) -> anyhow::Result<()> {
    let old = key_from_env()?;
    let text = std::env::var(new_key_env)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| {
            hinted(
                format!("environment variable {new_key_env} is not set"),
                format!("export {new_key_env}=$(gemnasium-bitbucket store keygen | tail -1)"),
            )
        })?;
    let new = SecretKey::from_base64(&text, new_key_env)?;
    let location = ctx.location()?;
    let options = StoreOptions::new().secret_key(Some(old.clone()));
    let store = match store::open_with(&location, &options).await {
        Ok(store) => store,
        // Re-running after a completed rotation: the store already has the new key.
        Err(StoreError::WrongSecretKey { expected, .. }) if expected == new.id().as_str() => {
            return report(ctx, "unchanged", 0, new.id().as_str());
        }
        Err(e) => return Err(e.into()),
    };
    if old.id() == new.id() {
        return report(ctx, "unchanged", 0, new.id().as_str());
    }
    let rewritten = store.reseal_secrets(Some(&new)).await?;
    report(ctx, "rotated", rewritten, new.id().as_str())?;
    note("set GEMNASIUM_SECRET_KEY to the new key everywhere this store is used; the old key no longer opens it");
    Ok(())
}

async fn decrypt(ctx: &Ctx) -> anyhow::Result<()> {
    let key = key_from_env()?;
    let location = ctx.location()?;
    let store = store::open_with(&location, &StoreOptions::new().secret_key(Some(key))).await?;
    let rewritten = store.reseal_secrets(None).await?;
    if ctx.json {
        return print_json(&json!({"outcome": "decrypted", "secrets": rewritten}));
    }
    outln!("decrypted {rewritten} secret(s); they are stored in plain text now, unset GEMNASIUM_SECRET_KEY")?;
    Ok(())
}

fn report(ctx: &Ctx, outcome: &str, rewritten: usize, key_id: &str) -> anyhow::Result<()> {
    if ctx.json {
        return print_json(&json!({"outcome": outcome, "secrets": rewritten, "key_id": key_id}));
    }
    match outcome {
        "unchanged" => outln!("unchanged: the store is already encrypted with key {key_id}")?,
        _ => outln!("{outcome} {rewritten} secret(s) with key {key_id}")?,
    }
    Ok(())
}
