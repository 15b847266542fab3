use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use url::{Host, Url};

use super::ModelError;

/// An absolute URL of a service we talk to: `https`, or plain `http` only on a loopback host
/// (`localhost`, `127.0.0.0/8`, `[::1]`), which is what local test servers use.
///
/// Credentials and fragments are refused. A bare origin is shown without its trailing `/`
/// (`https://api.bitbucket.org`), so what you stored is what you see.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServiceUrl(Url);

impl ServiceUrl {
    /// Parses and validates `value`; `field` names the setting in error messages.
    ///
    /// # Errors
    /// [`ModelError::InvalidUrl`] saying which rule failed.
    pub fn parse(field: &'static str, value: &str) -> Result<Self, ModelError> {
        let fail = |reason: String| ModelError::InvalidUrl {
            field,
            value: value.escape_default().to_string(),
            reason,
        };
        if let Some(bad) = value.chars().find(|c| c.is_whitespace() || c.is_control()) {
            // Refused, not repaired: `…/access_token junk` would otherwise be stored as
            // `%20junk`, and a newline plus header text percent-encoded.
            return Err(fail(format!(
                "it contains {}; give the URL alone, without spaces or line breaks",
                match bad {
                    ' ' => "a space".to_owned(),
                    '\n' | '\r' => "a line break".to_owned(),
                    '\t' => "a tab".to_owned(),
                    other => format!("the character {other:?}"),
                }
            )));
        }
        let url = Url::parse(value).map_err(|e| {
            fail(format!(
                "{e}; give an absolute URL such as `https://bitbucket.org/site/oauth2/authorize`"
            ))
        })?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => {
                return Err(fail(format!(
                    "plain http is only allowed for loopback test servers; use `https://{}`",
                    url.host_str().unwrap_or_default()
                )))
            }
            other => {
                return Err(fail(format!(
                    "scheme `{other}` is not supported; use https"
                )))
            }
        }
        if let Some((_, rest)) = value.split_once("://") {
            if rest.starts_with(['/', '?', '#']) || rest.is_empty() {
                return Err(fail("it has no host after `://`".into()));
            }
        } else if value.contains(':') && !value.starts_with("//") {
            return Err(fail(
                "it lacks `//` after the scheme; give an absolute URL such as `https://bitbucket.org/site/oauth2/authorize`"
                    .into(),
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(fail("it has no host".into()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            // Never echo the credentials back: show the URL without them.
            let mut shown = url.clone();
            let _ = shown.set_username("");
            let _ = shown.set_password(None);
            return Err(ModelError::InvalidUrl {
                field,
                value: shown.to_string(),
                reason:
                    "it contains credentials; give the key and secret separately, never in a URL"
                        .into(),
            });
        }
        if url.fragment().is_some() {
            return Err(fail("it has a `#fragment`; remove it".into()));
        }
        Ok(Self(url))
    }

    /// Parses an API URL: like [`parse`](Self::parse), and refuses a host `bitbucket.org`.
    /// Token-authenticated calls to `bitbucket.org/api/2.0` are refused by Bitbucket since 2026
    /// (gitlab-org/gitlab #589154): the API is `https://api.bitbucket.org`.
    ///
    /// # Errors
    /// [`ModelError::InvalidUrl`] saying which rule failed.
    pub fn parse_api_url(value: &str) -> Result<Self, ModelError> {
        let url = Self::parse("API URL", value)?;
        url.check_api_host()?;
        Ok(url)
    }

    /// Refuses an API URL on the web site's host (`bitbucket.org`, `www.bitbucket.org`).
    ///
    /// # Errors
    /// [`ModelError::InvalidUrl`] naming the URL to use instead.
    pub fn check_api_host(&self) -> Result<(), ModelError> {
        let host = self.0.host_str().unwrap_or_default().to_ascii_lowercase();
        if host == "bitbucket.org" || host == "www.bitbucket.org" {
            return Err(ModelError::InvalidUrl {
                field: "API URL",
                value: self.to_string(),
                reason: "Bitbucket refuses token-authenticated calls on bitbucket.org since 2026; use `https://api.bitbucket.org`".into(),
            });
        }
        Ok(())
    }

    /// The parsed URL, for building requests.
    #[must_use]
    pub fn as_url(&self) -> &Url {
        &self.0
    }

    /// The origin (scheme, host, port) as a string such as `https://api.bitbucket.org`.
    #[must_use]
    pub fn origin(&self) -> String {
        self.0.origin().ascii_serialization()
    }

    /// Whether this URL points at a loopback host (a local test server).
    #[must_use]
    pub fn is_loopback(&self) -> bool {
        is_loopback(&self.0)
    }

    /// `self` with `segments` appended to its path, such as `api_url.join_path("2.0")`.
    #[must_use]
    pub fn join_path(&self, segments: &[&str]) -> Url {
        let mut url = self.0.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

impl fmt::Display for ServiceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.as_str();
        if self.0.path() == "/" && self.0.query().is_none() {
            f.write_str(s.strip_suffix('/').unwrap_or(s))
        } else {
            f.write_str(s)
        }
    }
}

impl fmt::Debug for ServiceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServiceUrl({self})")
    }
}

impl TryFrom<String> for ServiceUrl {
    type Error = ModelError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse("URL", &value)
    }
}

