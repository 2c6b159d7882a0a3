//! The bytes of one connection: a TCP socket, plain or through a TLS session
//! (`tls::Session`, which has no value in a build without the `tls` feature,
//! so the plain path is all that is compiled there). Every wait ends at a
//! deadline.
//!
//! A plain call in steady state costs two syscalls: one nonblocking `sendmsg`
//! of the whole call, and one blocking `recv` that takes the reply's length and
//! body together, bounded by `SO_RCVTIMEO` (set once per connection, see
//! `set_recv_timeout`). Only the slow path (a send that would block, a reply in
//! pieces, a call that already used part of its time) waits with `poll`.

use std::io;
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use crate::clock::Instant;

use super::tcp::{poll_until, IovecBuf, Iovecs};
use super::tls::Session;
use super::{looks_like_tls_record, FRAME_HEADER_LEN};
use crate::error::{err, Error, Result};

/// How late the kernel may end a blocking `recv` after its `SO_RCVTIMEO`
/// (the timeout is counted in scheduler ticks, rounded up: 10 ms at HZ=100).
const KERNEL_TIMER_SLACK: Duration = Duration::from_millis(20);

/// A connected socket and, on a TLS connection, its session. For plain TCP
/// it holds only the iovecs of its writes (the caller owns the buffers of
/// calls and replies, so a reconnect does not reallocate them); a TLS stream
/// holds its session state.
pub(crate) struct Stream {
    socket: TcpStream,
    /// The host as the user named it, for messages.
    peer: String,
    /// The `SO_RCVTIMEO` set on the socket, if any (plain TCP only).
    recv_timeout: Option<Duration>,
    tls: Option<Session>,
    /// The iovecs of plain writes (`send_all`).
    iovecs: IovecBuf,
}

impl Stream {
    pub(super) fn new(socket: TcpStream, peer: String, tls: Option<Session>) -> Stream {
        Stream { socket, peer, recv_timeout: None, tls, iovecs: IovecBuf::default() }
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    pub(super) fn peer(&self) -> &str {
        &self.peer
    }

    /// Whether the stream is TLS: rustls copies what it encrypts, so a TLS
    /// call gains nothing from splicing bodies.
    pub(crate) fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Sends `segments`, `total` bytes in all, in order, with vectored writes
    /// (through the TLS session, when there is one), by `deadline`.
    pub(super) fn send_all<'s>(
        &mut self,
        segments: impl Iterator<Item = &'s [u8]>,
        total: usize,
        deadline: Instant,
    ) -> Result<()> {
        let fd = self.socket.as_raw_fd();
        if let Some(tls) = &mut self.tls {
            for segment in segments {
                tls.send_all(fd, &self.peer, segment, deadline)?;
            }
            return Ok(());
        }
        let mut segments = segments.filter(|s| !s.is_empty());
        let mut pending = Iovecs::new(&mut self.iovecs);
        let mut sent = 0;
        loop {
            pending.fill(&mut segments);
            if pending.is_empty() {
                return Ok(());
            }
            match pending.send(fd) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !poll_until(fd, libc::POLLOUT, deadline)
                        .map_err(|e| err!(Io, "{}: poll: {e}", self.peer).with_source(e))?
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
                    // Its borrow of `self.iovecs` ends here, for the messages below.
                    drop(pending);
                    // A TLS server may have answered the first bytes with an alert and closed.
                    let mut header = [0u8; FRAME_HEADER_LEN];
                    // SAFETY: reads at most 4 bytes into `header`; MSG_PEEK leaves them queued.
                    let n = unsafe {
                        libc::recv(fd, header.as_mut_ptr().cast(), header.len(), libc::MSG_PEEK | libc::MSG_DONTWAIT)
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
                    )
                    .with_source(e));
                }
            }
        }
    }

    /// Sets `SO_RCVTIMEO` from a call of `timeout` unless it is set (plain
    /// TCP only): a connection's first call sets it for all its calls.
    pub(super) fn set_recv_timeout_once(&mut self, timeout: Duration) {
        if self.recv_timeout.is_none() && !self.is_tls() {
            self.set_recv_timeout(timeout);
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
    pub(super) fn receive_some(&mut self, buf: &mut Vec<u8>, deadline: Instant) -> Result<()> {
        let fd = self.socket.as_raw_fd();
        if let Some(tls) = &mut self.tls {
            return tls.receive_some(fd, &self.peer, buf, deadline);
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
            if !poll_until(fd, libc::POLLIN, deadline)
                .map_err(|e| err!(Io, "{}: poll: {e}", self.peer).with_source(e))?
            {
                return Err(reply_timeout(&self.peer, buf.len()));
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
            0 => Err(closed_during_reply(&self.peer, buf.len(), "", self.plain_to_tls_hint())),
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
                Err(err!(Io, "{}: connection broken while receiving{hint}: {e}", self.peer).with_source(e))
            }
        }
    }

    /// Whether the server closed the stream (or sent bytes no call asked
    /// for) while it sat idle: one syscall when nothing arrived. On a TLS
    /// stream, records the server sends by itself (TLS 1.3 session tickets)
    /// are processed and do not count; a `close_notify` or end of stream does.
    pub(super) fn closed_while_idle(&mut self) -> bool {
        let fd = self.socket.as_raw_fd();
        if let Some(tls) = &mut self.tls {
            return tls.is_stale(fd);
        }
        let mut byte = 0u8;
        // SAFETY: reads at most one byte into `byte`; MSG_PEEK leaves it queued.
        let n = unsafe { libc::recv(fd, (&mut byte as *mut u8).cast(), 1, libc::MSG_PEEK | libc::MSG_DONTWAIT) };
        n >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock
    }

    /// Says goodbye on a TLS stream with a `close_notify`, if the socket takes it at once.
    pub(super) fn close(&mut self) {
        let fd = self.socket.as_raw_fd();
        if let Some(tls) = &mut self.tls {
            tls.close(fd);
        }
    }

    pub(super) fn answered_in_tls(&self, header: [u8; FRAME_HEADER_LEN]) -> Error {
        err!(
            Connect,
            "{}: the server answered with a TLS record ({header:02x?}): it is a TLS (ssl=true) source; \
             set ssl=true (nothing was delivered)",
            self.peer
        )
    }

    /// A Kerberos source reads a plain call's first byte as a SASL status,
    /// answers ERROR "Invalid status" and closes: it decoded no call.
    pub(super) fn answered_in_sasl(&self, received: &[u8]) -> Error {
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

/// The negotiation's view of the stream: the same sends and receives as
/// calls, plain or through TLS.
impl super::kerberos::Channel for Stream {
    fn send(&mut self, bytes: &[u8], deadline: Instant) -> Result<()> {
        self.send_all(std::iter::once(bytes), bytes.len(), deadline)
    }

    fn receive_some(&mut self, buf: &mut Vec<u8>, deadline: Instant) -> Result<()> {
        Stream::receive_some(self, buf, deadline)
    }
}

/// The deadline of a call passed before its reply was complete.
pub(super) fn reply_timeout(peer: &str, received: usize) -> Error {
    err!(Timeout, "{peer}: request-timeout passed while waiting for the reply: {received} bytes of it received")
}

/// The server closed the connection before the reply was complete; `hint`
/// (for a plain stream that received nothing) names the likely cause.
pub(super) fn closed_during_reply(peer: &str, received: usize, how: &str, hint: &str) -> Error {
    let hint = if received == 0 { hint } else { "" };
    err!(Io, "{peer}: connection closed by the server{how} after {received} bytes of the reply{hint}")
}
