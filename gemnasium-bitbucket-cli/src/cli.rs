//! The command line, declared with clap. Parsing only: commands live in `cmd/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::secret_input::SecretFlags;

const CONFIGURE_HELP: &str = "\
Examples:
  configure                                   # asks homepage, workspace, key and secret
  configure --homepage https://gemnasium.example.com --key KEY --secret-env BB_SECRET --yes
  configure --sync-only --homepage https://gemnasium.example.com --key KEY --secret-stdin --yes < secret.txt

Re-running updates what changed and leaves the rest; nothing is ever duplicated.";

const AFTER_HELP: &str = "\
Gemnasium's documented set-up runs verbatim through links made by `gemnasium-bitbucket links DIR`:
  auth provider create bitbucket.org bitbucket https://bitbucket.org/site/oauth2/authorize https://bitbucket.org/site/oauth2/access_token
  auth clients create bitbucket.org login KEY SECRET account,email
  auth clients create bitbucket.org sync KEY SECRET repository,webhook
  repo-syncer sources create bitbucket.org \"Bitbucket Cloud\" bitbucket https://api.bitbucket.org

KEY and SECRET come from the OAuth consumer: Bitbucket → Workspace settings → Apps and features →
OAuth consumers. Its callback URL must be {homepage}/auth/auth/bitbucket.org.";

