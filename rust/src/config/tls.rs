//! The TLS keys' files (feature `tls`): the PEM files the keys name, read and
//! checked when the key is set (by the key table, `keys.rs`, so
//! `flume_config_set` fails with `FLUME_ERR_CONFIG` on a missing, unreadable,
//! JKS or non-PEM file). The transport reads the same files again, with the
//! same functions, when a client is made (`transport::tls`).

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::RootCertStore;

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
pub(crate) fn load_roots(path: &Path) -> std::result::Result<RootCertStore, String> {
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
pub(crate) fn load_certs(path: &Path) -> std::result::Result<Vec<CertificateDer<'static>>, String> {
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
pub(crate) fn load_key(path: &Path) -> std::result::Result<PrivateKeyDer<'static>, String> {
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

#[cfg(test)]
mod tests {
    use crate::config::Config;
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
}
