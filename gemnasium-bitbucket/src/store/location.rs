use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use super::StoreError;

/// Where a store lives, parsed from `memory:`, `sqlite://PATH` (or `sqlite:PATH`) or
/// `postgres://…` / `postgresql://…`.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreLocation {
    /// A fresh in-process store; gone when the process exits.
    Memory,
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL.
    Postgres(String),
}

const FORMS: &str =
    "use `sqlite://PATH` (a file, created if missing), `postgres://USER@HOST/DB` or `memory:`";

impl FromStr for StoreLocation {
    type Err = StoreError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: String| StoreError::InvalidLocation {
            location: redact(value),
            reason,
        };
        if value == "memory:" || value == "memory://" {
            return Ok(StoreLocation::Memory);
        }
        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            return Ok(StoreLocation::Postgres(value.to_owned()));
        }
        if let Some(rest) = value.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() || path == ":memory:" {
                return Err(invalid(format!("no file path given; {FORMS}")));
            }
            return Ok(StoreLocation::Sqlite(PathBuf::from(path)));
        }
        if value.is_empty() {
            return Err(invalid(format!("it is empty; {FORMS}")));
        }
        Err(invalid(format!("unknown kind of store; {FORMS}")))
    }
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Memory => f.write_str("memory:"),
            StoreLocation::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            StoreLocation::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

impl fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreLocation({self})")
    }
}

/// `value` with any URL password replaced, so that locations can be printed.
pub(crate) fn redact(value: &str) -> String {
    match url::Url::parse(value) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("redacted"));
            url.to_string()
        }
        _ => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(
            "memory:".parse::<StoreLocation>().unwrap(),
            StoreLocation::Memory
        );
        assert_eq!(
            "sqlite:///var/lib/g/store.db"
                .parse::<StoreLocation>()
                .unwrap(),
            StoreLocation::Sqlite("/var/lib/g/store.db".into())
        );
        assert_eq!(
            "sqlite://rel/store.db".parse::<StoreLocation>().unwrap(),
            StoreLocation::Sqlite("rel/store.db".into())
        );
        assert_eq!(
            "sqlite:store.db".parse::<StoreLocation>().unwrap(),
            StoreLocation::Sqlite("store.db".into())
        );
        assert!(matches!(
            "postgres://u@127.0.0.1/test"
                .parse::<StoreLocation>()
                .unwrap(),
            StoreLocation::Postgres(_)
        ));
    }

    #[test]
    fn rejects_unknown_forms_and_hides_passwords() {
        let e = "mysql://root:hunter2@db/x"
            .parse::<StoreLocation>()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown kind of store") && !e.contains("hunter2"),
            "{e}"
        );
        assert!("sqlite://".parse::<StoreLocation>().is_err());
        assert!("".parse::<StoreLocation>().is_err());
        let loc: StoreLocation = "postgres://u:hunter2@h/db".parse().unwrap();
        assert!(!loc.to_string().contains("hunter2"));
        assert!(!format!("{loc:?}").contains("hunter2"));
    }
}
