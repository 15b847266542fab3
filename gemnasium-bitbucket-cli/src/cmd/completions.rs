//! `completions SHELL` and `man`: generated from the clap definition, so they never drift.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::Cli;

/// Prints the completion script for `shell`.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "gemnasium-bitbucket", &mut out);
    std::io::stdout().lock().write_all(&out)?;
    Ok(())
}

/// Prints the man page: the program, its options and every subcommand.
pub fn man() -> anyhow::Result<()> {
    let command = Cli::command();
    let mut out = Vec::new();
    clap_mangen::Man::new(command).render(&mut out)?;
    std::io::stdout().lock().write_all(&out)?;
    Ok(())
}
