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
        let url = Url::parse(value.trim()).map_err(|e| {
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
        ] {
            let err = ServiceUrl::parse("URL", bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
            assert!(!err.contains("pw@"), "{err}");
        }
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
