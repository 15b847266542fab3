//! Finishing a sign-in: exchange the code, learn who signed in, store the tokens.

use super::authorize::PendingAuthorization;
use super::error::OAuthError;
use super::identity::{fetch_identity, Identity};
use crate::model::{Client, Provider};
use crate::store::{Store, StoredToken};

/// Exchanges the code in `pasted` (callback URL or bare code), fetches the identity and stores
/// the tokens for that account and `client`.
///
/// # Errors
/// Whatever the callback, the exchange, the identity call or the store refuse.
pub async fn complete_login(
    store: &dyn Store,
    http: &reqwest::Client,
    provider: &Provider,
    client: &Client,
    pending: &PendingAuthorization,
    pasted: &str,
) -> Result<(Identity, StoredToken), OAuthError> {
    let code = pending.code_from_callback(pasted)?;
    let tokens = pending.exchange(http, provider, client, &code).await?;
    let identity = fetch_identity(http, provider, &tokens.access_token).await?;
    let stored = store
        .put_token(
            &provider.name,
            client.purpose,
            &identity.account_info(),
            &tokens,
        )
        .await?;
    Ok((identity, stored))
}
