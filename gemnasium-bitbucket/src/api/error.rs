use std::time::Duration;

use chrono::{DateTime, Utc};
use thiserror::Error;

use super::auth::AuthError;
use super::http::SetupError;
use crate::model::Scope;

/// Why a REST call failed, after retries. Never contains a token or secret.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The credential was refused, and renewing it did not help or could not.
    #[error("Bitbucket refused the credentials: {message}{}", match rejection {
        super::Rejection::Ambiguous => " (the token is not near its expiry, so it is invalid, revoked, or the wrong kind of credential for this endpoint)",
        _ => "",
    })]
    Unauthorized {
        /// Bitbucket's message.
        message: String,
        /// How it was worded.
        rejection: super::Rejection,
    },
    /// The credential lacks scopes for this endpoint: the words Bitbucket sent, verbatim.
    #[error(
        "the credentials lack scopes Bitbucket requires: required {}; granted {}{}",
        list(required),
        list(granted),
        boxes_hint(required)
    )]
    MissingScopes {
        /// `detail.required`.
        required: Vec<String>,
        /// `detail.granted`.
        granted: Vec<String>,
    },
    /// The account lacks permission (for hooks: admin on the repository).
    #[error("Bitbucket refused: {message} (the account needs more permission here)")]
    Forbidden {
        /// Bitbucket's message.
        message: String,
    },
    /// Not found, or private and invisible to the account.
    #[error("not found: {message}")]
    NotFound {
        /// Bitbucket's message.
        message: String,
    },
    /// A removed endpoint (410), with the change that removed it.
    #[error("Bitbucket retired this endpoint{}: {message}{}",
        change.as_ref().map(|c| format!(" ({c})")).unwrap_or_default(),
        announcement.as_ref().map(|a| format!("; see {a}")).unwrap_or_default())]
    Retired {
        /// Bitbucket's message.
        message: String,
        /// The `CHANGE-NNNN` reference, when given.
        change: Option<String>,
        /// The changelog entry, when given.
        announcement: Option<String>,
    },
    /// Refused as malformed (400).
    #[error("Bitbucket refused the request: {message}")]
    BadRequest {
        /// Bitbucket's message.
        message: String,
    },
    /// Rate limited, and waiting longer is not allowed (the cap of one wait, the request's
    /// retry budget or the run's deadline would be passed).
    #[error("rate limited by Bitbucket after {attempts} attempt(s){}",
        resume_after.map(|t| format!("; resume after {}", t.format("%Y-%m-%d %H:%M:%S UTC"))).unwrap_or_default())]
    RateLimited {
        /// Attempts made.
        attempts: u32,
        /// When Bitbucket (or our budget) allows requests again, when known.
        resume_after: Option<DateTime<Utc>>,
    },
    /// The budget shared by the consumer's accounts (and processes) allows no request now: the
    /// run stops cleanly and can resume later.
    #[error("request budget spent: {0}")]
    BudgetSpent(#[from] super::budget::BudgetSpent),
    /// Server errors after every retry.
    #[error("Bitbucket answered HTTP {status} after {attempts} attempt(s): {message}")]
    Server {
        /// The last status.
        status: u16,
        /// Attempts made.
        attempts: u32,
        /// The last message.
        message: String,
    },
    /// Network failure after every retry.
    #[error("cannot reach Bitbucket after {attempts} attempt(s): {reason}")]
    Network {
        /// Attempts made.
        attempts: u32,
        /// The last error.
        reason: String,
    },
    /// The run's deadline passed before the call could complete.
    #[error("the run's time limit was reached after {0:?} of retries and waits")]
    Deadline(Duration),
    /// A response we cannot read.
    #[error("unexpected response from Bitbucket (HTTP {status}, {content_type}): {excerpt}")]
    Malformed {
        /// Status code.
        status: u16,
        /// Content type.
        content_type: String,
        /// A short sanitised excerpt, or the parse error.
        excerpt: String,
    },
    /// A body larger than the configured maximum.
    #[error("Bitbucket's response is larger than {limit} bytes; refusing to read it")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// A URL (such as a `next` link) on another origin: no request was made.
    #[error("refusing to send credentials to {url}: not the configured API origin {expected}")]
    ForeignOrigin {
        /// The refused URL (no query).
        url: String,
        /// The configured origin.
        expected: String,
    },
    /// A `next` link seen before: the listing would never end.
    #[error("pagination loops: Bitbucket sent the same next link twice ({url})")]
    PageLoop {
        /// The repeated link (no query).
        url: String,
    },
    /// More pages than the configured bound.
    #[error(
        "more than {max} pages; stopping (raise the page bound if this account is that large)"
    )]
    TooManyPages {
        /// The bound.
        max: usize,
    },
    /// The HTTP stack could not be set up (a bad CA certificate).
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// No credential could be had.
    #[error(transparent)]
    Credentials(#[from] AuthError),
}

fn list(words: &[String]) -> String {
    if words.is_empty() {
        "(not named)".to_owned()
    } else {
        words.join(" ")
    }
}

/// "; tick … on the consumer" for the required words that are OAuth consumer scopes.
fn boxes_hint(required: &[String]) -> String {
    let boxes: Vec<&str> = required
        .iter()
        .filter_map(|w| w.parse::<Scope>().ok())
        .map(Scope::checkbox)
        .collect();
    if boxes.is_empty() {
        String::new()
    } else {
        format!(" (consumer permissions to tick: {})", boxes.join(", "))
    }
}

impl ApiError {
    /// The consumer-form checkboxes that grant the scopes a [`ApiError::MissingScopes`] names
    /// (empty for other errors, or when Bitbucket named API-token scopes).
    #[must_use]
    pub fn missing_boxes(&self) -> Vec<&'static str> {
        match self {
            ApiError::MissingScopes { required, .. } => required
                .iter()
                .filter_map(|w| w.parse::<Scope>().ok())
                .map(Scope::checkbox)
                .collect(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_scopes_show_every_word() {
        let e = ApiError::MissingScopes {
            required: vec!["read:user:bitbucket".into()],
            granted: vec!["read:repository:bitbucket".into()],
        };
        assert_eq!(
            e.to_string(),
            "the credentials lack scopes Bitbucket requires: required read:user:bitbucket; granted read:repository:bitbucket"
        );
        let e = ApiError::MissingScopes {
            required: vec!["account".into()],
            granted: vec!["team".into()],
        };
        assert!(
            e.to_string()
                .ends_with("(consumer permissions to tick: Account: Read)"),
            "{e}"
        );
        assert_eq!(e.missing_boxes(), ["Account: Read"]);
    }
}
