//! `doctor` through the handle: configuration, consumers on Bitbucket, stored tokens.

use super::{Bitbucket, Error};
use crate::doctor::{
    check_configuration, check_credentials, check_deprecations, check_tokens, consumer_finding,
    Finding, Problem, Subject,
};
use crate::model::{StoredCredential, TokenState};
use crate::store::DynStore;

/// Remembers in the store every deprecation Bitbucket names in a 410, for `doctor`.
#[derive(Clone)]
pub(super) struct RememberDeprecations(pub(super) DynStore);

impl std::fmt::Debug for RememberDeprecations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RememberDeprecations")
            .field(&self.0.location())
            .finish()
    }
}

#[async_trait::async_trait]
impl crate::api::DeprecationObserver for RememberDeprecations {
    async fn deprecation_seen(&self, change: &str, announcement: Option<&str>) {
        // The call fails with its own typed error anyway; a store that cannot record this
        // must not turn it into another error.
        if let Err(e) = self
            .0
            .record_deprecation(change, announcement, chrono::Utc::now())
            .await
        {
            tracing::warn!(error = %e, %change, "cannot record a deprecation Bitbucket announced");
        }
    }
}

/// What `doctor` checks beyond the store.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct DoctorOptions {
    /// Do not contact Bitbucket (consumers are reported unverified).
    pub offline: bool,
    /// Also refresh tokens that expire soon (spends refresh tokens; otherwise read-only).
    pub refresh: bool,
}

impl DoctorOptions {
    /// Online, read-only.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Do not contact Bitbucket.
    #[must_use]
    pub fn offline(mut self, offline: bool) -> Self {
        self.offline = offline;
        self
    }

    /// Refresh expiring tokens.
    #[must_use]
    pub fn refresh(mut self, refresh: bool) -> Self {
        self.refresh = refresh;
        self
    }
}

impl Bitbucket {
    /// One finding per stored credential whose recorded expiry has not passed: whether
    /// Bitbucket still accepts it.
    async fn verify_credentials(&self, credentials: &[StoredCredential]) -> Vec<Finding> {
        let now = chrono::Utc::now();
        let mut findings = Vec::new();
        for credential in credentials.iter().filter(|c| !c.expired_at(now)) {
            let subject = Subject::Credential {
                provider: credential.provider.clone(),
                name: credential.name.clone(),
            };
            findings.push(match self.check_credential(credential).await {
                Ok(scopes) => Finding::pass(
                    subject,
                    format!("accepted by Bitbucket (scopes shown to work: {scopes})"),
                ),
                Err(e) => Finding::fail(
                    subject,
                    e.to_string(),
                    Problem::CredentialRejected {
                        provider: credential.provider.clone(),
                        name: credential.name.clone(),
                    },
                ),
            });
        }
        findings
    }

    /// Checks the whole set-up: store, providers (and the callback URL to register), clients'
    /// scopes, sources, every consumer on Bitbucket (unless offline: only a clear acceptance
    /// passes), stored tokens, stored credentials (expiry, and acceptance unless offline), and
    /// the deprecations Bitbucket announced (410 with a
    /// `CHANGE-NNNN`) since the last run. Writes only the time of this run (so that the next
    /// one reports only newer deprecations), and tokens with `options.refresh`.
    ///
    /// ```no_run
    /// # async fn demo(bitbucket: gemnasium_bitbucket::Bitbucket) -> Result<(), Box<dyn std::error::Error>> {
    /// use gemnasium_bitbucket::doctor::Status;
    /// use gemnasium_bitbucket::service::DoctorOptions;
    /// let findings = bitbucket.doctor(&DoctorOptions::new()).await?;
    /// for f in findings.iter().filter(|f| f.status != Status::Pass) {
    ///     eprintln!("{} {}: {}", f.status.as_str(), f.subject, f.message);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Only when the store cannot be read.
    pub async fn doctor(&self, options: &DoctorOptions) -> Result<Vec<Finding>, Error> {
        let store = self.store();
        let mut findings = check_configuration(store.as_ref()).await?;
        for client in store.clients(None).await? {
            let Some(provider) = store.provider(&client.provider).await? else {
                continue;
            };
            if options.offline {
                findings.push(Finding::warn(
                    Subject::Consumer {
                        provider: client.provider.clone(),
                        purpose: client.purpose,
                    },
                    "not verified (offline)",
                    Problem::NotVerified,
                ));
                continue;
            }
            let verification = self.verify_client(&provider, &client).await;
            findings.push(consumer_finding(&provider, client.purpose, &verification));
        }
        let tokens = store.tokens(None).await?;
        findings.extend(check_tokens(&tokens, chrono::Utc::now()));
        let credentials = store.credentials(None).await?;
        findings.extend(check_credentials(&credentials, chrono::Utc::now()));
        if !options.offline {
            findings.extend(self.verify_credentials(&credentials).await);
        }
        // Deprecations seen since the last report; then this report is the last one. A store
        // opened read-only cannot remember it: the next run reports them again, which is safe.
        let reported_at = chrono::Utc::now();
        let since = store.doctor_reported_at().await?;
        findings.extend(check_deprecations(&store.deprecations().await?, since));
        if let Err(e) = store.set_doctor_reported_at(reported_at).await {
            tracing::debug!(error = %e, "cannot record this doctor report's time");
        }
        if options.refresh {
            for token in tokens.iter().filter(|t| t.state == TokenState::Active) {
                let subject = Subject::Token {
                    key: token.key.clone(),
                    account: token
                        .account
                        .nickname
                        .clone()
                        .unwrap_or_else(|| token.key.account.to_string()),
                };
                findings.push(match self.access_token(&token.key).await {
                    Ok(_) => Finding::pass(subject, "usable (refreshed if it was expiring)"),
                    Err(e) => Finding::fail(
                        subject,
                        e.to_string(),
                        Problem::TokenNeedsReauth {
                            key: token.key.clone(),
                        },
                    ),
                });
            }
        }
        Ok(findings)
    }
}
