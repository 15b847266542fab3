//! Bitbucket's REST error envelope: `{"type":"error","error":{"message","detail","data"}}`,
//! read tolerantly (`detail` may be a string or an object; some bodies are plain text or HTML).

use serde::Deserialize;
use serde_json::Value;

/// What an error body says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Envelope {
    /// The message, or a short excerpt of a body that is not an envelope.
    pub message: String,
    /// `detail` when it is text.
    pub detail: Option<String>,
    /// `detail.required`: the scope words Bitbucket named, verbatim.
    pub required: Vec<String>,
    /// `detail.granted`, verbatim.
    pub granted: Vec<String>,
    /// `data.announcement_url` (deprecations).
    pub announcement: Option<String>,
    /// A `CHANGE-NNNN` reference in the message or detail.
    pub change: Option<String>,
}

#[derive(Deserialize)]
struct Outer {
    error: Option<Inner>,
}

#[derive(Deserialize)]
struct Inner {
    #[serde(default)]
    message: Option<Value>,
    #[serde(default)]
    detail: Option<Value>,
    #[serde(default)]
    data: Option<Value>,
}

/// Reads an error body.
pub(crate) fn parse(body: &[u8]) -> Envelope {
    let Ok(Outer { error: Some(inner) }) = serde_json::from_slice::<Outer>(body) else {
        return Envelope {
            message: excerpt(body),
            ..Envelope::default()
        };
    };
    let text = |v: &Value| match v {
        Value::String(s) => Some(clean(s)),
        Value::Null => None,
        other => Some(clean(&other.to_string())),
    };
    let words = |key: &str| -> Vec<String> {
        match inner.detail.as_ref().and_then(|d| d.get(key)) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .flat_map(|s| s.split([' ', ',']))
                .filter(|w| !w.is_empty() && w.len() <= 100)
                .map(clean)
                .collect(),
            Some(Value::String(s)) => s
                .split([' ', ','])
                .filter(|w| !w.is_empty() && w.len() <= 100)
                .map(clean)
                .collect(),
            _ => Vec::new(),
        }
    };
    let message = inner
        .message
        .as_ref()
        .and_then(text)
        .unwrap_or_else(|| excerpt(body));
    let detail = match &inner.detail {
        Some(Value::String(s)) => Some(clean(s)),
        _ => None,
    };
    let change = find_change(&message).or_else(|| detail.as_deref().and_then(find_change));
    // Deprecations since 2025 give their notice in `data.announcement_url`; the 2019 removal of
    // API 1.0 gave it only inside the `detail` text ("… the deprecation notice at: https://…").
    let announcement = inner
        .data
        .as_ref()
        .and_then(|d| d.get("announcement_url"))
        .and_then(Value::as_str)
        .map(clean)
        .or_else(|| detail.as_deref().and_then(find_https_url));
    Envelope {
        required: words("required"),
        granted: words("granted"),
        announcement,
        change,
        detail,
        message,
    }
}

