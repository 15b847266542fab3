//! Webhook authentication: Bitbucket signs each delivery of a hook that has a secret with
//! `X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`.
//!
//! `X-Hook-UUID` alone proves nothing (anyone can send it); only the signature does.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

/// Why a delivery's signature was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// No `X-Hub-Signature` header: the hook has no secret, or the request is not from Bitbucket.
    #[error("the delivery has no X-Hub-Signature header; the hook must have a secret (re-run sync to set one)")]
    Missing,
    /// The header is not `sha256=` followed by 64 hex digits.
    #[error("the X-Hub-Signature header is not of the form sha256=<64 hex digits>")]
    Malformed,
    /// The signature does not match the body under our secret.
    #[error("the X-Hub-Signature does not match the body: wrong secret or a tampered delivery")]
    Mismatch,
}

/// Checks `header` (the `X-Hub-Signature` value) against `body` under `secret`, in constant time.
///
/// `body` must be the raw bytes received, before any JSON parsing.
///
/// # Errors
/// [`SignatureError`] saying whether the header is missing, malformed or wrong.
///
/// ```
/// use gemnasium_bitbucket::sync::{sign, verify_signature};
/// let header = sign(b"s3cret", b"{}");
/// assert!(verify_signature(b"s3cret", b"{}", Some(&header)).is_ok());
/// assert!(verify_signature(b"s3cret", b"{ }", Some(&header)).is_err());
/// ```
pub fn verify_signature(
    secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_sig = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    let signature = hex::decode(hex_sig).map_err(|_| SignatureError::Malformed)?;
    if signature.len() != 32 {
        return Err(SignatureError::Malformed);
    }
    mac(secret, body)
        .verify_slice(&signature)
        .map_err(|_| SignatureError::Mismatch)
}

/// The `X-Hub-Signature` value Bitbucket would send for `body` under `secret`.
#[must_use]
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(mac(secret, body).finalize().into_bytes())
    )
}

fn mac(secret: &[u8], body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 4231, test case 2.
    const KEY: &[u8] = b"Jefe";
    const DATA: &[u8] = b"what do ya want for nothing?";
    const EXPECTED: &str = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";

    #[test]
    fn known_vector() {
        assert_eq!(sign(KEY, DATA), format!("sha256={EXPECTED}"));
        assert_eq!(
            verify_signature(KEY, DATA, Some(&format!("sha256={EXPECTED}"))),
            Ok(())
        );
        // Upper-case hex is what some senders use; hex::decode accepts it.
        let upper = format!("sha256={}", EXPECTED.to_uppercase());
        assert_eq!(verify_signature(KEY, DATA, Some(&upper)), Ok(()));
    }

    #[test]
    fn tampered_body_or_wrong_secret_is_a_mismatch() {
        let header = sign(KEY, DATA);
        assert_eq!(
            verify_signature(KEY, b"what do ya want for nothing!", Some(&header)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(b"Jeff", DATA, Some(&header)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn missing_or_malformed_headers() {
        assert_eq!(
            verify_signature(KEY, DATA, None),
            Err(SignatureError::Missing)
        );
        for bad in [
            EXPECTED,                  // no prefix
            "sha1=5bdcc146",           // GitHub's legacy algorithm
            "sha256=zz",               // not hex
            "sha256=5bdcc146bf60754e", // too short
            "sha256=",                 // empty
        ] {
            assert_eq!(
                verify_signature(KEY, DATA, Some(bad)),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
    }
}
