//! The command line, declared with clap. Parsing only: commands live in `cmd/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use gemnasium_bitbucket::model::{
    AccountUuid, ClientKey, CredentialName, DisplayName, HookEvents, ProviderKind, ProviderName,
    Purpose, ScopeSet, ServiceUrl, WorkspaceSlug,
};

use crate::args;
use crate::secret_input::SecretFlags;

const CONFIGURE_HELP: &str = "\
Examples:
  configure                                   # asks homepage, workspace, key and secret
  configure --homepage https://gemnasium.example.com --key KEY --secret-env BB_SECRET --yes
  configure --sync-only --homepage https://gemnasium.example.com --key KEY --secret-stdin --yes < secret.txt

Re-running updates what changed and leaves the rest; nothing is ever duplicated.";

const AFTER_HELP: &str = "\
Examples:
  gemnasium-bitbucket configure                      # the one-stop set-up
  gemnasium-bitbucket doctor                         # check everything

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
    #[arg(
        long,
        env = "GEMNASIUM_STORE",
        hide_env_values = true,
        global = true,
        value_name = "URL"
    )]
    pub store: Option<String>,
    /// Print machine-readable JSON on stdout instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// More log output on stderr (-v info, -vv debug). Secrets are never logged.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(flatten)]
    pub net: NetArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// How this program talks to Bitbucket, for every command that does.
#[derive(Debug, Clone, Args)]
pub struct NetArgs {
    /// Seconds allowed for each request to Bitbucket [default: 10 for configure, verify and
    /// doctor; 30 otherwise]. A call that keeps failing gives up after 6x this in waits.
    #[arg(long, global = true, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// An extra CA certificate (PEM file) to trust, e.g. for a TLS-intercepting proxy; every
    /// call uses it (token endpoint and REST alike). Proxies come from HTTPS_PROXY / NO_PROXY.
    #[arg(
        long,
        global = true,
        env = "GEMNASIUM_CA_CERT",
        hide_env_values = true,
        value_name = "FILE"
    )]
    pub ca_cert: Option<PathBuf>,
    /// First retry delay in milliseconds (doubles up to 60 s); for tests against local servers.
    #[arg(
        long,
        global = true,
        value_name = "MS",
        default_value_t = 1000,
        hide = true
    )]
    pub retry_base_ms: u64,
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
    #[command(after_help = "Examples:\n  doctor\n  doctor --offline --json")]
    Doctor(DoctorArgs),
    /// OAuth providers and clients (sign-in and repository access).
    #[command(
        after_help = "Examples:\n  auth provider list\n  auth clients create bitbucket.org login KEY SECRET account,email\n  auth login bitbucket.org sync"
    )]
    Auth(AuthArgs),
    /// Sources of repositories that Gemnasium offers to import.
    #[command(
        name = "repo-syncer",
        after_help = "Examples:\n  repo-syncer sources create bitbucket.org \"Bitbucket Cloud\" bitbucket https://api.bitbucket.org\n  repo-syncer sync bitbucket.org --hooks-url https://gemnasium.example.com/hooks/bitbucket"
    )]
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
    /// Serve a mock Bitbucket Cloud on this machine until interrupted, to try everything
    /// offline: OAuth consumer, users, workspaces, repositories, webhooks and, on demand,
    /// signed push deliveries. Prints its URL and the values to give `configure`.
    #[cfg(feature = "mock-server")]
    #[command(name = "mock-server", after_help = MOCK_SERVER_HELP)]
    MockServer(MockServerArgs),
    /// Print a shell completion script for this program on standard output.
    #[command(
        after_help = "Examples:\n  gemnasium-bitbucket completions bash > ~/.local/share/bash-completion/completions/gemnasium-bitbucket\n  gemnasium-bitbucket completions zsh > ~/.zfunc/_gemnasium-bitbucket\n  gemnasium-bitbucket completions fish > ~/.config/fish/completions/gemnasium-bitbucket.fish"
    )]
    Completions {
        /// The shell: bash, elvish, fish, powershell or zsh.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the providers, clients and sources as a TOML file for `apply`: stable order, no
    /// timestamps (exporting twice gives the same bytes), secrets as `env:VARIABLE` references
    /// unless --include-secrets.
    #[command(after_help = EXPORT_HELP)]
    Export {
        /// Write the secrets themselves instead of `env:VARIABLE` references (then keep the
        /// file like a password).
        #[arg(long)]
        include_secrets: bool,
    },
    /// Make the store match a configuration file (from `export`): prints what is created,
    /// updated, unchanged, deleted or kept, secrets by fingerprint only, and writes it all in
    /// one transaction, or nothing. Re-running changes nothing.
    #[command(after_help = APPLY_HELP)]
    Apply {
        /// The TOML file (`-` reads standard input).
        file: PathBuf,
        /// Print the changes without writing anything.
        #[arg(long)]
        dry_run: bool,
        /// Also delete what the file does not have: clients with their users' tokens, sources
        /// with their listings and tracked repositories, providers.
        #[arg(long)]
        prune: bool,
    },
    /// The store itself: encryption of secrets at rest (keygen, encrypt, rotate-key, decrypt),
    /// copying to another store (migrate) and its status.
    #[command(after_help = STORE_HELP)]
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Print this program's man page (roff) on standard output.
    #[command(
        after_help = "Examples:\n  gemnasium-bitbucket man > ~/.local/share/man/man1/gemnasium-bitbucket.1\n  gemnasium-bitbucket man | man -l -"
    )]
    Man,
}

