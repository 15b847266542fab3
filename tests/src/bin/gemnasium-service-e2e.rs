//! The web service example (`examples/src/service`), built inside this package so that its
//! integration tests get `CARGO_BIN_EXE_gemnasium-service-e2e` (cargo exposes binaries only to
//! their own package's tests).

fn main() -> std::process::ExitCode {
    gemnasium_bitbucket_examples::service::main()
}
