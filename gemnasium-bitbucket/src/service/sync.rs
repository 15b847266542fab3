//! Repository sync through the handle: whose access, listing, webhooks, tracking, and deleting a
//! source (our webhooks first).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{Bitbucket, Error};
use crate::api::{ApiClient, Auth};
use crate::model::{
    AccountUuid, CredentialKind, CredentialName, HookEvents, ProviderName, Purpose, ServiceUrl,
    Source, TokenKey,
};
use crate::oauth::{ConsumerToken, ManagedToken};
use crate::store::{StoredRepository, WriteOutcome};
use crate::sync::{
    crawl, reconcile_all_with, untrack, BitbucketRepos, CrawlOptions, CrawlReport, DesiredHook,
    HookLeases, HookMarker, HooksSummary, ReconcileOptions, SyncObserver, WorkspaceScope,
};

/// Whose access a sync uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Credential {
    /// A signed-in account's stored sync token (3-legged OAuth).
    Account(AccountUuid),
    /// The sync consumer itself: the client-credentials grant of a private consumer.
    Consumer,
    /// A stored access token or API token (see [`Bitbucket::add_credential`]), by name.
    Stored(CredentialName),
}

/// How a sync runs.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct SyncOptions {
    /// Only this workspace (its slug).
    pub workspace: Option<String>,
    /// Fetch and report; write nothing (no store writes, no webhook changes).
    pub dry_run: bool,
    /// Give every tracked repository one webhook of ours delivering these events to this URL.
    pub hooks: Option<(ServiceUrl, HookEvents)>,
    /// Stop waiting (rate limits, retries) once this much time has passed.
    pub time_limit: Option<Duration>,
    /// List every workspace in full, even those an incremental listing would do.
    pub full_listing: bool,
    /// A workspace whose last full listing is older than this is listed in full (24 h when
    /// `None`).
    pub full_after: Option<chrono::Duration>,
    /// Repositories whose hook delivered a signed event within this long are not checked
    /// (7 days when `None`; zero checks them all).
    pub proven_within: Option<chrono::Duration>,
}

impl SyncOptions {
    /// A full sync, listings only.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Only `workspace`.
    #[must_use]
    pub fn workspace(mut self, workspace: impl Into<String>) -> Self {
        self.workspace = Some(workspace.into());
        self
    }

    /// Writes nothing.
    #[must_use]
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// Reconciles webhooks delivering `events` to `url`.
    #[must_use]
    pub fn hooks(mut self, url: ServiceUrl, events: HookEvents) -> Self {
        self.hooks = Some((url, events));
        self
    }

    /// Stops waiting after `limit`.
    #[must_use]
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = Some(limit);
        self
    }

    /// Lists every workspace in full (no incremental listing).
    #[must_use]
    pub fn full_listing(mut self, full: bool) -> Self {
        self.full_listing = full;
        self
    }

    /// Lists a workspace in full when its last full listing is older than `age`.
    #[must_use]
    pub fn full_after(mut self, age: chrono::Duration) -> Self {
        self.full_after = Some(age);
        self
    }

    /// Skips the hooks of repositories proven by a signed delivery within `within`.
    #[must_use]
    pub fn proven_within(mut self, within: chrono::Duration) -> Self {
        self.proven_within = Some(within);
        self
    }
}

/// What a sync did.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct SyncReport {
    /// The listing.
    pub crawl: CrawlReport,
    /// The webhooks, when asked for (and not a dry run).
    pub hooks: Option<HooksSummary>,
    /// Requests sent (each attempt counts).
    pub requests: u64,
    /// Retries made.
    pub retries: u64,
    /// Response bytes received.
    pub bytes: u64,
    /// Wall time.
    pub seconds: f64,
}

impl SyncReport {
    /// Whether everything asked for was done: every workspace listed, every hook reconciled.
    #[must_use]
    pub fn complete(&self) -> bool {
        self.crawl.failures().next().is_none()
            && self.hooks.as_ref().is_none_or(HooksSummary::complete)
    }
}

