//! Bitbucket's identifiers: UUIDs written `{…}` by the REST API and bare by webhook delivery
//! headers (`X-Hook-UUID: 0302255c-…`). One type per thing identified; each parses both forms
//! and keeps the braced, lowercase one, so a delivery header and a stored hook compare equal.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::ModelError;

macro_rules! bitbucket_uuid {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The UUID with braces, as Bitbucket's API writes it.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The UUID without braces, as Bitbucket's delivery headers write it.
            #[must_use]
            pub fn bare(&self) -> &str {
                &self.0[1..self.0.len() - 1]
            }
        }

        impl FromStr for $name {
            type Err = ModelError;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                let inner = value
                    .strip_prefix('{')
                    .and_then(|v| v.strip_suffix('}'))
                    .unwrap_or(value);
                let valid = !inner.is_empty()
                    && inner.len() <= 64
                    && inner.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
                if valid {
                    // Accept the bare form (delivery headers, users' pastes); keep the braced form
                    // the API returns, so that both compare equal.
                    Ok(Self(format!("{{{}}}", inner.to_ascii_lowercase())))
                } else {
                    Err(ModelError::InvalidUuid {
                        what: $what,
                        value: value.to_owned(),
                    })
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = ModelError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                value.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

bitbucket_uuid!(
    /// A Bitbucket account's stable identifier: its `uuid`, braces included (`{6b7f…}`).
    ///
    /// Usernames were dropped by Bitbucket and nicknames change; this is the key for accounts.
    AccountUuid,
    "account"
);

bitbucket_uuid!(
    /// A Bitbucket repository's stable identifier (`{…}`); names and slugs can change.
    RepoUuid,
    "repository"
);

bitbucket_uuid!(
    /// A webhook subscription's identifier (`{…}`), as the hooks API and `X-Hook-UUID` carry it.
    HookUuid,
    "webhook"
);

bitbucket_uuid!(
    /// A webhook delivery's `X-Request-UUID`: the same across Bitbucket's retries, so it is the
    /// idempotency key of a delivery.
    RequestUuid,
    "request"
);

bitbucket_uuid!(
    /// A workspace's stable identifier (`{…}`); slugs can change.
    WorkspaceUuid,
    "workspace"
);

impl AccountUuid {
    /// A UUID derived from `seed` (its SHA-256, in UUID form): the same seed always gives the
    /// same UUID. For things Bitbucket gives no user UUID of their own, such as what a
    /// workspace access token acts as, and for test doubles.
    #[must_use]
    pub fn derived(seed: &str) -> Self {
        use sha2::Digest;
        let h = hex::encode(sha2::Sha256::digest(seed.as_bytes()));
        Self(format!(
            "{{{}-{}-{}-{}-{}}}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        ))
    }

    /// The nil UUID: the account under which a consumer's own (client-credentials) listings are
    /// kept, since that grant acts for no user.
    #[must_use]
    pub fn consumer() -> Self {
        Self("{00000000-0000-0000-0000-000000000000}".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braced_and_bare_forms_are_one_value() {
        let id: AccountUuid = "{D301AAFA-1234-4e5f-8a9b-0123456789ab}".parse().unwrap();
        assert_eq!(id.as_str(), "{d301aafa-1234-4e5f-8a9b-0123456789ab}");
        assert_eq!(id.bare(), "d301aafa-1234-4e5f-8a9b-0123456789ab");
        let bare: AccountUuid = "d301aafa-1234-4e5f-8a9b-0123456789ab".parse().unwrap();
        assert_eq!(bare, id);
        assert!("jdoe".parse::<AccountUuid>().is_err());
        assert!("{}".parse::<AccountUuid>().is_err());
        assert!("{abc".parse::<HookUuid>().is_err());
    }

    #[test]
    fn derived_uuids_are_stable_and_valid() {
        let a = AccountUuid::derived("seed");
        assert_eq!(a, AccountUuid::derived("seed"));
        assert_ne!(a, AccountUuid::derived("other"));
        assert_eq!(a.as_str().parse::<AccountUuid>().unwrap(), a);
    }

    #[test]
    fn delivery_headers_match_the_hooks_api() {
        // X-Hook-UUID as real deliveries send it, and the hook's uuid as the API lists it.
        let header: HookUuid = "0302255c-0b35-4e1c-a56a-f6e6a24ab2c9".parse().unwrap();
        let listed: HookUuid = "{0302255c-0b35-4e1c-a56a-f6e6a24ab2c9}".parse().unwrap();
        assert_eq!(header, listed);
    }
}