#[cfg(feature = "mock-server")]
const MOCK_SERVER_HELP: &str = "\
Examples:
  gemnasium-bitbucket mock-server --port 0
  gemnasium-bitbucket mock-server --port 7990 --workspaces acme:12,beta:3 --signed-in jdoe
  curl -X POST 'http://127.0.0.1:7990/_mock/push?repo=acme/r00'   # deliver a signed push

Its consumer key and secret are the mock's own test values. Nothing leaves this machine.";

/// `mock-server` options.
#[cfg(feature = "mock-server")]
#[derive(Debug, Args)]
pub struct MockServerArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 7990)]
    pub port: u16,
    /// Workspaces and how many repositories each holds.
    #[arg(long, value_name = "SPEC", default_value = "acme:12,beta:3")]
    pub workspaces: gemnasium_bitbucket::testing::served::WorkspaceSpec,
    /// Milliseconds added to every workspace, repository and hook response.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub latency_ms: u64,
    /// The consumer's callback URL: your service's {homepage}/auth/auth/bitbucket.org.
    #[arg(
        long,
        value_name = "URL",
        default_value = "http://127.0.0.1:8080/auth/auth/bitbucket.org"
    )]
    pub callback: String,
    /// Sign this seeded user (jdoe or rroe) in from the start, so that authorizing succeeds at
    /// once; without it, authorizing shows a page to choose the user.
    #[arg(long, value_name = "NICKNAME")]
    pub signed_in: Option<String>,
}