/// Configure Gemnasium's Bitbucket Cloud integration: OAuth providers, clients and sources.
#[derive(Debug, Parser)]
#[command(name = "gemnasium-bitbucket", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// Where configuration is stored: sqlite://PATH, postgres://USER@HOST/DB or memory:
    /// [default: sqlite:// in the user's data directory, e.g. ~/.local/share/gemnasium-bitbucket/store.db]
    #[arg(long, env = "GEMNASIUM_STORE", global = true, value_name = "URL")]
    pub store: Option<String>,
    /// Print machine-readable JSON on stdout instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// More log output on stderr (-v info, -vv debug). Secrets are never logged.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Set everything up for Bitbucket Cloud: tells you what to enter on Bitbucket's "Add OAuth
    /// consumer" form, then records the provider, the login and sync clients and the source,
    /// and verifies the consumer. Interactive in a terminal; with flags, fully scriptable.
    #[command(after_help = CONFIGURE_HELP)]
    Configure(ConfigureArgs),
    /// Check the whole set-up: store, provider, clients, source, the consumer on Bitbucket, and
    /// stored tokens. Prints pass/warn/fail lines with a fix each; exits 1 on any fail.
    /// Read-only: spends no refresh token unless --refresh.
    Doctor(DoctorArgs),
    /// OAuth providers and clients (sign-in and repository access).
    Auth(AuthArgs),
    /// Sources of repositories that Gemnasium offers to import.
    #[command(name = "repo-syncer")]
    RepoSyncer(RepoSyncerArgs),
    /// Create `auth`, `repo-syncer` and `configure` links to this program in DIR, so that
    /// Gemnasium's documented commands run verbatim (put DIR on your PATH).
    #[command(
        after_help = "Example:\n  gemnasium-bitbucket links ~/.local/bin\n  auth provider list"
    )]
    Links {
        /// Directory for the links (created if missing).
        dir: PathBuf,
        /// Replace existing files of those names.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Args)]
pub struct ConfigureArgs {
    /// Gemnasium's homepage URL; the consumer's callback is {homepage}/auth/auth/bitbucket.org.
    #[arg(long, value_name = "URL")]
    pub homepage: Option<String>,
    /// The Bitbucket workspace that will own the consumer (to print the form's link).
    #[arg(long, value_name = "SLUG")]
    pub workspace: Option<String>,
    /// The consumer's Key.
    #[arg(long)]
    pub key: Option<String>,
    #[command(flatten)]
    pub secret_flags: SecretFlags,
    /// Do not ask for confirmation; fail at once if an input is missing.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Only sign-in: the login client.
    #[arg(long, conflicts_with = "sync_only")]
    pub login_only: bool,
    /// Only repository import: the sync client and the source.
    #[arg(long)]
    pub sync_only: bool,
    /// Bitbucket's web site, which serves the OAuth endpoints.
    #[arg(long, value_name = "URL", default_value = "https://bitbucket.org")]
    pub site_url: String,
    /// Bitbucket's REST API origin.
    #[arg(long, value_name = "URL", default_value = "https://api.bitbucket.org")]
    pub api_url: String,
    /// Seconds to wait for Bitbucket when verifying the consumer.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub timeout: u64,
    /// Record without verifying the consumer on Bitbucket.
    #[arg(long)]
    pub no_verify: bool,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Seconds to wait for Bitbucket when verifying consumers.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub timeout: u64,
    /// Do not contact Bitbucket (skip consumer verification).
    #[arg(long)]
    pub offline: bool,
    /// Also refresh stored tokens that expire soon (spends refresh tokens).
    #[arg(long)]
    pub refresh: bool,
}

#[derive(Debug, Args)]
pub struct AuthArgs {
    #[command(subcommand)]
    pub command: AuthCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// OAuth providers: where users authorize and tokens come from.
    Provider {
        #[command(subcommand)]
        command: ProviderCommand,
    },
    /// OAuth clients: a consumer's key and secret for signing in (login) or syncing (sync).
    Clients {
        #[command(subcommand)]
        command: ClientsCommand,
    },
    /// Authorize an account for a client: prints the Bitbucket URL to open, then reads the URL
    /// Bitbucket redirected to (or the code), and stores that account's tokens.
    #[command(
        after_help = "Example:\n  auth login bitbucket.org sync --homepage https://gemnasium.example.com\n\nThe redirect URI is {homepage}/auth/auth/{provider}/{purpose}/callback, an extension of the\nconsumer's registered callback URL, which Bitbucket accepts."
    )]
    Login {
        /// The provider, such as bitbucket.org.
        provider: String,
        /// login or sync.
        purpose: String,
        /// Gemnasium's homepage URL (the consumer's callback is {homepage}/auth/auth/{provider}).
        #[arg(long, env = "GEMNASIUM_HOMEPAGE", value_name = "URL")]
        homepage: String,
        /// Send a PKCE challenge (S256) even if the provider does not ask for it
        /// (`auth provider update NAME --pkce true` turns it on for every login).
        #[arg(long)]
        pkce: bool,
        /// Seconds to wait for Bitbucket.
        #[arg(long, value_name = "SECONDS", default_value_t = 30)]
        timeout: u64,
    },
    /// Users' stored tokens (never shown, only their state).
    Tokens {
        #[command(subcommand)]
        command: TokensCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// List stored tokens: account, purpose, scopes, expiry, last refresh, state.
    List {
        /// Only this provider's tokens.
        provider: Option<String>,
    },
    /// Delete an account's stored token for a client.
    Delete {
        /// The provider.
        provider: String,
        /// login or sync.
        purpose: String,
        /// The account's UUID, as `auth tokens list` shows it.
        account: String,
    },
    /// Refresh tokens not refreshed for a while, so Bitbucket does not expire them (it drops
    /// refresh tokens unused for about three months). Suitable for a daily cron job.
    #[command(
        after_help = "Example (crontab):\n  17 3 * * * gemnasium-bitbucket auth tokens refresh --older-than 30d"
    )]
    Refresh {
        /// Only tokens not refreshed for at least this long: 30d, 12h, 45m, 0s.
        #[arg(long, value_name = "DURATION", default_value = "30d")]
        older_than: String,
        /// Seconds to wait for Bitbucket.
        #[arg(long, value_name = "SECONDS", default_value_t = 30)]
        timeout: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProviderCommand {
    /// Add a provider. Re-running with the same values does nothing.
    #[command(
        after_help = "Example:\n  auth provider create bitbucket.org bitbucket https://bitbucket.org/site/oauth2/authorize https://bitbucket.org/site/oauth2/access_token"
    )]
    Create {
        /// Unique name, such as bitbucket.org.
        name: String,
        /// Kind of service: bitbucket.
        kind: String,
        /// Authorization endpoint, https://bitbucket.org/site/oauth2/authorize for Bitbucket Cloud.
        authorize_url: String,
        /// Token endpoint, https://bitbucket.org/site/oauth2/access_token for Bitbucket Cloud.
        token_url: String,
        /// REST API origin [default for bitbucket: https://api.bitbucket.org].
        #[arg(long, value_name = "URL")]
        api_url: Option<String>,
        /// Send a PKCE challenge when users authorize (Bitbucket does not document PKCE).
        #[arg(long)]
        pkce: bool,
    },
    /// List providers.
    List,
    /// Show one provider.
    Show {
        /// The provider's name.
        name: String,
    },
    /// Change a provider's URLs.
    Update {
        /// The provider's name.
        name: String,
        /// New authorization endpoint.
        #[arg(long, value_name = "URL")]
        authorize_url: Option<String>,
        /// New token endpoint.
        #[arg(long, value_name = "URL")]
        token_url: Option<String>,
        /// New REST API origin.
        #[arg(long, value_name = "URL")]
        api_url: Option<String>,
        /// Turn PKCE on or off for authorizations.
        #[arg(long, value_name = "BOOL")]
        pkce: Option<bool>,
    },
    /// Delete a provider (refused while clients or sources use it, unless --cascade).
    Delete {
        /// The provider's name.
        name: String,
        /// Also delete its clients, sources, stored tokens and repositories.
        #[arg(long)]
        cascade: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Record an OAuth consumer's key and secret for one purpose. Re-running with the same values
    /// does nothing.
    #[command(after_help = "\
Examples:
  auth clients create bitbucket.org login KEY SECRET account,email
  auth clients create bitbucket.org sync KEY SECRET repository,webhook
  printf %s \"$SECRET\" | auth clients create bitbucket.org sync KEY - repository,webhook
  auth clients create bitbucket.org sync KEY repository,webhook --secret-env BB_SECRET

SCOPES must mirror the boxes ticked on the consumer (Bitbucket grants those, whatever is asked):
login needs account (and email for sign-up); sync needs repository and webhook.")]
    Create {
        /// The provider, such as bitbucket.org.
        provider: String,
        /// login (sign users in) or sync (list repositories, install webhooks).
        purpose: String,
        /// The consumer's Key.
        key: String,
        /// The consumer's Secret, or `-` to read it from standard input. Leave it out with
        /// --secret-stdin or --secret-env.
        secret: String,
        /// Scopes ticked on the consumer, comma or space separated, such as account,email.
        scopes: Option<String>,
        #[command(flatten)]
        secret_flags: SecretFlags,
        /// Record the client even if its scopes do not cover its purpose.
        #[arg(long)]
        allow_missing_scopes: bool,
    },
    /// List clients, of all providers or of one.
    List {
        /// Only this provider's clients.
        provider: Option<String>,
    },
    /// Show one client (the secret only as a fingerprint).
    Show {
        /// The provider.
        provider: String,
        /// login or sync.
        purpose: String,
    },
    /// Change a client's key, secret or scopes.
    #[command(
        after_help = "Example:\n  auth clients update bitbucket.org sync --secret-stdin < secret.txt"
    )]
    Update {
        /// The provider.
        provider: String,
        /// login or sync.
        purpose: String,
        /// New consumer key.
        #[arg(long)]
        key: Option<String>,
        /// New consumer secret, or `-` to read it from standard input.
        #[arg(long)]
        secret: Option<String>,
        #[command(flatten)]
        secret_flags: SecretFlags,
        /// New scopes, comma or space separated.
        #[arg(long)]
        scopes: Option<String>,
        /// Accept scopes that do not cover the purpose.
        #[arg(long)]
        allow_missing_scopes: bool,
    },
    /// Check the client's key and secret on Bitbucket, without a user: valid or not, callback URL
    /// set or missing, private or not, and (private consumers) granted vs needed scopes.
    Verify {
        /// The provider.
        provider: String,
        /// login or sync.
        purpose: String,
        /// Gemnasium's homepage, to verify with the real redirect URI.
        #[arg(long, env = "GEMNASIUM_HOMEPAGE", value_name = "URL")]
        homepage: Option<String>,
        /// Seconds to wait for Bitbucket.
        #[arg(long, value_name = "SECONDS", default_value_t = 10)]
        timeout: u64,
    },
    /// Delete a client and the tokens users granted it.
    Delete {
        /// The provider.
        provider: String,
        /// login or sync.
        purpose: String,
    },
}

