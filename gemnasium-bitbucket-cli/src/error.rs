//! How failures reach the user: one `error:` line, an optional `hint:` line, and an exit code
//! (1 for a wrong value or state, 2 for wrong usage).

use std::fmt;
use std::process::ExitCode;

/// An error with advice on what to run next.
#[derive(Debug)]
pub struct Hinted {
    pub message: String,
    pub hint: String,
}

impl fmt::Display for Hinted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Hinted {}

/// Wrong usage of the command line (exit code 2, like clap's own usage errors).
#[derive(Debug)]
pub struct Usage(pub String);

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// `message` with `hint`, as an error.
pub fn hinted(message: impl fmt::Display, hint: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Hinted {
        message: message.to_string(),
        hint: hint.into(),
    })
}

/// A usage error.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Usage(message.into()))
}

/// Prints `e` to stderr and picks the exit code.
pub fn report(e: &anyhow::Error) -> ExitCode {
    eprintln!("error: {e:#}");
    if let Some(h) = e.chain().find_map(|c| c.downcast_ref::<Hinted>()) {
        eprintln!("hint: {}", h.hint);
    }
    if e.chain().any(|c| c.downcast_ref::<Usage>().is_some()) {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}