#[derive(Debug, Args)]
pub struct ConfigureArgs {
    /// Gemnasium's homepage URL; the consumer's callback is {homepage}/auth/auth/bitbucket.org.
    /// Recorded with the provider: sign-in, verify and doctor use it.
    #[arg(long, value_name = "URL", value_parser = args::homepage)]
    pub homepage: Option<ServiceUrl>,
    /// The Bitbucket workspace that will own the consumer (to print the form's link).
    #[arg(long, value_name = "SLUG")]
    pub workspace: Option<String>,
    /// The consumer's Key.
    #[arg(long, value_parser = args::client_key)]
    pub key: Option<ClientKey>,
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
    #[arg(long, value_name = "URL", default_value = "https://bitbucket.org", value_parser = args::site_url)]
    pub site_url: ServiceUrl,
    /// Bitbucket's REST API origin.
    #[arg(long, value_name = "URL", default_value = "https://api.bitbucket.org", value_parser = args::api_url)]
    pub api_url: ServiceUrl,
    /// Record without verifying the consumer on Bitbucket.
    #[arg(long)]
    pub no_verify: bool,
    /// Let only members of this workspace sign in (repeatable: members of any of them).
    /// Without it (or --any-workspace), a limit recorded before is kept.
    #[arg(long = "allow-workspace", value_name = "SLUG", value_parser = args::workspace_slug)]
    pub allow_workspaces: Vec<WorkspaceSlug>,
    /// Let anyone with a Bitbucket account sign in (removes a workspace limit).
    #[arg(long, conflicts_with = "allow_workspaces")]
    pub any_workspace: bool,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
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
    #[command(
        after_help = "Example:\n  auth provider create bitbucket.org bitbucket https://bitbucket.org/site/oauth2/authorize https://bitbucket.org/site/oauth2/access_token"
    )]
    Provider {
        #[command(subcommand)]
        command: Box<ProviderCommand>,
    },
    /// OAuth clients: a consumer's key and secret for signing in (login) or syncing (sync).
    #[command(
        after_help = "Example:\n  auth clients create bitbucket.org sync KEY SECRET repository,webhook"
    )]
    Clients {
        #[command(subcommand)]
        command: ClientsCommand,
    },
    /// Authorize an account for a client: prints the Bitbucket URL to open, then reads the URL
    /// Bitbucket redirected to (or the code), and stores that account's tokens.
    #[command(
        after_help = "Examples:\n  auth login bitbucket.org sync\n  auth login bitbucket.org login --homepage https://gemnasium.example.com\n\nThe redirect URI is {homepage}/auth/auth/{provider}/{purpose}/callback, an extension of the\nconsumer's registered callback URL, which Bitbucket accepts. The homepage recorded by\n`configure` (or `auth provider update NAME --homepage URL`) is used unless --homepage is given.\nOnly a URL on that redirect URI, with this sign-in's state, is accepted."
    )]
    Login {
        /// The provider, such as bitbucket.org.
        #[arg(value_parser = args::provider_name)]
        provider: ProviderName,
        /// login or sync.
        #[arg(value_parser = args::purpose)]
        purpose: Purpose,
        /// Gemnasium's homepage URL, instead of the one recorded with the provider.
        #[arg(long, env = "GEMNASIUM_HOMEPAGE", hide_env_values = true, value_name = "URL", value_parser = args::homepage)]
        homepage: Option<ServiceUrl>,
        /// Send a PKCE challenge (S256) even if the provider does not ask for it
        /// (`auth provider update NAME --pkce true` turns it on for every login).
        #[arg(long)]
        pkce: bool,
    },
    /// Users' stored tokens (never shown, only their state).
    #[command(
        after_help = "Examples:\n  auth tokens list\n  auth tokens refresh --older-than 30d"
    )]
    Tokens {
        #[command(subcommand)]
        command: TokensCommand,
    },
    /// Non-OAuth sync credentials: workspace/project/repository access tokens and API tokens,
    /// each checked against Bitbucket before it is stored (encrypted when the store has a key).
    #[command(
        after_help = "Examples:\n  auth credentials add bitbucket.org acme-bot --access-token-env ACME_TOKEN --workspace acme --expires-at 2027-06-30\n  auth credentials add bitbucket.org jane-api --api-token-env BB_API_TOKEN --email jane@example.com\n  auth credentials list\n  repo-syncer sync bitbucket.org --credential acme-bot"
    )]
    Credentials {
        #[command(subcommand)]
        command: CredentialsCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum CredentialsCommand {
    /// Check a token against Bitbucket and store it: an access token (Bearer, probed with
    /// GET /2.0/workspaces/{slug}) or an API token (HTTP Basic with the account's email, probed
    /// with GET /2.0/user). Nothing is stored if Bitbucket refuses it.
    #[command(
        after_help = "Examples:\n  ACME_TOKEN=… auth credentials add bitbucket.org acme-bot --access-token-env ACME_TOKEN --workspace acme --expires-at 2027-06-30\n  BB_API_TOKEN=… auth credentials add bitbucket.org jane-api --api-token-env BB_API_TOKEN --email jane@example.com\n\nAccess tokens need the permissions Repositories: Read and Webhooks: Read and write. API tokens\nmust be created \"with scopes\": read:user:bitbucket, read:workspace:bitbucket,\nread:repository:bitbucket, read:webhook:bitbucket, write:webhook:bitbucket and\ndelete:webhook:bitbucket. Bitbucket does not report expiry: give it with --expires-at so that\n`doctor` warns 14 days ahead. Writing webhooks cannot be checked without changing a\nrepository; the first sync with hooks reports a missing scope by name.",
        group(clap::ArgGroup::new("token").required(true).args(["access_token_env", "access_token_stdin", "api_token_env", "api_token_stdin"]))
    )]
    Add {
        /// The provider (and source) the credential syncs, such as bitbucket.org.
        #[arg(value_parser = args::provider_name)]
        provider: ProviderName,
        /// A name for it, such as acme-bot (a-z, 0-9, `-`, `_`, `.`).
        #[arg(value_parser = args::credential_name)]
        name: CredentialName,
        /// Read a workspace, project or repository access token from environment variable VAR.
        #[arg(long, value_name = "VAR", requires = "workspace")]
        access_token_env: Option<String>,
        /// Read an access token from standard input (one line).
        #[arg(long, requires = "workspace")]
        access_token_stdin: bool,
        /// Read an API token from environment variable VAR (with --email).
        #[arg(long, value_name = "VAR", requires = "email")]
        api_token_env: Option<String>,
        /// Read an API token from standard input (one line; with --email).
        #[arg(long, requires = "email")]
        api_token_stdin: bool,
        /// The workspace the access token belongs to; for an API token, the one workspace it
        /// is limited to (optional).
        #[arg(long, value_name = "SLUG", value_parser = args::workspace_slug)]
        workspace: Option<WorkspaceSlug>,
        /// The Atlassian account's email address (API tokens).
        #[arg(long, value_name = "ADDRESS", value_parser = args::email, conflicts_with_all = ["access_token_env", "access_token_stdin"])]
        email: Option<String>,
        /// When the token expires (YYYY-MM-DD or RFC 3339), as Bitbucket showed it on creation.
        #[arg(long, value_name = "DATE", value_parser = args::expiry)]
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// List stored credentials: kind, what they act as, scopes, expiry (never the token).
    #[command(after_help = "Example:\n  auth credentials list bitbucket.org --json")]
    List {
        /// Only this provider's credentials.
        #[arg(value_parser = args::provider_name)]
        provider: Option<ProviderName>,
    },
    /// Check a stored credential against Bitbucket again (Bitbucket does not announce that a
    /// token was revoked or has expired; asking is the only way to know). `doctor` does it too.
    #[command(after_help = "Example:\n  auth credentials verify bitbucket.org acme-bot")]
    Verify {
        /// The provider.
        #[arg(value_parser = args::provider_name)]
        provider: ProviderName,
        /// The credential's name, as `auth credentials list` shows it.
        #[arg(value_parser = args::credential_name)]
        name: CredentialName,
    },
    /// Delete a stored credential (revoke the token on Bitbucket too).
    #[command(after_help = "Example:\n  auth credentials delete bitbucket.org acme-bot")]
    Delete {
        /// The provider.
        #[arg(value_parser = args::provider_name)]
        provider: ProviderName,
        /// The credential's name, as `auth credentials list` shows it.
        #[arg(value_parser = args::credential_name)]
        name: CredentialName,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// List stored tokens: account, purpose, scopes, expiry, last refresh, state.
    #[command(after_help = "Example:\n  auth tokens list bitbucket.org --json")]
    List {
        /// Only this provider's tokens.
        #[arg(value_parser = args::provider_name)]
        provider: Option<ProviderName>,
    },
    /// Delete an account's stored token for a client.
    #[command(
        after_help = "Example:\n  auth tokens delete bitbucket.org sync {d301aafa-1234-4e5f-8a9b-0123456789ab}"
    )]
    Delete {
        /// The provider.
        #[arg(value_parser = args::provider_name)]
        provider: ProviderName,
        /// login or sync.
        #[arg(value_parser = args::purpose)]
        purpose: Purpose,
        /// The account's UUID, as `auth tokens list` shows it.
        #[arg(value_parser = args::account)]
        account: AccountUuid,
    },
    /// Refresh tokens not refreshed for a while, so Bitbucket does not expire them (it drops
    /// refresh tokens unused for about three months). Suitable for a daily cron job.
    #[command(
        after_help = "Example (crontab):\n  17 3 * * * gemnasium-bitbucket auth tokens refresh --older-than 30d"
    )]
    Refresh {
        /// Only tokens not refreshed for at least this long: 30d, 12h, 45m, 0s.
        #[arg(long, value_name = "DURATION", default_value = "30d", value_parser = args::duration)]
        older_than: chrono::Duration,
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
        #[arg(value_parser = args::provider_name)]
        name: ProviderName,
        /// Kind of service: bitbucket.
        #[arg(value_parser = args::provider_kind)]
        kind: ProviderKind,
        /// Authorization endpoint, https://bitbucket.org/site/oauth2/authorize for Bitbucket Cloud.
        #[arg(value_parser = args::authorize_url)]
        authorize_url: ServiceUrl,
        /// Token endpoint, https://bitbucket.org/site/oauth2/access_token for Bitbucket Cloud.
        #[arg(value_parser = args::token_url)]
        token_url: ServiceUrl,
        /// REST API origin [default for bitbucket: https://api.bitbucket.org].
        #[arg(long, value_name = "URL", value_parser = args::api_url)]
        api_url: Option<ServiceUrl>,
        /// Send a PKCE challenge when users authorize (Bitbucket does not document PKCE).
        #[arg(long)]
        pkce: bool,
        /// Gemnasium's homepage (the consumer's callback URL derives from it).
        #[arg(long, value_name = "URL", value_parser = args::homepage)]
        homepage: Option<ServiceUrl>,
        /// Let only members of this workspace sign in (repeatable); without it, anyone with a
        /// Bitbucket account can.
        #[arg(long = "allow-workspace", value_name = "SLUG", value_parser = args::workspace_slug)]
        allow_workspaces: Vec<WorkspaceSlug>,
    },
    /// List providers.
    #[command(after_help = "Example:\n  auth provider list --json")]
    List,
    /// Show one provider, with the callback URL to register on the consumer.
    #[command(after_help = "Example:\n  auth provider show bitbucket.org")]
    Show {
        /// The provider's name.
        #[arg(value_parser = args::provider_name)]
        name: ProviderName,
    },
    /// Change a provider's URLs, PKCE, homepage or sign-in workspaces; only the fields given
    /// change.
    #[command(
        after_help = "Examples:\n  auth provider update bitbucket.org --homepage https://gemnasium.example.com\n  auth provider update bitbucket.org --allow-workspace acme --allow-workspace acme-labs"
    )]
    Update {
        /// The provider's name.
        #[arg(value_parser = args::provider_name)]
        name: ProviderName,
        /// New authorization endpoint.
        #[arg(long, value_name = "URL", value_parser = args::authorize_url)]
        authorize_url: Option<ServiceUrl>,
        /// New token endpoint.
        #[arg(long, value_name = "URL", value_parser = args::token_url)]
        token_url: Option<ServiceUrl>,
        /// New REST API origin.
        #[arg(long, value_name = "URL", value_parser = args::api_url)]
        api_url: Option<ServiceUrl>,
        /// Turn PKCE on or off for authorizations.
        #[arg(long, value_name = "BOOL")]
        pkce: Option<bool>,
        /// Gemnasium's homepage.
        #[arg(long, value_name = "URL", value_parser = args::homepage)]
        homepage: Option<ServiceUrl>,
        /// Let only members of these workspaces sign in (repeatable; replaces the list).
        #[arg(long = "allow-workspace", value_name = "SLUG", value_parser = args::workspace_slug)]
        allow_workspaces: Vec<WorkspaceSlug>,
        /// Let anyone with a Bitbucket account sign in (removes the workspace limit).
        #[arg(long, conflicts_with = "allow_workspaces")]
        any_workspace: bool,
    },
    /// Delete a provider (refused while clients or sources use it, unless --cascade).
    #[command(after_help = "Example:\n  auth provider delete bitbucket.org --cascade")]
    Delete {
        /// The provider's name.
        #[arg(value_parser = args::provider_name)]
        name: ProviderName,
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
        #[arg(value_parser = args::provider_name)]
        provider: ProviderName,
        /// login (sign users in) or sync (list repositories, install webhooks).
        #[arg(value_parser = args::purpose)]
        purpose: Purpose,
        /// The consumer's Key.
        #[arg(value_parser = args::client_key)]
        key: ClientKey,
        /// The consumer's Secret, or `-` to read it from standard input. Leave it out with
        /// --secret-stdin or --secret-env (this place then holds SCOPES).
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
    #[command(after_help = "Example:\n  auth clients list bitbucket.org")]
    List {
        /// Only this provider's clients.
        #[arg(value_parser = args::provider_name)]
        provider: Option<ProviderName>,
    },
    /// Show one client (the secret only as a fingerprint).
    #[command(after_help = "Example:\n  auth clients show bitbucket.org sync --json")]
    Show {
        /// The provider.
        #[arg(value_parser = args::provider_name)]
        provider: ProviderName,
        /// login or sync.
        #[arg(value_parser = args::purpose)]
        purpose: Purpose,
    },
    /// Change a client's key, secret or scopes; only the fields given change (atomically).
    #[command(
        after_help = "Examples:\n  auth clients update bitbucket.org sync --secret-stdin < secret.txt\n  auth clients update bitbucket.org login --scopes account,email"
    )]
    Update {
        /// The provider.
        #[arg(value_parser = args::provider_name)]
        provider: ProviderName,
        /// login or sync.
        #[arg(value_parser = args::purpose)]
        purpose: Purpose,
        /// New consumer key.
        #[arg(long, value_parser = args::client_key)]
        key: Option<ClientKey>,
        /// New consumer secret, or `-` to read it from standard input.
        #[arg(long)]
        secret: Option<String>,
        #[command(flatten)]
        secret_flags: SecretFlags,
        /// New scopes, comma or space separated.
        #[arg(long, value_parser = args::scopes)]
        scopes: Option<ScopeSet>,
        /// Accept scopes that do not cover the purpose.
        #[arg(long)]
        allow_missing_scopes: bool,
    },
    /// Check the client's key and secret on Bitbucket, without a user: valid or not, callback URL
    /// set or missing, private or not, and (private consumers) granted vs needed scopes. Exits 1
    /// unless every part is clearly good.
    #[command(after_help = "Example:\n  auth clients verify bitbucket.org login")]
    Verify {
        /// The provider.
        #[arg(value_parser = args::provider_name)]
        provider: ProviderName,
        /// login or sync.
        #[arg(value_parser = args::purpose)]
        purpose: Purpose,
    },
    /// Delete a client and the tokens users granted it.
    #[command(after_help = "Example:\n  auth clients delete bitbucket.org login")]
    Delete {
        /// The provider.
        #[arg(value_parser = args::provider_name)]
        provider: ProviderName,
        /// login or sync.
        #[arg(value_parser = args::purpose)]
        purpose: Purpose,
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
    #[command(after_help = "Example:\n  repo-syncer sources list")]
    Sources {
        #[command(subcommand)]
        command: SourcesCommand,
    },
    /// Repositories an account can see, as the last sync listed them.
    #[command(after_help = "Example:\n  repo-syncer repos list bitbucket.org --json")]
    Repos {
        #[command(subcommand)]
        command: ReposCommand,
    },
    /// List every workspace's repositories into the store, then give each tracked repository
    /// exactly one webhook of ours (with --hooks-url). Safe to re-run: unchanged repositories
    /// cost no write request. Exits 1 if a workspace could not be listed or a webhook failed.
    #[command(
        after_help = "Examples:\n  repo-syncer sync bitbucket.org\n  repo-syncer sync bitbucket.org --workspace acme --hooks-url https://gemnasium.example.com/hooks/bitbucket\n  repo-syncer sync bitbucket.org --as-consumer --dry-run --json"
    )]
    Sync {
        /// The source, named by its provider (bitbucket.org).
        #[arg(value_parser = args::provider_name)]
        source: ProviderName,
        #[command(flatten)]
        who: WhoArgs,
        /// Only this workspace (its slug).
        #[arg(long, value_name = "SLUG")]
        workspace: Option<String>,
        /// Where Gemnasium receives webhook deliveries (https; no credentials, no #fragment);
        /// without it, webhooks are not touched.
        #[arg(long, value_name = "URL", value_parser = args::hooks_url)]
        hooks_url: Option<ServiceUrl>,
        /// Webhook events, comma separated (known Bitbucket event keys).
        #[arg(long, value_name = "EVENTS", default_value = "repo:push", value_parser = args::events)]
        events: HookEvents,
        /// Fetch and report; write nothing (no store writes, no webhook changes).
        #[arg(long)]
        dry_run: bool,
        /// Stop waiting (for rate limits and retries) after this long: 30m, 2h.
        #[arg(long, value_name = "DURATION", value_parser = args::duration)]
        time_limit: Option<chrono::Duration>,
        /// List every workspace in full. By default a workspace listed before is listed
        /// incrementally (only what changed), in full once a day or when Bitbucket's count
        /// says something went away.
        #[arg(long)]
        full: bool,
    },
    /// Track repositories (their webhooks are installed by the next `sync --hooks-url`).
    #[command(after_help = "Example:\n  repo-syncer track bitbucket.org acme/widget acme/gadget")]
    Track {
        /// The source (bitbucket.org).
        #[arg(value_parser = args::provider_name)]
        source: ProviderName,
        /// workspace/slug of each repository.
        #[arg(required = true)]
        full_names: Vec<String>,
    },
    /// Stop tracking repositories, removing every webhook of ours from each first.
    #[command(after_help = "Example:\n  repo-syncer untrack bitbucket.org acme/widget")]
    Untrack {
        /// The source (bitbucket.org).
        #[arg(value_parser = args::provider_name)]
        source: ProviderName,
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
    #[arg(long, value_name = "UUID", conflicts_with = "as_consumer", value_parser = args::account)]
    pub account: Option<AccountUuid>,
    /// The sync consumer itself (client-credentials grant; private consumers only).
    #[arg(long, conflicts_with = "credential")]
    pub as_consumer: bool,
    /// A stored access token or API token (see `auth credentials list`).
    #[arg(long, value_name = "NAME", conflicts_with = "account", value_parser = args::credential_name)]
    pub credential: Option<CredentialName>,
}

