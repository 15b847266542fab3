//! The URLs of a sign-in, typed: the callback URL registered on the consumer and the redirect
//! URI of each purpose, which extends it.

use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;

use super::{ModelError, ProviderName, Purpose, ServiceUrl};

/// The callback URL to register on the Bitbucket consumer: `{homepage}/auth/auth/{provider}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct CallbackUrl(ServiceUrl);

impl CallbackUrl {
    /// `{homepage}/auth/auth/{provider}`. A trailing slash on `homepage` is tolerated; a query
    /// is refused, since Bitbucket matches redirect URIs by prefix and a query breaks the match.
    ///
    /// # Errors
    /// [`ModelError::InvalidUrl`] when `homepage` has a query.
    pub fn new(homepage: &ServiceUrl, provider: &ProviderName) -> Result<Self, ModelError> {
        check_homepage(homepage)?;
        let url = homepage.join_path(&["auth", "auth", provider.as_str()]);
        Ok(Self(ServiceUrl::parse("callback URL", url.as_str())?))
    }

    /// The redirect URI for `purpose`: `{callback}/{login|sync}/callback`. Bitbucket accepts
    /// any extension of the registered callback, and the `/` keeps the match unambiguous.
    #[must_use]
    pub fn redirect_uri(&self, purpose: Purpose) -> RedirectUri {
        let url = self.0.join_path(&[purpose.as_str(), "callback"]);
        RedirectUri(
            ServiceUrl::parse("redirect URI", url.as_str())
                .expect("a valid URL with a path appended stays valid"),
        )
    }

    /// The URL.
    #[must_use]
    pub fn as_url(&self) -> &Url {
        self.0.as_url()
    }
}

/// Checks that `homepage` can carry a callback URL (no `?query`).
///
/// # Errors
/// [`ModelError::InvalidUrl`] when it has a query.
pub fn check_homepage(homepage: &ServiceUrl) -> Result<(), ModelError> {
    if homepage.as_url().query().is_some() {
        return Err(ModelError::InvalidUrl {
            field: "homepage URL",
            value: homepage.to_string(),
            reason: "it has a `?query`; give Gemnasium's base URL only".into(),
        });
    }
    Ok(())
}

impl fmt::Display for CallbackUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<CallbackUrl> for String {
    fn from(url: CallbackUrl) -> Self {
        url.to_string()
    }
}

impl TryFrom<String> for CallbackUrl {
    type Error = ModelError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Ok(Self(ServiceUrl::parse("callback URL", &value)?))
    }
}

/// The `redirect_uri` of one sign-in: where Bitbucket sends the browser back with the code.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct RedirectUri(ServiceUrl);

impl RedirectUri {
    /// The URL.
    #[must_use]
    pub fn as_url(&self) -> &Url {
        self.0.as_url()
    }

    /// Whether `url` is this redirect URI: same scheme, host, port and path (its query, which
    /// carries `code` and `state`, is not compared). A callback anywhere else did not come from
    /// the authorization we started and must not reach the token endpoint.
    #[must_use]
    pub fn accepts(&self, url: &Url) -> bool {
        let ours = self.0.as_url();
        url.scheme() == ours.scheme()
            && url.host() == ours.host()
            && url.port_or_known_default() == ours.port_or_known_default()
            && url.username().is_empty()
            && url.password().is_none()
            && url.path().trim_end_matches('/') == ours.path().trim_end_matches('/')
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<RedirectUri> for String {
    fn from(url: RedirectUri) -> Self {
        url.to_string()
    }
}

impl TryFrom<String> for RedirectUri {
    type Error = ModelError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Ok(Self(ServiceUrl::parse("redirect URI", &value)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> ServiceUrl {
        ServiceUrl::parse("URL", s).unwrap()
    }

    fn bb() -> ProviderName {
        "bitbucket.org".parse().unwrap()
    }

    #[test]
    fn callback_tolerates_a_trailing_slash_and_refuses_queries() {
        for home in [
            "https://g.example",
            "https://g.example/",
            "https://g.example/gem/",
        ] {
            let cb = CallbackUrl::new(&url(home), &bb()).unwrap().to_string();
            assert!(cb.ends_with("/auth/auth/bitbucket.org"), "{cb}");
            assert!(!cb.contains("//auth"), "{cb}");
        }
        assert_eq!(
            CallbackUrl::new(&url("https://g.example/gem"), &bb())
                .unwrap()
                .to_string(),
            "https://g.example/gem/auth/auth/bitbucket.org"
        );
        assert!(CallbackUrl::new(&url("https://g.example/?x=1"), &bb()).is_err());
    }

    #[test]
    fn redirect_uris_extend_the_callback_per_purpose() {
        let cb = CallbackUrl::new(&url("https://g.example"), &bb()).unwrap();
        assert_eq!(
            cb.redirect_uri(Purpose::Login).to_string(),
            "https://g.example/auth/auth/bitbucket.org/login/callback"
        );
        assert_eq!(
            cb.redirect_uri(Purpose::Sync).to_string(),
            "https://g.example/auth/auth/bitbucket.org/sync/callback"
        );
    }

    #[test]
    fn only_the_redirect_uri_itself_is_accepted() {
        let redirect = CallbackUrl::new(&url("https://gem.example"), &bb())
            .unwrap()
            .redirect_uri(Purpose::Login);
        let q = "?code=c&state=s";
        let ok = format!("https://gem.example/auth/auth/bitbucket.org/login/callback{q}");
        assert!(redirect.accepts(&Url::parse(&ok).unwrap()));
        let explicit_port =
            format!("https://gem.example:443/auth/auth/bitbucket.org/login/callback{q}");
        assert!(redirect.accepts(&Url::parse(&explicit_port).unwrap()));
        // Issue 9, finding 11: each of these stored a token.
        for bad in [
            format!("https://evil.example/auth/auth/bitbucket.org/login/callback{q}"),
            format!("https://gem.example@evil.example/auth/auth/bitbucket.org/login/callback{q}"),
            format!("http://gem.example/auth/auth/bitbucket.org/login/callback{q}"),
            format!("https://gem.example:8443/auth/auth/bitbucket.org/login/callback{q}"),
            format!("https://gem.example/auth/auth/bitbucket.org/sync/callback{q}"),
            format!("https://gem.example/evil/callback{q}"),
            format!("javascript:alert(1)//gem.example/auth/auth/bitbucket.org/login/callback{q}"),
            format!("https://user:pw@gem.example/auth/auth/bitbucket.org/login/callback{q}"),
        ] {
            assert!(!redirect.accepts(&Url::parse(&bad).unwrap()), "{bad}");
        }
    }
}
