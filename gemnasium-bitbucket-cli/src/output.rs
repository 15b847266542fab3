//! Printing: aligned tables and `key: value` blocks for people, JSON for machines.
//!
//! Every write is fallible: a closed pipe (`… | head -1`) ends the program quietly instead of
//! panicking. Human output escapes control and bidirectional-override characters, which
//! Bitbucket data (repository and workspace names) could carry to the terminal; JSON output
//! stays exact. Secrets appear only as `set (sha256:1a2b3c4d)`.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write;

use gemnasium_bitbucket::model::{Client, Provider, Source};
use serde::Serialize;
use serde_json::{json, Value};

/// Whether `c` could change how a terminal shows what follows: controls (escape sequences,
/// carriage returns) and the bidirectional overrides and isolates (U+202A–U+202E,
/// U+2066–U+2069, marks).
fn unsafe_for_terminals(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// `text` with characters that could drive a terminal shown as `\u{…}` escapes.
#[must_use]
pub fn escaped(text: &str) -> Cow<'_, str> {
    if !text.chars().any(unsafe_for_terminals) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_for_terminals(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Writes one line of human output on stdout, escaped.
///
/// # Errors
/// The write's failure (a closed pipe is reported as such and ends the program quietly).
pub fn line(text: impl std::fmt::Display) -> std::io::Result<()> {
    let text = text.to_string();
    let mut out = std::io::stdout().lock();
    text.lines()
        .try_for_each(|l| writeln!(out, "{}", escaped(l)))?;
    if text.is_empty() {
        writeln!(out)?;
    }
    Ok(())
}

/// Formats like `println!` into [`line`], returning its result.
#[macro_export]
macro_rules! outln {
    () => { $crate::output::line("") };
    ($($arg:tt)*) => { $crate::output::line(format!($($arg)*)) };
}

/// Prints `value` as pretty JSON on stdout (exact: nothing escaped beyond JSON's own rules).
///
/// # Errors
/// The write's failure.
pub fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    // Serialised first, so that a closed pipe surfaces as the io::Error it is.
    let text = serde_json::to_string_pretty(value)?;
    writeln!(std::io::stdout().lock(), "{text}")?;
    Ok(())
}

/// A warning on stderr (never on stdout), escaped; a closed stderr is ignored.
pub fn warn(message: impl std::fmt::Display) {
    let _ = writeln!(
        std::io::stderr(),
        "warning: {}",
        escaped(&message.to_string())
    );
}

/// A note on stderr for people (prompts, progress words), escaped.
pub fn note(message: impl std::fmt::Display) {
    let _ = writeln!(std::io::stderr(), "{}", escaped(&message.to_string()));
}

/// How a secret is shown anywhere: that it is set, and a fingerprint to tell secrets apart.
pub fn secret_display(client: &Client) -> String {
    format!("set ({})", client.secret.fingerprint())
}

pub fn provider_json(p: &Provider) -> Value {
    json!({
        "name": p.name,
        "kind": p.kind,
        "authorize_url": p.authorize_url,
        "token_url": p.token_url,
        "api_url": p.api_url,
        "pkce": p.pkce,
        "homepage": p.homepage,
        "callback_url": p.callback_url(),
        "allowed_workspaces": p.allowed_workspaces,
    })
}

pub fn client_json(c: &Client) -> Value {
    json!({
        "provider": c.provider,
        "purpose": c.purpose,
        "key": c.key,
        "secret": secret_display(c),
        "scopes": c.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
    })
}

pub fn source_json(s: &Source) -> Value {
    json!({
        "provider": s.provider,
        "display_name": s.display_name,
        "kind": s.kind,
        "api_url": s.api_url,
    })
}

/// Prints rows under headers, columns aligned; `empty` when there are no rows.
///
/// # Errors
/// The write's failure.
pub fn print_table(headers: &[&str], rows: &[Vec<String>], empty: &str) -> std::io::Result<()> {
    if rows.is_empty() {
        return line(empty);
    }
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| escaped(c).into_owned()).collect())
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let format = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    line(format(headers.to_vec()))?;
    for row in &rows {
        line(format(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

/// Prints `key: value` lines with the keys aligned.
///
/// # Errors
/// The write's failure.
pub fn print_fields(fields: &[(&str, String)]) -> std::io::Result<()> {
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    for (key, value) in fields {
        line(format!("{:<width$} {value}", format!("{key}:")))?;
    }
    Ok(())
}

pub fn provider_fields(p: &Provider) -> Vec<(&'static str, String)> {
    vec![
        ("name", p.name.to_string()),
        ("kind", p.kind.to_string()),
        ("authorize_url", p.authorize_url.to_string()),
        ("token_url", p.token_url.to_string()),
        ("api_url", p.api_url.to_string()),
        ("pkce", if p.pkce { "on" } else { "off" }.to_owned()),
        (
            "homepage",
            p.homepage
                .as_ref()
                .map_or_else(|| "-".to_owned(), ToString::to_string),
        ),
        (
            "callback_url",
            p.callback_url()
                .map_or_else(|| "- (record the homepage)".to_owned(), |c| c.to_string()),
        ),
        ("allowed_workspaces", p.allowed_workspaces.to_string()),
    ]
}

pub fn client_fields(c: &Client) -> Vec<(&'static str, String)> {
    vec![
        ("provider", c.provider.to_string()),
        ("purpose", c.purpose.to_string()),
        ("key", c.key.to_string()),
        ("secret", secret_display(c)),
        ("scopes", c.scopes.to_string()),
    ]
}

pub fn source_fields(s: &Source) -> Vec<(&'static str, String)> {
    vec![
        ("provider", s.provider.to_string()),
        ("display_name", s.display_name.to_string()),
        ("kind", s.kind.to_string()),
        ("api_url", s.api_url.to_string()),
    ]
}

/// Reports an update like [`print_outcome`]; its JSON form adds the row's `version` after the
/// update (1 when created, plus one per changing update), so that callers can see that no
/// update was lost.
///
/// # Errors
/// The write's failure.
pub fn print_updated(
    json: bool,
    entity: &str,
    key: &str,
    outcome: &str,
    version: i64,
) -> anyhow::Result<()> {
    if json {
        print_json(&json!({"entity": entity, "key": key, "outcome": outcome, "version": version}))
    } else {
        Ok(line(format!("{entity} {key}: {outcome}"))?)
    }
}

/// Reports a write: `provider bitbucket.org: created`, or its JSON form.
///
/// # Errors
/// The write's failure.
pub fn print_outcome(json: bool, entity: &str, key: &str, outcome: &str) -> anyhow::Result<()> {
    if json {
        print_json(&json!({"entity": entity, "key": key, "outcome": outcome}))
    } else {
        Ok(line(format!("{entity} {key}: {outcome}"))?)
    }
}

#[cfg(test)]
mod tests {
    use super::escaped;

    #[test]
    fn terminal_controls_and_bidi_overrides_are_escaped() {
        assert_eq!(escaped("acme/widget"), "acme/widget");
        assert_eq!(escaped("evil\u{1b}[2Jname"), "evil\\u{1b}[2Jname");
        assert_eq!(escaped("abc\u{202e}cba"), "abc\\u{202e}cba");
        assert_eq!(escaped("a\rb"), "a\\u{d}b");
        assert_eq!(escaped("naïve ✓"), "naïve ✓");
    }
}
