//! Configuration from flags and the environment.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

/// A Gemnasium-like web service on the gemnasium-bitbucket library: sign in with Bitbucket,
/// repositories with a "track" button, a periodic sync that installs webhooks, and a
/// webhook receiver. Record the set-up first (`gemnasium-bitbucket configure`).
#[derive(Clone, Debug, Parser)]
#[command(name = "service", version)]
pub struct Config {
    /// Address to listen on (port 0: any free port).
    #[arg(long, env = "SERVICE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// This service's public URL; the consumer's callback is {homepage}/auth/auth/bitbucket.org
    /// [default: http://LISTEN address].
    #[arg(long, env = "GEMNASIUM_HOMEPAGE", value_name = "URL")]
    pub homepage: Option<String>,
    /// The store the set-up was recorded in: sqlite://PATH, postgres://… or memory:.
    #[arg(
        long,
        env = "GEMNASIUM_STORE",
        hide_env_values = true,
        default_value = "sqlite://gemnasium.db",
        value_name = "URL"
    )]
    pub store: String,
    /// The provider (and source) to use.
    #[arg(long, default_value = "bitbucket.org")]
    pub provider: String,
    /// Seconds between syncs of tracked repositories' webhooks (0: only on demand).
    #[arg(
        long,
        env = "SERVICE_SYNC_INTERVAL",
        default_value_t = 300,
        value_name = "SECONDS"
    )]
    pub sync_interval: u64,
    /// Seconds allowed for each request to Bitbucket.
    #[arg(long, default_value_t = 20, value_name = "SECONDS")]
    pub timeout: u64,
    /// Key signing the cookies, 64 hex digits [default: a random key per start, so restarting
    /// signs everyone out].
    #[arg(
        long,
        env = "SERVICE_COOKIE_KEY",
        hide_env_values = true,
        value_name = "HEX"
    )]
    pub cookie_key: Option<String>,
}

impl Config {
    /// The sync interval, `None` when periodic syncs are off.
    #[must_use]
    pub fn interval(&self) -> Option<Duration> {
        (self.sync_interval > 0).then(|| Duration::from_secs(self.sync_interval))
    }
}
