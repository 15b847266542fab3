//! A Gemnasium-like web service embedding the library: sign in with Bitbucket, repositories
//! with a "track" button, webhook deliveries. See `gemnasium_bitbucket_examples::service`.
//!
//! ```text
//! cargo run -p gemnasium-bitbucket-examples --bin service -- --listen 127.0.0.1:8080
//! ```

fn main() -> std::process::ExitCode {
    gemnasium_bitbucket_examples::service::main()
}
