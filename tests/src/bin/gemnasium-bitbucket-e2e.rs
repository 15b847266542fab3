//! The real `gemnasium-bitbucket` program, built inside this package so that its integration
//! tests get `CARGO_BIN_EXE_gemnasium-bitbucket-e2e` (cargo exposes binaries only to their own
//! package's tests, and building the CLI package from a test would deadlock on cargo's lock).

fn main() -> std::process::ExitCode {
    gemnasium_bitbucket_cli::main()
}