/// `CHANGE-` followed by digits, if `text` has one.
fn find_change(text: &str) -> Option<String> {
    let start = text.find("CHANGE-")?;
    let digits: String = text[start + 7..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (!digits.is_empty()).then(|| format!("CHANGE-{digits}"))
}

/// The first `https://` address in `text`, without trailing punctuation.
fn find_https_url(text: &str) -> Option<String> {
    let start = text.find("https://")?;
    let url = text[start..]
        .split(char::is_whitespace)
        .next()?
        .trim_end_matches(['.', ',', ';', ')', '"', '\'']);
    // An address carrying a token is never repeated in an error message.
    (url.len() > "https://".len() && !url.contains("token=")).then(|| url.to_owned())
}

/// One line, control characters removed, at most 300 characters.
fn clean(text: &str) -> String {
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 300 {
        format!("{}…", line.chars().take(300).collect::<String>())
    } else {
        line
    }
}

/// A short, single-line excerpt of a response body; withheld when it may hold a token.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if text.contains("access_token") || text.contains("refresh_token") {
        return "(body withheld: it may contain tokens)".to_owned();
    }
    let line = clean(&text);
    let line = if line.chars().count() > 200 {
        format!("{}…", line.chars().take(200).collect::<String>())
    } else {
        line
    };
    if line.is_empty() {
        "(empty body)".to_owned()
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_scopes_keep_the_words_bitbucket_sent() {
        // Issue 9, finding 1: served as a 403 at /2.0/user.
        let body = br#"{"type":"error","error":{"message":"Your credentials lack one or more required privilege scopes.","detail":{"required":["read:user:bitbucket"],"granted":["read:repository:bitbucket"]}}}"#;
        let e = parse(body);
        assert_eq!(e.required, ["read:user:bitbucket"]);
        assert_eq!(e.granted, ["read:repository:bitbucket"]);
        assert_eq!(
            e.message,
            "Your credentials lack one or more required privilege scopes."
        );
    }

    #[test]
    fn detail_may_be_a_string() {
        let body = br#"{"type":"error","error":{"message":"Resource removed","detail":"This API is no longer supported.\n\nFor information about its removal, please refer to the deprecation notice at: https://developer.atlassian.com/cloud/bitbucket/deprecation-notice-v1-apis/"}}"#;
        let e = parse(body);
        assert!(e
            .detail
            .unwrap()
            .starts_with("This API is no longer supported. For"));
        assert!(e.required.is_empty());
    }

    #[test]
    fn an_announcement_given_only_in_the_detail_text_is_found() {
        // The 2019 removal of API 1.0, as Bitbucket answered it (see tests/fixtures/real).
        let body = br#"{"type": "error", "error": {"message": "Resource removed", "detail": "This API is no longer supported.\n\nFor information about its removal, please refer to the deprecation notice at: https://developer.atlassian.com/cloud/bitbucket/deprecation-notice-v1-apis/"}}"#;
        let e = parse(body);
        assert_eq!(
            e.announcement.as_deref(),
            Some("https://developer.atlassian.com/cloud/bitbucket/deprecation-notice-v1-apis/")
        );
        assert_eq!(e.change, None);
        assert_eq!(
            find_https_url("see https://x.example/a."),
            Some("https://x.example/a".into())
        );
        assert_eq!(find_https_url("no address"), None);
        assert_eq!(find_https_url("https:// alone"), None);
        assert_eq!(
            find_https_url("at https://x.example/?access_token=abc"),
            None
        );
    }

    #[test]
    fn deprecations_name_the_change_and_its_announcement() {
        let body = br#"{"type":"error","error":{"message":"CHANGE-2770 - Functionality has been deprecated","detail":"Please read the changelog entry for more details.","data":{"announcement_url":"https://developer.atlassian.com/cloud/bitbucket/changelog#CHANGE-2770"}}}"#;
        let e = parse(body);
        assert_eq!(e.change.as_deref(), Some("CHANGE-2770"));
        assert_eq!(
            e.announcement.as_deref(),
            Some("https://developer.atlassian.com/cloud/bitbucket/changelog#CHANGE-2770")
        );
    }

    #[test]
    fn plain_text_html_and_odd_shapes() {
        assert_eq!(
            parse(b"Rate limit for this resource has been exceeded").message,
            "Rate limit for this resource has been exceeded"
        );
        assert_eq!(
            parse(b"<html>\n<body>Bad gateway</body></html>").message,
            "<html> <body>Bad gateway</body></html>"
        );
        assert_eq!(parse(b"").message, "(empty body)");
        assert_eq!(parse(br#"{"error":{"message":42}}"#).message, "42");
        assert_eq!(parse(br#"{"error":null}"#).message, r#"{"error":null}"#);
        let withheld = parse(br#"{"access_token":"secret-tok"}"#);
        assert!(!withheld.message.contains("secret-tok"));
    }
}
