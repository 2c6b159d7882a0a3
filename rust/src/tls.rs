//! TLS (feature `tls`): the checks of the TLS config keys' files, the rustls
//! client settings built from them, and messages that name the cause of a failed
//! handshake.
//!
//! rustls with the ring provider: no OpenSSL. TLS 1.2 and 1.3 only; the
//! server's certificate chain is always verified, against the `truststore` PEM
//! file or the system's CA store, and so is the server's name unless
//! `ssl-verify-hostname=false`.
//!
//! Files are read twice: when their key is set (`Config::set`, so
//! `flume_config_set` fails with `FLUME_ERR_CONFIG` on a missing, unreadable,
//! JKS or non-PEM file) and when a client is made (`Client::new`, which also
//! checks the keys together: a client key that does not match its certificate,
//! TLS keys without `ssl=true`). A client keeps what it read: changing a file
//! afterwards affects only clients made later.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    AlertDescription, CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
    SignatureScheme,
};

use crate::address::HostPort;
use crate::config::Config;
use crate::error::{err, Result};

/// Reads and checks a `truststore` file, for `Config::set`.
pub(crate) fn check_truststore(path: &Path) -> std::result::Result<(), String> {
    load_roots(path).map(drop)
}

/// Reads and checks an `ssl-client-cert` file, for `Config::set`.
pub(crate) fn check_client_cert(path: &Path) -> std::result::Result<(), String> {
    load_certs(path).map(drop)
}

/// Reads and checks an `ssl-client-key` file, for `Config::set`.
pub(crate) fn check_client_key(path: &Path) -> std::result::Result<(), String> {
    load_key(path).map(drop)
}

/// Whether `name` may be an `ssl-server-name`: a DNS name or an IP address.
pub(crate) fn is_server_name(name: &str) -> bool {
    ServerName::try_from(name.to_string()).is_ok()
}

/// A client's TLS settings: the rustls config its connections share.
pub(crate) struct TlsSettings {
    config: Arc<ClientConfig>,
    /// `ssl-server-name`, or `None` for each host's own name.
    server_name: Option<ServerName<'static>>,
    /// Where trusted CAs come from, for messages.
    trust: String,
    client_cert: bool,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings").field("trust", &self.trust).field("server_name", &self.server_name).finish()
    }
}

