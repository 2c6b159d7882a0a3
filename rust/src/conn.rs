//! One framed connection to a Thrift source, plain TCP or TLS (feature `tls`),
//! optionally authenticated with Kerberos (feature `kerberos`: the SASL
//! negotiation runs in `kerberos` over the `kerberos::Stream` seam, after
//! TLS, before the first call), with deadlines on every wait.
//!
//! Writes use `send(MSG_NOSIGNAL)` so a dead peer gives `EPIPE`, never SIGPIPE;
//! TLS records go through the same calls. Waits end at a deadline computed
//! once per call, so a slow peer cannot stretch a call past its
//! `request-timeout`; the TLS handshake is part of connecting and ends within
//! `connect-timeout`.
//!
//! A plain call in steady state costs two syscalls: one nonblocking `sendmsg`
//! of the whole call, and one blocking `recv` that takes the reply's length and
//! body together, bounded by `SO_RCVTIMEO` (set once per connection, see
//! `RecvTimeout`). Only the slow path (a send that would block, a reply in
//! pieces, a call that already used part of its time) waits with `poll`. The
//! peek for a connection the server closed while idle is made only after
//! `IDLE_CHECK_AFTER` (see `Connection::is_stale`).

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::address::HostPort;
use crate::config::Config;
use crate::error::{err, Result};
use crate::wire::{frame_len, FRAME_HEADER_LEN};

/// The largest reply frame accepted. A reply is a status, or an exception and
/// its message: a few dozen bytes. The cap keeps a hostile or mistaken peer
/// (an HTTP server's "HTTP" reads as a 1.2 GB length) from making us allocate.
pub(crate) const MAX_REPLY_SIZE: usize = 64 * 1024;

/// How connections are made: plain TCP, or TLS with the settings of `ssl`,
/// `truststore` and the other TLS keys. Built once per client (it reads the
/// certificate files) and shared by all its connections.
#[derive(Clone, Default)]
pub(crate) struct Transport {
    #[cfg(feature = "tls")]
    tls: Option<std::sync::Arc<crate::tls::TlsSettings>>,
    #[cfg(feature = "kerberos")]
    kerberos: Option<std::sync::Arc<crate::kerberos::KerberosSettings>>,
}

impl Transport {
    /// The transport `config` asks for. Fails with `Config` when its TLS or
    /// Kerberos settings are unusable (see `with_tls`,
    /// `KerberosSettings::from_config`), or ask for a feature this build lacks.
    pub(crate) fn new(config: &Config) -> Result<Transport> {
        // `ssl=true` or a Kerberos key in a build without the feature.
        config.check_features()?;
        #[cfg_attr(not(feature = "kerberos"), allow(unused_mut))]
        let mut transport = Transport::with_tls(config)?;
        #[cfg(feature = "kerberos")]
        {
            transport.kerberos = crate::kerberos::KerberosSettings::from_config(config)?.map(std::sync::Arc::new);
        }
        Ok(transport)
    }

    /// The TLS part. Fails with `Config` when the TLS settings are unusable:
    /// a file unreadable or not PEM, a client key not matching its
    /// certificate, TLS keys set without `ssl=true`, or `ssl=true` in a build
    /// without the `tls` feature.
    fn with_tls(config: &Config) -> Result<Transport> {
        #[cfg(feature = "tls")]
        {
            Ok(Transport {
                tls: crate::tls::TlsSettings::from_config(config)?.map(std::sync::Arc::new),
                ..Transport::default()
            })
        }
        #[cfg(not(feature = "tls"))]
        {
            let _ = config;
            Ok(Transport::default())
        }
    }
}

/// A connection whose last call started less than this long ago is used
/// without looking for a close by the server (as HikariCP skips validating a
/// connection used within the last 500 ms): a server's idle clock starts after
/// it answered, so a server that closes connections idle for 500 ms or more is
/// always caught; one that closes them sooner may get a call written into a
/// closed connection, which then fails as maybe delivered.
pub(crate) const IDLE_CHECK_AFTER: Duration = Duration::from_millis(500);

/// How late the kernel may end a blocking `recv` after its `SO_RCVTIMEO`
/// (the timeout is counted in scheduler ticks, rounded up: 10 ms at HZ=100).
const KERNEL_TIMER_SLACK: Duration = Duration::from_millis(20);

