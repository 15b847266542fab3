//! Secrets at rest: consumer secrets, OAuth tokens, stored sync credentials' tokens and webhook
//! secrets are sealed with XChaCha20-Poly1305 before a database store writes them, when the
//! store has a key.
//!
//! A sealed value reads `enc:v1:<key id>:<base64url(nonce ‖ ciphertext)>`. The nonce is random
//! per value (XChaCha's 192-bit nonces make random nonces safe at any volume). The associated
//! data is the value's *logical identity* (what it is and whose: provider and purpose, token
//! key, provider and credential name, repository uuid), never a row id: a value copied into another row fails to open, and a
//! value survives being copied to another backend by `store migrate`, which writes the same
//! identities.
//!
//! The key id (16 hex digits of a SHA-256 of the key) is stored beside each value and once per
//! store, so that a missing or wrong key is reported by id before anything is read or written;
//! it reveals nothing about the key.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, RwLock};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// The environment variable holding the base64 key.
pub const SECRET_KEY_ENV: &str = "GEMNASIUM_SECRET_KEY";
/// The environment variable naming a file that holds the base64 key.
pub const SECRET_KEY_FILE_ENV: &str = "GEMNASIUM_SECRET_KEY_FILE";

const PREFIX: &str = "enc:v1:";
const NONCE_LEN: usize = 24;

/// Why a secret key could not be used. Never contains key material.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretKeyError {
    /// The text is not 32 bytes in base64.
    #[error("the secret key from {origin} is not 32 bytes in base64 ({reason}); create one with `gemnasium-bitbucket store keygen`")]
    Malformed {
        /// Where it came from (an environment variable or a file), never the value.
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The key file could not be read.
    #[error("cannot read the secret key file {path}: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// Both ways of giving the key were used.
    #[error("both {SECRET_KEY_ENV} and {SECRET_KEY_FILE_ENV} are set; set only one")]
    Ambiguous,
}

/// A 256-bit key that seals stored secrets. `Debug` shows only its id.
#[derive(Clone)]
pub struct SecretKey {
    key: Key,
    id: KeyId,
}

impl SecretKey {
    /// A new random key (from the operating system's generator).
    #[must_use]
    pub fn generate() -> Self {
        Self::from_key(XChaCha20Poly1305::generate_key(&mut OsRng))
    }

    /// Reads a key from its base64 text (standard alphabet, padding optional, surrounding
    /// whitespace ignored); `origin` names where it came from, for the error.
    ///
    /// # Errors
    /// [`SecretKeyError::Malformed`] unless it decodes to exactly 32 bytes.
    pub fn from_base64(text: &str, origin: &str) -> Result<Self, SecretKeyError> {
        let malformed = |reason: &str| SecretKeyError::Malformed {
            origin: origin.to_owned(),
            reason: reason.to_owned(),
        };
        let text = text.trim().trim_end_matches('=');
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(text)
            .map_err(|_| malformed("it is not valid base64"))?;
        if bytes.len() != 32 {
            return Err(malformed(&format!("it decodes to {} bytes", bytes.len())));
        }
        Ok(Self::from_key(*Key::from_slice(&bytes)))
    }

    /// Reads a key from a file holding its base64 text.
    ///
    /// # Errors
    /// [`SecretKeyError::Unreadable`] or [`SecretKeyError::Malformed`].
    pub fn from_file(path: &Path) -> Result<Self, SecretKeyError> {
        let text = std::fs::read_to_string(path).map_err(|e| SecretKeyError::Unreadable {
            path: path.display().to_string(),
            reason: e.kind().to_string(),
        })?;
        Self::from_base64(&text, &format!("file {}", path.display()))
    }

    /// The key from `GEMNASIUM_SECRET_KEY` or the file named by `GEMNASIUM_SECRET_KEY_FILE`;
    /// `None` when neither is set (or set empty).
    ///
    /// # Errors
    /// [`SecretKeyError::Ambiguous`] when both are set, or the key's own errors.
    pub fn from_env() -> Result<Option<Self>, SecretKeyError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        match (var(SECRET_KEY_ENV), var(SECRET_KEY_FILE_ENV)) {
            (Some(_), Some(_)) => Err(SecretKeyError::Ambiguous),
            (Some(text), None) => Self::from_base64(&text, SECRET_KEY_ENV).map(Some),
            (None, Some(path)) => Self::from_file(Path::new(&path)).map(Some),
            (None, None) => Ok(None),
        }
    }

    /// The key as base64 text, to hand to an operator once (`store keygen`). Treat it as the
    /// secret it is.
    #[must_use]
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.key.as_slice())
    }

    /// The key's public identifier.
    #[must_use]
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    fn from_key(key: Key) -> Self {
        let digest = Sha256::new()
            .chain_update(b"gemnasium-bitbucket secret key id v1\0")
            .chain_update(key.as_slice())
            .finalize();
        let id = KeyId(hex::encode(&digest[..8]));
        Self { key, id }
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(id {})", self.id)
    }
}

