//! One framed connection to a Thrift source, with deadlines on every wait:
//! TCP (`tcp`: connecting, sending, polling), the connection's byte `Stream`
//! (`stream`: plain, or through the TLS session of `tls`, feature `tls`), and
//! Kerberos (feature `kerberos`: the SASL negotiation runs in
//! `crate::kerberos` over the stream, after TLS, before the first call).
//!
//! Without a feature, its module here is a stand-in with the same items whose
//! settings and session types have no value (`tls_off.rs`, `kerberos_off.rs`):
//! the code below has no `cfg` branch, and a plain build compiles only the
//! plain path.
//!
//! Writes use `send(MSG_NOSIGNAL)` so a dead peer gives `EPIPE`, never SIGPIPE;
//! TLS records go through the same calls. Waits end at a deadline computed
//! once per call, so a slow peer cannot stretch a call past its
//! `request-timeout`; the TLS handshake is part of connecting and ends within
//! `connect-timeout`. The peek for a connection the server closed while idle
//! is made only after `IDLE_CHECK_AFTER` (see `Connection::is_stale`).

mod stream;
mod tcp;
#[cfg_attr(not(feature = "tls"), path = "tls_off.rs")]
mod tls;

#[cfg(feature = "kerberos")]
use crate::kerberos;
#[cfg(not(feature = "kerberos"))]
#[path = "kerberos_off.rs"]
mod kerberos;

use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Instant;

use self::kerberos::KerberosSettings;
use self::stream::Stream;
use self::tls::{Session, TlsSettings};
use crate::address::HostPort;
use crate::config::Config;
use crate::error::{err, Result};
use crate::wire::{frame_len, FRAME_HEADER_LEN};

/// The largest reply frame accepted. A reply is a status, or an exception and
/// its message: a few dozen bytes. The cap keeps a hostile or mistaken peer
/// (an HTTP server's "HTTP" reads as a 1.2 GB length) from making us allocate.
pub(crate) const MAX_REPLY_SIZE: usize = 64 * 1024;

/// How connections are made: plain TCP, or TLS with the settings of `ssl`,
/// `truststore` and the other TLS keys, then Kerberos if `kerberos=true`.
/// Built once per client (it reads the certificate files and the keytab) and
/// shared by all its connections.
#[derive(Clone, Default)]
pub(crate) struct Transport {
    tls: Option<Arc<TlsSettings>>,
    kerberos: Option<Arc<KerberosSettings>>,
}

impl Transport {
    /// The transport `config` asks for. Fails with `Config` when its TLS
    /// settings are unusable (a file unreadable or not PEM, a client key not
    /// matching its certificate, TLS keys set without `ssl=true`, see
    /// `TlsSettings::from_config`) or its Kerberos settings are
    /// (`KerberosSettings::from_config`), or when it asks for a feature this
    /// Whether connections are made with TLS.
    pub(crate) fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// build lacks.
    pub(crate) fn new(config: &Config) -> Result<Transport> {
        // `ssl=true` or a Kerberos key in a build without the feature.
        config.check_features()?;
        let tls = TlsSettings::from_config(config)?.map(Arc::new);
        let kerberos = KerberosSettings::from_config(config)?.map(Arc::new);
        Ok(Transport { tls, kerberos })
    }
}

/// A connection whose last call started less than this long ago is used
/// without looking for a close by the server (as HikariCP skips validating a
/// connection used within the last 500 ms): a server's idle clock starts after
/// it answered, so a server that closes connections idle for 500 ms or more is
/// always caught; one that closes them sooner may get a call written into a
/// closed connection, which then fails as maybe delivered.
pub(crate) const IDLE_CHECK_AFTER: Duration = Duration::from_millis(500);

/// An open connection: its stream, and the state of its calls.
pub(crate) struct Connection {
    stream: Stream,
    /// When the latest call on it started (or when it was opened).
    last_call: Instant,
    /// A call failed in a way that leaves the connection unusable (closed, out
    /// of step, or refused by the server): `is_stale` then says so.
    broken: bool,
    /// Pipelined calls (`receive_reply` with `more`): where the reply last
    /// returned ends in the reply buffer, when bytes read past it (the start
    /// of the next call's reply) follow it there; else 0. (A u32 beside
    /// `broken`, so that a connection, moved in and out of its pool at every
    /// call, grows by nothing.)
    read_ahead_from: u32,
}