#[derive(Debug, Subcommand)]
pub enum ReposCommand {
    /// List the repositories the last sync recorded (add --refresh to sync the listing first).
    #[command(
        after_help = "Examples:\n  repo-syncer repos list bitbucket.org\n  repo-syncer repos list bitbucket.org --as-consumer --json"
    )]
    List {
        /// The source (bitbucket.org).
        #[arg(value_parser = args::provider_name)]
        source: ProviderName,
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
        #[arg(value_parser = args::provider_name)]
        provider: ProviderName,
        /// The label users see, such as "Bitbucket Cloud".
        #[arg(value_parser = args::display_name)]
        display_name: DisplayName,
        /// Kind of service: bitbucket.
        #[arg(value_parser = args::provider_kind)]
        kind: ProviderKind,
        /// REST API origin, https://api.bitbucket.org for Bitbucket Cloud.
        #[arg(value_parser = args::api_url)]
        api_url: ServiceUrl,
    },
    /// List sources.
    #[command(after_help = "Example:\n  repo-syncer sources list --json")]
    List,
    /// Show one source.
    #[command(after_help = "Example:\n  repo-syncer sources show bitbucket.org")]
    Show {
        /// The source's provider.
        #[arg(value_parser = args::provider_name)]
        provider: ProviderName,
    },
    /// Change a source's display name or API URL; only the fields given change.
    #[command(
        after_help = "Example:\n  repo-syncer sources update bitbucket.org --display-name \"Bitbucket\""
    )]
    Update {
        /// The source's provider.
        #[arg(value_parser = args::provider_name)]
        provider: ProviderName,
        /// New label.
        #[arg(long, value_parser = args::display_name)]
        display_name: Option<DisplayName>,
        /// New REST API origin.
        #[arg(long, value_name = "URL", value_parser = args::api_url)]
        api_url: Option<ServiceUrl>,
    },
    /// Delete a source, first removing our webhooks from its tracked repositories on Bitbucket
    /// (refused, changing nothing, if Bitbucket cannot be reached, unless --keep-hooks).
    #[command(after_help = "Example:\n  repo-syncer sources delete bitbucket.org --keep-hooks")]
    Delete {
        /// The source's provider.
        #[arg(value_parser = args::provider_name)]
        provider: ProviderName,
        #[command(flatten)]
        who: WhoArgs,
        /// Leave our webhooks on Bitbucket (no Bitbucket access needed).
        #[arg(long)]
        keep_hooks: bool,
    },
}

