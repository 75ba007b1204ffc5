//! rustls client setup for HTTPS checks (keepalived `SSL_GET`).
//!
//! Verification is on by default against the Mozilla roots (webpki-roots: the same on every
//! machine, unlike the system store), or against a CA file instead. `verify = false` still
//! checks the handshake signatures; it only skips the chain and name.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::spec::TlsOptions;

/// A prepared TLS client: config and server name, built once per check.
#[derive(Clone)]
pub struct TlsClient {
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClient")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl TlsClient {
    /// `host` is the HTTP Host header, used as the server name when no SNI is configured.
    pub fn new(opts: &TlsOptions, host: Option<&str>, target: SocketAddr) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let mut config = if opts.verify {
            let mut roots = RootCertStore::empty();
            match &opts.ca_file {
                Some(path) => {
                    let certs = CertificateDer::pem_file_iter(path)
                        .map_err(|e| format!("CA file {}: {e}", path.display()))?;
                    for cert in certs {
                        let cert = cert.map_err(|e| format!("CA file {}: {e}", path.display()))?;
                        roots
                            .add(cert)
                            .map_err(|e| format!("CA file {}: {e}", path.display()))?;
                    }
                    if roots.is_empty() {
                        return Err(format!("CA file {} has no certificate", path.display()));
                    }
                }
                None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoChainCheck(provider)))
                .with_no_client_auth()
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];

        let name = opts
            .sni
            .clone()
            .or_else(|| host.map(strip_port))
            .unwrap_or_else(|| target.ip().to_string());
        let server_name =
            ServerName::try_from(name.clone()).map_err(|e| format!("server name {name:?}: {e}"))?;
        Ok(Self {
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
        })
    }

    pub async fn connect<S>(&self, stream: S) -> Result<TlsStream<S>, String>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        self.connector
            .connect(self.server_name.clone(), stream)
            .await
            .map_err(|e| describe_tls(&e))
    }
}

/// "host:port" or "[v6]:port" in a Host header -> the host part, for SNI.
fn strip_port(host: &str) -> String {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest).to_string();
    }
    match host.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            h.to_string()
        }
        _ => host.to_string(),
    }
}

/// Map a handshake failure to operator-facing text: certificate problems get the prefix
/// "certificate verify failed" whatever the rustls wording of the day.
pub(crate) fn describe_tls(e: &std::io::Error) -> String {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidCertificate(ce)) => format!("certificate verify failed: {ce:?}"),
        Some(other) => format!("TLS handshake failed: {other}"),
        None => format!("TLS handshake failed: {}", super::describe_io(e)),
    }
}

/// `tls_verify = false`: accept any certificate chain and name, but keep verifying that the
/// server holds the key (handshake signatures), using the provider's algorithms.
#[derive(Debug)]
struct NoChainCheck(Arc<CryptoProvider>);

impl ServerCertVerifier for NoChainCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_stripping() {
        assert_eq!(strip_port("example.com:8443"), "example.com");
        assert_eq!(strip_port("example.com"), "example.com");
        assert_eq!(strip_port("[2001:db8::1]:443"), "2001:db8::1");
        assert_eq!(strip_port("2001:db8::1"), "2001:db8::1");
    }

    #[test]
    fn missing_ca_file_is_a_setup_error() {
        let opts = TlsOptions {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsOptions::default()
        };
        let err = TlsClient::new(&opts, None, "127.0.0.1:443".parse().unwrap()).unwrap_err();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn server_name_defaults() {
        let target = "127.0.0.1:443".parse().unwrap();
        let c = TlsClient::new(&TlsOptions::default(), None, target).unwrap();
        assert_eq!(c.server_name.to_str(), "127.0.0.1");
        let c = TlsClient::new(&TlsOptions::default(), Some("svc.example:443"), target).unwrap();
        assert_eq!(c.server_name.to_str(), "svc.example");
        let opts = TlsOptions {
            sni: Some("sni.example".into()),
            ..TlsOptions::default()
        };
        let c = TlsClient::new(&opts, Some("svc.example"), target).unwrap();
        assert_eq!(c.server_name.to_str(), "sni.example");
    }
}
