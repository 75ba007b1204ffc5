//! The rehearsal's certificates for `https` checks: a certificate authority made for the one
//! rehearsal, and per host that serves HTTPS a certificate it signs for the host's addresses and
//! the names the checks ask for (`sni`, else `host`). A check that verifies against the public
//! roots is rehearsed with this authority's file as its `ca_file` (the drill cannot get a
//! certificate the public roots trust); the private keys never leave the drill's process.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;

pub struct Authority {
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn err(e: impl std::fmt::Display) -> String {
    format!("the drill's certificates: {e}")
}

impl Authority {
    pub fn new() -> Result<Authority, String> {
        let key = KeyPair::generate().map_err(err)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "applianced drill rehearsal CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).map_err(err)?;
        Ok(Authority { cert, key })
    }

    /// The authority's certificate, PEM, written to `path` (a check's `ca_file`).
    pub fn write(&self, path: &Path) -> Result<(), String> {
        std::fs::write(path, self.cert.pem()).map_err(|e| err(format!("{}: {e}", path.display())))
    }

    /// A server configuration with a certificate for `names` (addresses or DNS names).
    pub fn server(&self, names: &BTreeSet<String>) -> Result<Arc<ServerConfig>, String> {
        let key = KeyPair::generate().map_err(err)?;
        let mut params =
            CertificateParams::new(names.iter().cloned().collect::<Vec<_>>()).map_err(err)?;
        if let Some(first) = names.iter().next() {
            params
                .distinguished_name
                .push(DnType::CommonName, first.as_str());
        }
        let cert = params.signed_by(&key, &self.cert, &self.key).map_err(err)?;
        let chain = vec![cert.der().clone(), self.cert.der().clone()];
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(err)?
            .with_no_client_auth()
            .with_single_cert(chain, der)
            .map_err(err)?;
        Ok(Arc::new(config))
    }
}
