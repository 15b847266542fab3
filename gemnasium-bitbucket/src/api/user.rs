//! The signed-in account: `GET /2.0/user` and `GET /2.0/user/emails`.

use futures::TryStreamExt;
use serde::Deserialize;

use super::{ApiClient, ApiError, PageQuery};
use crate::model::AccountUuid;

/// Pages of `/2.0/user/emails` followed at most.
const MAX_EMAIL_PAGES: usize = 20;

/// The account behind the credentials, as `/2.0/user` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct User {
    /// Stable key.
    pub uuid: AccountUuid,
    /// Atlassian-wide id.
    pub account_id: Option<String>,
    /// Mutable display data.
    pub nickname: Option<String>,
    /// Mutable display data.
    pub display_name: Option<String>,
}

#[derive(Deserialize)]
struct WireUser {
    uuid: String,
    #[serde(default)]
    account_id: Option<String>,
    #[serde(default)]
    nickname: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
}

/// One address of `/2.0/user/emails`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Email {
    /// The address.
    pub email: String,
    /// Whether it is the primary address.
    #[serde(default)]
    pub is_primary: bool,
    /// Whether its owner confirmed it.
    #[serde(default)]
    pub is_confirmed: bool,
}

/// `/2.0/user…` calls.
#[derive(Debug)]
pub struct UserHandler<'a> {
    api: &'a ApiClient,
}

impl ApiClient {
    /// The signed-in account's endpoints.
    #[must_use]
    pub fn user(&self) -> UserHandler<'_> {
        UserHandler { api: self }
    }
}

impl UserHandler<'_> {
    /// `GET /2.0/user` (OAuth scope `account`; refused to access tokens).
    ///
    /// # Errors
    /// [`ApiError`]; a user without a valid `uuid` is [`ApiError::Malformed`].
    pub async fn get(&self) -> Result<User, ApiError> {
        let wire: WireUser = self.api.get_json(self.api.url(&["user"])).await?;
        let uuid = wire.uuid.parse().map_err(|_| ApiError::Malformed {
            status: 200,
            content_type: "/2.0/user".to_owned(),
            excerpt: format!("the user's uuid {:?} is not a Bitbucket UUID", wire.uuid),
        })?;
        Ok(User {
            uuid,
            account_id: wire.account_id,
            nickname: wire.nickname,
            display_name: wire.display_name,
        })
    }

    /// Every address of `GET /2.0/user/emails` (OAuth scope `email`).
    ///
    /// # Errors
    /// [`ApiError`].
    pub async fn emails(&self) -> Result<Vec<Email>, ApiError> {
        let query = PageQuery::new().pagelen(100);
        let mut pages = std::pin::pin!(self
            .api
            .pages::<Email>(self.api.url(&["user", "emails"]), &query));
        let mut emails = Vec::new();
        let mut count = 0;
        while let Some(page) = pages.try_next().await? {
            emails.extend(page.values);
            count += 1;
            if count >= MAX_EMAIL_PAGES {
                break;
            }
        }
        Ok(emails)
    }
}

/// The address to use: the primary confirmed one, else any confirmed one; never an unconfirmed
/// one (markbates/goth accepted those, pitfall of the facts doc).
#[must_use]
pub fn confirmed_email(emails: &[Email]) -> Option<&str> {
    let confirmed = || emails.iter().filter(|e| e.is_confirmed);
    confirmed()
        .find(|e| e.is_primary)
        .or_else(|| confirmed().next())
        .map(|e| e.email.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_primary_confirmed_address() {
        let email = |address: &str, primary, confirmed| Email {
            email: address.to_owned(),
            is_primary: primary,
            is_confirmed: confirmed,
        };
        let list = [
            email("a@x", true, false),
            email("b@x", false, true),
            email("c@x", true, true),
        ];
        assert_eq!(confirmed_email(&list), Some("c@x"));
        assert_eq!(confirmed_email(&list[..2]), Some("b@x"));
        assert_eq!(confirmed_email(&list[..1]), None);
    }
}