impl TlsSettings {
    /// The settings `config` asks for: `None` without `ssl=true`. Reads the
    /// files. Fails with `Config` naming the key at fault.
    pub(crate) fn from_config(config: &Config) -> Result<Option<TlsSettings>> {
        if !config.ssl {
            if let Some(key) = config.tls_key_set() {
                return Err(err!(
                    Config,
                    "{key} is set but ssl is not true: set ssl=true to connect with TLS, or remove {key} \
                     (flume-client never ignores TLS settings, so a missing ssl=true cannot send in clear text)"
                ));
            }
            return Ok(None);
        }
        let identity = match (&config.ssl_client_cert, &config.ssl_client_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some((cert, key)),
            (Some(_), None) => {
                return Err(err!(Config, "ssl-client-cert is set without ssl-client-key: mutual TLS needs both"))
            }
            (None, Some(_)) => {
                return Err(err!(Config, "ssl-client-key is set without ssl-client-cert: mutual TLS needs both"))
            }
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (roots, trust) = match &config.truststore {
            Some(path) => (
                load_roots(path).map_err(|e| err!(Config, "truststore: {e}"))?,
                format!("the truststore {}", path.display()),
            ),
            None => (
                system_roots()?,
                "the system's CA store (set truststore to a PEM file of the CA that signed the source's certificate)"
                    .to_string(),
            ),
        };
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| err!(Config, "truststore: {e}"))?;
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| err!(Internal, "TLS versions: {e}"))?;
        let builder = if config.ssl_verify_hostname {
            builder.with_webpki_verifier(webpki)
        } else {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(ChainOnly(webpki)))
        };
        let (tls, client_cert) = match identity {
            None => (builder.with_no_client_auth(), false),
            Some((cert, key)) => {
                let chain = load_certs(cert).map_err(|e| err!(Config, "ssl-client-cert: {e}"))?;
                let private = load_key(key).map_err(|e| err!(Config, "ssl-client-key: {e}"))?;
                let tls = builder.with_client_auth_cert(chain, private).map_err(|e| {
                    err!(
                        Config,
                        "ssl-client-key: {} cannot be used with ssl-client-cert {}: {}",
                        key.display(),
                        cert.display(),
                        match e {
                            rustls::Error::InconsistentKeys(_) => "it is not the certificate's key".to_string(),
                            e => e.to_string(),
                        }
                    )
                })?;
                (tls, true)
            }
        };
        let server_name = match &config.ssl_server_name {
            Some(name) => Some(
                ServerName::try_from(name.clone())
                    .map_err(|_| err!(Config, "ssl-server-name: '{name}' is neither a DNS name nor an IP address"))?,
            ),
            None => None,
        };
        Ok(Some(TlsSettings { config: Arc::new(tls), server_name, trust, client_cert }))
    }

    /// A new TLS session to `host`, not yet started.
    pub(crate) fn client_for(&self, host: &HostPort) -> Result<ClientConnection> {
        let name = match &self.server_name {
            Some(name) => name.clone(),
            None => ServerName::try_from(host.host.clone()).map_err(|_| {
                err!(Connect, "{host}: '{}' is not a name a certificate can hold: set ssl-server-name", host.host)
            })?,
        };
        ClientConnection::new(self.config.clone(), name).map_err(|e| err!(Connect, "{host}: TLS: {e}"))
    }

    /// Why a handshake failed, in words that name the setting to look at.
    pub(crate) fn describe(&self, e: &rustls::Error) -> String {
        use CertificateError as C;
        match e {
            rustls::Error::InvalidCertificate(cert) => match cert {
                C::UnknownIssuer => {
                    format!("the server's certificate is not signed by a CA in {} (UnknownIssuer)", self.trust)
                }
                C::BadSignature => {
                    format!("the server's certificate has a bad signature (checked against {})", self.trust)
                }
                C::Expired | C::ExpiredContext { .. } => format!("the server's certificate has expired ({cert})"),
                C::NotValidYet | C::NotValidYetContext { .. } => {
                    format!("the server's certificate is not valid yet ({cert}): check the clocks")
                }
                C::NotValidForName | C::NotValidForNameContext { .. } => format!(
                    "the server's certificate is not valid for the server's name ({cert}); set ssl-server-name to \
                     a name it holds, or ssl-verify-hostname=false to verify only its chain"
                ),
                C::Revoked => "the server's certificate is revoked".to_string(),
                other => format!("the server's certificate was rejected: {other}"),
            },
            rustls::Error::AlertReceived(alert) => self.describe_alert(*alert),
            rustls::Error::InvalidMessage(rustls::InvalidMessage::HandshakePayloadTooLarge) => too_large_handshake(),
            rustls::Error::InvalidMessage(_)
            | rustls::Error::InappropriateMessage { .. }
            | rustls::Error::InappropriateHandshakeMessage { .. }
            | rustls::Error::PeerSentOversizedRecord => format!(
                "the server did not answer in TLS ({e}): is it a plain-text source, without ssl=true? nothing was sent"
            ),
            rustls::Error::PeerIncompatible(_) => {
                format!("the server's TLS is incompatible ({e}): flume-client speaks TLS 1.2 and 1.3 only")
            }
            rustls::Error::NoCertificatesPresented => "the server presented no certificate".to_string(),
            other => other.to_string(),
        }
    }

    /// What a fatal alert from the server means.
    fn describe_alert(&self, alert: AlertDescription) -> String {
        use AlertDescription as A;
        let no_cert = if self.client_cert {
            ""
        } else {
            " (no client certificate was sent: the server may require one; set ssl-client-cert and ssl-client-key)"
        };
        match alert {
            A::CertificateRequired => {
                "the server requires a client certificate: set ssl-client-cert and ssl-client-key".to_string()
            }
            A::BadCertificate
            | A::UnsupportedCertificate
            | A::CertificateRevoked
            | A::CertificateExpired
            | A::CertificateUnknown
            | A::UnknownCA
            | A::AccessDenied => format!("the server rejected the client certificate (alert {alert:?}){no_cert}"),
            A::HandshakeFailure => format!(
                "the server refused the handshake (alert HandshakeFailure: no common cipher suite, or a client \
                 certificate it requires or rejects){no_cert}"
            ),
            A::ProtocolVersion => {
                "the server speaks no TLS version in common (flume-client speaks TLS 1.2 and 1.3 only)".to_string()
            }
            A::InsufficientSecurity => "the server accepts none of flume-client's cipher suites".to_string(),
            other => format!("the server sent the TLS alert {other:?}"),
        }
    }
}

/// The most bytes rustls takes in one handshake message: a larger one (in
/// practice the server's certificate chain) is refused, against denial of service.
const MAX_HANDSHAKE_MESSAGE: usize = 0xffff;

/// Why a handshake failed on a message over `MAX_HANDSHAKE_MESSAGE`: the server
/// does speak TLS, so this is no "plain-text source".
pub(crate) fn too_large_handshake() -> String {
    format!(
        "the server's handshake message, its certificate chain, is too large: more than the {MAX_HANDSHAKE_MESSAGE} bytes \
         (64 KiB) flume-client (rustls) accepts in one; serve a shorter chain (the server certificate and its intermediates, \
         without the root or unrelated certificates)"
    )
}

