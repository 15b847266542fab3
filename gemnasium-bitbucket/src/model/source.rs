use serde::{Deserialize, Serialize};

use super::{DisplayName, ProviderKind, ProviderName, ServiceUrl};

/// What repo-syncer offers on "Add project": a provider's repositories under a display name.
///
/// Keyed by its provider: there is at most one source per provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Source {
    /// The provider whose users' repositories this source lists.
    pub provider: ProviderName,
    /// The label users see, such as `Bitbucket Cloud`.
    pub display_name: DisplayName,
    /// What kind of service it is.
    pub kind: ProviderKind,
    /// The REST API origin, such as `https://api.bitbucket.org` (`/2.0` is appended when calling).
    pub api_url: ServiceUrl,
}

impl Source {
    /// The source of `provider`, shown as `display_name`, listing from `api_url`.
    #[must_use]
    pub fn new(
        provider: ProviderName,
        display_name: DisplayName,
        kind: ProviderKind,
        api_url: ServiceUrl,
    ) -> Self {
        Self {
            provider,
            display_name,
            kind,
            api_url,
        }
    }
}