/// A key's public identifier: 16 hex digits derived from the key, safe to print.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyId(String);

impl KeyId {
    /// The identifier's text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a stored secret is and whose: the associated data it is sealed with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SecretIdentity(String);

impl SecretIdentity {
    fn of(kind: &str, parts: &[&str]) -> Self {
        // A separator that no name, purpose or uuid can contain keeps identities unambiguous.
        let mut text = kind.to_owned();
        for part in parts {
            text.push('\u{1f}');
            text.push_str(part);
        }
        Self(text)
    }

    pub(crate) fn client_secret(provider: &str, purpose: &str) -> Self {
        Self::of("client-secret", &[provider, purpose])
    }

    pub(crate) fn access_token(provider: &str, purpose: &str, account: &str) -> Self {
        Self::of("access-token", &[provider, purpose, account])
    }

    pub(crate) fn refresh_token(provider: &str, purpose: &str, account: &str) -> Self {
        Self::of("refresh-token", &[provider, purpose, account])
    }

    pub(crate) fn hook_secret(source: &str, repository: &str) -> Self {
        Self::of("hook-secret", &[source, repository])
    }

    /// The token of the stored sync credential `name` of `provider` (an access token or an API
    /// token: [`CredentialStore`](crate::store::CredentialStore)).
    pub(crate) fn credential_token(provider: &str, name: &str) -> Self {
        Self::of("credential", &[provider, name])
    }

    /// What kind of secret, for messages (never whose: keys are not secret, but messages stay
    /// short).
    pub(crate) fn kind(&self) -> &str {
        self.0.split('\u{1f}').next().unwrap_or_default()
    }
}

/// Why a stored secret could not be opened.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnsealError {
    /// The value is sealed but the store has no key.
    #[error("a {what} is encrypted with key {key_id} and no key was given")]
    KeyRequired {
        /// The kind of secret.
        what: String,
        /// The key it needs.
        key_id: String,
    },
    /// The value is sealed with another key.
    #[error("a {what} is encrypted with key {found}, not with the given key {given}")]
    WrongKey {
        /// The kind of secret.
        what: String,
        /// The key it was sealed with.
        found: String,
        /// The key given.
        given: String,
    },
    /// The value fails authentication: altered, or moved from another row.
    #[error("a {what} failed to decrypt: it was altered or copied from another row")]
    Tampered {
        /// The kind of secret.
        what: String,
    },
    /// A plain-text value in a store whose secrets are encrypted.
    #[error("a {what} is stored in plain text in an encrypted store")]
    PlainInSealedStore {
        /// The kind of secret.
        what: String,
    },
}

/// Seals and opens a database store's secrets with its key, or passes them through when the
/// store has none. Shared by the store's clones; `store rotate-key` swaps the key in place.
#[derive(Clone, Default)]
pub(crate) struct Sealer {
    key: Arc<RwLock<Option<SecretKey>>>,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.key() {
            Some(key) => write!(f, "Sealer(key {})", key.id()),
            None => f.write_str("Sealer(plain text)"),
        }
    }
}

impl Sealer {
    pub(crate) fn key(&self) -> Option<SecretKey> {
        self.key.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn set_key(&self, key: Option<SecretKey>) {
        *self.key.write().unwrap_or_else(|e| e.into_inner()) = key;
    }

    /// The stored form of `plain`: sealed with the key, or `plain` itself without one.
    pub(crate) fn seal(&self, identity: &SecretIdentity, plain: &str) -> String {
        match self.key() {
            Some(key) => seal_with(&key, identity, plain),
            None => plain.to_owned(),
        }
    }

    /// The secret held by `stored`.
    pub(crate) fn open(
        &self,
        identity: &SecretIdentity,
        stored: String,
    ) -> Result<String, UnsealError> {
        open_with(self.key().as_ref(), identity, stored)
    }
}

/// Whether a stored value is sealed.
pub(crate) fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

pub(crate) fn seal_with(key: &SecretKey, identity: &SecretIdentity, plain: &str) -> String {
    let cipher = XChaCha20Poly1305::new(&key.key);
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let sealed = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plain.as_bytes(),
                aad: identity.0.as_bytes(),
            },
        )
        // Encryption fails only for messages beyond 256 GiB; secrets are capped at 8 KiB.
        .unwrap_or_default();
    let mut blob = Vec::with_capacity(NONCE_LEN + sealed.len());
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&sealed);
    format!("{PREFIX}{}:{}", key.id, URL_SAFE_NO_PAD.encode(blob))
}

