//! Stored tokens: usable access tokens, idle refreshes, listing.

use super::{Bitbucket, Error};
use crate::model::{AccessToken, ProviderName, TokenKey};
use crate::oauth::IdleRefresh;
use crate::store::StoredToken;

impl Bitbucket {
    /// A usable access token for `key`, refreshed first if it expires soon (one refresh at a
    /// time per account, across processes sharing the store).
    ///
    /// ```no_run
    /// # async fn demo(bitbucket: gemnasium_bitbucket::Bitbucket, key: gemnasium_bitbucket::model::TokenKey) -> Result<(), Box<dyn std::error::Error>> {
    /// let token = bitbucket.access_token(&key).await?;
    /// // send `Authorization: Bearer {token.expose_secret()}` with your own calls
    /// # let _ = token; Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::OAuth`]: no token, needs re-authorization, or the refresh failed.
    pub async fn access_token(&self, key: &TokenKey) -> Result<AccessToken, Error> {
        Ok(self.token_manager().access_token(key).await?)
    }

    /// Refreshes every active token not refreshed (or authorized) within `older_than`, so that
    /// Bitbucket does not expire refresh tokens left unused for about three months. For a daily
    /// job.
    ///
    /// ```no_run
    /// # async fn demo(bitbucket: gemnasium_bitbucket::Bitbucket) -> Result<(), Box<dyn std::error::Error>> {
    /// for refresh in bitbucket.refresh_idle(chrono::Duration::days(30)).await? {
    ///     println!("{}: {}", refresh.key.account, refresh.outcome);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Only when the store cannot be read; per-token failures are in the report.
    pub async fn refresh_idle(
        &self,
        older_than: chrono::Duration,
    ) -> Result<Vec<IdleRefresh>, Error> {
        Ok(self.token_manager().refresh_idle(older_than).await?)
    }

    /// Stored tokens (all, or one provider's), with their typed state; never the tokens'
    /// values in any output.
    ///
    /// # Errors
    /// The store's failure.
    pub async fn tokens(&self, provider: Option<&ProviderName>) -> Result<Vec<StoredToken>, Error> {
        Ok(self.store().tokens(provider).await?)
    }
}