/// Verifies the server's certificate chain but not that it names the server
/// (`ssl-verify-hostname=false`): only a name mismatch is forgiven, and only
/// after the chain, dates and usage passed (webpki checks the name last).
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// What a key file holds, judged by its first bytes.
enum FileKind {
    Pem(Vec<u8>),
    Jks,
    Jceks,
    /// DER: a PKCS#12 keystore or a DER certificate or key.
    Binary,
}

fn read_file(path: &Path) -> std::result::Result<FileKind, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(match bytes.get(..4) {
        Some([0xfe, 0xed, 0xfe, 0xed]) => FileKind::Jks,
        Some([0xce, 0xce, 0xce, 0xce]) => FileKind::Jceks,
        Some([0x30, ..]) => FileKind::Binary,
        _ => FileKind::Pem(bytes),
    })
}

/// The CA certificates of a PEM truststore.
fn load_roots(path: &Path) -> std::result::Result<RootCertStore, String> {
    let p = path.display();
    let bytes = match read_file(path)? {
        FileKind::Pem(bytes) => bytes,
        FileKind::Jks | FileKind::Jceks => {
            return Err(format!(
                "{p} is a Java KeyStore (JKS), which flume-client does not read: export its CA certificates to PEM \
                 with `keytool -exportcert -rfc -alias ALIAS -keystore {p} -file ca.pem` (`keytool -list -keystore {p}` \
                 shows the aliases) and set truststore to ca.pem"
            ))
        }
        FileKind::Binary => {
            return Err(format!(
                "{p} is binary (a PKCS#12 keystore or a DER certificate), not PEM: export PEM with \
                 `keytool -exportcert -rfc -alias ALIAS -keystore {p} -file ca.pem` or \
                 `openssl pkcs12 -in {p} -nokeys -out ca.pem` (a DER certificate: \
                 `openssl x509 -inform DER -in {p} -out ca.pem`)"
            ))
        }
    };
    let certs = pem_certs(&bytes).map_err(|e| format!("{p}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{p} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
    }
    let mut roots = RootCertStore::empty();
    for (i, cert) in certs.into_iter().enumerate() {
        roots.add(cert).map_err(|e| format!("{p}: certificate {} cannot be a trust anchor: {e}", i + 1))?;
    }
    Ok(roots)
}

/// A PEM certificate chain, the client's own certificate first.
fn load_certs(path: &Path) -> std::result::Result<Vec<CertificateDer<'static>>, String> {
    let p = path.display();
    match read_file(path)? {
        FileKind::Pem(bytes) => {
            let certs = pem_certs(&bytes).map_err(|e| format!("{p}: {e}"))?;
            if certs.is_empty() {
                return Err(format!("{p} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
            }
            Ok(certs)
        }
        _ => Err(format!("{p} is not PEM: {}", KEYSTORE_EXPORT)),
    }
}

/// An unencrypted PEM private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
fn load_key(path: &Path) -> std::result::Result<PrivateKeyDer<'static>, String> {
    let p = path.display();
    match read_file(path)? {
        FileKind::Pem(bytes) => {
            const ENCRYPTED: &[u8] = b"-----BEGIN ENCRYPTED PRIVATE KEY";
            if bytes.windows(ENCRYPTED.len()).any(|w| w == ENCRYPTED) {
                return Err(format!(
                    "{p} is encrypted; flume-client needs an unencrypted key: `openssl pkey -in {p} -out client.key` \
                     (and let only the service read it)"
                ));
            }
            PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
                rustls::pki_types::pem::Error::NoItemsFound => format!(
                    "{p} holds no PEM private key (-----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)"
                ),
                e => format!("{p}: {e:?}"),
            })
        }
        _ => Err(format!("{p} is not PEM: {}", KEYSTORE_EXPORT)),
    }
}

const KEYSTORE_EXPORT: &str = "export the certificate and key of a Java keystore with \
    `keytool -importkeystore -srckeystore FILE -destkeystore client.p12 -deststoretype PKCS12`, then \
    `openssl pkcs12 -in client.p12 -nokeys -out client.pem` and `openssl pkcs12 -in client.p12 -nocerts -nodes -out client.key`";

fn pem_certs(bytes: &[u8]) -> std::result::Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(bytes)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| format!("not valid PEM: {e:?}"))
}

