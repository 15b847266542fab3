//! Where a secret comes from: the command line, `-` (standard input), `--secret-stdin` or
//! `--secret-env VAR`. Reading from a terminal hides what is typed.

use std::io::{BufRead, IsTerminal};

use anyhow::Context;
use gemnasium_bitbucket::model::{ClientSecret, SecretText};

use crate::error::usage;

/// The flags that may supply a secret, shared by every command that takes one.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SecretFlags {
    /// Read the secret from standard input (one line) instead of the command line.
    #[arg(long, conflicts_with = "secret_env")]
    pub secret_stdin: bool,
    /// Read the secret from environment variable VAR instead of the command line.
    #[arg(long, value_name = "VAR")]
    pub secret_env: Option<String>,
}

impl SecretFlags {
    /// Whether a flag names where the secret comes from.
    pub fn given(&self) -> bool {
        self.secret_stdin || self.secret_env.is_some()
    }

    /// The secret from `value` (a literal, or `-` for stdin) or from the flags; exactly one
    /// source must be used. `None` when no source was given and `required` is false.
    pub fn resolve(
        &self,
        value: Option<&str>,
        required: bool,
    ) -> anyhow::Result<Option<ClientSecret>> {
        let text = match (value, self.given()) {
            (Some(_), true) => {
                return Err(usage(
                    "the secret was given twice: on the command line and with --secret-stdin/--secret-env; keep one",
                ))
            }
            (Some("-"), false) => read_stdin("Consumer secret")?,
            (Some(literal), false) => literal.to_owned(),
            (None, true) if self.secret_stdin => read_stdin("Consumer secret")?,
            (None, true) => {
                let var = self.secret_env.as_deref().unwrap_or_default();
                std::env::var(var).map_err(|_| {
                    usage(format!("environment variable {var} is not set (or not UTF-8); export it or pass the secret another way"))
                })?
            }
            (None, false) if required => {
                return Err(usage(
                    "no secret given; pass SECRET, `-` to read it from standard input, --secret-stdin or --secret-env VAR",
                ))
            }
            (None, false) => return Ok(None),
        };
        ClientSecret::new(text)
            .map(Some)
            .context("the secret was refused")
    }
}

/// A token (`what`, such as "access token") from environment variable `env`, or from standard
/// input when `stdin`: never from the command line, where other users of the machine could
/// read it in the process list.
pub fn read_token(env: Option<&str>, stdin: bool, what: &str) -> anyhow::Result<SecretText> {
    let text = match env {
        Some(var) => std::env::var(var).map_err(|_| {
            usage(format!(
                "environment variable {var} is not set (or not UTF-8); export the {what} in it"
            ))
        })?,
        None if stdin => read_stdin(what)?,
        None => return Err(usage(format!("no {what} given"))),
    };
    SecretText::new(text).with_context(|| format!("the {what} was refused"))
}

fn read_stdin(prompt: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return dialoguer::Password::new()
            .with_prompt(prompt)
            .interact()
            .context("could not read the secret from the terminal");
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("could not read the secret from standard input")?;
    let secret = line.trim_end_matches(['\r', '\n']).to_owned();
    if secret.is_empty() {
        return Err(usage(
            "standard input was empty; pipe the secret in, e.g. `printf %s \"$SECRET\" | …`",
        ));
    }
    Ok(secret)
}