/// An open connection. It holds no buffers of its own for plain TCP (the
/// client owns them, so a reconnect does not reallocate); a TLS connection
/// holds its session state.
pub(crate) struct Connection {
    stream: TcpStream,
    peer: String,
    /// When the latest call on it started (or when it was opened).
    last_call: Instant,
    /// The `SO_RCVTIMEO` set on the socket, if any (plain TCP only).
    recv_timeout: Option<Duration>,
    #[cfg(feature = "tls")]
    tls: Option<Box<rustls::ClientConnection>>,
    #[cfg(feature = "tls")]
    tls_settings: Option<std::sync::Arc<crate::tls::TlsSettings>>,
    /// A call failed in a way that leaves the connection unusable (closed, out
    /// of step, or refused by the server): `is_stale` then says so.
    broken: bool,
}

impl Connection {
    /// Resolves `host`, connects to its first address that answers and, for a
    /// TLS transport, completes the handshake, all within `timeout`. Fails with
    /// `Connect` naming the cause (nothing was sent but the handshake).
    pub(crate) fn open(host: &HostPort, timeout: Duration, transport: &Transport) -> Result<Connection> {
        let deadline = crate::sync::deadline_in(timeout);
        let stream = connect(host, timeout, deadline)?;
        #[cfg_attr(not(feature = "tls"), allow(unused_mut))]
        let mut connection = Connection {
            stream,
            peer: host.to_string(),
            last_call: Instant::now(),
            recv_timeout: None,
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "tls")]
            tls_settings: None,
            broken: false,
        };
        #[cfg(feature = "tls")]
        if let Some(settings) = &transport.tls {
            connection.tls = Some(Box::new(settings.client_for(host)?));
            connection.tls_settings = Some(settings.clone());
            if let Err(e) = connection.handshake(settings, timeout, deadline) {
                connection.broken = true; // no close_notify for a session that never started
                return Err(e);
            }
        }
        #[cfg(feature = "kerberos")]
        if let Some(kerberos) = &transport.kerberos {
            if let Err(e) = kerberos.authenticate(&mut connection, host, timeout, deadline) {
                connection.broken = true;
                return Err(e);
            }
        }
        #[cfg(not(any(feature = "tls", feature = "kerberos")))]
        let _ = transport;
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
        self.last_call = start;
        let deadline = crate::sync::deadline_after(start, timeout);
        if self.recv_timeout.is_none() && !self.is_tls() {
            self.set_recv_timeout(timeout);
        }
        let result = match self.send_all(segments, total, deadline) {
            Ok(()) => self.receive_frame(reply, deadline),
            Err(e) => Err(e),
        };
        if result.is_err() {
            self.broken = true;
        }
        result
    }

    /// Whether the server closed the connection (or sent bytes no call asked
    /// for) while it sat idle, or a call left it unusable: it must then not be
    /// used. A connection whose latest call started less than
    /// `IDLE_CHECK_AFTER` before `now` is not looked at (no syscall); an older
    /// one costs one syscall when nothing arrived. On a TLS connection,
    /// records the server sends by itself (TLS 1.3 session tickets) are
    /// processed and do not make it stale; a `close_notify` or end of stream
    /// does.
    pub(crate) fn is_stale(&mut self, now: Instant) -> bool {
        if self.broken {
            return true;
        }
        if now.saturating_duration_since(self.last_call) < IDLE_CHECK_AFTER {
            return false;
        }
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            self.broken = self.tls_is_stale();
            return self.broken;
        }
        let mut byte = 0u8;
        // SAFETY: reads at most one byte into `byte`; MSG_PEEK leaves it queued.
        let n = unsafe { libc::recv(self.fd(), (&mut byte as *mut u8).cast(), 1, libc::MSG_PEEK | libc::MSG_DONTWAIT) };
        n >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }

    fn send_all<'s>(
        &mut self,
        segments: impl Iterator<Item = &'s [u8]>,
        total: usize,
        deadline: Instant,
    ) -> Result<()> {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            for segment in segments {
                self.tls_send_all(segment, deadline)?;
            }
            return Ok(());
        }
        let mut segments = segments.filter(|s| !s.is_empty());
        // The segments not yet (fully) sent, up to one sendmsg's worth.
        let mut pending: [&[u8]; MAX_IOVECS] = [&[]; MAX_IOVECS];
        let mut count = 0;
        let mut sent = 0;
        loop {
            for segment in segments.by_ref().take(MAX_IOVECS - count) {
                pending[count] = segment;
                count += 1;
            }
            if count == 0 {
                return Ok(());
            }
            match send_vectored(self.fd(), &pending[..count]) {
                Ok(mut n) => {
                    sent += n;
                    let mut done = 0;
                    while done < count && n >= pending[done].len() {
                        n -= pending[done].len();
                        done += 1;
                    }
                    if done < count {
                        pending[done] = &pending[done][n..];
                    }
                    pending.copy_within(done..count, 0);
                    count -= done;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !poll_until(self.fd(), libc::POLLOUT, deadline)
                        .map_err(|e| err!(Io, "{}: poll: {e}", self.peer))?
                    {
                        return Err(err!(
                            Timeout,
                            "{}: request-timeout passed while sending: {sent} of {total} bytes sent",
                            self.peer
                        ));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // A TLS server may have answered the first bytes with an alert and closed.
                    let mut header = [0u8; FRAME_HEADER_LEN];
                    // SAFETY: reads at most 4 bytes into `header`; MSG_PEEK leaves them queued.
                    let n = unsafe {
                        libc::recv(
                            self.fd(),
                            header.as_mut_ptr().cast(),
                            header.len(),
                            libc::MSG_PEEK | libc::MSG_DONTWAIT,
                        )
                    };
                    if n == FRAME_HEADER_LEN as isize && looks_like_tls_record(header) {
                        return Err(self.answered_in_tls(header));
                    }
                    if n == FRAME_HEADER_LEN as isize && crate::sasl::looks_like_refusal(header) {
                        return Err(self.answered_in_sasl(&header));
                    }
                    return Err(err!(
                        Io,
                        "{}: connection broken while sending ({sent} of {total} bytes sent){}: {e}",
                        self.peer,
                        self.plain_to_tls_hint()
                    ));
                }
            }
        }
    }

    /// Reads one whole frame. Reads may return more than is asked for only if
    /// the peer sent bytes no call asked for, which is caught below.
    fn receive_frame<'r>(&mut self, buf: &'r mut Vec<u8>, deadline: Instant) -> Result<&'r [u8]> {
        buf.clear();
        let mut frame_end = None;
        loop {
            if let Some(end) = frame_end {
                if buf.len() >= end {
                    if buf.len() > end {
                        return Err(err!(
                            Protocol,
                            "{}: {} bytes arrived after the reply: the connection is out of step",
                            self.peer,
                            buf.len() - end
                        ));
                    }
                    return Ok(&buf[FRAME_HEADER_LEN..end]);
                }
            } else if buf.len() >= FRAME_HEADER_LEN {
                let header: [u8; FRAME_HEADER_LEN] = buf[..FRAME_HEADER_LEN].try_into().expect("4 bytes");
                if !self.is_tls() && looks_like_tls_record(header) {
                    return Err(self.answered_in_tls(header));
                }
                if crate::sasl::looks_like_refusal(header) {
                    return Err(self.answered_in_sasl(buf));
                }
                let end = FRAME_HEADER_LEN + frame_len(header, MAX_REPLY_SIZE)?;
                buf.reserve(end.saturating_sub(buf.len()));
                frame_end = Some(end);
                continue;
            }
            self.receive_some(buf, deadline)?;
        }
    }

    /// Sets `SO_RCVTIMEO` so that a blocking `recv` started early in a call
    /// of `timeout` ends before the call's deadline: `timeout` less twice
    /// `KERNEL_TIMER_SLACK` (one for the kernel's rounding, one for the time
    /// the call spent before the `recv`). Calls of less than four times the
    /// slack always wait with `poll`. A failure only keeps the slow path.
    fn set_recv_timeout(&mut self, timeout: Duration) {
        let Some(value) = timeout.checked_sub(2 * KERNEL_TIMER_SLACK).filter(|_| timeout >= 4 * KERNEL_TIMER_SLACK)
        else {
            return;
        };
        // Beyond a day the socket simply blocks (0: no timeout) and the call's deadline is that far anyway.
        let value = value.min(Duration::from_secs(86_400));
        let tv = libc::timeval {
            tv_sec: value.as_secs() as libc::time_t,
            tv_usec: value.subsec_micros() as libc::suseconds_t,
        };
        // SAFETY: `tv` is a valid timeval of the size given.
        let rc = unsafe {
            libc::setsockopt(
                self.fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            self.recv_timeout = Some(value);
        }
    }

    /// Whether a blocking `recv`, ended by `SO_RCVTIMEO` at the latest, would
    /// end before `deadline`.
    fn blocking_recv_ends_by(&self, deadline: Instant) -> bool {
        self.recv_timeout
            .is_some_and(|timeout| deadline.saturating_duration_since(Instant::now()) >= timeout + KERNEL_TIMER_SLACK)
    }

    /// Appends at least one received byte to `buf`, waiting until `deadline`.
    fn receive_some(&mut self, buf: &mut Vec<u8>, deadline: Instant) -> Result<()> {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return self.tls_receive_some(buf, deadline);
        }
        if buf.capacity() == buf.len() {
            buf.reserve(256);
        }
        // The fast path: one blocking recv, which SO_RCVTIMEO ends in time. If
        // it passes (or a signal comes), wait out the rest of the deadline below.
        if self.blocking_recv_ends_by(deadline) && self.recv_once(buf, 0)? {
            return Ok(());
        }
        loop {
            if !poll_until(self.fd(), libc::POLLIN, deadline).map_err(|e| err!(Io, "{}: poll: {e}", self.peer))? {
                return Err(self.reply_timeout(buf.len()));
            }
            if self.recv_once(buf, libc::MSG_DONTWAIT)? {
                return Ok(());
            }
        }
    }

    /// One `recv` into `buf`'s spare capacity: true when it took bytes, false
    /// when there were none yet (would block, SO_RCVTIMEO, a signal).
    fn recv_once(&self, buf: &mut Vec<u8>, flags: libc::c_int) -> Result<bool> {
        let spare = buf.spare_capacity_mut();
        // SAFETY: the kernel writes at most `spare.len()` bytes into the
        // spare capacity, and we extend the length by exactly what it wrote.
        let n = unsafe { libc::recv(self.fd(), spare.as_mut_ptr().cast(), spare.len(), flags) };
        match n {
            0 => Err(self.closed_during_reply(buf.len(), "")),
            n if n > 0 => {
                unsafe { buf.set_len(buf.len() + n as usize) };
                Ok(true)
            }
            _ => {
                let e = io::Error::last_os_error();
                if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) {
                    return Ok(false);
                }
                let hint = if buf.is_empty() { self.plain_to_tls_hint() } else { "" };
                Err(err!(Io, "{}: connection broken while receiving{hint}: {e}", self.peer))
            }
        }
    }

    /// Whether the connection is TLS: rustls copies what it encrypts, so a
    /// TLS call gains nothing from splicing bodies.
    pub(crate) fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    fn reply_timeout(&self, received: usize) -> crate::error::Error {
        err!(
            Timeout,
            "{}: request-timeout passed while waiting for the reply: {received} bytes of it received",
            self.peer
        )
    }

    fn closed_during_reply(&self, received: usize, how: &str) -> crate::error::Error {
        let hint = if received == 0 { self.plain_to_tls_hint() } else { "" };
        err!(Io, "{}: connection closed by the server{how} after {received} bytes of the reply{hint}", self.peer)
    }

    fn answered_in_tls(&self, header: [u8; FRAME_HEADER_LEN]) -> crate::error::Error {
        err!(
            Connect,
            "{}: the server answered with a TLS record ({header:02x?}): it is a TLS (ssl=true) source; \
             set ssl=true (nothing was delivered)",
            self.peer
        )
    }

    /// A Kerberos source reads a plain call's first byte as a SASL status,
    /// answers ERROR "Invalid status" and closes: it decoded no call.
    fn answered_in_sasl(&self, received: &[u8]) -> crate::error::Error {
        let reason = match crate::sasl::decode(received) {
            Ok(Some((status, payload, _))) => format!("{status} \"{}\"", String::from_utf8_lossy(payload)),
            _ => format!("{:02x?}", &received[..received.len().min(FRAME_HEADER_LEN)]),
        };
        err!(
            Connect,
            "{}: the server answered with a SASL negotiation message ({reason}): it is a Kerberos (kerberos=true) \
             source; set kerberos=true, server-principal and client-principal/client-keytab (nothing was delivered)",
            self.peer
        )
    }

    /// TLS sources (OpenSSL's, or Java's when the call is cut short) close or reset a plain client's
    /// connection without a word, and so do Kerberos sources (Apache Thrift's Java SASL server
    /// reads the call's first byte as a status, finds none and closes): say so when a plain
    /// call gets no reply at all.
    fn plain_to_tls_hint(&self) -> &'static str {
        if self.is_tls() {
            ""
        } else {
            " (if the source has ssl=true, set ssl=true here too; if it has kerberos=true, set kerberos=true: a \
             Kerberos source closes a connection that does not start with SASL, without a word)"
        }
    }
}

