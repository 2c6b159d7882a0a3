//! flume-receive's TLS (feature `tls`): a rustls server with the ring
//! provider, as the library's client, serving a PEM certificate chain and key
//! and, for mutual TLS, requiring client certificates signed by a PEM CA.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

/// The server configuration from `cert` (a PEM chain, leaf first), `key` (its
/// unencrypted PEM key) and, when given, `client_ca` (PEM CA certificates that
/// a client's certificate must chain to; without it no client certificate is
/// asked for). The error names the file and what is wrong with it.
pub fn server_config(cert: &str, key: &str, client_ca: Option<&str>) -> Result<Arc<ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = certificates(cert)?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("--ssl-key {key}: not an unencrypted PEM private key ({e})"))?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for ca in certificates(path)? {
                roots.add(ca).map_err(|e| format!("--ssl-client-ca {path}: {e}"))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("--ssl-client-ca {path}: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("--ssl-cert {cert} and --ssl-key: {e} (is the key the certificate's?)"))?;
    Ok(Arc::new(config))
}

/// The certificates of a PEM file; an error if it has none.
fn certificates(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| format!("{path}: cannot read PEM certificates ({e})"))?;
    if certs.is_empty() {
        return Err(format!("{path}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it"));
    }
    Ok(certs)
}
