use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{ModelError, ProviderName, ServiceUrl, WorkspaceSet};

/// The kind of service a provider is. Only Bitbucket Cloud today.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ProviderKind {
    /// Bitbucket Cloud (`bitbucket.org`).
    Bitbucket,
}

impl ProviderKind {
    /// Every supported kind.
    pub const ALL: &'static [ProviderKind] = &[ProviderKind::Bitbucket];

    /// The name used on the command line and in storage, such as `bitbucket`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Bitbucket => "bitbucket",
        }
    }

    /// The REST API base a provider of this kind uses unless told otherwise.
    #[must_use]
    pub fn default_api_url(self) -> ServiceUrl {
        match self {
            ProviderKind::Bitbucket => ServiceUrl::parse("API URL", "https://api.bitbucket.org")
                .expect("constant URL is valid"),
        }
    }

    /// The web site hosting the OAuth endpoints, such as `https://bitbucket.org`.
    #[must_use]
    pub fn default_site_url(self) -> ServiceUrl {
        match self {
            ProviderKind::Bitbucket => ServiceUrl::parse("site URL", "https://bitbucket.org")
                .expect("constant URL is valid"),
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProviderKind {
    type Err = ModelError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        ProviderKind::ALL
            .iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(value))
            .copied()
            .ok_or_else(|| ModelError::UnknownProviderKind {
                value: value.to_owned(),
                known: ProviderKind::ALL
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

/// An OAuth provider: where users authorize and where tokens come from.
///
/// Build one with [`Provider::new`], [`Provider::bitbucket_cloud`] or [`Provider::bitbucket_at`]
/// and the `with_*` methods; it will gain settings, so it cannot be built field by field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Provider {
    /// Unique name, such as `bitbucket.org`.
    pub name: ProviderName,
    /// What kind of service it is.
    pub kind: ProviderKind,
    /// The browser-facing authorization endpoint.
    pub authorize_url: ServiceUrl,
    /// The token endpoint (code exchange, refresh).
    pub token_url: ServiceUrl,
    /// The REST API origin (`https://api.bitbucket.org`); sign-in needs it even without a source.
    pub api_url: ServiceUrl,
    /// Send a PKCE challenge (S256) when authorizing. Off by default: Bitbucket does not
    /// document PKCE (some clients send it successfully).
    #[serde(default)]
    pub pkce: bool,
    /// Gemnasium's homepage, from which the callback URL registered on the consumer
    /// (`{homepage}/auth/auth/{name}`) and the sign-in redirect URIs derive.
    #[serde(default)]
    pub homepage: Option<ServiceUrl>,
    /// Only members of one of these workspaces may sign in; empty means anyone with a
    /// Bitbucket account.
    #[serde(default)]
    pub allowed_workspaces: WorkspaceSet,
}

impl Provider {
    /// A provider whose API URL is the kind's default.
    #[must_use]
    pub fn new(
        name: ProviderName,
        kind: ProviderKind,
        authorize_url: ServiceUrl,
        token_url: ServiceUrl,
    ) -> Self {
        Self {
            api_url: kind.default_api_url(),
            name,
            kind,
            authorize_url,
            token_url,
            pkce: false,
            homepage: None,
            allowed_workspaces: WorkspaceSet::anyone(),
        }
    }

    /// Bitbucket Cloud as documented: `bitbucket.org` with the public endpoints.
    #[must_use]
    pub fn bitbucket_cloud() -> Self {
        Self::bitbucket_at(
            &ProviderKind::Bitbucket.default_site_url(),
            ProviderKind::Bitbucket.default_api_url(),
        )
    }

    /// Bitbucket with its site (OAuth endpoints) and API at other origins, such as a test double.
    #[must_use]
    pub fn bitbucket_at(site_url: &ServiceUrl, api_url: ServiceUrl) -> Self {
        let endpoint = |field, path: &[&str]| {
            ServiceUrl::parse(field, site_url.join_path(path).as_str())
                .expect("a valid base URL with a path appended stays valid")
        };
        Self {
            name: "bitbucket.org".parse().expect("constant name is valid"),
            kind: ProviderKind::Bitbucket,
            authorize_url: endpoint("authorize URL", &["site", "oauth2", "authorize"]),
            token_url: endpoint("token URL", &["site", "oauth2", "access_token"]),
            api_url,
            pkce: false,
            homepage: None,
            allowed_workspaces: WorkspaceSet::anyone(),
        }
    }

    /// `self` with another API URL.
    #[must_use]
    pub fn with_api_url(mut self, api_url: ServiceUrl) -> Self {
        self.api_url = api_url;
        self
    }

    /// `self` sending a PKCE challenge (or not) when users authorize.
    #[must_use]
    pub fn with_pkce(mut self, pkce: bool) -> Self {
        self.pkce = pkce;
        self
    }

    /// `self` with Gemnasium's homepage (from which the callback URL derives).
    ///
    /// # Errors
    /// [`ModelError::InvalidUrl`] when the homepage has a query.
    pub fn with_homepage(mut self, homepage: ServiceUrl) -> Result<Self, ModelError> {
        super::oauth::check_homepage(&homepage)?;
        self.homepage = Some(homepage);
        Ok(self)
    }

    /// `self` letting only members of `workspaces` sign in (empty: anyone).
    #[must_use]
    pub fn with_allowed_workspaces(mut self, workspaces: WorkspaceSet) -> Self {
        self.allowed_workspaces = workspaces;
        self
    }

    /// The callback URL to register on the consumer, when the homepage is known.
    #[must_use]
    pub fn callback_url(&self) -> Option<super::CallbackUrl> {
        self.homepage
            .as_ref()
            .and_then(|h| super::CallbackUrl::new(h, &self.name).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_and_list_known_ones() {
        assert_eq!(
            "bitbucket".parse::<ProviderKind>().unwrap(),
            ProviderKind::Bitbucket
        );
        assert_eq!(
            "Bitbucket".parse::<ProviderKind>().unwrap(),
            ProviderKind::Bitbucket
        );
        let err = "github".parse::<ProviderKind>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown provider kind `github`; known kinds: bitbucket"
        );
    }

    #[test]
    fn bitbucket_cloud_matches_the_documented_endpoints() {
        let p = Provider::bitbucket_cloud();
        assert_eq!(
            p.authorize_url.to_string(),
            "https://bitbucket.org/site/oauth2/authorize"
        );
        assert_eq!(
            p.token_url.to_string(),
            "https://bitbucket.org/site/oauth2/access_token"
        );
        assert_eq!(p.api_url.to_string(), "https://api.bitbucket.org");
    }
}
