//! Starting a sign-in: the authorization URL, the CSRF `state` to bind to the browser, and
//! reading the callback the user comes back with.

use std::fmt;

use oauth2::{CsrfToken, PkceCodeChallenge};
use url::Url;

use super::error::OAuthError;
use super::grant::{exchange_code, oauth_client};
use crate::api::Http;
use crate::model::{
    AuthorizationCode, Client, CsrfState, PkceVerifier, Provider, ProviderName, Purpose,
    RedirectUri, TokenSet,
};

/// A started authorization: send the user to [`url`](Self::url), keep this value (or its
/// [parts](Self::into_parts)) until the callback, then read the callback with
/// [`code_from_callback`](Self::code_from_callback).
#[derive(Clone)]
#[must_use]
pub struct PendingAuthorization {
    url: Url,
    provider: ProviderName,
    purpose: Purpose,
    state: CsrfState,
    redirect_uri: RedirectUri,
    pkce_verifier: Option<PkceVerifier>,
}

impl fmt::Debug for PendingAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingAuthorization")
            .field("provider", &self.provider)
            .field("purpose", &self.purpose)
            .field("redirect_uri", &self.redirect_uri)
            .field("pkce", &self.pkce_verifier.is_some())
            .finish_non_exhaustive()
    }
}

/// The parts of a [`PendingAuthorization`], for a service that keeps sign-ins in progress in
/// its own session storage. The state and verifier are secrets: keep them server-side or
/// encrypted.
#[derive(Debug)]
#[non_exhaustive]
pub struct PendingParts {
    /// Where the user was sent.
    pub url: Url,
    /// The provider.
    pub provider: ProviderName,
    /// The client's purpose.
    pub purpose: Purpose,
    /// The CSRF state.
    pub state: CsrfState,
    /// The redirect URI sent.
    pub redirect_uri: RedirectUri,
    /// The PKCE verifier, when PKCE is on.
    pub pkce_verifier: Option<PkceVerifier>,
}

/// Builds the authorization URL for `client` with a random `state`.
///
/// No `scope` parameter is sent: Bitbucket grants the boxes ticked on the consumer and ignores
/// it. PKCE (S256) is sent when `pkce` is set.
///
/// # Errors
/// [`OAuthError::TokenResponse`] when a URL cannot be used.
pub fn begin_authorization(
    provider: &Provider,
    client: &Client,
    redirect_uri: &RedirectUri,
    pkce: bool,
) -> Result<PendingAuthorization, OAuthError> {
    let oauth = oauth_client(provider, client, Some(redirect_uri))?;
    let mut request = oauth.authorize_url(CsrfToken::new_random);
    let mut verifier = None;
    if pkce {
        let (challenge, v) = PkceCodeChallenge::new_random_sha256();
        request = request.set_pkce_challenge(challenge);
        verifier = Some(PkceVerifier::new(v.secret().clone())?);
    }
    let (url, state) = request.url();
    Ok(PendingAuthorization {
        url,
        provider: provider.name.clone(),
        purpose: client.purpose,
        state: CsrfState::new(state.secret().clone())?,
        redirect_uri: redirect_uri.clone(),
        pkce_verifier: verifier,
    })
}

impl PendingAuthorization {
    /// Rebuilds a pending authorization from the parts a service kept.
    pub fn from_parts(parts: PendingParts) -> Self {
        Self {
            url: parts.url,
            provider: parts.provider,
            purpose: parts.purpose,
            state: parts.state,
            redirect_uri: parts.redirect_uri,
            pkce_verifier: parts.pkce_verifier,
        }
    }

    /// Its parts, to keep in a session.
    pub fn into_parts(self) -> PendingParts {
        PendingParts {
            url: self.url,
            provider: self.provider,
            purpose: self.purpose,
            state: self.state,
            redirect_uri: self.redirect_uri,
            pkce_verifier: self.pkce_verifier,
        }
    }

    /// Where to send the user.
    #[must_use]
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The provider.
    #[must_use]
    pub fn provider(&self) -> &ProviderName {
        &self.provider
    }

    /// The purpose of the client being authorized.
    #[must_use]
    pub fn purpose(&self) -> Purpose {
        self.purpose
    }

    /// The CSRF state: bind it to the user's browser and compare on the callback.
    #[must_use]
    pub fn state(&self) -> &CsrfState {
        &self.state
    }

    /// The redirect URI sent; the exchange sends the same.
    #[must_use]
    pub fn redirect_uri(&self) -> &RedirectUri {
        &self.redirect_uri
    }

