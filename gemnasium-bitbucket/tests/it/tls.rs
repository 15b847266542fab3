//! HTTPS with a private CA: MockBitbucket behind a TLS-terminating proxy whose certificate a test
//! CA (made here with rcgen) signed. The CA given to `Bitbucket::builder(..).extra_ca_pem(..)` must
//! reach every call: the token endpoint (a refresh) and the REST API alike; without it, the same
//! calls fail on the certificate.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gemnasium_bitbucket::api::RetryPolicy;
use gemnasium_bitbucket::model::{ClientSecret, ProviderName, Purpose, ServiceUrl};
use gemnasium_bitbucket::provision::Configuration;
use gemnasium_bitbucket::service::{Credential, SyncOptions};
use gemnasium_bitbucket::store::{DynStore, MemoryStore};
use gemnasium_bitbucket::sync::{CrawlError, Quiet, RemoteErrorKind};
use gemnasium_bitbucket::testing::{MockBitbucket, MockConsumer, MockUser};
use gemnasium_bitbucket::{Bitbucket, Error};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

const KEY: &str = "tls-key";
const SECRET: &str = "tls-secret";

/// A test CA (its certificate as PEM) and a server configuration for `localhost` and
/// `127.0.0.1` whose certificate it signed.
struct TestPki {
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

impl TestPki {
    fn new() -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "gemnasium-bitbucket test CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key).unwrap();

        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        leaf.distinguished_name
            .push(DnType::CommonName, "localhost");
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key).unwrap();

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf_cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
            )
            .unwrap();
        Self {
            ca_pem: ca_cert.pem(),
            server: Arc::new(server),
        }
    }
}

/// Terminates TLS on a local port and copies the bytes to `upstream` (plain HTTP).
struct TlsProxy {
    url: String,
    /// Handshakes completed (connections that reached the upstream).
    handshakes: Arc<AtomicUsize>,
    /// Handshakes the client broke off (it did not trust the certificate).
    refused: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl TlsProxy {
    async fn start(config: Arc<rustls::ServerConfig>, upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        let acceptor = TlsAcceptor::from(config);
        let handshakes = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let (done, failed) = (handshakes.clone(), refused.clone());
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, done, failed) = (acceptor.clone(), done.clone(), failed.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        failed.fetch_add(1, Ordering::SeqCst);
                        return;
                    };
                    done.fetch_add(1, Ordering::SeqCst);
                    if let Ok(mut plain) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                    }
                });
            }
        });
        Self {
            url,
            handshakes,
            refused,
            task,
        }
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn handle(store: &DynStore, ca_pem: Option<&str>) -> Bitbucket {
    let mut builder = Bitbucket::builder(store.clone())
        .timeout(Duration::from_secs(10))
        .retry(RetryPolicy::new(
            2,
            Duration::from_millis(10),
            Duration::from_millis(50),
            Duration::from_secs(1),
        ));
    if let Some(pem) = ca_pem {
        builder = builder.extra_ca_pem(pem.as_bytes().to_vec());
    }
    builder.build().unwrap()
}

#[tokio::test]
async fn an_expired_token_is_refreshed_and_repositories_listed_over_https_with_the_given_ca() {
    let pki = TestPki::new();
    let mock = MockBitbucket::start().await;
    let proxy = TlsProxy::start(pki.server.clone(), *mock.server().address()).await;
    mock.set_public_base(&proxy.url);
    mock.add_consumer(MockConsumer::new(KEY, SECRET));
    let jane = mock.add_user(MockUser::new("jdoe").with_email("jane@example.com", true, true));
    mock.add_workspace("acme", &[&jane]);
    let _ = mock.add_repository("acme", "widget", &[&jane]);

    let provider = mock
        .provider()
        .with_homepage(ServiceUrl::parse("homepage URL", "http://127.0.0.1").unwrap())
        .unwrap();
    for url in [
        &provider.authorize_url,
        &provider.token_url,
        &provider.api_url,
    ] {
        assert!(url.to_string().starts_with("https://127.0.0.1:"), "{url}");
    }
    let store: DynStore = Arc::new(MemoryStore::new());
    let trusting = handle(&store, Some(&pki.ca_pem));
    let config =
        Configuration::bitbucket_cloud(KEY.parse().unwrap(), ClientSecret::new(SECRET).unwrap())
            .with_provider(provider);
    let _ = trusting.apply(&config).await.unwrap();
    let source: ProviderName = "bitbucket.org".parse().unwrap();

    // Jane signs in over https (code exchange and identity), then her access token expires on
    // Bitbucket while we still believe it good for two hours.
    let pending = trusting.begin_login(&source, Purpose::Sync).await.unwrap();
    let callback = mock.authorize(
        KEY,
        &jane,
        &pending.redirect_uri().to_string(),
        pending.state().expose_secret(),
    );
    let _ = trusting.complete_login(&pending, &callback).await.unwrap();
    mock.expire_access_tokens();
    assert_eq!(mock.token_requests("refresh_token"), 0);

    // Without the CA, the same sync fails on the certificate: nothing reaches Bitbucket.
    let untrusting = handle(&store, None);
    let requests_before = mock.api_requests();
    let err = untrusting
        .syncer(&source, Credential::Account(jane.clone()))
        .await
        .unwrap()
        .sync(&SyncOptions::new(), &Quiet)
        .await
        .unwrap_err();
    let Error::Crawl(CrawlError::Workspaces(remote)) = &err else {
        panic!("expected the workspace listing to fail, got {err:?}");
    };
    assert_eq!(remote.kind, RemoteErrorKind::Other, "{remote:?}");
    assert!(
        remote.message.contains("cannot reach Bitbucket") && remote.message.contains("certificate"),
        "{remote:?}"
    );
    // The token endpoint too: verifying the consumer cannot reach it.
    let v = untrusting.verify(&source, Purpose::Sync).await.unwrap();
    assert!(
        v.unreachable
            .as_deref()
            .is_some_and(|r| r.contains("certificate")),
        "{v:?}"
    );
    assert_eq!(mock.api_requests(), requests_before);
    assert_eq!(mock.token_requests("refresh_token"), 0);
    assert!(
        proxy.refused.load(Ordering::SeqCst) >= 2,
        "TLS handshakes were refused"
    );

    // With it (a fresh handle: no connection is left from the sign-in), one refresh at the
    // token endpoint, then the listing, all over https.
    let trusting = handle(&store, Some(&pki.ca_pem));
    let handshakes_before = proxy.handshakes.load(Ordering::SeqCst);
    let report = trusting
        .syncer(&source, Credential::Account(jane))
        .await
        .unwrap()
        .sync(&SyncOptions::new(), &Quiet)
        .await
        .unwrap();
    assert!(report.complete(), "{report:?}");
    assert_eq!(report.crawl.repositories, 1);
    assert_eq!(mock.successful_refreshes(), 1);
    assert_eq!(mock.token_requests("refresh_token"), 1);
    assert!(proxy.handshakes.load(Ordering::SeqCst) > handshakes_before);
    assert!(trusting
        .verify(&source, Purpose::Sync)
        .await
        .unwrap()
        .passed());
}
