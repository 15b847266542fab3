use serde::{Deserialize, Serialize};

use super::{DisplayName, ProviderKind, ProviderName, ServiceUrl};

/// What repo-syncer offers on "Add project": a provider's repositories under a display name.
///
/// Keyed by its provider: there is at most one source per provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