impl Connection {
    /// Resolves `host`, connects to its first address that answers and, for a
    /// TLS transport, completes the handshake, then for Kerberos the SASL
    /// negotiation, all within `timeout`. Fails with `Connect` naming the
    /// cause (nothing was sent but the handshake and the negotiation).
    pub(crate) fn open(host: &HostPort, timeout: Duration, transport: &Transport) -> Result<Connection> {
        let deadline = crate::sync::deadline_in(timeout);
        let socket = tcp::connect(host, timeout, deadline)?;
        let opened = Instant::now();
        let peer = host.to_string();
        let tls = match &transport.tls {
            // A session whose handshake failed is dropped unused: no close_notify for it.
            Some(settings) => Some(Session::start(settings, &socket, host, &peer, timeout, deadline)?),
            None => None,
        };
        let mut connection =
            Connection { stream: Stream::new(socket, peer, tls), last_call: opened, broken: false, read_ahead_from: 0 };
        if let Some(kerberos) = &transport.kerberos {
            if let Err(e) = kerberos.authenticate(&mut connection.stream, host, timeout, deadline) {
                connection.broken = true;
                return Err(e);
            }
        }
        Ok(connection)
    }

    /// Sends the framed call in `request` and reads one reply frame into
    /// `reply`, returning its payload. Fails with `Timeout` at `deadline`, `Io`
    /// if the connection breaks, `Protocol` on a frame length outside
    /// `1..=MAX_REPLY_SIZE` or on bytes past the reply (the connection is then
    /// out of step), `Connect` if the server turns out to refuse the connection
    /// (a plain client answered in TLS; a TLS server rejecting the client
    /// certificate after the handshake, as TLS 1.3 allows).
    ///
    /// The request is `segments`, `total` bytes in all, sent in order with
    /// vectored writes. The call started at `start` and has `timeout` in all
    /// (`deadline` is `start` + `timeout`, saturated): a connection's first
    /// call sets `SO_RCVTIMEO` from `timeout` for all its calls.
    pub(crate) fn round_trip<'s, 'r>(
        &mut self,
        segments: impl Iterator<Item = &'s [u8]>,
        total: usize,
        reply: &'r mut Vec<u8>,
        start: Instant,
        timeout: Duration,
    ) -> Result<&'r [u8]> {
        let deadline = self.send_request(segments, total, start, timeout)?;
        self.receive_reply(reply, deadline, false)
    }

    /// The first half of `round_trip`: sends the call, which started at
    /// `start` and has `timeout` in all, and does not wait for its reply.
    /// Returns the call's deadline, for `receive_reply`.
    pub(crate) fn send_request<'s>(
        &mut self,
        segments: impl Iterator<Item = &'s [u8]>,
        total: usize,
        start: Instant,
        timeout: Duration,
    ) -> Result<Instant> {
        self.last_call = start;
        let deadline = crate::sync::deadline_after(start, timeout);
        self.stream.set_recv_timeout_once(timeout);
        let result = self.stream.send_all(segments, total, deadline);
        self.broken |= result.is_err();
        result.map(|()| deadline)
    }

    /// The second half of `round_trip`: reads the reply of the oldest call
    /// sent and not answered yet, by `deadline`. With `more` (later calls'
    /// replies may follow: calls are pipelined), bytes past the reply are
    /// kept for the next one instead of failing as out of step.
    pub(crate) fn receive_reply<'r>(
        &mut self,
        reply: &'r mut Vec<u8>,
        deadline: Instant,
        more: bool,
    ) -> Result<&'r [u8]> {
        let result = self.receive_frame(reply, deadline, more);
        self.broken |= result.is_err();
        result
    }

    /// Whether the server closed the connection (or sent bytes no call asked
    /// for) while it sat idle, or a call left it unusable: it must then not be
    /// used. A connection whose latest call started less than
    /// `IDLE_CHECK_AFTER` before `now` is not looked at (no syscall); an older
    /// one costs one syscall when nothing arrived (see
    /// `Stream::closed_while_idle`).
    pub(crate) fn is_stale(&mut self, now: Instant) -> bool {
        if self.broken || self.read_ahead_from != 0 {
            return true; // a reply beyond the calls' (or a call's error)
        }
        if now.saturating_duration_since(self.last_call) < IDLE_CHECK_AFTER {
            return false;
        }
        let closed = self.stream.closed_while_idle();
        if self.stream.is_tls() {
            // The session saw the end or an error: no close_notify into it.
            self.broken = closed;
        }
        closed
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.stream.fd()
    }

    /// Reads one whole frame. Reads may return more than is asked for only if
    /// the peer sent bytes no call asked for, which is caught below.
    fn receive_frame<'r>(&mut self, buf: &'r mut Vec<u8>, deadline: Instant, more: bool) -> Result<&'r [u8]> {
        match std::mem::take(&mut self.read_ahead_from) {
            0 => buf.clear(),
            previous_end => drop(buf.drain(..previous_end as usize)),
        }
        let mut frame_end = None;
        loop {
            if let Some(end) = frame_end {
                if buf.len() >= end {
                    if buf.len() > end && more {
                        self.read_ahead_from = end as u32; // at most MAX_REPLY_SIZE + 4
                    } else if buf.len() > end {
                        return Err(err!(
                            Protocol,
                            "{}: {} bytes arrived after the reply: the connection is out of step",
                            self.stream.peer(),
                            buf.len() - end
                        ));
                    }
                    return Ok(&buf[FRAME_HEADER_LEN..end]);
                }
            } else if buf.len() >= FRAME_HEADER_LEN {
                let header: [u8; FRAME_HEADER_LEN] = buf[..FRAME_HEADER_LEN].try_into().expect("4 bytes");
                if !self.stream.is_tls() && looks_like_tls_record(header) {
                    return Err(self.stream.answered_in_tls(header));
                }
                if crate::sasl::looks_like_refusal(header) {
                    return Err(self.stream.answered_in_sasl(buf));
                }
                let end = FRAME_HEADER_LEN + frame_len(header, MAX_REPLY_SIZE)?;
                buf.reserve(end.saturating_sub(buf.len()));
                frame_end = Some(end);
                continue;
            }
            self.stream.receive_some(buf, deadline)?;
        }
    }
}

