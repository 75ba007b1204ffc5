use std::net::SocketAddr;
use std::sync::Arc;

use health::probe::http;
use health::probe::tls::TlsClient;
use health::{CheckKind, CheckSpec, HttpCheck, Prober, SpecError, TlsOptions};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::servers::{ctx, serve_http_on, temp_path, Reply};

/// An HTTPS server with a fresh self-signed certificate for "localhost"; returns its address
/// and the certificate as PEM.
async fn tls_server() -> (SocketAddr, String) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let pem = ck.cert.pem();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.key_pair.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![ck.cert.der().clone()], key)
    .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(s).await {
                    serve_http_on(tls, &Reply::new(200, "secure ok")).await;
                }
            });
        }
    });
    (addr, pem)
}

fn https(addr: SocketAddr, opts: TlsOptions) -> (HttpCheck, TlsClient) {
    let mut spec = HttpCheck::new(addr);
    spec.host = Some("localhost".into());
    spec.tls = Some(opts.clone());
    let client = TlsClient::new(&opts, spec.host.as_deref(), addr).unwrap();
    (spec, client)
}

#[tokio::test]
async fn self_signed_fails_verification_by_default() {
    let (addr, _) = tls_server().await;
    let (spec, client) = https(addr, TlsOptions::default());
    let r = http::check(&spec, Some(&client), ctx(2000)).await;
    assert!(!r.ok);
    assert!(
        r.detail.starts_with("certificate verify failed: "),
        "{}",
        r.detail
    );
}

#[tokio::test]
async fn verify_off_accepts_self_signed() {
    let (addr, _) = tls_server().await;
    let opts = TlsOptions {
        verify: false,
        ..TlsOptions::default()
    };
    let (mut spec, client) = https(addr, opts);
    spec.expect_body = Some(health::BodyExpect::Contains(b"secure".to_vec()));
    let r = http::check(&spec, Some(&client), ctx(2000)).await;
    assert!(r.ok, "{r}");
}

#[tokio::test]
async fn custom_ca_file_verifies_and_checks_the_name() {
    let (addr, pem) = tls_server().await;
    let ca = temp_path("ca.pem");
    std::fs::write(&ca, pem).unwrap();
    let opts = TlsOptions {
        ca_file: Some(ca.clone()),
        ..TlsOptions::default()
    };
    let (spec, client) = https(addr, opts.clone());
    let r = http::check(&spec, Some(&client), ctx(2000)).await;
    assert!(r.ok, "{r}");

    // Same CA, but an SNI the certificate does not cover.
    let wrong = TlsOptions {
        sni: Some("other.example".into()),
        ..opts
    };
    let (spec, client) = https(addr, wrong);
    let r = http::check(&spec, Some(&client), ctx(2000)).await;
    assert!(!r.ok);
    assert!(
        r.detail.starts_with("certificate verify failed: ") && r.detail.contains("NotValidForName"),
        "{}",
        r.detail
    );
    let _ = std::fs::remove_file(ca);
}

#[tokio::test]
async fn tls_to_a_plain_http_server_fails() {
    // A plain HTTP server that answers anything with a 400 (as nginx does to a ClientHello).
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            use tokio::io::AsyncWriteExt;
            let _ = s
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                .await;
        }
    });
    let (spec, client) = https(addr, TlsOptions::default());
    let r = http::check(&spec, Some(&client), ctx(2000)).await;
    assert!(!r.ok);
    assert!(r.detail.starts_with("TLS handshake failed"), "{}", r.detail);
}

#[test]
fn bad_ca_file_is_a_spec_error() {
    let mut h = HttpCheck::new("127.0.0.1:443".parse().unwrap());
    h.tls = Some(TlsOptions {
        ca_file: Some("/nonexistent/ca.pem".into()),
        ..TlsOptions::default()
    });
    let err = Prober::new(&CheckSpec::new("tls", CheckKind::Http(h))).unwrap_err();
    assert!(matches!(err, SpecError::Tls { .. }), "{err}");
}
