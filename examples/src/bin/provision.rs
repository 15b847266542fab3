//! Provision the documented Bitbucket Cloud set-up with the library, no CLI involved.
//!
//! ```text
//! BB_KEY=… BB_SECRET=… cargo run -p gemnasium-bitbucket-examples --bin provision -- sqlite://gemnasium.db
//! ```
//!
//! Re-running it is harmless: every step reports `unchanged`.

use anyhow::Context;
use gemnasium_bitbucket::model::ClientSecret;
use gemnasium_bitbucket::provision::{apply, Configuration};
use gemnasium_bitbucket::store;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let location = std::env::args().nth(1).context(
        "usage: provision STORE_URL (e.g. sqlite://gemnasium.db), with BB_KEY and BB_SECRET set",
    )?;
    let key = std::env::var("BB_KEY").context("set BB_KEY to the consumer's key")?;
    let secret = std::env::var("BB_SECRET").context("set BB_SECRET to the consumer's secret")?;

    let store = store::open_with(&location, &store::StoreOptions::from_env()?).await?;
    let config = Configuration::bitbucket_cloud(key.parse()?, ClientSecret::new(secret)?);
    for step in apply(store.as_ref(), &config).await? {
        println!("{} {}: {}", step.entity, step.key, step.outcome.as_str());
    }
    Ok(())
}