#[derive(Debug, Args)]
pub struct RepoSyncerArgs {
    #[command(subcommand)]
    pub command: RepoSyncerCommand,
}

#[derive(Debug, Subcommand)]
pub enum RepoSyncerCommand {
    /// Sources of repositories, one per provider.
    Sources {
        #[command(subcommand)]
        command: SourcesCommand,
    },
    /// Repositories an account can see, as the last sync listed them.
    Repos {
        #[command(subcommand)]
        command: ReposCommand,
    },
    /// List every workspace's repositories into the store, then give each tracked repository
    /// exactly one webhook of ours (with --hooks-url). Safe to re-run: unchanged repositories
    /// cost no write request.
    #[command(
        after_help = "Examples:\n  repo-syncer sync bitbucket.org\n  repo-syncer sync bitbucket.org --workspace acme --hooks-url https://gemnasium.example.com/hooks/bitbucket\n  repo-syncer sync bitbucket.org --as-consumer --dry-run --json"
    )]
    Sync {
        /// The source, named by its provider (bitbucket.org).
        source: String,
        #[command(flatten)]
        who: WhoArgs,
        /// Only this workspace (its slug).
        #[arg(long, value_name = "SLUG")]
        workspace: Option<String>,
        /// Where Gemnasium receives webhook deliveries; without it, webhooks are not touched.
        #[arg(long, value_name = "URL")]
        hooks_url: Option<String>,
        /// Webhook events, comma separated.
        #[arg(long, value_name = "EVENTS", default_value = "repo:push")]
        events: String,
        /// Fetch and report; write nothing (no store writes, no webhook changes).
        #[arg(long)]
        dry_run: bool,
    },
    /// Track repositories (their webhooks are installed by the next `sync --hooks-url`).
    Track {
        /// The source (bitbucket.org).
        source: String,
        /// workspace/slug of each repository.
        #[arg(required = true)]
        full_names: Vec<String>,
    },
    /// Stop tracking repositories, removing our webhook from Bitbucket first.
    Untrack {
        /// The source (bitbucket.org).
        source: String,
        /// workspace/slug of each repository.
        #[arg(required = true)]
        full_names: Vec<String>,
        #[command(flatten)]
        who: WhoArgs,
        /// Leave the webhooks on Bitbucket (no Bitbucket access needed).
        #[arg(long)]
        keep_hooks: bool,
    },
}

