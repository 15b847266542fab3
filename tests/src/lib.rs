//! Shared helpers for the end-to-end tests in `it/`: they drive the real `gemnasium-bitbucket`
//! program (built in this package as `gemnasium-bitbucket-e2e`) and check what it stored through
//! the library.

use gemnasium_bitbucket::model::{Client, Provider, Source};
use gemnasium_bitbucket::store::{self, StoredToken};

/// Everything a store holds that the CLI can change, for "nothing changed" assertions.
#[derive(Debug, PartialEq, Eq)]
pub struct Rows {
    /// All providers.
    pub providers: Vec<Provider>,
    /// All clients (secrets included in the comparison).
    pub clients: Vec<Client>,
    /// All sources.
    pub sources: Vec<Source>,
    /// All stored tokens.
    pub tokens: Vec<StoredToken>,
}

/// Reads every row of the store at `location` through the library.
///
/// # Panics
/// When the store cannot be opened or read: the tests want to know.
#[must_use]
pub fn rows(location: &str) -> Rows {
    let location = location.to_owned();
    // On its own thread, so that it works from synchronous and async tests alike.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let store = store::open(&location).await.expect("the store opens");
            Rows {
                providers: store.providers().await.expect("providers"),
                clients: store.clients(None).await.expect("clients"),
                sources: store.sources().await.expect("sources"),
                tokens: store.tokens(None).await.expect("tokens"),
            }
        })
    })
    .join()
    .expect("reading the rows")
}

/// The README's Rust examples, compiled (and run, unless `no_run`) as doctests of this package
/// so that they cannot drift from the library.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