impl From<ServiceUrl> for String {
    fn from(url: ServiceUrl) -> Self {
        url.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_what_was_given() {
        let u = ServiceUrl::parse("API URL", "https://api.bitbucket.org").unwrap();
        assert_eq!(u.to_string(), "https://api.bitbucket.org");
        let u = ServiceUrl::parse(
            "token URL",
            "https://bitbucket.org/site/oauth2/access_token",
        )
        .unwrap();
        assert_eq!(
            u.to_string(),
            "https://bitbucket.org/site/oauth2/access_token"
        );
        assert_eq!(u.origin(), "https://bitbucket.org");
    }

    #[test]
    fn http_only_on_loopback() {
        for ok in [
            "http://127.0.0.1:8080/x",
            "http://localhost:1",
            "http://[::1]:9/",
        ] {
            assert!(ServiceUrl::parse("URL", ok).unwrap().is_loopback(), "{ok}");
        }
        let err = ServiceUrl::parse("API URL", "http://api.bitbucket.org").unwrap_err();
        assert!(
            err.to_string().contains("use `https://api.bitbucket.org`"),
            "{err}"
        );
    }

    #[test]
    fn rejects_bad_urls() {
        for (bad, why) in [
            ("api.bitbucket.org", "absolute URL"),
            ("ftp://bitbucket.org", "scheme `ftp`"),
            ("https://user:pw@bitbucket.org", "credentials"),
            ("https://bitbucket.org/#x", "fragment"),
            ("", "absolute URL"),
            // Issue 9, finding 16: each was stored after "repair".
            (
                "https://bitbucket.org/site/oauth2/access_token junk",
                "a space",
            ),
            ("https:///x", "no host"),
            ("https://bitbucket.org/x\nX-Injected: 1", "a line break"),
            (" https://bitbucket.org", "a space"),
            ("https:bitbucket.org", "lacks `//`"),
        ] {
            let err = ServiceUrl::parse("URL", bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
            assert!(!err.contains("pw@"), "{err}");
        }
    }

    #[test]
    fn api_urls_must_not_be_the_web_site() {
        for bad in [
            "https://bitbucket.org",
            "https://bitbucket.org/api/2.0",
            "https://WWW.bitbucket.org",
        ] {
            let e = ServiceUrl::parse_api_url(bad).unwrap_err().to_string();
            assert!(e.contains("https://api.bitbucket.org"), "{bad}: {e}");
        }
        assert!(ServiceUrl::parse_api_url("https://api.bitbucket.org").is_ok());
        assert!(ServiceUrl::parse_api_url("http://127.0.0.1:9").is_ok());
    }

    #[test]
    fn join_path_appends_segments() {
        let u = ServiceUrl::parse("API URL", "https://api.bitbucket.org").unwrap();
        assert_eq!(
            u.join_path(&["2.0", "user"]).as_str(),
            "https://api.bitbucket.org/2.0/user"
        );
        let u = ServiceUrl::parse("API URL", "http://127.0.0.1:9/prefix/").unwrap();
        assert_eq!(
            u.join_path(&["2.0"]).as_str(),
            "http://127.0.0.1:9/prefix/2.0"
        );
    }
}