const EXPORT_HELP: &str = "\
Examples:
  gemnasium-bitbucket export > gemnasium.toml
  gemnasium-bitbucket export --include-secrets > private.toml    # keep it like a password

Secrets are written as `secret = \"env:GEMNASIUM_SECRET_BITBUCKET_ORG_LOGIN\"` (one variable per
client, named on standard error); `apply` reads them from the environment.";

const APPLY_HELP: &str = "\
Examples:
  gemnasium-bitbucket apply gemnasium.toml --dry-run      # review the changes
  GEMNASIUM_SECRET_BITBUCKET_ORG_LOGIN=$SECRET GEMNASIUM_SECRET_BITBUCKET_ORG_SYNC=$SECRET \\
    gemnasium-bitbucket apply gemnasium.toml
  gemnasium-bitbucket apply gemnasium.toml --prune        # also delete what the file lacks

A secret referenced as `env:VARIABLE` whose variable is not set fails the whole apply before
anything is written. Items the store has and the file lacks are kept unless --prune.";

const STORE_HELP: &str = "\
Examples:
  gemnasium-bitbucket store status
  gemnasium-bitbucket store migrate --from sqlite:///var/lib/gemnasium/store.db --to postgres://gemnasium@db/gemnasium
  gemnasium-bitbucket store keygen > key.txt          # the key is the last line
  GEMNASIUM_SECRET_KEY=$(tail -1 key.txt) gemnasium-bitbucket store encrypt
  GEMNASIUM_SECRET_KEY=$OLD NEW_KEY=$NEW gemnasium-bitbucket store rotate-key --new-key-env NEW_KEY

