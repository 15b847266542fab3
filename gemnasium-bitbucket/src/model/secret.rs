use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::ModelError;

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        ///
        /// `Debug` prints `[redacted]`; there is no `Display` and it is not `Serialize`, so it
        /// cannot end up in output by accident. Read it with
        /// [`expose_secret`](Self::expose_secret) only where it is sent or stored.
        pub struct $name(SecretString);

        impl $name {
            /// Wraps `value` after checking it is non-empty, at most 8 KiB and free of control
            /// characters (a pasted newline is the usual mistake).
            ///
            /// # Errors
            /// [`ModelError::InvalidSecret`], which never contains the value.
            pub fn new(value: impl Into<String>) -> Result<Self, ModelError> {
                let value: String = value.into();
                let fail = |reason: &str| ModelError::InvalidSecret { what: $what, reason: reason.to_owned() };
                if value.is_empty() {
                    return Err(fail("it is empty"));
                }
                if value.len() > 8192 {
                    return Err(fail("it is longer than 8 KiB"));
                }
                if value.chars().any(char::is_control) {
                    return Err(fail("it contains a control character such as a newline; paste it on one line"));
                }
                Ok(Self(SecretString::from(value)))
            }

            /// The secret itself. Call it only to send or store the value.
            #[must_use]
            pub fn expose_secret(&self) -> &str {
                self.0.expose_secret()
            }

            /// `sha256:` and the first 8 hex digits of the value's SHA-256: enough to tell two
            /// secrets apart in output without revealing either.
            #[must_use]
            pub fn fingerprint(&self) -> String {
                fingerprint(self.expose_secret())
            }
        }

        impl Clone for $name {
            fn clone(&self) -> Self {
                Self(SecretString::from(self.expose_secret().to_owned()))
            }
        }

        // Comparing stored configuration (is this `create` a re-run?) needs equality; the
        // comparison is not on a network-facing path, so timing is not a concern here.
        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.expose_secret() == other.expose_secret()
            }
        }
        impl Eq for $name {}

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

secret_type!(
    /// An OAuth consumer secret.
    ClientSecret,
    "consumer secret"
);
secret_type!(
    /// An OAuth access token (opaque, may exceed 2,500 characters).
    AccessToken,
    "access token"
);
secret_type!(
    /// An OAuth refresh token. Bitbucket rotates it on every refresh.
    RefreshToken,
    "refresh token"
);
secret_type!(
    /// Any other secret text, such as a webhook's HMAC secret.
    SecretText,
    "secret"
);
secret_type!(
    /// An OAuth authorization code, from the callback: short-lived, but it buys tokens.
    AuthorizationCode,
    "authorization code"
);
secret_type!(
    /// A PKCE code verifier (RFC 7636), kept until the code exchange.
    PkceVerifier,
    "PKCE verifier"
);
secret_type!(
    /// The OAuth `state` of one sign-in: bound to the user's browser session and compared, in
    /// constant time, with the state the callback brings back (CSRF protection).
    CsrfState,
    "OAuth state"
);

impl CsrfState {
    /// Whether `other` is this state, compared in constant time.
    #[must_use]
    pub fn matches(&self, other: &str) -> bool {
        constant_time_eq(self.expose_secret().as_bytes(), other.as_bytes())
    }
}

/// Compares two byte strings without an early exit on the first difference.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `sha256:` plus the first 8 hex digits of the SHA-256 of `value`.
pub(crate) fn fingerprint(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    format!("sha256:{}", &hex::encode(digest)[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = ClientSecret::new("hunter2-very-secret").unwrap();
        assert_eq!(format!("{s:?}"), "ClientSecret([redacted])");
        assert_eq!(
            format!("{:#?}", Some(s.clone())),
            "Some(\n    ClientSecret([redacted]),\n)"
        );
        assert_eq!(s.expose_secret(), "hunter2-very-secret");
    }

    #[test]
    fn states_compare_whole() {
        let state = CsrfState::new("abc123").unwrap();
        assert!(state.matches("abc123"));
        assert!(!state.matches("abc12"));
        assert!(!state.matches("abc124"));
        assert!(!state.matches(""));
    }

    #[test]
    fn fingerprint_is_sha256_prefix() {
        // sha256("abc") = ba7816bf…
        assert_eq!(
            SecretText::new("abc").unwrap().fingerprint(),
            "sha256:ba7816bf"
        );
    }

    #[test]
    fn rejects_without_echoing() {
        let err = ClientSecret::new("abc\ndef").unwrap_err().to_string();
        assert!(
            err.contains("control character") && !err.contains("abc"),
            "{err}"
        );
        assert!(ClientSecret::new("").is_err());
        assert!(
            AccessToken::new("x".repeat(3000)).is_ok(),
            "long tokens are fine"
        );
    }
}
