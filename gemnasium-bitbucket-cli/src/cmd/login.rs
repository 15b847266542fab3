//! `auth login` and `auth clients verify`.

use std::io::{BufRead, IsTerminal};

use anyhow::Context;
use gemnasium_bitbucket::model::{ProviderName, Purpose, ServiceUrl};
use gemnasium_bitbucket::oauth::{Check, Verification};
use gemnasium_bitbucket::service::LoginOptions;
use serde_json::json;

use super::{Access, Ctx};
use crate::error::{hinted, usage};
use crate::outln;
use crate::output::{note, print_json};

fn check(c: &Check, yes: &str, no: &str) -> String {
    match c {
        Check::Yes => yes.to_owned(),
        Check::No => no.to_owned(),
        Check::Unknown(reason) => format!("UNKNOWN ({reason})"),
    }
}

/// The report lines of a verification: (label, value).
pub fn verification_lines(v: &Verification) -> Vec<(&'static str, String)> {
    if let Some(reason) = &v.unreachable {
        return vec![("bitbucket", format!("UNREACHABLE ({reason})"))];
    }
    let mut lines = vec![
        (
            "credentials",
            check(
                &v.credentials,
                "valid",
                "INVALID (Bitbucket refused the key and secret)",
            ),
        ),
        (
            "callback URL",
            check(
                &v.callback,
                "set",
                "MISSING (set it to {homepage}/auth/auth/bitbucket.org)",
            ),
        ),
        (
            "private",
            check(&v.private, "yes", "no (fine for sign-in and user syncs)"),
        ),
    ];
    if let Some(granted) = &v.granted {
        lines.push(("granted scopes", granted.to_string()));
    }
    if let Some(missing) = v.missing.as_ref().filter(|m| !m.is_empty()) {
        lines.push((
            "missing scopes",
            format!("{missing} (tick them on the consumer)"),
        ));
    }
    lines
}

pub async fn verify(ctx: &Ctx, provider: &ProviderName, purpose: Purpose) -> anyhow::Result<()> {
    let bitbucket = ctx.bitbucket(Access::Read, 10).await?;
    let v = bitbucket.verify(provider, purpose).await?;
    if ctx.json {
        print_json(&v)?;
    } else {
        outln!("client {provider}/{purpose}:")?;
        for (label, value) in verification_lines(&v) {
            outln!("  {:<15} {value}", format!("{label}:"))?;
        }
    }
    if let Some(reason) = &v.unreachable {
        return Err(hinted(
            format!("cannot reach Bitbucket's token endpoint: {reason}"),
            format!(
                "check the network, or the provider's token URL (`auth provider show {provider}`)"
            ),
        ));
    }
    if v.has_problems() {
        return Err(hinted(
            format!("the consumer of {provider}/{purpose} has problems (see above)"),
            "fix the consumer on Bitbucket, or the client with `auth clients update`",
        ));
    }
    if !v.is_complete() {
        return Err(hinted(
            format!("Bitbucket's answers about the consumer of {provider}/{purpose} could not all be read (see above)"),
            "check the provider's token URL and try again; only a clear answer counts as verified",
        ));
    }
    Ok(())
}

fn read_callback() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(dialoguer::Input::<String>::new()
            .with_prompt("URL Bitbucket redirected to (or the code)")
            .interact_text()?);
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("could not read the callback URL")?;
    if line.trim().is_empty() {
        return Err(usage(
            "no callback URL on standard input; paste the URL Bitbucket redirected to",
        ));
    }
    Ok(line)
}

pub async fn login(
    ctx: &Ctx,
    provider: &ProviderName,
    purpose: Purpose,
    homepage: Option<ServiceUrl>,
    pkce: bool,
) -> anyhow::Result<()> {
    let bitbucket = ctx.bitbucket(Access::Write, 30).await?;
    let mut options = LoginOptions::new().pkce(pkce);
    if let Some(homepage) = homepage {
        options = options.homepage(homepage);
    }
    let pending = bitbucket
        .begin_login_with(provider, purpose, &options)
        .await?;
    note("Open this URL, sign in to Bitbucket and grant access:");
    // The URL goes to stdout alone on its line, so scripts can pick it up.
    outln!("{}", pending.url())?;
    note(format!(
        "Then paste the URL your browser was sent to (it starts with {}):",
        pending.redirect_uri()
    ));
    let pasted = read_callback()?;
    let signed_in = bitbucket.complete_login(&pending, &pasted).await?;
    let identity = &signed_in.identity;
    let scopes = &signed_in.token.tokens.scopes;
    if ctx.json {
        return print_json(&json!({
            "account": identity.uuid, "nickname": identity.nickname, "display_name": identity.display_name,
            "email": identity.email, "purpose": purpose, "scopes": scopes.to_string(),
        }));
    }
    outln!(
        "signed in as {} ({}){}; token stored for {provider}/{purpose} with scopes {scopes}",
        identity.nickname.as_deref().unwrap_or("?"),
        identity.uuid,
        identity
            .email
            .as_ref()
            .map(|e| format!(", email {e}"))
            .unwrap_or_else(|| ", no confirmed email".to_owned()),
    )?;
    Ok(())
}