/// The negotiation's view of the connection: the same sends and receives as
/// calls, plain or through TLS.
#[cfg(feature = "kerberos")]
impl crate::kerberos::Stream for Connection {
    fn send(&mut self, bytes: &[u8], deadline: Instant) -> Result<()> {
        self.send_all(std::iter::once(bytes), bytes.len(), deadline)
    }

    fn receive_some(&mut self, buf: &mut Vec<u8>, deadline: Instant) -> Result<()> {
        Connection::receive_some(self, buf, deadline)
    }
}

/// TLS: the handshake, and framed calls through rustls.
#[cfg(feature = "tls")]
impl Connection {
    fn tls(&mut self) -> &mut rustls::ClientConnection {
        self.tls.as_mut().expect("a TLS connection")
    }

    /// Completes the handshake by `deadline` (the connect deadline). Every
    /// failure is `Connect`, naming the cause.
    fn handshake(&mut self, settings: &crate::tls::TlsSettings, timeout: Duration, deadline: Instant) -> Result<()> {
        let fd = self.fd();
        let peer = self.peer.clone();
        let timed_out = |doing: &str| {
            err!(
                Connect,
                "{peer}: TLS handshake: connect-timeout ({} ms) passed while {doing} (does the source have ssl=true?)",
                timeout.as_millis()
            )
        };
        let tls = self.tls.as_mut().expect("a TLS connection");
        loop {
            // Send what rustls has queued: the ClientHello, later our Finished, or an alert.
            while tls.wants_write() {
                match tls.write_tls(&mut SocketIo(fd)) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        if !poll_until(fd, libc::POLLOUT, deadline).map_err(|e| err!(Connect, "{peer}: poll: {e}"))? {
                            return Err(timed_out("sending"));
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(err!(Connect, "{peer}: TLS handshake: connection broken while sending: {e}")),
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
                        return Err(err!(Connect, "{peer}: TLS handshake failed: {}", settings.describe(&e)));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !poll_until(fd, libc::POLLIN, deadline).map_err(|e| err!(Connect, "{peer}: poll: {e}"))? {
                        return Err(timed_out("waiting for the server's answer"));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // rustls' buffer for one handshake message is full: a certificate chain over its limit.
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    return Err(err!(
                        Connect,
                        "{peer}: TLS handshake failed: {} ({e})",
                        crate::tls::too_large_handshake()
                    ))
                }
                Err(e) => return Err(err!(Connect, "{peer}: TLS handshake: connection broken while receiving: {e}")),
            }
        }
    }

    fn tls_send_all(&mut self, bytes: &[u8], deadline: Instant) -> Result<()> {
        use std::io::Write;
        let total = bytes.len();
        let mut accepted = 0;
        loop {
            // rustls encrypts into a bounded buffer: feed it, then drain it to the socket.
            if accepted < total {
                let tls = self.tls();
                match tls.writer().write(&bytes[accepted..]) {
                    Ok(n) => accepted += n,
                    Err(e) => return Err(err!(Io, "{}: TLS: {e}", self.peer)),
                }
            }
            let fd = self.fd();
            let tls = self.tls();
            if !tls.wants_write() {
                if accepted == total {
                    return Ok(());
                }
                continue;
            }
            match tls.write_tls(&mut SocketIo(fd)) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !poll_until(fd, libc::POLLOUT, deadline).map_err(|e| err!(Io, "{}: poll: {e}", self.peer))? {
                        return Err(err!(
                            Timeout,
                            "{}: request-timeout passed while sending (TLS, {accepted} of {total} bytes encrypted)",
                            self.peer
                        ));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // A TLS 1.3 server refusing our certificate alerts and closes while we send.
                    return Err(self.tls_refusal().unwrap_or_else(|| {
                        err!(
                            Io,
                            "{}: connection broken while sending (TLS, {accepted} of {total} bytes encrypted): {e}",
                            self.peer
                        )
                    }));
                }
            }
        }
    }