/// What tracking one repository did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TrackOutcome {
    /// `workspace/slug`.
    pub full_name: String,
    /// Created (now tracked) or unchanged (already was).
    pub outcome: WriteOutcome,
}

/// One source synced with one credential: listing, webhooks, tracking.
#[derive(Debug, Clone)]
pub struct Syncer {
    bitbucket: Bitbucket,
    source: Source,
    credential: Credential,
    listing_account: AccountUuid,
    repos: BitbucketRepos,
    marker: HookMarker,
}

impl Bitbucket {
    /// The credential a sync of `source` uses when none is chosen: the only account that has
    /// authorized the sync client.
    ///
    /// # Errors
    /// [`Error::NoAccount`] when none has, [`Error::AmbiguousAccount`] when several have.
    pub async fn default_credential(&self, source: &ProviderName) -> Result<Credential, Error> {
        let accounts = self.sync_accounts(source).await?;
        match accounts.as_slice() {
            [only] => Ok(Credential::Account(only.clone())),
            [] => Err(Error::NoAccount(source.clone())),
            _ => Err(Error::AmbiguousAccount {
                provider: source.clone(),
                accounts,
            }),
        }
    }

    async fn sync_accounts(&self, source: &ProviderName) -> Result<Vec<AccountUuid>, Error> {
        Ok(self
            .store()
            .tokens(Some(source))
            .await?
            .into_iter()
            .filter(|t| t.key.purpose == Purpose::Sync)
            .map(|t| t.key.account)
            .collect())
    }

    /// The syncer of `source` with `credential`.
    ///
    /// ```no_run
    /// # async fn demo(bitbucket: gemnasium_bitbucket::Bitbucket) -> Result<(), Box<dyn std::error::Error>> {
    /// use gemnasium_bitbucket::service::SyncOptions;
    /// use gemnasium_bitbucket::sync::Quiet;
    /// let source = "bitbucket.org".parse()?;
    /// let credential = bitbucket.default_credential(&source).await?;
    /// let report = bitbucket.syncer(&source, credential).await?.sync(&SyncOptions::new(), &Quiet).await?;
    /// println!("{} repositories listed", report.crawl.repositories);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::NoSource`], [`Error::NoProvider`], [`Error::NoClient`], or
    /// [`Error::UnknownAccount`] for an account without a stored sync token.
    pub async fn syncer(
        &self,
        source: &ProviderName,
        credential: Credential,
    ) -> Result<Syncer, Error> {
        let source_row = self.source(source).await?;
        let (repos, listing_account) = match &credential {
            Credential::Stored(name) => {
                let stored = self.usable_credential(source, name).await?;
                let api = self.credential_api(
                    &source_row.api_url,
                    source,
                    name,
                    &stored.kind,
                    &stored.secret,
                );
                // Access tokens may not list memberships (`/2.0/user/workspaces` is refused
                // them): they sync their own workspace, as does an API token limited to one.
                let scope = match &stored.kind {
                    CredentialKind::AccessToken { workspace }
                    | CredentialKind::ApiToken {
                        workspace: Some(workspace),
                        ..
                    } => WorkspaceScope::Fixed(vec![workspace.to_string()]),
                    _ => WorkspaceScope::Memberships,
                };
                (BitbucketRepos::new(api).with_scope(scope), stored.account)
            }
            Credential::Account(_) | Credential::Consumer => {
                self.oauth_repos(source, &source_row, &credential).await?
            }
        };
        Ok(Syncer {
            bitbucket: self.clone(),
            marker: HookMarker::new(self.store().installation_id().await?),
            source: source_row,
            credential,
            listing_account,
            repos,
        })
    }

