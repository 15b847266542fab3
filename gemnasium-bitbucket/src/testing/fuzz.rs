//! Entry points for fuzzing: the `cargo fuzz` targets in `fuzz/` call these, and the corpus
//! replay test runs every stored input through them on the stable toolchain. Each takes
//! arbitrary bytes, must never panic, and checks properties that must hold for any input
//! (round trips, no control characters in messages, signatures that tell bodies apart).

use std::collections::HashSet;

use url::Url;

use crate::api::{next_page, parse_envelope, ApiError, Page};
use crate::model::{CallbackUrl, Purpose, ScopeSet, ServiceUrl};
use crate::sync::{normalize_url, sign, verify_signature, WebhookEvent};

fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// Scope strings, strict and lenient: what parses displays and parses back the same.
pub fn scopes(data: &[u8]) {
    let input = text(data);
    if let Ok(strict) = input.parse::<ScopeSet>() {
        let shown = strict.to_string();
        assert_eq!(
            shown.parse::<ScopeSet>().ok().as_ref(),
            Some(&strict),
            "{input:?}"
        );
        assert!(strict.unknown().next().is_none());
    }
    let lenient = ScopeSet::parse_lenient(&input);
    let again = ScopeSet::parse_lenient(&lenient.to_space_separated());
    assert_eq!(again, lenient, "{input:?}");
    assert!(lenient
        .unknown()
        .all(|w| !w.is_empty() && !w.contains(char::is_control)));
}

/// A page body and its `next` link: never a request off the API's origin, never a loop.
pub fn page_and_next(data: &[u8]) {
    let origin = "https://api.bitbucket.org";
    let check = |url: &Url| {
        if url.origin().ascii_serialization() == origin {
            Ok(())
        } else {
            Err(ApiError::ForeignOrigin {
                url: url.to_string(),
                expected: origin.to_owned(),
            })
        }
    };
    let Ok(page) = serde_json::from_slice::<Page<serde_json::Value>>(data) else {
        return;
    };
    let mut seen = HashSet::new();
    match next_page(&page, &mut seen, 1, 5, check) {
        Ok(Some(next)) => {
            assert_eq!(next.origin().ascii_serialization(), origin);
            // The same link again is a loop, never a second request.
            assert!(matches!(
                next_page(&page, &mut seen, 2, 5, check),
                Err(ApiError::PageLoop { .. })
            ));
        }
        Ok(None) => assert!(page.values.is_empty() || page.next.is_none()),
        Err(_) => {}
    }
}

/// Error bodies: whatever arrives, the message is one printable line of bounded length.
pub fn error_envelope(data: &[u8]) {
    let e = parse_envelope(data);
    for part in [Some(&e.message), e.detail.as_ref()].into_iter().flatten() {
        assert!(!part.chars().any(char::is_control), "{part:?}");
        assert!(part.chars().count() <= 301, "{}", part.len());
    }
    assert!(e
        .required
        .iter()
        .chain(&e.granted)
        .all(|w| !w.contains(char::is_control)));
}

/// A webhook delivery: headers (`Name: value` lines), a blank line, the body. A delivery is
/// accepted only with our signature of exactly its body; the same body signed by us verifies
/// and then parses or is refused as malformed, never panics; a changed body never verifies.
pub fn webhook(data: &[u8]) {
    const SECRET: &[u8] = b"fuzz-secret";
    let input = text(data);
    let (head, body) = input.split_once("\n\n").unwrap_or((&input, ""));
    let mut headers: Vec<(String, String)> = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let find = |headers: &[(String, String)], name: &str| -> Option<String> {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let given = headers.clone();
    let lookup = |name: &str| find(&given, name);
    let owned: Vec<(&str, Option<String>)> = HEADERS.iter().map(|n| (*n, lookup(n))).collect();
    let header = |name: &str| {
        owned
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_deref())
    };
    if let Ok(event) = WebhookEvent::from_request(SECRET, header, body.as_bytes()) {
        assert!(verify_signature(SECRET, body.as_bytes(), header("X-Hub-Signature")).is_ok());
        assert!(!event.event_key.is_empty());
    }
    let signature = sign(SECRET, body.as_bytes());
    headers.retain(|(k, _)| !k.eq_ignore_ascii_case("X-Hub-Signature"));
    headers.push(("X-Hub-Signature".to_owned(), signature.clone()));
    let signed: Vec<(&str, Option<String>)> =
        HEADERS.iter().map(|n| (*n, find(&headers, n))).collect();
    let header = |name: &str| {
        signed
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_deref())
    };
    let _ = WebhookEvent::from_request(SECRET, header, body.as_bytes());
    let mut changed = body.as_bytes().to_vec();
    changed.push(b' ');
    assert!(verify_signature(SECRET, &changed, Some(&signature)).is_err());
}

const HEADERS: [&str; 5] = [
    "X-Hub-Signature",
    "X-Event-Key",
    "X-Request-UUID",
    "X-Hook-UUID",
    "X-Attempt-Number",
];

/// Token-endpoint bodies: what converts keeps every scope word, and never a token in errors.
pub fn token_response(data: &[u8]) {
    match crate::oauth::parse_token_response(data) {
        Ok(tokens) => {
            let words = tokens.scopes.to_space_separated();
            assert_eq!(ScopeSet::parse_lenient(&words), tokens.scopes);
        }
        Err(e) => {
            let text = e.to_string();
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
                if let Some(token) = v
                    .get("access_token")
                    .and_then(|t| t.as_str())
                    .filter(|t| t.len() > 3)
                {
                    assert!(!text.contains(token), "a token leaked into {text}");
                }
            }
        }
    }
}

/// URLs as users and Bitbucket give them: what validates has a host, no whitespace or
/// controls, no credentials, and displays as something that validates to the same.
pub fn urls(data: &[u8]) {
    let input = text(data);
    if let Ok(url) = ServiceUrl::parse("URL", &input) {
        let parsed = url.as_url();
        assert!(parsed.host_str().is_some_and(|h| !h.is_empty()));
        assert!(parsed.username().is_empty() && parsed.password().is_none());
        assert!(!input.contains(char::is_whitespace));
        assert_eq!(
            ServiceUrl::parse("URL", &url.to_string()).ok(),
            Some(url.clone())
        );
        if url.as_url().query().is_none() {
            if let Ok(callback) = CallbackUrl::new(&url, &"bitbucket.org".parse().expect("a name"))
            {
                let redirect = callback.redirect_uri(Purpose::Login);
                assert!(redirect.accepts(redirect.as_url()));
            }
        }
    }
    let _ = ServiceUrl::parse_api_url(&input);
    if let Some(normal) = normalize_url(&input) {
        assert_eq!(normalize_url(&normal).as_deref(), Some(normal.as_str()));
    }
}
