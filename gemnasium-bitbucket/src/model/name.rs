use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::ModelError;

/// A provider's unique name, such as `bitbucket.org`.
///
/// Lowercase and host-like: labels of `a-z`, `0-9` and `-` separated by dots, 1 to 253 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProviderName(String);

impl ProviderName {
    /// The name as a string slice.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ProviderName {
    type Err = ModelError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let fail = |reason: &str| ModelError::InvalidProviderName {
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        if value.is_empty() {
            return Err(fail(
                "it is empty; use a host-like name such as `bitbucket.org`",
            ));
        }
        if value.len() > 253 {
            return Err(fail("it is longer than 253 characters"));
        }
        if value.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(fail(&format!(
                "it must be lowercase, for example `{}`",
                value.to_ascii_lowercase()
            )));
        }
        if value.contains("://") || value.contains('/') {
            return Err(fail(
                "it is a name, not a URL; use the host only, for example `bitbucket.org`",
            ));
        }
        if let Some(bad) = value
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '.'))
        {
            return Err(fail(&format!(
                "character {bad:?} is not allowed; use a-z, 0-9, `-` and `.`"
            )));
        }
        for label in value.split('.') {
            if label.is_empty() {
                return Err(fail("it has an empty part between dots or at either end"));
            }
            if label.len() > 63 {
                return Err(fail("a part between dots is longer than 63 characters"));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(fail("a part between dots starts or ends with `-`"));
            }
        }
        Ok(Self(value.to_owned()))
    }
}

impl TryFrom<String> for ProviderName {
    type Error = ModelError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<ProviderName> for String {
    fn from(name: ProviderName) -> Self {
        name.0
    }
}

impl fmt::Display for ProviderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A human-readable label, such as the source name `Bitbucket Cloud`.
///
/// Non-empty after trimming, at most 200 characters, no control characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DisplayName(String);

impl DisplayName {
    /// The label as a string slice.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for DisplayName {
    type Err = ModelError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let fail = |reason: &str| ModelError::InvalidDisplayName {
            value: value.escape_default().to_string(),
            reason: reason.to_owned(),
        };
        if value.trim().is_empty() {
            return Err(fail(
                "it is empty; quote a label such as \"Bitbucket Cloud\"",
            ));
        }
        if value.chars().count() > 200 {
            return Err(fail("it is longer than 200 characters"));
        }
        if value.chars().any(char::is_control) {
            return Err(fail(
                "it contains control characters such as a newline or tab",
            ));
        }
        if value.trim() != value {
            return Err(fail("it starts or ends with white space"));
        }
        Ok(Self(value.to_owned()))
    }
}

impl TryFrom<String> for DisplayName {
    type Error = ModelError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<DisplayName> for String {
    fn from(name: DisplayName) -> Self {
        name.0
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_host_like_names() {
        for ok in ["bitbucket.org", "a", "bb-1.example.com", "x1"] {
            assert_eq!(ok.parse::<ProviderName>().unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_bad_names_with_the_rule() {
        let cases = [
            ("", "empty"),
            ("Bitbucket.org", "lowercase, for example `bitbucket.org`"),
            ("https://bitbucket.org", "not a URL"),
            ("bit bucket", "character ' '"),
            ("bitbucket..org", "empty part"),
            ("-bitbucket.org", "starts or ends with `-`"),
            ("bitbucket_org", "character '_'"),
        ];
        for (input, expected) in cases {
            let err = input.parse::<ProviderName>().unwrap_err().to_string();
            assert!(err.contains(expected), "{input:?}: {err}");
        }
        assert!("a".repeat(254).parse::<ProviderName>().is_err());
        assert!(format!("{}.org", "a".repeat(64))
            .parse::<ProviderName>()
            .is_err());
    }

    #[test]
    fn display_names_reject_blank_and_control_characters() {
        assert_eq!(
            "Bitbucket Cloud".parse::<DisplayName>().unwrap().as_str(),
            "Bitbucket Cloud"
        );
        assert!("".parse::<DisplayName>().is_err());
        assert!("   ".parse::<DisplayName>().is_err());
        assert!("a\nb".parse::<DisplayName>().is_err());
        assert!(" padded".parse::<DisplayName>().is_err());
        assert!("x".repeat(201).parse::<DisplayName>().is_err());
    }

    #[test]
    fn serde_validates() {
        assert!(serde_json::from_str::<ProviderName>("\"Bad Name\"").is_err());
        let name: ProviderName = serde_json::from_str("\"bitbucket.org\"").unwrap();
        assert_eq!(serde_json::to_string(&name).unwrap(), "\"bitbucket.org\"");
    }
}
