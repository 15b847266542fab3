//! The command line of `gemnasium-bitbucket`: configure Gemnasium's Bitbucket Cloud integration.
//!
//! A thin layer over the `gemnasium-bitbucket` library: parse arguments, call the library, print.
//! Invoked through a link named `auth`, `repo-syncer` or `configure`, it acts as that command,
//! so Gemnasium's documented commands run verbatim. This crate is a library only so that the
//! workspace's end-to-end tests can build the same program; [`main`] is the whole interface.

mod args;
mod cli;
mod cmd;
mod error;
pub mod output;
mod secret_input;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;

/// Names under which the binary acts as one of its subcommands (see `links`).
pub(crate) const MULTICALL_NAMES: [&str; 3] = ["auth", "repo-syncer", "configure"];

/// `argv`, with the subcommand inserted when invoked through a multi-call link.
fn multicall_args() -> Vec<OsString> {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    let invoked_as = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .map(str::to_owned);
    if let Some(name) = invoked_as.filter(|n| MULTICALL_NAMES.contains(&n.as_str())) {
        // Usage messages then read `gemnasium-bitbucket auth …`, not `auth auth …`.
        args[0] = OsString::from("gemnasium-bitbucket");
        args.insert(1, OsString::from(name));
    }
    args
}

/// Parses the command line. A value the library refuses (a bad URL, an unknown scope) is a
/// user error like any other: one `error:` line with the library's explanation, exit code 1.
/// Other parse failures are usage errors (exit 2), help and version exit 0, as clap does.
fn parse() -> Result<Cli, ExitCode> {
    match Cli::try_parse_from(multicall_args()) {
        Ok(cli) => Ok(cli),
        Err(e) if e.kind() == clap::error::ErrorKind::ValueValidation => {
            match std::error::Error::source(&e) {
                Some(reason) => {
                    eprintln!("error: {}", output::escaped(&reason.to_string()));
                    Err(ExitCode::FAILURE)
                }
                None => Err(exit_as_clap(&e)),
            }
        }
        Err(e) => Err(exit_as_clap(&e)),
    }
}

/// Prints a clap error (or help) as clap would and returns its exit code; a closed pipe while
/// printing help is ignored.
fn exit_as_clap(e: &clap::Error) -> ExitCode {
    let _ = e.print();
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
}

/// Runs the program with the process's arguments and returns its exit code.
#[must_use]
pub fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cmd::run(cli)) {
        Ok(code) => code,
        Err(e) => error::report(&e),
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("GEMNASIUM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .init();
}
