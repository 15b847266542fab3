//! Signing a user in: the authorization URL, then the callback.

use std::sync::Arc;

use super::{Bitbucket, Error};
use crate::api::StaticToken;
use crate::model::{CallbackUrl, ProviderName, Purpose, ServiceUrl};
use crate::oauth::{begin_authorization, fetch_identity, Identity, PendingAuthorization};
use crate::store::StoredToken;

/// Options of one sign-in.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct LoginOptions {
    /// Gemnasium's homepage, overriding the one recorded with the provider.
    pub homepage: Option<ServiceUrl>,
    /// Send a PKCE challenge even if the provider does not ask for it.
    pub pkce: bool,
}

impl LoginOptions {
    /// No overrides.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses `homepage` instead of the recorded one.
    #[must_use]
    pub fn homepage(mut self, homepage: ServiceUrl) -> Self {
        self.homepage = Some(homepage);
        self
    }

    /// Sends a PKCE challenge.
    #[must_use]
    pub fn pkce(mut self, pkce: bool) -> Self {
        self.pkce = pkce;
        self
    }
}

/// Who signed in, and the token stored for them.
#[derive(Debug)]
#[non_exhaustive]
pub struct SignedIn {
    /// The account.
    pub identity: Identity,
    /// The stored token (never print its tokens).
    pub token: StoredToken,
}

impl Bitbucket {
    /// Starts a sign-in for `provider`'s `purpose` client, with the redirect URI derived from
    /// the recorded homepage: send the user to the pending authorization's URL, keep it (or its
    /// parts) with the browser session until the callback.
    ///
    /// ```no_run
    /// # async fn demo(bitbucket: gemnasium_bitbucket::Bitbucket) -> Result<(), Box<dyn std::error::Error>> {
    /// use gemnasium_bitbucket::model::Purpose;
    /// let pending = bitbucket.begin_login(&"bitbucket.org".parse()?, Purpose::Login).await?;
    /// println!("redirect the browser to {}", pending.url());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::NoProvider`], [`Error::NoClient`], [`Error::NoHomepage`].
    pub async fn begin_login(
        &self,
        provider: &ProviderName,
        purpose: Purpose,
    ) -> Result<PendingAuthorization, Error> {
        self.begin_login_with(provider, purpose, &LoginOptions::default())
            .await
    }

    /// [`begin_login`](Self::begin_login) with options (another homepage, PKCE).
    ///
    /// # Errors
    /// As [`begin_login`](Self::begin_login), and [`Error::Model`] for a homepage with a query.
    pub async fn begin_login_with(
        &self,
        provider: &ProviderName,
        purpose: Purpose,
        options: &LoginOptions,
    ) -> Result<PendingAuthorization, Error> {
        let (provider, client) = self.provider_and_client(provider, purpose).await?;
        let homepage = options
            .homepage
            .clone()
            .or_else(|| provider.homepage.clone())
            .ok_or_else(|| Error::NoHomepage(provider.name.clone()))?;
        let redirect = CallbackUrl::new(&homepage, &provider.name)?.redirect_uri(purpose);
        // PKCE: on when the provider asks for it or this sign-in does.
        let pkce = options.pkce || provider.pkce;
        Ok(begin_authorization(&provider, &client, &redirect, pkce)?)
    }

    /// Finishes a sign-in: checks the callback (the whole redirected URL, or a web route's
    /// query string, or a bare code) against the pending authorization (redirect URI and
    /// state), exchanges the code, fetches the identity and stores the tokens for that account.
    /// Nothing is sent to Bitbucket unless the callback checks out, and nothing is stored unless
    /// every step succeeded.
    ///
    /// ```no_run
    /// # async fn demo(bitbucket: gemnasium_bitbucket::Bitbucket, pending: gemnasium_bitbucket::oauth::PendingAuthorization, query: &str) -> Result<(), Box<dyn std::error::Error>> {
    /// let signed_in = bitbucket.complete_login(&pending, query).await?;
    /// println!("welcome, {}", signed_in.identity.shown());
    /// # Ok(()) }
    /// ```
    ///
    /// When the provider limits sign-in to workspaces, the account must be a member of one of
    /// them, as Bitbucket answers the new token's `/2.0/user/workspaces`.
    ///
    /// # Errors
    /// [`Error::OAuth`] (state mismatch, wrong redirect, access denied, refused code, …),
    /// [`Error::WorkspaceNotAllowed`] for an account outside the allowed workspaces,
    /// [`Error::Api`] from the identity and membership calls, or the store's failure.
    pub async fn complete_login(
        &self,
        pending: &PendingAuthorization,
        callback: &str,
    ) -> Result<SignedIn, Error> {
        let code = pending.code_from_callback(callback)?;
        let (provider, client) = self
            .provider_and_client(pending.provider(), pending.purpose())
            .await?;
        let tokens = pending
            .exchange(self.http(), &provider, &client, &code)
            .await?;
        let api = self.api(
            &provider.api_url,
            &client,
            Arc::new(StaticToken(tokens.access_token.clone())),
        );
        let identity = fetch_identity(&api).await?;
        check_membership(&api, &provider, &identity).await?;
        let token = self
            .store()
            .put_token(
                &provider.name,
                client.purpose,
                &identity.account_info(),
                &tokens,
            )
            .await?;
        Ok(SignedIn { identity, token })
    }
}

/// Refuses `identity` unless it belongs to one of the provider's allowed workspaces (when it
/// has any), asking Bitbucket with the sign-in's own token.
async fn check_membership(
    api: &crate::api::ApiClient,
    provider: &crate::model::Provider,
    identity: &Identity,
) -> Result<(), Error> {
    let allowed = &provider.allowed_workspaces;
    if allowed.is_empty() {
        return Ok(());
    }
    let memberships = api.workspaces().mine().await?;
    if memberships.iter().any(|m| allowed.contains_slug(m.slug())) {
        return Ok(());
    }
    tracing::info!(account = %identity.uuid, required = %allowed, "sign-in refused: not a member of an allowed workspace");
    Err(Error::WorkspaceNotAllowed {
        account: identity.shown(),
        required: allowed.clone(),
    })
}
