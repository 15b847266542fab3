//! Who signed in: `/2.0/user` and `/2.0/user/emails`, keyed by Bitbucket's stable `uuid`.

use serde::Deserialize;
use url::Url;

use super::error::{excerpt, OAuthError};
use super::rest::rest_error;
use crate::model::{AccessToken, AccountInfo, AccountUuid, Provider};

/// Pages of `/2.0/user/emails` followed at most.
const MAX_EMAIL_PAGES: usize = 20;

/// A Bitbucket account as sign-in needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
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
}

#[derive(Deserialize)]
struct User {
    uuid: String,
    #[serde(default)]
    account_id: Option<String>,
    #[serde(default)]
    nickname: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
}

#[derive(Deserialize)]
struct EmailPage {
    #[serde(default)]
    values: Vec<Email>,
    #[serde(default)]
    next: Option<String>,
}

#[derive(Deserialize)]
struct Email {
    email: String,
    #[serde(default)]
    is_primary: bool,
    #[serde(default)]
    is_confirmed: bool,
}

/// GETs `url` with the bearer token and parses JSON; errors follow Bitbucket's envelope.
pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: Url,
    token: &AccessToken,
    what: &'static str,
) -> Result<T, OAuthError> {
    let shown = format!("{}{}", url.origin().ascii_serialization(), url.path());
    let response = http
        .get(url)
        .bearer_auth(token.expose_secret())
        .send()
        .await
        .map_err(|e| OAuthError::Unreachable {
            url: shown,
            reason: super::http::describe(&e),
        })?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(|e| OAuthError::Malformed {
        what,
        excerpt: super::http::describe(&e),
    })?;
    if !(200..300).contains(&status) {
        return Err(rest_error(status, &body));
    }
    serde_json::from_slice(&body).map_err(|e| OAuthError::Malformed {
        what,
        excerpt: format!("{e}: {}", excerpt(&body)),
    })
}

/// Fetches the account behind `token` from `provider`'s API.
///
/// # Errors
/// [`OAuthError`] from the REST envelope (expired token, missing `account` scope, …).
pub async fn fetch_identity(
    http: &reqwest::Client,
    provider: &Provider,
    token: &AccessToken,
) -> Result<Identity, OAuthError> {
    let user: User = get_json(
        http,
        provider.api_url.join_path(&["2.0", "user"]),
        token,
        "/2.0/user",
    )
    .await?;
    let email = match primary_email(http, provider, token).await {
        Ok(email) => email,
        // Without the `email` scope the address is simply unknown.
        Err(OAuthError::MissingScopes { .. } | OAuthError::Forbidden { .. }) => None,
        Err(e) => return Err(e),
    };
    Ok(Identity {
        uuid: user.uuid.parse()?,
        account_id: user.account_id,
        nickname: user.nickname,
        display_name: user.display_name,
        email,
    })
}

async fn primary_email(
    http: &reqwest::Client,
    provider: &Provider,
    token: &AccessToken,
) -> Result<Option<String>, OAuthError> {
    let mut url = provider.api_url.join_path(&["2.0", "user", "emails"]);
    url.query_pairs_mut().append_pair("pagelen", "100");
    let origin = provider.api_url.origin();
    let mut emails = Vec::new();
    for _ in 0..MAX_EMAIL_PAGES {
        let page: EmailPage = get_json(http, url, token, "/2.0/user/emails").await?;
        emails.extend(page.values);
        let Some(next) = page.next else { break };
        let next = Url::parse(&next).map_err(|e| OAuthError::Malformed {
            what: "next link",
            excerpt: e.to_string(),
        })?;
        if next.origin().ascii_serialization() != origin {
            return Err(OAuthError::ForeignOrigin {
                url: format!("{}{}", next.origin().ascii_serialization(), next.path()),
                expected: origin,
            });
        }
        url = next;
    }
    let confirmed = || emails.iter().filter(|e| e.is_confirmed);
    Ok(confirmed()
        .find(|e| e.is_primary)
        .or_else(|| confirmed().next())
        .map(|e| e.email.clone()))
}
