//! Bitbucket's REST error envelope (`{"type":"error","error":{"message","detail"}}`) and a 429's
//! plain-text body, turned into [`OAuthError`]s.

use serde::Deserialize;

use super::error::{excerpt, OAuthError};
use crate::model::ScopeSet;

#[derive(Deserialize)]
struct Envelope {
    error: Option<ErrorBody>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    detail: Option<serde_json::Value>,
}

/// The message and `detail` of an error body, tolerating plain text and odd shapes.
pub(crate) fn parse_envelope(body: &[u8]) -> (String, Option<serde_json::Value>) {
    match serde_json::from_slice::<Envelope>(body) {
        Ok(Envelope {
            error: Some(ErrorBody { message, detail }),
        }) => (message.unwrap_or_else(|| excerpt(body)), detail),
        _ => (excerpt(body), None),
    }
}

pub(crate) fn scopes_at(detail: &serde_json::Value, key: &str) -> ScopeSet {
    let words: Vec<String> = match detail.get(key) {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    };
    ScopeSet::parse_lenient(&words.join(" ")).0
}

/// Maps an error status and body from a REST call to the error that says what to do.
pub(crate) fn rest_error(status: u16, body: &[u8]) -> OAuthError {
    let (message, detail) = parse_envelope(body);
    match status {
        401 if message.to_ascii_lowercase().contains("expired") => OAuthError::TokenExpired,
        401 => OAuthError::TokenInvalid { message },
        403 => match detail.filter(|d| d.get("required").is_some()) {
            Some(detail) => OAuthError::MissingScopes {
                granted: scopes_at(&detail, "granted"),
                required: scopes_at(&detail, "required"),
            },
            None => OAuthError::Forbidden { message },
        },
        _ => OAuthError::Http { status, message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_in_both_wordings() {
        for body in [
            r#"{"type":"error","error":{"message":"Access token expired. Use your refresh token to obtain a new access token."}}"#,
            r#"{"type":"error","error":{"message":"OAuth2 access token expired. Use your refresh token."}}"#,
        ] {
            assert!(
                matches!(rest_error(401, body.as_bytes()), OAuthError::TokenExpired),
                "{body}"
            );
        }
        let e = rest_error(401, br#"{"type":"error","error":{"message":"Token is invalid, expired, or not supported for this endpoint."}}"#);
        // "expired" appears here too, but as "invalid, expired, or not supported": refreshing
        // once is harmless and is what Bitbucket's clients do.
        assert!(matches!(e, OAuthError::TokenExpired));
        let e = rest_error(
            401,
            br#"{"type":"error","error":{"message":"Bad credentials"}}"#,
        );
        assert!(matches!(e, OAuthError::TokenInvalid { .. }));
    }

    #[test]
    fn missing_scopes_name_the_boxes() {
        let body = br#"{"type":"error","error":{"message":"Your credentials lack one or more required privilege scopes.","detail":{"granted":["team"],"required":["account"]}}}"#;
        let e = rest_error(403, body);
        let text = e.to_string();
        assert!(matches!(e, OAuthError::MissingScopes { .. }));
        assert!(
            text.contains("granted team, required account") && text.contains("Account: Read"),
            "{text}"
        );
        let e = rest_error(403, br#"{"type":"error","error":{"message":"Forbidden"}}"#);
        assert_eq!(e.to_string(), "Bitbucket refused: Forbidden");
    }

    #[test]
    fn plain_text_and_html_bodies() {
        let e = rest_error(429, b"Rate limit for this resource has been exceeded");
        assert_eq!(
            e.to_string(),
            "Bitbucket answered HTTP 429: Rate limit for this resource has been exceeded"
        );
        let e = rest_error(502, b"<html>\n<body>Bad gateway</body></html>");
        assert!(e.to_string().contains("<html> <body>Bad gateway"), "{e}");
    }
}
