//! Printing: aligned tables and `key: value` blocks for people, JSON for machines.
//! Secrets appear only as `set (sha256:1a2b3c4d)`.

use gemnasium_bitbucket::model::{Client, Provider, Source};
use gemnasium_bitbucket::store::WriteOutcome;
use serde::Serialize;
use serde_json::{json, Value};

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

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints rows under headers, columns aligned; `empty` when there are no rows.
pub fn print_table(headers: &[&str], rows: &[Vec<String>], empty: &str) {
    if rows.is_empty() {
        println!("{empty}");
        return;
    }
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Prints `key: value` lines with the keys aligned.
pub fn print_fields(fields: &[(&str, String)]) {
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    for (key, value) in fields {
        println!("{:<width$} {value}", format!("{key}:"));
    }
}

pub fn provider_fields(p: &Provider) -> Vec<(&'static str, String)> {
    vec![
        ("name", p.name.to_string()),
        ("kind", p.kind.to_string()),
        ("authorize_url", p.authorize_url.to_string()),
        ("token_url", p.token_url.to_string()),
        ("api_url", p.api_url.to_string()),
        ("pkce", if p.pkce { "on" } else { "off" }.to_owned()),
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

/// Reports a write: `provider bitbucket.org: created`, or its JSON form.
pub fn print_outcome(json: bool, entity: &str, key: &str, outcome: &str) -> anyhow::Result<()> {
    if json {
        print_json(&json!({"entity": entity, "key": key, "outcome": outcome}))
    } else {
        println!("{entity} {key}: {outcome}");
        Ok(())
    }
}

/// Like [`print_outcome`] for a store write.
pub fn print_write(
    json: bool,
    entity: &str,
    key: &str,
    outcome: WriteOutcome,
) -> anyhow::Result<()> {
    print_outcome(json, entity, key, outcome.as_str())
}

/// A warning on stderr (never in JSON on stdout).
pub fn warn(message: impl std::fmt::Display) {
    eprintln!("warning: {message}");
}
