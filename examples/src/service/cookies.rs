//! Signed cookies: `NAME=ID.SIGNATURE`, the signature an HMAC-SHA256 of the name and the id
//! under the service's key. The id only points at server-side state; it carries nothing else.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The key cookies are signed with.
#[derive(Clone)]
pub struct CookieKey([u8; 32]);

impl std::fmt::Debug for CookieKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieKey([redacted])")
    }
}

/// Why a configured key was refused.
#[derive(Debug, thiserror::Error)]
#[error("the cookie key must be 64 hex digits (32 bytes)")]
pub struct BadKey;

impl CookieKey {
    /// A random key.
    #[must_use]
    pub fn random() -> Self {
        Self(rand::random())
    }

    /// A key from 64 hex digits.
    ///
    /// # Errors
    /// [`BadKey`] for anything else.
    pub fn from_hex(hex_key: &str) -> Result<Self, BadKey> {
        let bytes = hex::decode(hex_key.trim()).map_err(|_| BadKey)?;
        Ok(Self(bytes.try_into().map_err(|_| BadKey)?))
    }

    fn mac(&self, name: &str, id: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("any key length");
        mac.update(name.as_bytes());
        mac.update(b"=");
        mac.update(id.as_bytes());
        mac
    }

    /// `ID.SIGNATURE` for cookie `name`.
    #[must_use]
    pub fn sign(&self, name: &str, id: &str) -> String {
        let signature = hex::encode(self.mac(name, id).finalize().into_bytes());
        format!("{id}.{signature}")
    }

    /// The id of a signed value of cookie `name`, when its signature holds (constant time).
    #[must_use]
    pub fn verify(&self, name: &str, value: &str) -> Option<String> {
        let (id, signature) = value.rsplit_once('.')?;
        let signature = hex::decode(signature).ok()?;
        self.mac(name, id)
            .verify_slice(&signature)
            .ok()
            .map(|()| id.to_owned())
    }

    /// The verified id in the request's cookie `name`.
    #[must_use]
    pub fn read(&self, headers: &HeaderMap, name: &str) -> Option<String> {
        headers
            .get_all(axum::http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .filter(|(n, _)| *n == name)
            .find_map(|(_, value)| self.verify(name, value))
    }
}

/// A random id: 128 bits, hex.
#[must_use]
pub fn random_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, `Secure` when the service is on https.
#[must_use]
pub fn set_cookie(name: &str, value: &str, path: &str, max_age: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_values_verify_and_tampered_ones_do_not() {
        let key = CookieKey::random();
        let value = key.sign("pending", "abc");
        assert_eq!(key.verify("pending", &value).as_deref(), Some("abc"));
        assert_eq!(
            key.verify("session", &value),
            None,
            "bound to the cookie's name"
        );
        assert_eq!(key.verify("pending", &value.replace("abc", "abd")), None);
        assert_eq!(key.verify("pending", "abc"), None);
        assert_eq!(CookieKey::random().verify("pending", &value), None);
    }

    #[test]
    fn cookies_are_read_from_the_header() {
        let key = CookieKey::random();
        let mut headers = HeaderMap::new();
        let cookie = format!("a=b; pending={}; c=d", key.sign("pending", "id1"));
        headers.insert(axum::http::header::COOKIE, cookie.parse().unwrap());
        assert_eq!(key.read(&headers, "pending").as_deref(), Some("id1"));
        assert_eq!(key.read(&headers, "session"), None);
    }

    #[test]
    fn keys_are_64_hex_digits() {
        assert!(CookieKey::from_hex(&"ab".repeat(32)).is_ok());
        assert!(CookieKey::from_hex("abcd").is_err());
        assert!(CookieKey::from_hex(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn cookies_are_http_only_and_lax() {
        let c = set_cookie("n", "v", "/", 60, true);
        assert_eq!(c, "n=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure");
    }
}