    fn tls_receive_some(&mut self, buf: &mut Vec<u8>, deadline: Instant) -> Result<()> {
        use std::io::BufRead;
        loop {
            let received = buf.len();
            let fd = self.fd();
            let tls = self.tls.as_mut().expect("a TLS connection");
            match tls.reader().fill_buf() {
                Ok([]) => {
                    return Err(self.closed_during_reply(received, " (TLS close_notify)"));
                }
                Ok(chunk) => {
                    let n = chunk.len();
                    buf.extend_from_slice(chunk);
                    tls.reader().consume(n);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(self.closed_during_reply(received, " (without TLS close_notify)"));
                }
                Err(e) => return Err(err!(Io, "{}: TLS: {e}", self.peer)),
            }
            // No plaintext yet: read records.
            match tls.read_tls(&mut SocketIo(fd)) {
                Ok(_) => {
                    // Ok(0), the end of the stream, shows as UnexpectedEof above.
                    if let Err(e) = tls.process_new_packets() {
                        let _ = tls.write_tls(&mut SocketIo(fd));
                        return Err(self.tls_error_after_handshake(&e));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !poll_until(fd, libc::POLLIN, deadline).map_err(|e| err!(Io, "{}: poll: {e}", self.peer))? {
                        return Err(self.reply_timeout(received));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(self
                        .tls_refusal()
                        .unwrap_or_else(|| err!(Io, "{}: connection broken while receiving: {e}", self.peer)))
                }
            }
        }
    }

    /// After the connection broke: whether the server's last words, still
    /// queued on the socket, were an alert refusing the connection (`Connect`).
    fn tls_refusal(&mut self) -> Option<crate::error::Error> {
        let fd = self.fd();
        let tls = self.tls.as_mut()?;
        let failure = loop {
            match tls.read_tls(&mut SocketIo(fd)) {
                Ok(n) if n > 0 => {
                    if let Err(e) = tls.process_new_packets() {
                        break e;
                    }
                }
                _ => return None,
            }
        };
        Some(self.tls_error_after_handshake(&failure)).filter(|e| e.kind() == crate::error::ErrorKind::Connect)
    }

    /// A TLS error while waiting for a reply. An alert refusing our client
    /// certificate (TLS 1.3 servers check it after the client finished the
    /// handshake) means the server never read the call: `Connect`.
    fn tls_error_after_handshake(&self, e: &rustls::Error) -> crate::error::Error {
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
                "{}: TLS: the server refused the connection after the handshake: {} (nothing was delivered)",
                self.peer,
                self.tls_settings.as_ref().map_or_else(|| e.to_string(), |s| s.describe(e))
            ),
            _ => err!(Io, "{}: TLS error while receiving: {e}", self.peer),
        }
    }