With GEMNASIUM_SECRET_KEY (or GEMNASIUM_SECRET_KEY_FILE) set, consumer secrets, tokens and webhook
secrets are stored encrypted (XChaCha20-Poly1305); every command then needs the key.";

/// `store …`.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Print a new random secret key (32 bytes, base64) as the last line of standard output.
    #[command(
        after_help = "Example:\n  export GEMNASIUM_SECRET_KEY=$(gemnasium-bitbucket store keygen | tail -1)"
    )]
    Keygen,
    /// Encrypt the secrets of a store that keeps them in plain text, in one transaction, with
    /// the key in GEMNASIUM_SECRET_KEY (or GEMNASIUM_SECRET_KEY_FILE). Re-running is harmless.
    #[command(
        after_help = "Example:\n  GEMNASIUM_SECRET_KEY=$KEY gemnasium-bitbucket store encrypt"
    )]
    Encrypt,
    /// Re-encrypt every secret with a new key, in one transaction: interrupted, the store
    /// stays readable with the old key. The old key comes from GEMNASIUM_SECRET_KEY.
    #[command(
        name = "rotate-key",
        after_help = "Example:\n  GEMNASIUM_SECRET_KEY=$OLD NEW_KEY=$(gemnasium-bitbucket store keygen | tail -1) \\\n    gemnasium-bitbucket store rotate-key --new-key-env NEW_KEY"
    )]
    RotateKey {
        /// The environment variable holding the new key (base64), never the key itself.
        #[arg(long, value_name = "VAR")]
        new_key_env: String,
    },
    /// Store the secrets in plain text again (needs the current key), in one transaction.
    #[command(
        after_help = "Example:\n  GEMNASIUM_SECRET_KEY=$KEY gemnasium-bitbucket store decrypt"
    )]
    Decrypt,
    /// Copy everything (providers, clients, sources, tokens with their state and times,
    /// repositories including gone ones, tracked repositories with their webhooks) into another
    /// store, in one transaction that checks every count; then read it back and compare.
    /// Secrets are decrypted with the source's key and encrypted with the target's. A target
    /// that holds anything is refused unless --force, which replaces its contents.
    #[command(after_help = MIGRATE_HELP)]
    Migrate {
        /// The store to copy from (read only).
        #[arg(long, value_name = "URL")]
        from: String,
        /// The store to copy into (created if missing).
        #[arg(long, value_name = "URL")]
        to: String,
        /// Replace what the target holds.
        #[arg(long)]
        force: bool,
        /// The environment variable holding the source's key [default: GEMNASIUM_SECRET_KEY or
        /// GEMNASIUM_SECRET_KEY_FILE].
        #[arg(long, value_name = "VAR")]
        from_key_env: Option<String>,
        /// The environment variable holding the target's key [default: as the source: from
        /// GEMNASIUM_SECRET_KEY or GEMNASIUM_SECRET_KEY_FILE, when set].
        #[arg(long, value_name = "VAR")]
        to_key_env: Option<String>,
    },
    /// Show the store's backend, location (password removed), schema version, row counts and
    /// whether its secrets are encrypted.
    #[command(
        after_help = "Examples:\n  gemnasium-bitbucket store status\n  gemnasium-bitbucket --store postgres://gemnasium@db/gemnasium store status --json"
    )]
    Status,
}

const MIGRATE_HELP: &str = "\
Examples:
  gemnasium-bitbucket store migrate --from sqlite:///var/lib/gemnasium/store.db \\
    --to postgres://gemnasium@db/gemnasium
  NEW=$(gemnasium-bitbucket store keygen | tail -1) gemnasium-bitbucket store migrate \\
    --from sqlite://old.db --to sqlite://new.db --to-key-env NEW     # encrypt the copy
  gemnasium-bitbucket store migrate --from postgres://gemnasium@db/gemnasium \\
    --to sqlite://backup.db --force

A PostgreSQL schema other than the default: postgres://USER@HOST/DB?options[search_path]=SCHEMA.
Stop the services using the source first: what they write during the copy is not copied.
Not copied (short-lived): webhook deliveries seen recently, request budgets, leases.";
