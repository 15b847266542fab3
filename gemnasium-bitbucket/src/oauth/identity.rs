//! Who signed in: `/2.0/user` and `/2.0/user/emails`, keyed by Bitbucket's stable `uuid`.

use super::error::OAuthError;
use crate::api::user::confirmed_email;
use crate::api::{ApiClient, ApiError};
use crate::model::{AccountInfo, AccountUuid};

/// A Bitbucket account as sign-in needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Identity {
    /// Stable key.
    pub uuid: AccountUuid,
    /// Atlassian-wide id.
    pub account_id: Option<String>,
    /// Mutable display data.
    pub nickname: Option<String>,
    /// Mutable display data.
    pub display_name: Option<String>,
    /// The primary confirmed address, else any confirmed one; never an unconfirmed one. `None`
    /// when there is none (or the consumer lacks the `email` scope): sign-up must then fail,
    /// sign-in of an already linked account may proceed.
    pub email: Option<String>,
}

impl Identity {
    /// What a stored token records about its account.
    #[must_use]
    pub fn account_info(&self) -> AccountInfo {
        AccountInfo {
            uuid: self.uuid.clone(),
            account_id: self.account_id.clone(),
            nickname: self.nickname.clone(),
            display_name: self.display_name.clone(),
        }
    }

    /// The account as shown to people: its nickname, else its uuid.
    #[must_use]
    pub fn shown(&self) -> String {
        self.nickname
            .clone()
            .unwrap_or_else(|| self.uuid.to_string())
    }
}

/// Fetches the account behind `api`'s credentials, through the REST client (retries, budget and
/// origin check included).
///
/// # Errors
/// [`OAuthError::Api`] (an expired token, a missing `account` scope, …).
pub async fn fetch_identity(api: &ApiClient) -> Result<Identity, OAuthError> {
    let user = api.user().get().await?;
    let email = match api.user().emails().await {
        Ok(emails) => confirmed_email(&emails).map(str::to_owned),
        // Without the `email` scope the address is simply unknown.
        Err(ApiError::MissingScopes { .. } | ApiError::Forbidden { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    Ok(Identity {
        uuid: user.uuid,
        account_id: user.account_id,
        nickname: user.nickname,
        display_name: user.display_name,
        email,
    })
}