    /// Reads whatever the server sent while the connection was idle, without
    /// waiting: session tickets and key updates are fine; application data,
    /// `close_notify`, end of stream or any error make the connection stale.
    fn tls_is_stale(&mut self) -> bool {
        let fd = self.fd();
        let tls = self.tls();
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
}

#[cfg(feature = "tls")]
impl Drop for Connection {
    /// Says goodbye with a `close_notify` if the socket takes it at once.
    fn drop(&mut self) {
        let fd = self.fd();
        if let Some(tls) = self.tls.as_mut() {
            if !self.broken {
                tls.send_close_notify();
                let _ = tls.write_tls(&mut SocketIo(fd));
            }
        }
    }
}

/// The socket as rustls sees it: nonblocking reads, and writes that never raise SIGPIPE.
#[cfg(feature = "tls")]
struct SocketIo(RawFd);

#[cfg(feature = "tls")]
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

#[cfg(feature = "tls")]
impl io::Write for SocketIo {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        send_vectored(self.0, &[buf])
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Segments one `sendmsg` takes at most (Linux allows 1024): a call of
/// thousands of events with spliced bodies takes several.
const MAX_IOVECS: usize = 128;

/// One nonblocking `sendmsg` of `segments` with `MSG_NOSIGNAL`.
fn send_vectored(fd: RawFd, segments: &[&[u8]]) -> io::Result<usize> {
    let mut iovecs = [libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; MAX_IOVECS];
    for (iovec, segment) in iovecs.iter_mut().zip(segments) {
        *iovec = libc::iovec { iov_base: segment.as_ptr() as *mut libc::c_void, iov_len: segment.len() };
    }
    // SAFETY: zeroed is a valid msghdr (no address, no control data).
    let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
    message.msg_iov = iovecs.as_mut_ptr();
    message.msg_iovlen = segments.len().min(MAX_IOVECS) as _;
    // SAFETY: the iovecs point into live slices, which the kernel only reads.
    let n = unsafe { libc::sendmsg(fd, &message, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Waits until `fd` is ready for `events` (or has an error or hang-up, which
/// the next send or receive reports): `Ok(true)`; `Ok(false)` once `deadline`
/// passed.
fn poll_until(fd: RawFd, events: libc::c_short, deadline: Instant) -> io::Result<bool> {
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Ok(false);
        }
        // Round up so a wait never ends a fraction of a millisecond early and spins.
        let ms = remaining.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
        let mut pfd = libc::pollfd { fd, events, revents: 0 };
        // SAFETY: one valid pollfd.
        match unsafe { libc::poll(&mut pfd, 1, ms) } {
            0 => continue,
            n if n > 0 => return Ok(true),
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

/// Whether four bytes start a TLS record: an alert (0x15) or a handshake
/// (0x16) of SSL 3.0 to TLS 1.3. As a frame length that would be over 350 MB.
fn looks_like_tls_record(header: [u8; 4]) -> bool {
    matches!(header, [0x15 | 0x16, 0x03, 0x00..=0x04, _])
}

/// How long one connection attempt runs alone before the next address is
/// tried beside it (RFC 8305's "Connection Attempt Delay"; curl waits 200 ms).
const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// A TCP connection to the first of `host`'s addresses that answers, all
/// within `deadline`. A name with several addresses is connected as Happy
/// Eyeballs (RFC 8305) does: addresses alternate between IPv6 and IPv4 in the
/// resolver's order, and each attempt gets `ATTEMPT_DELAY` before the next
/// starts beside it (at once when it fails), so an address that never answers
/// (a dropped SYN) does not use up `connect-timeout` while another works. The
/// first attempt to connect wins; the others are closed before they carry a
/// byte.
fn connect(host: &HostPort, timeout: Duration, deadline: Instant) -> Result<TcpStream> {
    let addrs = interleave_families(resolve(host, timeout)?);
    let mut pending: Vec<(OwnedFd, SocketAddr)> = Vec::with_capacity(addrs.len());
    let mut errors: Vec<String> = Vec::new();
    let mut next = 0;
    let mut next_start = Instant::now();
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        if next < addrs.len() && (pending.is_empty() || now >= next_start) {
            let addr = addrs[next];
            next += 1;
            next_start = now + ATTEMPT_DELAY;
            match start_connect(addr) {
                Ok((fd, true)) => return connected(host, fd),
                Ok((fd, false)) => pending.push((fd, addr)),
                Err(e) => {
                    errors.push(describe_connect_error(e, addr, timeout));
                    next_start = now; // failed at once (e.g. no route to that family): the next starts at once
                }
            }
            continue;
        }
        if pending.is_empty() {
            break; // every address failed
        }
        let wake = if next < addrs.len() { next_start.min(deadline) } else { deadline };
        let mut pfds: Vec<libc::pollfd> = pending
            .iter()
            .map(|(fd, _)| libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLOUT, revents: 0 })
            .collect();
        let ms = wake.saturating_duration_since(now).as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
        // SAFETY: `pfds` is a valid array of `pfds.len()` pollfds.
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err!(Connect, "{host}: poll while connecting: {e}"));
        }
        // Check the ready attempts from the last so that removing one keeps the others' indices.
        for i in (0..pfds.len()).rev() {
            if pfds[i].revents == 0 {
                continue;
            }
            let (fd, addr) = pending.remove(i);
            match socket_error(&fd) {
                Ok(()) => return connected(host, fd),
                Err(e) => {
                    errors.push(describe_connect_error(e, addr, timeout));
                    next_start = Instant::now(); // a failed attempt lets the next one start at once
                }
            }
        }
    }
    for (_, addr) in &pending {
        errors.push(describe_connect_error(io::ErrorKind::TimedOut.into(), *addr, timeout));
    }
    if next < addrs.len() {
        errors.push(format!("{} more address(es) not tried", addrs.len() - next));
    }
    Err(err!(
        Connect,
        "{host}: {}",
        if errors.is_empty() {
            format!("connect-timeout of {} ms passed", timeout.as_millis())
        } else {
            errors.join("; ")
        }
    ))
}

/// The addresses in the resolver's order (its RFC 6724 preference), but
/// alternating families from the first one's, as RFC 8305 section 4 asks, so a
/// broken family costs one attempt delay, not one per address.
fn interleave_families(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let Some(first) = addrs.first() else { return addrs };
    let first_is_v6 = first.is_ipv6();
    let (mut preferred, mut other): (Vec<_>, Vec<_>) = addrs.into_iter().partition(|a| a.is_ipv6() == first_is_v6);
    let mut interleaved = Vec::with_capacity(preferred.len() + other.len());
    preferred.reverse();
    other.reverse();
    loop {
        match (preferred.pop(), other.pop()) {
            (None, None) => return interleaved,
            (a, b) => interleaved.extend(a.into_iter().chain(b)),
        }
    }
}

/// Starts a nonblocking connect to `addr`: the socket, and whether it is
/// already connected (loopback can be).
fn start_connect(addr: SocketAddr) -> io::Result<(OwnedFd, bool)> {
    let family = if addr.is_ipv6() { libc::AF_INET6 } else { libc::AF_INET };
    // SAFETY: plain socket creation; the fd is owned at once below.
    let raw = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a new socket that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let (storage, len) = socket_address(addr);
    // SAFETY: `storage` holds a valid sockaddr of `len` bytes.
    let rc = unsafe { libc::connect(fd.as_raw_fd(), (&storage as *const libc::sockaddr_storage).cast(), len) };
    if rc == 0 {
        return Ok((fd, true));
    }
    let e = io::Error::last_os_error();
    // EINTR: a signal came, and the connection goes on being made in the background.
    if matches!(e.raw_os_error(), Some(libc::EINPROGRESS) | Some(libc::EINTR)) {
        Ok((fd, false))
    } else {
        Err(e)
    }
}

/// The outcome of a nonblocking connect once its socket polled ready.
fn socket_error(fd: &OwnedFd) -> io::Result<()> {
    let mut error: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `error` has room for the int SO_ERROR writes.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut error as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    match error {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

/// The connected socket as a blocking `TcpStream` with `TCP_NODELAY`, as
/// `TcpStream::connect_timeout` gives (sends and receives choose
/// `MSG_DONTWAIT` themselves).
fn connected(host: &HostPort, fd: OwnedFd) -> Result<TcpStream> {
    let stream = TcpStream::from(fd);
    stream.set_nonblocking(false).map_err(|e| err!(Connect, "{host}: clearing O_NONBLOCK: {e}"))?;
    stream.set_nodelay(true).map_err(|e| err!(Connect, "{host}: setting TCP_NODELAY: {e}"))?;
    Ok(stream)
}

/// `addr` as a C socket address and its length.
fn socket_address(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than, and aligned for, sockaddr_in.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than, and aligned for, sockaddr_in6.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// The host's addresses. An IP literal needs no lookup; a name is looked up on
/// a helper thread so the lookup, too, ends within `timeout`.
fn resolve(host: &HostPort, timeout: Duration) -> Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, host.port)]);
    }
    let (tx, rx) = mpsc::channel();
    let target = (host.host.clone(), host.port);
    std::thread::Builder::new()
        .name("flume-resolve".into())
        .spawn(move || {
            let _ = tx.send(target.to_socket_addrs().map(|a| a.collect::<Vec<_>>()));
        })
        .map_err(|e| err!(Connect, "{host}: cannot start name lookup: {e}"))?;
    match rx.recv_timeout(timeout) {
        Ok(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
        Ok(Ok(_)) => Err(err!(Connect, "{host}: name has no addresses")),
        Ok(Err(e)) => Err(err!(Connect, "{host}: name not resolved: {e}")),
        Err(_) => {
            Err(err!(Connect, "{host}: name lookup took longer than connect-timeout ({} ms)", timeout.as_millis()))
        }
    }
}

fn describe_connect_error(e: io::Error, addr: SocketAddr, timeout: Duration) -> String {
    if e.kind() == io::ErrorKind::TimedOut || e.kind() == io::ErrorKind::WouldBlock {
        format!("connecting to {addr}: no answer within connect-timeout ({} ms)", timeout.as_millis())
    } else {
        format!("connecting to {addr}: {e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_alternate_families_from_the_first_ones() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(
            interleave_families(vec![a("[::1]:1"), a("[::2]:1"), a("[::3]:1"), a("10.0.0.1:1"), a("10.0.0.2:1")]),
            [a("[::1]:1"), a("10.0.0.1:1"), a("[::2]:1"), a("10.0.0.2:1"), a("[::3]:1")]
        );
        assert_eq!(interleave_families(vec![a("10.0.0.1:1"), a("[::1]:1")]), [a("10.0.0.1:1"), a("[::1]:1")]);
        assert_eq!(interleave_families(vec![]), []);
    }

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

    #[test]
    fn tls_records_are_recognised_and_frame_lengths_are_not() {
        assert!(looks_like_tls_record([0x15, 0x03, 0x03, 0x00]));
        assert!(looks_like_tls_record([0x16, 0x03, 0x01, 0x02]));
        assert!(!looks_like_tls_record([0x00, 0x00, 0x00, 0x1c]));
        assert!(!looks_like_tls_record([0x17, 0x03, 0x03, 0x00]));
        assert!(!looks_like_tls_record([0x15, 0x03, 0x05, 0x00]));
    }
}