impl Drop for Connection {
    /// A TLS connection says goodbye with a `close_notify` unless a call left
    /// it broken (a plain one has nothing to say).
    fn drop(&mut self) {
        if !self.broken {
            self.stream.close();
        }
    }
}

/// Whether four bytes start a TLS record: an alert (0x15) or a handshake
/// (0x16) of SSL 3.0 to TLS 1.3. As a frame length that would be over 350 MB.
fn looks_like_tls_record(header: [u8; 4]) -> bool {
    matches!(header, [0x15 | 0x16, 0x03, 0x00..=0x04, _])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The idle-window rule: a close by the server is looked for only once
    /// the connection's latest call started `IDLE_CHECK_AFTER` ago or more.
    #[test]
    fn only_a_connection_idle_for_the_window_is_checked_for_a_close() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let host = HostPort { host: "127.0.0.1".into(), port: listener.local_addr().unwrap().port() };
        let mut connection = Connection::open(&host, Duration::from_secs(10), &Transport::default()).unwrap();
        let (server_side, _) = listener.accept().unwrap();
        drop(server_side); // the server closes the idle connection
        let opened = connection.last_call;
        let just_inside = opened + IDLE_CHECK_AFTER - Duration::from_millis(1);
        // The FIN is queued on our side within a moment on loopback; wait for it to be seen.
        let seen = (0..200).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            connection.is_stale(opened + IDLE_CHECK_AFTER)
        });
        assert!(seen, "a connection idle for the window: the server's close is seen");
        assert!(!connection.is_stale(just_inside), "within the window the connection is not looked at");
        assert!(connection.is_stale(opened + IDLE_CHECK_AFTER), "at the window's end it is");
    }

    /// Pipelined calls: replies that arrive together are read one at a
    /// time, in order; bytes past the last expected reply are still an error.
    #[test]
    fn replies_that_arrive_together_are_read_one_by_one_and_stray_bytes_still_fail() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let host = HostPort { host: "127.0.0.1".into(), port: listener.local_addr().unwrap().port() };
        let mut connection = Connection::open(&host, Duration::from_secs(10), &Transport::default()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let timeout = Duration::from_secs(10);
        for request in [&b"one"[..], b"two"] {
            connection.send_request(std::iter::once(request), request.len(), Instant::now(), timeout).unwrap();
        }
        let mut received = [0u8; 6];
        server.read_exact(&mut received).unwrap();
        assert_eq!(&received, b"onetwo");
        // Both replies in one write, and a stray byte after them.
        server.write_all(&[0, 0, 0, 3, b'a', b'b', b'c', 0, 0, 0, 2, b'x', b'y', b'!']).unwrap();
        let deadline = Instant::now() + timeout;
        let mut reply = Vec::new();
        // On loopback the write arrives whole; let it land before the first read.
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(connection.receive_reply(&mut reply, deadline, true).unwrap(), b"abc");
        assert_ne!(connection.read_ahead_from, 0, "the second reply was read with the first");
        let e = connection.receive_reply(&mut reply, deadline, false).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Protocol, "{e}");
        assert!(e.message().contains("1 bytes arrived after the reply"), "{e}");
        assert!(connection.is_stale(Instant::now()), "out of step: not used again");
    }

    #[test]
    fn tls_records_are_recognised_and_frame_lengths_are_not() {
        assert!(looks_like_tls_record([0x15, 0x03, 0x03, 0x00]));
        assert!(looks_like_tls_record([0x16, 0x03, 0x01, 0x02]));
        assert!(!looks_like_tls_record([0x00, 0x00, 0x00, 0x1c]));
        assert!(!looks_like_tls_record([0x17, 0x03, 0x03, 0x00]));
        assert!(!looks_like_tls_record([0x15, 0x03, 0x05, 0x00]));
    }
}
