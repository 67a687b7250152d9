//! The functions' HTTPS client trusts the CA bundle it is given and nothing else: an
//! AWS endpoint whose certificate that bundle vouches for is reached, any other is
//! refused during the handshake, before a request (and its signature) leaves.
//!
//! `fixtures/tls` holds a test CA, a certificate it signed for 127.0.0.1 (with its key,
//! which guards nothing but this test) and a second, unrelated CA.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sluice_adapters::aws::{https_client_trusting, trust_anchors};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).expect("the TLS fixtures")
}

/// An HTTPS server on 127.0.0.1 presenting the fixture's certificate; it answers
/// every request it receives with an empty S3 bucket list and counts them.
async fn server() -> (String, Arc<AtomicUsize>) {
    let chain = CertificateDer::pem_slice_iter(&fixture("server.pem"))
        .collect::<Result<Vec<_>, _>>()
        .expect("server certificate");
    let key = PrivateKeyDer::from_pem_slice(&fixture("server.key")).expect("server key");
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server TLS configuration");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let endpoint = format!("https://{}", listener.local_addr().expect("address"));
    let requests = Arc::new(AtomicUsize::new(0));
    let seen = requests.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, seen) = (acceptor.clone(), seen.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buffer = vec![0u8; 16 * 1024];
                if tls.read(&mut buffer).await.unwrap_or(0) == 0 {
                    return;
                }
                seen.fetch_add(1, Ordering::SeqCst);
                let body = "<ListAllMyBucketsResult><Buckets></Buckets></ListAllMyBucketsResult>";
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/xml\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(reply.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (endpoint, requests)
}

/// An S3 client for `endpoint` over the functions' HTTPS client, trusting `bundle`.
fn s3(endpoint: &str, bundle: &[u8]) -> aws_sdk_s3::Client {
    let anchors = trust_anchors(bundle);
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::for_tests())
        .endpoint_url(endpoint)
        .force_path_style(true)
        .http_client(https_client_trusting(Some(anchors)))
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

#[tokio::test]
async fn an_endpoint_the_bundle_vouches_for_is_reached_and_any_other_refused() {
    let (endpoint, requests) = server().await;

    let trusted = s3(&endpoint, &fixture("ca.pem"))
        .list_buckets()
        .send()
        .await;
    assert!(trusted.is_ok(), "{trusted:?}");
    assert_eq!(requests.load(Ordering::SeqCst), 1);

    let refused = s3(&endpoint, &fixture("other-ca.pem"))
        .list_buckets()
        .send()
        .await
        .expect_err("a certificate no trusted CA signed");
    let why = format!("{:?}", refused);
    assert!(why.to_lowercase().contains("certificate"), "{why}");
    assert_eq!(
        requests.load(Ordering::SeqCst),
        1,
        "no request after a refused handshake"
    );
}

#[test]
fn a_bundle_keeps_its_certificates_and_drops_what_cannot_be_trusted() {
    let ca = fixture("ca.pem");
    let other = fixture("other-ca.pem");
    let corrupt =
        b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";
    let bundle = [b"# a comment\n".as_slice(), &ca, corrupt, b"\n", &other].concat();
    let anchors = trust_anchors(&bundle);
    assert_eq!(anchors.len(), 2, "the two CAs, not the corrupt block");
    assert_eq!(anchors[0], ca.trim_ascii_end());
    assert_eq!(anchors[1], other.trim_ascii_end());
    assert!(trust_anchors(b"no certificates here").is_empty());
}