pub(crate) fn open_with(
    key: Option<&SecretKey>,
    identity: &SecretIdentity,
    stored: String,
) -> Result<String, UnsealError> {
    let what = identity.kind().to_owned();
    let Some(rest) = stored.strip_prefix(PREFIX) else {
        return match key {
            None => Ok(stored),
            Some(_) => Err(UnsealError::PlainInSealedStore { what }),
        };
    };
    let (key_id, blob) = rest.split_once(':').unwrap_or((rest, ""));
    let Some(key) = key else {
        return Err(UnsealError::KeyRequired {
            what,
            key_id: key_id.to_owned(),
        });
    };
    if key_id != key.id.as_str() {
        return Err(UnsealError::WrongKey {
            what,
            found: key_id.to_owned(),
            given: key.id.to_string(),
        });
    }
    let tampered = || UnsealError::Tampered { what: what.clone() };
    let blob = URL_SAFE_NO_PAD.decode(blob).map_err(|_| tampered())?;
    if blob.len() < NONCE_LEN {
        return Err(tampered());
    }
    let (nonce, sealed) = blob.split_at(NONCE_LEN);
    let plain = XChaCha20Poly1305::new(&key.key)
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: sealed,
                aad: identity.0.as_bytes(),
            },
        )
        .map_err(|_| tampered())?;
    String::from_utf8(plain).map_err(|_| tampered())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> SecretIdentity {
        SecretIdentity::client_secret("bitbucket.org", "login")
    }

    #[test]
    fn sealed_values_open_with_their_key_and_identity_only() {
        let key = SecretKey::generate();
        let sealed = seal_with(&key, &identity(), "s3cr3t");
        assert!(sealed.starts_with(&format!("enc:v1:{}:", key.id())));
        assert!(!sealed.contains("s3cr3t"));
        assert_eq!(
            open_with(Some(&key), &identity(), sealed.clone()).unwrap(),
            "s3cr3t"
        );
        // Random nonces: sealing twice gives different text.
        assert_ne!(sealed, seal_with(&key, &identity(), "s3cr3t"));

        let moved = SecretIdentity::client_secret("bitbucket.org", "sync");
        assert_eq!(
            open_with(Some(&key), &moved, sealed.clone()),
            Err(UnsealError::Tampered {
                what: "client-secret".into()
            })
        );
        let other = SecretKey::generate();
        assert!(matches!(
            open_with(Some(&other), &identity(), sealed.clone()),
            Err(UnsealError::WrongKey { found, given, .. })
                if found == key.id().as_str() && given == other.id().as_str()
        ));
        assert!(matches!(
            open_with(None, &identity(), sealed.clone()),
            Err(UnsealError::KeyRequired { key_id, .. }) if key_id == key.id().as_str()
        ));
    }

    #[test]
    fn every_altered_byte_is_refused() {
        let key = SecretKey::generate();
        let sealed = seal_with(&key, &identity(), "value");
        let prefix_len = sealed.rfind(':').unwrap() + 1;
        for i in prefix_len..sealed.len() {
            let mut bytes = sealed.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(bytes).unwrap();
            assert!(
                open_with(Some(&key), &identity(), altered).is_err(),
                "byte {i} altered and still opened"
            );
        }
        assert!(open_with(Some(&key), &identity(), sealed[..prefix_len].to_owned()).is_err());
    }

    #[test]
    fn plain_values_pass_without_a_key_and_are_refused_with_one() {
        let key = SecretKey::generate();
        assert_eq!(
            open_with(None, &identity(), "plain".into()).unwrap(),
            "plain"
        );
        assert!(matches!(
            open_with(Some(&key), &identity(), "plain".into()),
            Err(UnsealError::PlainInSealedStore { .. })
        ));
    }

    #[test]
    fn keys_parse_from_base64_and_never_show_in_debug_or_errors() {
        let key = SecretKey::generate();
        let text = key.to_base64();
        let again = SecretKey::from_base64(&format!("  {text}\n"), "test").unwrap();
        assert_eq!(again.id(), key.id());
        assert!(!format!("{key:?}").contains(&text));
        assert_eq!(key.id().as_str().len(), 16);

        let short = STANDARD.encode([7u8; 16]);
        let err = SecretKey::from_base64(&short, "GEMNASIUM_SECRET_KEY").unwrap_err();
        assert!(err.to_string().contains("decodes to 16 bytes"), "{err}");
        assert!(!err.to_string().contains(&short));
        let err = SecretKey::from_base64("not base64 at all!", "X").unwrap_err();
        assert!(!err.to_string().contains("at all"), "{err}");
    }
}