    /// The authorization code from a callback: the whole URL Bitbucket redirected to (which
    /// must be this sign-in's redirect URI, and carry its `state`), the callback's query string
    /// alone (what a web route receives; `state` checked), or a bare code.
    ///
    /// # Errors
    /// [`OAuthError::AccessDenied`], [`OAuthError::Callback`], [`OAuthError::WrongRedirect`],
    /// [`OAuthError::StateMismatch`] or [`OAuthError::MissingCode`]; nothing is sent anywhere.
    pub fn code_from_callback(&self, callback: &str) -> Result<AuthorizationCode, OAuthError> {
        let callback = callback.trim();
        let query = if let Ok(url) = Url::parse(callback) {
            if !self.redirect_uri.accepts(&url) {
                return Err(OAuthError::WrongRedirect {
                    expected: self.redirect_uri.to_string(),
                });
            }
            url.query().unwrap_or_default().to_owned()
        } else if callback.starts_with('?') || (callback.contains('=') && !callback.contains('/')) {
            callback.trim_start_matches('?').to_owned()
        } else if !callback.is_empty()
            && !callback.contains(|c: char| c.is_whitespace() || c.is_control())
            && !callback.contains(['=', '/', '?', '&', '#'])
        {
            return AuthorizationCode::new(callback).map_err(|_| OAuthError::MissingCode);
        } else {
            return Err(OAuthError::MissingCode);
        };
        let param = |name: &str| {
            url::form_urlencoded::parse(query.as_bytes())
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
        if !param("state").is_some_and(|s| self.state.matches(&s)) {
            return Err(OAuthError::StateMismatch);
        }
        param("code")
            .filter(|c| !c.is_empty())
            .and_then(|c| AuthorizationCode::new(c).ok())
            .ok_or(OAuthError::MissingCode)
    }

    /// Exchanges `code` for tokens, with the same redirect URI and the PKCE verifier.
    ///
    /// # Errors
    /// The token endpoint's refusal, mapped to what to do.
    pub async fn exchange(
        &self,
        http: &Http,
        provider: &Provider,
        client: &Client,
        code: &AuthorizationCode,
    ) -> Result<TokenSet, OAuthError> {
        exchange_code(
            http,
            provider,
            client,
            &self.redirect_uri,
            code,
            self.pkce_verifier.as_ref(),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CallbackUrl, ClientSecret, ServiceUrl};

    fn pending() -> PendingAuthorization {
        let provider = Provider::bitbucket_cloud();
        let client = Client::new(
            provider.name.clone(),
            Purpose::Login,
            "KEY".parse().unwrap(),
            ClientSecret::new("SECRET").unwrap(),
            "account".parse().unwrap(),
        );
        let home = ServiceUrl::parse("URL", "https://gem.example").unwrap();
        let redirect = CallbackUrl::new(&home, &provider.name)
            .unwrap()
            .redirect_uri(Purpose::Login);
        begin_authorization(&provider, &client, &redirect, false).unwrap()
    }

    #[test]
    fn accepts_the_redirect_its_query_or_a_bare_code() {
        let p = pending();
        let state = p.state().expose_secret().to_owned();
        let url = format!(
            "https://gem.example/auth/auth/bitbucket.org/login/callback?code=c1&state={state}"
        );
        assert_eq!(p.code_from_callback(&url).unwrap().expose_secret(), "c1");
        let query = format!("code=c2&state={state}");
        assert_eq!(p.code_from_callback(&query).unwrap().expose_secret(), "c2");
        assert_eq!(
            p.code_from_callback(&format!("?{query}"))
                .unwrap()
                .expose_secret(),
            "c2"
        );
        assert_eq!(
            p.code_from_callback("  bare-code  ")
                .unwrap()
                .expose_secret(),
            "bare-code"
        );
    }

    #[test]
    fn refuses_other_urls_states_and_errors_before_any_exchange() {
        let p = pending();
        let state = p.state().expose_secret().to_owned();
        let q = format!("?code=c&state={state}");
        for bad in [
            format!("https://evil.example/auth/auth/bitbucket.org/login/callback{q}"),
            format!("https://gem.example@evil.example/auth/auth/bitbucket.org/login/callback{q}"),
            format!("http://gem.example/auth/auth/bitbucket.org/login/callback{q}"),
            format!("https://gem.example:8443/auth/auth/bitbucket.org/login/callback{q}"),
            format!("https://gem.example/auth/auth/bitbucket.org/sync/callback{q}"),
            format!("https://gem.example/evil/callback{q}"),
            format!("javascript:alert(1){q}"),
        ] {
            assert!(
                matches!(
                    p.code_from_callback(&bad),
                    Err(OAuthError::WrongRedirect { .. })
                ),
                "{bad}"
            );
        }
        let forged =
            "https://gem.example/auth/auth/bitbucket.org/login/callback?code=c&state=forged";
        assert!(matches!(
            p.code_from_callback(forged),
            Err(OAuthError::StateMismatch)
        ));
        assert!(matches!(
            p.code_from_callback("code=c"),
            Err(OAuthError::StateMismatch)
        ));
        assert!(matches!(
            p.code_from_callback("error=access_denied&state=x"),
            Err(OAuthError::AccessDenied)
        ));
        for junk in ["", "a b", "gem.example/x?code=c"] {
            assert!(
                matches!(p.code_from_callback(junk), Err(OAuthError::MissingCode)),
                "{junk:?}"
            );
        }
    }

    #[test]
    fn debug_hides_the_state() {
        let p = pending();
        let state = p.state().expose_secret().to_owned();
        assert!(!format!("{p:?}").contains(&state));
    }
}
