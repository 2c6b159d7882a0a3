//! The TLS keys' files (feature `tls`): the PEM files the keys name, read and
//! checked when the key is set (by the key table, `keys.rs`, so
//! `flume_config_set` fails with `FLUME_ERR_CONFIG` on a missing, unreadable,
//! JKS or non-PEM file). The transport reads the same files again, with the
//! same functions, when a client is made (`transport::tls`).

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::RootCertStore;

use crate::error::err;

/// Reads and checks a `truststore` file, for `Config::set`.
pub(crate) fn check_truststore(path: &Path) -> FileResult<()> {
    load_roots(path).map(drop)
}

/// Reads and checks an `ssl-client-cert` file, for `Config::set`.
pub(crate) fn check_client_cert(path: &Path) -> FileResult<()> {
    load_certs(path).map(drop)
}

/// Reads and checks an `ssl-client-key` file, for `Config::set`.
pub(crate) fn check_client_key(path: &Path) -> FileResult<()> {
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

/// Why a TLS file is unusable, and the operating system's error when it
/// could not be read (the `Config` error's source).
pub(crate) struct FileError {
    text: String,
    os: Option<std::io::Error>,
}

impl From<String> for FileError {
    fn from(text: String) -> FileError {
        FileError { text, os: None }
    }
}

impl FileError {
    /// The `Config` error for the key naming the file.
    pub(crate) fn config_error(self, key: &str) -> crate::error::Error {
        let e = err!(Config, "{key}: {}", self.text);
        match self.os {
            Some(os) => e.with_source(os),
            None => e,
        }
    }
}

pub(crate) type FileResult<T> = std::result::Result<T, FileError>;

fn read_file(path: &Path) -> FileResult<FileKind> {
    let bytes = std::fs::read(path)
        .map_err(|e| FileError { text: format!("cannot read {}: {e}", path.display()), os: Some(e) })?;
    Ok(match bytes.get(..4) {
        Some([0xfe, 0xed, 0xfe, 0xed]) => FileKind::Jks,
        Some([0xce, 0xce, 0xce, 0xce]) => FileKind::Jceks,
        Some([0x30, ..]) => FileKind::Binary,
        _ => FileKind::Pem(bytes),
    })
}

/// The CA certificates of a PEM truststore.
pub(crate) fn load_roots(path: &Path) -> FileResult<RootCertStore> {
    let p = path.display();
    let bytes = match read_file(path)? {
        FileKind::Pem(bytes) => bytes,
        FileKind::Jks | FileKind::Jceks => {
            return Err(format!(
                "{p} is a Java KeyStore (JKS), which flume-client does not read: export its CA certificates to PEM \
                 with `keytool -exportcert -rfc -alias ALIAS -keystore {p} -file ca.pem` (`keytool -list -keystore {p}` \
                 shows the aliases) and set truststore to ca.pem"
            )
            .into())
        }
        FileKind::Binary => {
            return Err(format!(
                "{p} is binary (a PKCS#12 keystore or a DER certificate), not PEM: export PEM with \
                 `keytool -exportcert -rfc -alias ALIAS -keystore {p} -file ca.pem` or \
                 `openssl pkcs12 -in {p} -nokeys -out ca.pem` (a DER certificate: \
                 `openssl x509 -inform DER -in {p} -out ca.pem`)"
            )
            .into())
        }
    };
    let certs = pem_certs(&bytes).map_err(|e| format!("{p}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{p} holds no PEM certificate (-----BEGIN CERTIFICATE-----)").into());
    }
    let mut roots = RootCertStore::empty();
    for (i, cert) in certs.into_iter().enumerate() {
        roots.add(cert).map_err(|e| format!("{p}: certificate {} cannot be a trust anchor: {e}", i + 1))?;
    }
    Ok(roots)
}

/// A PEM certificate chain, the client's own certificate first.
pub(crate) fn load_certs(path: &Path) -> FileResult<Vec<CertificateDer<'static>>> {
    let p = path.display();
    match read_file(path)? {
        FileKind::Pem(bytes) => {
            let certs = pem_certs(&bytes).map_err(|e| format!("{p}: {e}"))?;
            if certs.is_empty() {
                return Err(format!("{p} holds no PEM certificate (-----BEGIN CERTIFICATE-----)").into());
            }
            Ok(certs)
        }
        _ => Err(format!("{p} is not PEM: {}", KEYSTORE_EXPORT).into()),
    }
}

/// An unencrypted PEM private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
pub(crate) fn load_key(path: &Path) -> FileResult<PrivateKeyDer<'static>> {
    let p = path.display();
    match read_file(path)? {
        FileKind::Pem(bytes) => {
            const ENCRYPTED: &[u8] = b"-----BEGIN ENCRYPTED PRIVATE KEY";
            if bytes.windows(ENCRYPTED.len()).any(|w| w == ENCRYPTED) {
                return Err(format!(
                    "{p} is encrypted; flume-client needs an unencrypted key: `openssl pkey -in {p} -out client.key` \
                     (and let only the service read it)"
                )
                .into());
            }
            PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
                FileError::from(match e {
                    rustls::pki_types::pem::Error::NoItemsFound => format!(
                        "{p} holds no PEM private key (-----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)"
                    ),
                    e => format!("{p}: {e:?}"),
                })
            })
        }
        _ => Err(format!("{p} is not PEM: {}", KEYSTORE_EXPORT).into()),
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
