//! `gemnasium-bitbucket`: see the `gemnasium_bitbucket_cli` library for everything.

fn main() -> std::process::ExitCode {
    gemnasium_bitbucket_cli::main()
}
