//! TLS (feature `tls`): the rustls client settings built from the TLS keys
//! (their files read by `config::tls`), the handshake, framed bytes through
//! rustls, and messages that name the cause of a failed handshake.
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
use std::io;
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Instant;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    AlertDescription, CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
    SignatureScheme,
};

use crate::address::HostPort;
use crate::config::tls::{load_certs, load_key, load_roots};
use crate::config::Config;
use crate::error::{err, Error, ErrorKind, Result};

use super::stream::{closed_during_reply, reply_timeout};
use super::tcp::{poll_until, send_nosignal};

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
                load_roots(path).map_err(|e| e.config_error("truststore"))?,
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
                let chain = load_certs(cert).map_err(|e| e.config_error("ssl-client-cert"))?;
                let private = load_key(key).map_err(|e| e.config_error("ssl-client-key"))?;
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
    fn client_for(&self, host: &HostPort) -> Result<ClientConnection> {
        let name = match &self.server_name {
            Some(name) => name.clone(),
            None => ServerName::try_from(host.host.clone()).map_err(|_| {
                err!(Connect, "{host}: '{}' is not a name a certificate can hold: set ssl-server-name", host.host)
            })?,
        };
        ClientConnection::new(self.config.clone(), name).map_err(|e| err!(Connect, "{host}: TLS: {e}"))
    }

    /// Why a handshake failed, in words that name the setting to look at.
    fn describe(&self, e: &rustls::Error) -> String {
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

/// A TLS session on a connection's socket: rustls' state, and the client's
/// settings for the messages that explain a failure.
pub(crate) struct Session {
    tls: Box<ClientConnection>,
    settings: Arc<TlsSettings>,
}

impl Session {
    /// A session to `host` on `socket`, its handshake completed by `deadline`
    /// (the connect deadline). Every failure is `Connect`, naming the cause;
    /// the session is then dropped without a `close_notify`.
    pub(super) fn start(
        settings: &Arc<TlsSettings>,
        socket: &TcpStream,
        host: &HostPort,
        peer: &str,
        timeout: Duration,
        deadline: Instant,
    ) -> Result<Session> {
        let mut session = Session { tls: Box::new(settings.client_for(host)?), settings: Arc::clone(settings) };
        session.handshake(socket.as_raw_fd(), peer, timeout, deadline)?;
        Ok(session)
    }

    fn handshake(&mut self, fd: RawFd, peer: &str, timeout: Duration, deadline: Instant) -> Result<()> {
        let timed_out = |doing: &str| {
            err!(
                Connect,
                "{peer}: TLS handshake: connect-timeout ({} ms) passed while {doing} (does the source have ssl=true?)",
                timeout.as_millis()
            )
        };
        let settings = &self.settings;
        let tls = &mut self.tls;
        loop {
            // Send what rustls has queued: the ClientHello, later our Finished, or an alert.
            while tls.wants_write() {
                match tls.write_tls(&mut SocketIo(fd)) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        if !poll_until(fd, libc::POLLOUT, deadline)
                            .map_err(|e| err!(Connect, "{peer}: poll: {e}").with_source(e))?
                        {
                            return Err(timed_out("sending"));
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        return Err(
                            err!(Connect, "{peer}: TLS handshake: connection broken while sending: {e}").with_source(e)
                        )
                    }
                }
            }
            if !tls.is_handshaking() {
                return Ok(());
            }
            match tls.read_tls(&mut SocketIo(fd)) {
                Ok(0) => {
                    return Err(err!(
                        Connect,
                        "{peer}: TLS handshake: the server closed the connection (is it a plain-text source, \
                         without ssl=true? nothing was sent)"
                    ))
                }
                Ok(_) => {
                    if let Err(e) = tls.process_new_packets() {
                        // Tell the server why (rustls queued an alert), best effort.
                        let _ = tls.write_tls(&mut SocketIo(fd));
                        return Err(
                            err!(Connect, "{peer}: TLS handshake failed: {}", settings.describe(&e)).with_source(e)
                        );
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !poll_until(fd, libc::POLLIN, deadline)
                        .map_err(|e| err!(Connect, "{peer}: poll: {e}").with_source(e))?
                    {
                        return Err(timed_out("waiting for the server's answer"));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // rustls' buffer for one handshake message is full: a certificate chain over its limit.
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    return Err(
                        err!(Connect, "{peer}: TLS handshake failed: {} ({e})", too_large_handshake()).with_source(e)
                    )
                }
                Err(e) => {
                    return Err(
                        err!(Connect, "{peer}: TLS handshake: connection broken while receiving: {e}").with_source(e)
                    )
                }
            }
        }
    }

    /// Sends all of `bytes` through the session by `deadline`.
    pub(super) fn send_all(&mut self, fd: RawFd, peer: &str, bytes: &[u8], deadline: Instant) -> Result<()> {
        use std::io::Write;
        let total = bytes.len();
        let mut accepted = 0;
        loop {
            // rustls encrypts into a bounded buffer: feed it, then drain it to the socket.
            if accepted < total {
                match self.tls.writer().write(&bytes[accepted..]) {
                    Ok(n) => accepted += n,
                    Err(e) => return Err(err!(Io, "{peer}: TLS: {e}").with_source(e)),
                }
            }
            if !self.tls.wants_write() {
                if accepted == total {
                    return Ok(());
                }
                continue;
            }
            match self.tls.write_tls(&mut SocketIo(fd)) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !poll_until(fd, libc::POLLOUT, deadline)
                        .map_err(|e| err!(Io, "{peer}: poll: {e}").with_source(e))?
                    {
                        return Err(err!(
                            Timeout,
                            "{peer}: request-timeout passed while sending (TLS, {accepted} of {total} bytes encrypted)"
                        ));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // A TLS 1.3 server refusing our certificate alerts and closes while we send.
                    return Err(self.refusal(fd, peer).unwrap_or_else(|| {
                        err!(
                            Io,
                            "{peer}: connection broken while sending (TLS, {accepted} of {total} bytes encrypted): {e}"
                        )
                        .with_source(e)
                    }));
                }
            }
        }
    }

    /// Appends at least one byte of plaintext to `buf`, waiting until `deadline`.
    pub(super) fn receive_some(&mut self, fd: RawFd, peer: &str, buf: &mut Vec<u8>, deadline: Instant) -> Result<()> {
        use std::io::BufRead;
        loop {
            let received = buf.len();
            match self.tls.reader().fill_buf() {
                Ok([]) => {
                    return Err(closed_during_reply(peer, received, " (TLS close_notify)", ""));
                }
                Ok(chunk) => {
                    let n = chunk.len();
                    buf.extend_from_slice(chunk);
                    self.tls.reader().consume(n);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(closed_during_reply(peer, received, " (without TLS close_notify)", ""));
                }
                Err(e) => return Err(err!(Io, "{peer}: TLS: {e}").with_source(e)),
            }
            // No plaintext yet: read records.
            match self.tls.read_tls(&mut SocketIo(fd)) {
                Ok(_) => {
                    // Ok(0), the end of the stream, shows as UnexpectedEof above.
                    if let Err(e) = self.tls.process_new_packets() {
                        let _ = self.tls.write_tls(&mut SocketIo(fd));
                        return Err(self.error_after_handshake(peer, &e));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !poll_until(fd, libc::POLLIN, deadline)
                        .map_err(|e| err!(Io, "{peer}: poll: {e}").with_source(e))?
                    {
                        return Err(reply_timeout(peer, received));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(self
                        .refusal(fd, peer)
                        .unwrap_or_else(|| err!(Io, "{peer}: connection broken while receiving: {e}").with_source(e)))
                }
            }
        }
    }

    /// After the connection broke: whether the server's last words, still
    /// queued on the socket, were an alert refusing the connection (`Connect`).
    fn refusal(&mut self, fd: RawFd, peer: &str) -> Option<Error> {
        let failure = loop {
            match self.tls.read_tls(&mut SocketIo(fd)) {
                Ok(n) if n > 0 => {
                    if let Err(e) = self.tls.process_new_packets() {
                        break e;
                    }
                }
                _ => return None,
            }
        };
        Some(self.error_after_handshake(peer, &failure)).filter(|e| e.kind() == ErrorKind::Connect)
    }

    /// A TLS error while waiting for a reply. An alert refusing our client
    /// certificate (TLS 1.3 servers check it after the client finished the
    /// handshake) means the server never read the call: `Connect`.
    fn error_after_handshake(&self, peer: &str, e: &rustls::Error) -> Error {
        use rustls::AlertDescription as A;
        match e {
            rustls::Error::AlertReceived(
                A::CertificateRequired
                | A::BadCertificate
                | A::UnsupportedCertificate
                | A::CertificateRevoked
                | A::CertificateExpired
                | A::CertificateUnknown
                | A::UnknownCA
                | A::AccessDenied
                | A::HandshakeFailure,
            ) => err!(
                Connect,
                "{peer}: TLS: the server refused the connection after the handshake: {} (nothing was delivered)",
                self.settings.describe(e)
            )
            .with_source(e.clone()),
            _ => err!(Io, "{peer}: TLS error while receiving: {e}").with_source(e.clone()),
        }
    }

    /// Reads whatever the server sent while the connection was idle, without
    /// waiting: session tickets and key updates are fine; application data,
    /// `close_notify`, end of stream or any error make the connection stale.
    pub(super) fn is_stale(&mut self, fd: RawFd) -> bool {
        let tls = &mut self.tls;
        // Plaintext left over from the last reply is bytes no call asked for.
        match tls.process_new_packets() {
            Ok(state) if state.peer_has_closed() || state.plaintext_bytes_to_read() > 0 => return true,
            Ok(_) => {}
            Err(_) => return true,
        }
        loop {
            match tls.read_tls(&mut SocketIo(fd)) {
                Ok(0) => return true,
                Ok(_) => match tls.process_new_packets() {
                    Ok(state) if state.peer_has_closed() || state.plaintext_bytes_to_read() > 0 => return true,
                    Ok(_) => {}
                    Err(_) => return true,
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return true,
            }
        }
    }

    /// Says goodbye with a `close_notify` if the socket takes it at once.
    pub(super) fn close(&mut self, fd: RawFd) {
        self.tls.send_close_notify();
        let _ = self.tls.write_tls(&mut SocketIo(fd));
    }
}

/// The socket as rustls sees it: nonblocking reads, and writes that never raise SIGPIPE.
struct SocketIo(RawFd);

impl io::Read for SocketIo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
        let n = unsafe { libc::recv(self.0, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

impl io::Write for SocketIo {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        send_nosignal(self.0, buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The most bytes rustls takes in one handshake message: a larger one (in
/// practice the server's certificate chain) is refused, against denial of service.
const MAX_HANDSHAKE_MESSAGE: usize = 0xffff;

/// Why a handshake failed on a message over `MAX_HANDSHAKE_MESSAGE`: the server
/// does speak TLS, so this is no "plain-text source".
fn too_large_handshake() -> String {
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