    /// The account under which `credential`'s listings of `source` are recorded: the account
    /// itself, the nil UUID for the consumer (which acts for no user), or what a stored
    /// credential acts as.
    ///
    /// # Errors
    /// [`Error::NoCredential`] for an unknown stored credential, or the store's failure.
    pub async fn listing_account(
        &self,
        source: &ProviderName,
        credential: &Credential,
    ) -> Result<AccountUuid, Error> {
        Ok(match credential {
            Credential::Account(uuid) => uuid.clone(),
            Credential::Consumer => AccountUuid::consumer(),
            Credential::Stored(name) => {
                self.store()
                    .credential(source, name)
                    .await?
                    .ok_or_else(|| Error::NoCredential {
                        provider: source.clone(),
                        name: name.clone(),
                    })?
                    .account
            }
        })
    }

    /// Bitbucket as an OAuth credential (an account's token or the consumer's own grant) sees
    /// it, on the consumer's shared budget.
    async fn oauth_repos(
        &self,
        source: &ProviderName,
        source_row: &Source,
        credential: &Credential,
    ) -> Result<(BitbucketRepos, AccountUuid), Error> {
        let (provider, client) = self.provider_and_client(source, Purpose::Sync).await?;
        let sync_accounts = self.sync_accounts(source).await?;
        let auth: Arc<dyn Auth> = match credential {
            Credential::Account(account) => {
                if !sync_accounts.contains(account) {
                    return Err(Error::UnknownAccount {
                        provider: source.clone(),
                        account: account.clone(),
                    });
                }
                Arc::new(ManagedToken::new(
                    self.token_manager().clone(),
                    TokenKey {
                        provider: source.clone(),
                        purpose: Purpose::Sync,
                        account: account.clone(),
                    },
                ))
            }
            _ => Arc::new(ConsumerToken::new(
                self.http().clone(),
                provider,
                client.clone(),
            )),
        };
        // Every account of the consumer (and the consumer itself, when it syncs) shares its
        // budget.
        let accounts = sync_accounts.len() + usize::from(*credential == Credential::Consumer);
        let account = match credential {
            Credential::Account(uuid) => uuid.to_string(),
            _ => "consumer".to_owned(),
        };
        let key = super::consumer_budget_key(&client);
        let ledger = Arc::new(self.ledger(&key, &account, accounts));
        let api = self.api_with_ledger(&source_row.api_url, &key, auth, Some(ledger));
        let listing = self.listing_account(source, credential).await?;
        Ok((BitbucketRepos::new(api), listing))
    }

    /// Deletes a source, first removing our webhooks from its tracked repositories on
    /// Bitbucket with `credential` (unless `keep_hooks`): if any removal fails, nothing is
    /// deleted. Returns how many repositories had their hooks removed.
    ///
    /// # Errors
    /// [`Error::NoSource`], a removal's failure, or the store's.
    pub async fn delete_source(
        &self,
        source: &ProviderName,
        credential: Option<Credential>,
        keep_hooks: bool,
    ) -> Result<usize, Error> {
        if self.store().source(source).await?.is_none() {
            return Err(Error::NoSource(source.clone()));
        }
        let mut removed = 0;
        if !keep_hooks {
            let tracked = self.store().tracked(source).await?;
            if tracked.iter().any(|t| t.hook.is_some()) {
                let credential = match credential {
                    Some(c) => c,
                    None => self.default_credential(source).await?,
                };
                let syncer = self.syncer(source, credential).await?;
                for repo in &tracked {
                    if syncer.untrack_one(&repo.full_name, false).await? {
                        removed += 1;
                    }
                }
            }
        }
        self.store().delete_source(source).await?;
        Ok(removed)
    }
}

impl Syncer {
    /// The source.
    #[must_use]
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The credential.
    #[must_use]
    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    /// The REST client (for its metrics).
    #[must_use]
    pub fn api(&self) -> &ApiClient {
        self.repos.api()
    }