/// Whose access the Bitbucket calls use.
#[derive(Debug, Clone, Args)]
pub struct WhoArgs {
    /// A stored account (see `auth tokens list`); default: the only account with a sync token.
    #[arg(long, value_name = "UUID", conflicts_with = "as_consumer")]
    pub account: Option<String>,
    /// The sync consumer itself (client-credentials grant; private consumers only).
    #[arg(long)]
    pub as_consumer: bool,
    /// Seconds to wait for each Bitbucket request.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub timeout: u64,
    /// An extra CA certificate (PEM file) to trust, e.g. for a TLS-intercepting proxy.
    /// Proxies themselves come from HTTPS_PROXY / NO_PROXY.
    #[arg(long, env = "GEMNASIUM_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<std::path::PathBuf>,
    /// First retry delay in milliseconds (doubles up to 60 s); for tests against local servers.
    #[arg(long, value_name = "MS", default_value_t = 1000, hide = true)]
    pub retry_base_ms: u64,
}

#[derive(Debug, Subcommand)]
pub enum ReposCommand {
    /// List the repositories the last sync recorded (add --refresh to sync the listing first).
    List {
        /// The source (bitbucket.org).
        source: String,
        #[command(flatten)]
        who: WhoArgs,
        /// Sync the listing first (no webhook changes).
        #[arg(long)]
        refresh: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SourcesCommand {
    /// Add a source. Re-running with the same values does nothing.
    #[command(
        after_help = "Example:\n  repo-syncer sources create bitbucket.org \"Bitbucket Cloud\" bitbucket https://api.bitbucket.org"
    )]
    Create {
        /// The provider whose users' repositories it lists, such as bitbucket.org.
        provider: String,
        /// The label users see, such as "Bitbucket Cloud".
        display_name: String,
        /// Kind of service: bitbucket.
        kind: String,
        /// REST API origin, https://api.bitbucket.org for Bitbucket Cloud.
        api_url: String,
    },
    /// List sources.
    List,
    /// Show one source.
    Show {
        /// The source's provider.
        provider: String,
    },
    /// Change a source's display name or API URL.
    Update {
        /// The source's provider.
        provider: String,
        /// New label.
        #[arg(long)]
        display_name: Option<String>,
        /// New REST API origin.
        #[arg(long, value_name = "URL")]
        api_url: Option<String>,
    },
    /// Delete a source, first removing our webhooks from its tracked repositories on Bitbucket
    /// (refused if Bitbucket cannot be reached, unless --keep-hooks).
    Delete {
        /// The source's provider.
        provider: String,
        #[command(flatten)]
        who: WhoArgs,
        /// Leave our webhooks on Bitbucket (no Bitbucket access needed).
        #[arg(long)]
        keep_hooks: bool,
    },
}
