//! `doctor` through the handle: configuration, consumers on Bitbucket, stored tokens.

use super::{Bitbucket, Error};
use crate::doctor::{
    check_configuration, check_tokens, consumer_finding, Finding, Problem, Subject,
};
use crate::model::TokenState;

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
    /// Checks the whole set-up: store, providers (and the callback URL to register), clients'
    /// scopes, sources, every consumer on Bitbucket (unless offline: only a clear acceptance
    /// passes), and stored tokens. Read-only unless `options.refresh`.
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
