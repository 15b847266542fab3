//! Starting a sign-in: the authorization URL, the CSRF `state` to bind to the session, and
//! reading the callback the user comes back with.

use std::fmt;

use oauth2::{CsrfToken, PkceCodeChallenge};
use url::Url;

use super::error::OAuthError;
use super::grant::{exchange_code, oauth_client};
use crate::model::{Client, Provider, Purpose, TokenSet};

/// The redirect URI for `purpose` under the registered `callback_url`:
/// `{callback}/{login|sync}/callback`. Bitbucket accepts any extension of the registered
/// callback, and a `/` segment keeps the match unambiguous.
#[must_use]
pub fn redirect_uri(callback_url: &str, purpose: Purpose) -> String {
    format!("{}/{purpose}/callback", callback_url.trim_end_matches('/'))
}

/// A started authorization: send the user to [`url`](Self::url), keep this value (or its
/// parts) until the callback, then [`exchange`](Self::exchange).
#[derive(Clone)]
#[must_use]
pub struct PendingAuthorization {
    url: Url,
    state: String,
    redirect_uri: String,
    pkce_verifier: Option<String>,
}

impl fmt::Debug for PendingAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingAuthorization")
            .field("redirect_uri", &self.redirect_uri)
            .field("state", &"[redacted]")
            .field("pkce", &self.pkce_verifier.is_some())
            .finish_non_exhaustive()
    }
}

/// Builds the authorization URL for `client` with a random `state`.
///
/// No `scope` parameter is sent: Bitbucket grants the boxes ticked on the consumer and ignores
/// it. PKCE (S256) is opt-in, since Bitbucket does not document it.
///
/// # Errors
/// [`OAuthError::Malformed`] when a URL cannot be used.
pub fn begin_authorization(
    provider: &Provider,
    client: &Client,
    redirect_uri: &str,
    pkce: bool,
) -> Result<PendingAuthorization, OAuthError> {
    let oauth = oauth_client(provider, client, Some(redirect_uri))?;
    let mut request = oauth.authorize_url(CsrfToken::new_random);
    let mut verifier = None;
    if pkce {
        let (challenge, v) = PkceCodeChallenge::new_random_sha256();
        request = request.set_pkce_challenge(challenge);
        verifier = Some(v.secret().clone());
    }
    let (url, state) = request.url();
    Ok(PendingAuthorization {
        url,
        state: state.secret().clone(),
        redirect_uri: redirect_uri.to_owned(),
        pkce_verifier: verifier,
    })
}

impl PendingAuthorization {
    /// Rebuilds a pending authorization from parts a web server kept in its session.
    pub fn from_parts(
        url: Url,
        state: String,
        redirect_uri: String,
        pkce_verifier: Option<String>,
    ) -> Self {
        Self {
            url,
            state,
            redirect_uri,
            pkce_verifier,
        }
    }

    /// Where to send the user.
    #[must_use]
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The CSRF state: bind it to the user's session and compare on the callback.
    #[must_use]
    pub fn state(&self) -> &str {
        &self.state
    }

    /// The redirect URI sent; the exchange sends the same.
    #[must_use]
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The PKCE verifier, when PKCE is on.
    #[must_use]
    pub fn pkce_verifier(&self) -> Option<&str> {
        self.pkce_verifier.as_deref()
    }

    /// The authorization code from what the user pasted: the whole callback URL (its `state`
    /// is checked, `error=` is reported), or the bare code.
    ///
    /// # Errors
    /// [`OAuthError::AccessDenied`], [`OAuthError::Callback`], [`OAuthError::StateMismatch`] or
    /// [`OAuthError::MissingCode`].
    pub fn code_from_callback(&self, pasted: &str) -> Result<String, OAuthError> {
        let pasted = pasted.trim();
        let Ok(url) = Url::parse(pasted) else {
            let bare = !pasted.is_empty()
                && !pasted.contains(char::is_whitespace)
                && !pasted.contains('=');
            return if bare {
                Ok(pasted.to_owned())
            } else {
                Err(OAuthError::MissingCode)
            };
        };
        let param = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        if let Some(error) = param("error") {
            let description = param("error_description").unwrap_or_default();
            return Err(if error == "access_denied" {
                OAuthError::AccessDenied
            } else {
                OAuthError::Callback { error, description }
            });
        }
        if param("state").as_deref() != Some(self.state.as_str()) {
            return Err(OAuthError::StateMismatch);
        }
        param("code")
            .filter(|c| !c.is_empty())
            .ok_or(OAuthError::MissingCode)
    }

    /// Exchanges `code` (from [`code_from_callback`](Self::code_from_callback)) for tokens,
    /// with the same redirect URI and the PKCE verifier.
    ///
    /// # Errors
    /// The token endpoint's refusal, mapped to what to do.
    pub async fn exchange(
        &self,
        http: &reqwest::Client,
        provider: &Provider,
        client: &Client,
        code: &str,
    ) -> Result<TokenSet, OAuthError> {
        exchange_code(
            http,
            provider,
            client,
            &self.redirect_uri,
            code,
            self.pkce_verifier.as_deref(),
        )
        .await
    }
}
