//! Recording the set-up: the documented configuration in one call, and the writes whose rules
//! every front end must follow (the scope policy of clients, the API-host rule).

use super::{Bitbucket, Error};
use crate::model::{Client, Provider, ProviderName, Purpose, RedirectUri, ScopeReview, Source};
use crate::oauth::{verify_consumer, Verification};
use crate::provision::{apply, Configuration, Step};
use crate::store::{ClientPatch, ProviderPatch, SourcePatch, Updated, WriteOutcome};

/// What recording a client did, and what the scope policy noted.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientWrite {
    /// Created, updated or unchanged.
    pub outcome: WriteOutcome,
    /// The scope policy's review of the recorded scopes.
    pub review: ScopeReview,
}

/// A redirect URI for probes when the homepage is unknown: a made-up code is refused whatever
/// the redirect URI, so any valid one will do.
fn probe_redirect(provider: &Provider, purpose: Purpose) -> RedirectUri {
    provider.callback_url().map_or_else(
        || {
            let home = crate::model::ServiceUrl::parse("homepage URL", "https://gemnasium.invalid")
                .expect("a constant valid URL");
            crate::model::CallbackUrl::new(&home, &provider.name)
                .expect("a constant homepage has no query")
                .redirect_uri(purpose)
        },
        |callback| callback.redirect_uri(purpose),
    )
}

impl Bitbucket {
    /// Records `config`: creates what is missing, updates what differs, leaves the rest.
    /// Re-running it reports every step unchanged.
    ///
    /// ```no_run
    /// # async fn demo(bitbucket: gemnasium_bitbucket::Bitbucket) -> Result<(), Box<dyn std::error::Error>> {
    /// use gemnasium_bitbucket::model::ClientSecret;
    /// use gemnasium_bitbucket::provision::Configuration;
    /// let config = Configuration::bitbucket_cloud("KEY".parse()?, ClientSecret::new("SECRET")?);
    /// for step in bitbucket.apply(&config).await? {
    ///     println!("{} {}: {}", step.entity, step.key, step.outcome.as_str());
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Store`]; rows written before a failure stay (re-running converges).
    pub async fn apply(&self, config: &Configuration) -> Result<Vec<Step>, Error> {
        config.provider.api_url.check_api_host()?;
        Ok(apply(self.store().as_ref(), config).await?)
    }

    /// Checks `client`'s key and secret on Bitbucket, without a user and without storing
    /// anything (for set-up tools that verify before recording).
    pub async fn verify_client(&self, provider: &Provider, client: &Client) -> Verification {
        verify_consumer(
            self.http(),
            provider,
            client,
            &probe_redirect(provider, client.purpose),
        )
        .await
    }

    /// Checks the stored client of `provider` for `purpose` on Bitbucket: valid credentials,
    /// callback URL set, private or not, and (private consumers) granted scopes. Uses the
    /// sign-in redirect URI when the homepage is recorded.
    ///
    /// ```no_run
    /// # async fn demo(bitbucket: gemnasium_bitbucket::Bitbucket) -> Result<(), Box<dyn std::error::Error>> {
    /// use gemnasium_bitbucket::model::Purpose;
    /// let verification = bitbucket.verify(&"bitbucket.org".parse()?, Purpose::Sync).await?;
    /// if !verification.passed() {
    ///     eprintln!("the sync consumer needs attention: {verification:?}");
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::NoProvider`], [`Error::NoClient`] or the store's failure; Bitbucket's answers
    /// are in the [`Verification`].
    pub async fn verify(
        &self,
        provider: &ProviderName,
        purpose: Purpose,
    ) -> Result<Verification, Error> {
        let (provider, client) = self.provider_and_client(provider, purpose).await?;
        Ok(self.verify_client(&provider, &client).await)
    }

    /// Adds a provider (an identical one is unchanged).
    ///
    /// # Errors
    /// [`Error::Model`] for an API URL on `bitbucket.org`; the store's conflicts.
    pub async fn create_provider(&self, provider: &Provider) -> Result<WriteOutcome, Error> {
        provider.api_url.check_api_host()?;
        Ok(self.store().create_provider(provider).await?)
    }

    /// Changes the fields `patch` names, atomically.
    ///
    /// # Errors
    /// [`Error::Model`] for an API URL on `bitbucket.org`; the store's refusals.
    pub async fn update_provider(
        &self,
        name: &ProviderName,
        patch: &ProviderPatch,
    ) -> Result<Updated<Provider>, Error> {
        if let Some(current) = self.store().provider(name).await? {
            patch.apply(&current).api_url.check_api_host()?;
        }
        Ok(self.store().update_provider(name, patch).await?)
    }

    /// Records a client, under the scope policy: scopes that do not cover the purpose are
    /// refused unless `allow_missing_scopes` (then recorded, and the review says so).
    ///
    /// # Errors
    /// [`Error::ScopesNotCovered`], or the store's refusals (missing provider, conflict).
    pub async fn create_client(
        &self,
        client: &Client,
        allow_missing_scopes: bool,
    ) -> Result<ClientWrite, Error> {
        let review = client.scope_review();
        if !review.covers_purpose() && !allow_missing_scopes {
            return Err(Error::ScopesNotCovered {
                scopes: client.scopes.clone(),
                review: Box::new(review),
            });
        }
        let outcome = self.store().create_client(client).await?;
        Ok(ClientWrite { outcome, review })
    }

    /// Changes the fields `patch` names, atomically, under the scope policy when it sets
    /// scopes.
    ///
    /// # Errors
    /// [`Error::ScopesNotCovered`], or the store's refusals.
    pub async fn update_client(
        &self,
        provider: &ProviderName,
        purpose: Purpose,
        patch: &ClientPatch,
        allow_missing_scopes: bool,
    ) -> Result<(Updated<Client>, Option<ScopeReview>), Error> {
        let review = patch.new_scopes().map(|scopes| purpose.review(scopes));
        if let Some(review) = review.as_ref().filter(|r| !r.covers_purpose()) {
            if !allow_missing_scopes {
                return Err(Error::ScopesNotCovered {
                    scopes: patch.new_scopes().cloned().unwrap_or_default(),
                    review: Box::new(review.clone()),
                });
            }
        }
        let updated = self.store().update_client(provider, purpose, patch).await?;
        Ok((updated, review))
    }

    /// Adds a source (an identical one is unchanged).
    ///
    /// # Errors
    /// [`Error::Model`] for an API URL on `bitbucket.org`; the store's refusals.
    pub async fn create_source(&self, source: &Source) -> Result<WriteOutcome, Error> {
        source.api_url.check_api_host()?;
        Ok(self.store().create_source(source).await?)
    }

    /// Changes the fields `patch` names, atomically.
    ///
    /// # Errors
    /// [`Error::Model`] for an API URL on `bitbucket.org`; the store's refusals.
    pub async fn update_source(
        &self,
        provider: &ProviderName,
        patch: &SourcePatch,
    ) -> Result<Updated<Source>, Error> {
        if let Some(current) = self.store().source(provider).await? {
            patch.apply(&current).api_url.check_api_host()?;
        }
        Ok(self.store().update_source(provider, patch).await?)
    }
}