/// The system's CA certificates (the files OpenSSL would read, SSL_CERT_FILE
/// and SSL_CERT_DIR honoured), read without OpenSSL.
fn system_roots() -> Result<RootCertStore> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ");
        return Err(err!(
            Config,
            "ssl: no truststore is set and the system's CA store has no certificate{}: set truststore to a PEM file \
             of the CA that signed the source's certificate (or install ca-certificates)",
            if why.is_empty() { String::new() } else { format!(" ({why})") }
        ));
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use std::path::PathBuf;

    fn temp(name: &str, contents: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("flume-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn config_error(key: &str, value: &str) -> String {
        let mut c = Config::default();
        let e = c.set(key, value).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{key}={value}: {e}");
        assert!(e.message().starts_with(key), "{e}");
        assert_eq!(c, Config::default());
        e.message().to_string()
    }

    #[test]
    fn plain_keys_set_their_fields() {
        let mut c = Config::default();
        c.set("ssl", "true").unwrap();
        c.set("ssl-server-name", "flume.example.com").unwrap();
        c.set("ssl-verify-hostname", "false").unwrap();
        c.set("truststore-type", "pem").unwrap();
        c.set("exclude-protocols", "SSLv3 TLSv1,TLSv1.1").unwrap();
        assert!(c.ssl && !c.ssl_verify_hostname);
        assert_eq!(c.ssl_server_name.as_deref(), Some("flume.example.com"));
        c.set("ssl-server-name", "10.0.0.1").unwrap();
        c.set("ssl", "false").unwrap();
        assert!(!c.ssl);
    }

    #[test]
    fn bad_tls_values_are_config_errors_naming_the_key() {
        assert!(config_error("truststore", "/nonexistent/ca.pem").contains("cannot read /nonexistent/ca.pem"));
        assert!(config_error("truststore", "").contains("empty"));
        assert!(config_error("truststore-type", "JKS").contains("keytool -exportcert -rfc"));
        assert!(config_error("truststore-password", "changeit").contains("needs no password"));
        assert!(config_error("ssl-server-name", "not a name").contains("neither a DNS name"));
        assert!(config_error("ssl-verify-hostname", "no").contains("neither true nor false"));
        assert!(config_error("exclude-protocols", "SSLv3 TLSv1.2").contains("cannot exclude TLSv1.2"));
        assert!(config_error("include-protocols", "TLSv1.3").contains("not configurable"));
        assert!(config_error("exclude-cipher-suites", "x").contains("not configurable"));
        assert!(config_error("ssl-client-cert", "/nonexistent/c.pem").contains("cannot read"));
        assert!(config_error("ssl-client-key", "/nonexistent/k.pem").contains("cannot read"));
    }

    #[test]
    fn keystores_and_non_pem_files_are_refused_with_the_export_command() {
        let jks = temp("ts.jks", &[0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2]);
        let e = config_error("truststore", jks.to_str().unwrap());
        assert!(e.contains("Java KeyStore (JKS)") && e.contains("keytool -exportcert -rfc"), "{e}");
        let p12 = temp("ts.p12", &[0x30, 0x82, 0x01, 0x00, 2, 1, 3]);
        let e = config_error("truststore", p12.to_str().unwrap());
        assert!(e.contains("PKCS#12") && e.contains("openssl pkcs12"), "{e}");
        let empty = temp("empty.pem", b"no certificates here\n");
        assert!(config_error("truststore", empty.to_str().unwrap()).contains("holds no PEM certificate"));
        let encrypted =
            temp("enc.key", b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n");
        assert!(config_error("ssl-client-key", encrypted.to_str().unwrap()).contains("is encrypted"));
        assert!(config_error("ssl-client-key", empty.to_str().unwrap()).contains("holds no PEM private key"));
        assert!(config_error("ssl-client-cert", jks.to_str().unwrap()).contains("keytool -importkeystore"));
    }

    #[test]
    fn tls_keys_without_ssl_are_refused_when_a_client_is_made() {
        let mut c = Config::default();
        c.set("ssl-server-name", "flume.example.com").unwrap();
        let e = TlsSettings::from_config(&c).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.message().contains("ssl-server-name is set but ssl is not true"), "{e}");
        c.ssl_server_name = None;
        assert!(TlsSettings::from_config(&c).unwrap().is_none());
    }

    #[test]
    fn half_a_client_identity_is_refused() {
        let mut c = Config { ssl: true, ssl_client_cert: Some("c.pem".into()), ..Config::default() };
        let e = TlsSettings::from_config(&c).unwrap_err();
        assert!(e.message().contains("without ssl-client-key"), "{e}");
        c.ssl_client_cert = None;
        c.ssl_client_key = Some("k.pem".into());
        let e = TlsSettings::from_config(&c).unwrap_err();
        assert!(e.message().contains("without ssl-client-cert"), "{e}");
    }
}