    /// Lists every workspace's repositories (complete listings only are recorded: a failed
    /// workspace keeps its previous list), then, with [`SyncOptions::hooks`], gives every
    /// tracked repository exactly one webhook of ours.
    ///
    /// ```no_run
    /// # async fn demo(syncer: gemnasium_bitbucket::service::Syncer) -> Result<(), Box<dyn std::error::Error>> {
    /// use gemnasium_bitbucket::model::{HookEvents, ServiceUrl};
    /// use gemnasium_bitbucket::service::SyncOptions;
    /// let hooks_url = ServiceUrl::parse("hooks URL", "https://gemnasium.example.com/hooks/bitbucket")?;
    /// let options = SyncOptions::new().hooks(hooks_url, HookEvents::push());
    /// let report = syncer.sync(&options, &gemnasium_bitbucket::sync::Quiet).await?;
    /// assert!(report.complete(), "{report:?}");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Crawl`] when nothing could be listed (the workspace list failed); per-workspace
    /// and per-repository failures are in the report.
    pub async fn sync(
        &self,
        options: &SyncOptions,
        observer: &dyn SyncObserver,
    ) -> Result<SyncReport, Error> {
        let started = Instant::now();
        self.api()
            .set_deadline(options.time_limit.map(|l| tokio::time::Instant::now() + l));
        let mut crawl_options = CrawlOptions::new()
            .workspace(options.workspace.clone())
            .dry_run(options.dry_run)
            .incremental(!options.full_listing);
        if let Some(age) = options.full_after {
            crawl_options = crawl_options.full_after(age);
        }
        let mut reconcile = ReconcileOptions::default();
        if let Some(within) = options.proven_within {
            reconcile = reconcile.proven_within(within);
        }
        let store = self.bitbucket.store().as_ref();
        let before = (
            self.api().metrics().requests(),
            self.api().metrics().retries(),
            self.api().metrics().bytes(),
        );
        let report = crawl(
            &self.repos,
            store,
            &self.source.provider,
            &self.listing_account,
            &crawl_options,
            observer,
        )
        .await?;
        let hooks = match (&options.hooks, options.dry_run) {
            (Some((url, events)), false) => {
                let desired = DesiredHook::new(url.clone(), events.clone(), self.marker.clone());
                Some(
                    reconcile_all_with(
                        &self.repos,
                        store,
                        &self.source.provider,
                        &desired,
                        &HookLeases::new(),
                        observer,
                        &reconcile,
                    )
                    .await?,
                )
            }
            _ => None,
        };
        let metrics = self.api().metrics();
        Ok(SyncReport {
            crawl: report,
            hooks,
            requests: metrics.requests() - before.0,
            retries: metrics.retries() - before.1,
            bytes: metrics.bytes() - before.2,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Starts tracking repositories by full name (`workspace/slug`), all or none: each must be
    /// in the source's last listing.
    ///
    /// # Errors
    /// [`Error::NotListed`] naming the first unknown repository (nothing tracked), or the
    /// store's failure.
    pub async fn track(&self, full_names: &[String]) -> Result<Vec<TrackOutcome>, Error> {
        track(self.bitbucket.store(), &self.source.provider, full_names).await
    }

    /// Stops tracking repositories, removing every webhook of ours from each first (unless
    /// `keep_hooks`); a repository whose hook cannot be removed stays tracked and stops the run.
    ///
    /// # Errors
    /// [`Error::NotTracked`] naming the first unknown repository (nothing changed), a
    /// removal's failure, or the store's.
    pub async fn untrack(&self, full_names: &[String], keep_hooks: bool) -> Result<(), Error> {
        let tracked = self
            .bitbucket
            .store()
            .tracked(&self.source.provider)
            .await?;
        for name in full_names {
            if !tracked.iter().any(|t| &t.full_name == name) {
                return Err(Error::NotTracked {
                    source_name: self.source.provider.clone(),
                    full_name: name.clone(),
                });
            }
        }
        for name in full_names {
            self.untrack_one(name, keep_hooks).await?;
        }
        Ok(())
    }

    async fn untrack_one(&self, full_name: &str, keep_hooks: bool) -> Result<bool, Error> {
        let store = self.bitbucket.store();
        let Some(repo) = store
            .tracked(&self.source.provider)
            .await?
            .into_iter()
            .find(|t| t.full_name == full_name)
        else {
            return Ok(false);
        };
        Ok(untrack(
            &self.repos,
            store.as_ref(),
            &self.source.provider,
            &repo.uuid,
            &self.marker,
            keep_hooks,
            &HookLeases::new(),
        )
        .await?)
    }

    /// This credential's listing of the source, as the last sync recorded it (gone rows
    /// included).
    ///
    /// # Errors
    /// The store's failure.
    pub async fn repositories(&self) -> Result<Vec<StoredRepository>, Error> {
        Ok(self
            .bitbucket
            .store()
            .repositories(&self.source.provider, Some(&self.listing_account))
            .await?)
    }
}

/// Tracks `full_names` of `source` (all or none).
pub(crate) async fn track(
    store: &crate::store::DynStore,
    source: &ProviderName,
    full_names: &[String],
) -> Result<Vec<TrackOutcome>, Error> {
    let listed = store.repositories(source, None).await?;
    let mut found = Vec::new();
    for name in full_names {
        let repo = listed
            .iter()
            .find(|r| &r.repository.full_name == name && r.gone_since.is_none())
            .ok_or_else(|| Error::NotListed {
                source_name: source.clone(),
                full_name: name.clone(),
            })?;
        found.push(repo);
    }
    let mut outcomes = Vec::new();
    for repo in found {
        let outcome = store
            .track(source, &repo.repository.uuid, &repo.repository.full_name)
            .await?;
        outcomes.push(TrackOutcome {
            full_name: repo.repository.full_name.clone(),
            outcome,
        });
    }
    Ok(outcomes)
}

impl Bitbucket {
    /// Starts tracking repositories of `source` by full name, all or none (no Bitbucket access
    /// needed: the next sync with hooks installs them).
    ///
    /// # Errors
    /// [`Error::NoSource`], [`Error::NotListed`], or the store's failure.
    pub async fn track(
        &self,
        source: &ProviderName,
        full_names: &[String],
    ) -> Result<Vec<TrackOutcome>, Error> {
        if self.store().source(source).await?.is_none() {
            return Err(Error::NoSource(source.clone()));
        }
        track(self.store(), source, full_names).await
    }
}

impl Bitbucket {
    /// Stops tracking repositories of `source` by full name. Every webhook of ours is removed
    /// from each first, with `credential` (the default one when `None`), unless `keep_hooks`;
    /// then no Bitbucket access is needed.
    ///
    /// # Errors
    /// [`Error::NotTracked`] (nothing changed), a removal's failure (that repository and the
    /// rest stay tracked), or the store's.
    pub async fn untrack(
        &self,
        source: &ProviderName,
        full_names: &[String],
        credential: Option<Credential>,
        keep_hooks: bool,
    ) -> Result<(), Error> {
        let tracked = self.store().tracked(source).await?;
        let mut chosen = Vec::new();
        for name in full_names {
            let repo = tracked
                .iter()
                .find(|t| &t.full_name == name)
                .ok_or_else(|| Error::NotTracked {
                    source_name: source.clone(),
                    full_name: name.clone(),
                })?;
            chosen.push(repo);
        }
        if keep_hooks || chosen.iter().all(|t| t.hook.is_none()) {
            // Our hooks are left on Bitbucket (or none was ever recorded): only the store changes,
            // still under each repository's lease so that a running sync finishes first.
            let leases = HookLeases::new();
            let marker = HookMarker::new(self.store().installation_id().await?);
            let none = crate::sync::NoHooks;
            for repo in chosen {
                untrack(
                    &none,
                    self.store().as_ref(),
                    source,
                    &repo.uuid,
                    &marker,
                    true,
                    &leases,
                )
                .await?;
            }
            return Ok(());
        }
        let credential = match credential {
            Some(c) => c,
            None => self.default_credential(source).await?,
        };
        self.syncer(source, credential)
            .await?
            .untrack(full_names, false)
            .await
    }
}
