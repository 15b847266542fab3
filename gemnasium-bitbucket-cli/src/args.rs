//! Parsers that turn command-line text into the library's validated types, once, at parse
//! time (clap `value_parser`s). Their errors are the library's own, which say what is wrong.

use gemnasium_bitbucket::model::{
    check_homepage, AccountUuid, ClientKey, CredentialName, DisplayName, HookEvents, ModelError,
    ProviderKind, ProviderName, Purpose, ScopeSet, ServiceUrl, WorkspaceSlug,
};

pub fn provider_name(s: &str) -> Result<ProviderName, ModelError> {
    s.parse()
}

pub fn provider_kind(s: &str) -> Result<ProviderKind, ModelError> {
    s.parse()
}

pub fn purpose(s: &str) -> Result<Purpose, ModelError> {
    s.parse()
}

pub fn scopes(s: &str) -> Result<ScopeSet, ModelError> {
    s.parse()
}

pub fn client_key(s: &str) -> Result<ClientKey, ModelError> {
    s.parse()
}

pub fn display_name(s: &str) -> Result<DisplayName, ModelError> {
    s.parse()
}

pub fn account(s: &str) -> Result<AccountUuid, ModelError> {
    s.parse()
}

pub fn events(s: &str) -> Result<HookEvents, ModelError> {
    s.parse()
}

pub fn authorize_url(s: &str) -> Result<ServiceUrl, ModelError> {
    ServiceUrl::parse("authorize URL", s)
}

pub fn token_url(s: &str) -> Result<ServiceUrl, ModelError> {
    ServiceUrl::parse("token URL", s)
}

pub fn api_url(s: &str) -> Result<ServiceUrl, ModelError> {
    ServiceUrl::parse_api_url(s)
}

pub fn site_url(s: &str) -> Result<ServiceUrl, ModelError> {
    ServiceUrl::parse("site URL", s)
}

pub fn homepage(s: &str) -> Result<ServiceUrl, ModelError> {
    let url = ServiceUrl::parse("homepage URL", s)?;
    check_homepage(&url)?;
    Ok(url)
}

pub fn workspace_slug(s: &str) -> Result<WorkspaceSlug, ModelError> {
    s.parse()
}

pub fn hooks_url(s: &str) -> Result<ServiceUrl, ModelError> {
    ServiceUrl::parse("hooks URL", s)
}

pub fn credential_name(s: &str) -> Result<CredentialName, ModelError> {
    s.parse()
}

/// The error of a date that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("invalid date `{0}`; use YYYY-MM-DD (midnight UTC) or an RFC 3339 time such as 2027-03-01T12:00:00Z")]
pub struct BadDate(String);

/// `2027-03-01` (taken as its first instant, UTC: the cautious reading of an expiry date) or
/// an RFC 3339 time.
pub fn expiry(text: &str) -> Result<chrono::DateTime<chrono::Utc>, BadDate> {
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| BadDate(text.to_owned()))
}

/// An email address, checked only for its shape (Bitbucket is the judge of the rest).
pub fn email(text: &str) -> Result<String, BadEmail> {
    let text = text.trim();
    match text.split_once('@') {
        Some((user, host))
            if !user.is_empty()
                && host.contains('.')
                && !text.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Ok(text.to_owned())
        }
        _ => Err(BadEmail(text.to_owned())),
    }
}

/// The error of an email address that cannot be one.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid email address `{0}`; give the Atlassian account's address, such as jane@example.com"
)]
pub struct BadEmail(String);

/// The error of a duration that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("invalid duration `{0}`; use e.g. 30d, 12h, 45m or 10s")]
pub struct BadDuration(String);

/// `30d`, `12h`, `45m`, `10s` or plain seconds.
pub fn duration(text: &str) -> Result<chrono::Duration, BadDuration> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: i64 = number.parse().map_err(|_| BadDuration(text.to_owned()))?;
    Ok(match unit {
        "d" => chrono::Duration::days(n),
        "h" => chrono::Duration::hours(n),
        "m" => chrono::Duration::minutes(n),
        "s" | "" => chrono::Duration::seconds(n),
        _ => return Err(BadDuration(text.to_owned())),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations() {
        assert_eq!(super::duration("30d").unwrap(), chrono::Duration::days(30));
        assert_eq!(super::duration("12h").unwrap(), chrono::Duration::hours(12));
        assert_eq!(super::duration("0s").unwrap(), chrono::Duration::zero());
        assert_eq!(
            super::duration("90").unwrap(),
            chrono::Duration::seconds(90)
        );
        assert!(super::duration("3 weeks").is_err());
        assert!(super::duration("d").is_err());
    }

    #[test]
    fn expiry_dates() {
        assert_eq!(
            super::expiry("2027-03-01").unwrap().to_rfc3339(),
            "2027-03-01T00:00:00+00:00"
        );
        assert_eq!(
            super::expiry("2027-03-01T12:00:00+02:00")
                .unwrap()
                .to_rfc3339(),
            "2027-03-01T10:00:00+00:00"
        );
        assert!(super::expiry("next week").is_err());
        assert!(super::email("jane@example.com").is_ok());
        assert!(super::email("jane").is_err());
    }
}
