//! One framed TCP connection to a Thrift source, with deadlines on every wait.
//!
//! Writes use `send(MSG_NOSIGNAL)` so a dead peer gives `EPIPE`, never SIGPIPE.
//! Waits use `poll` against a deadline computed once per call, so a slow peer
//! cannot stretch a call past its `request-timeout`.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::error::{err, Result};
use crate::hosts::HostPort;
use crate::wire::{frame_len, FRAME_HEADER_LEN};

/// The largest reply frame accepted. A reply is a status, or an exception and
/// its message: a few dozen bytes. The cap keeps a hostile or mistaken peer
/// (an HTTP server's "HTTP" reads as a 1.2 GB length) from making us allocate.
pub(crate) const MAX_REPLY_SIZE: usize = 64 * 1024;

/// An open connection. It holds no buffers: the client owns them, so a
/// reconnect does not reallocate.
pub(crate) struct Connection {
    stream: TcpStream,
    peer: String,
}

impl Connection {
    /// Resolves `host` and connects to its first address that answers, all
    /// within `timeout`.
    pub(crate) fn open(host: &HostPort, timeout: Duration) -> Result<Connection> {
        let deadline = Instant::now() + timeout;
        let addrs = resolve(host, timeout)?;
        let mut last_error = None;
        for addr in addrs {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break;
            }
            match TcpStream::connect_timeout(&addr, remaining) {
                Ok(stream) => {
                    stream
                        .set_nodelay(true)
                        .map_err(|e| err!(Connect, "{host}: setting TCP_NODELAY: {e}"))?;
                    return Ok(Connection { stream, peer: host.to_string() });
                }
                Err(e) => last_error = Some(describe_connect_error(e, addr, timeout)),
            }
        }
        Err(err!(
            Connect,
            "{host}: {}",
            last_error.unwrap_or_else(|| format!("connect-timeout of {} ms passed", timeout.as_millis()))
        ))
    }

    /// Sends the framed call in `request` and reads one reply frame into
    /// `reply`, returning its payload. Fails with `Timeout` at `deadline`, `Io`
    /// if the connection breaks, `Protocol` on a frame length outside
    /// `1..=MAX_REPLY_SIZE` or on bytes past the reply (the connection is then
    /// out of step).
    pub(crate) fn round_trip<'r>(&mut self, request: &[u8], reply: &'r mut Vec<u8>, deadline: Instant) -> Result<&'r [u8]> {
        self.send_all(request, deadline)?;
        self.receive_frame(reply, deadline)
    }

    /// Whether the server closed the connection (or sent bytes no call asked
    /// for) while it sat idle: it must then not be used. Costs one syscall.
    pub(crate) fn is_stale(&mut self) -> bool {
        let mut byte = 0u8;
        // SAFETY: reads at most one byte into `byte`; MSG_PEEK leaves it queued.
        let n = unsafe {
            libc::recv(self.fd(), (&mut byte as *mut u8).cast(), 1, libc::MSG_PEEK | libc::MSG_DONTWAIT)
        };
        n >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock
    }

    fn fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }

    fn send_all(&mut self, mut bytes: &[u8], deadline: Instant) -> Result<()> {
        let total = bytes.len();
        while !bytes.is_empty() {
            // SAFETY: `bytes` is a live slice and the fd is owned by `self.stream`.
            let n = unsafe {
                libc::send(
                    self.fd(),
                    bytes.as_ptr().cast(),
                    bytes.len(),
                    libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
                )
            };
            if n >= 0 {
                bytes = &bytes[n as usize..];
                continue;
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::WouldBlock => self.wait(libc::POLLOUT, deadline, || {
                    format!("sending: {} of {total} bytes sent", total - bytes.len())
                })?,
                io::ErrorKind::Interrupted => {}
                _ => {
                    return Err(err!(
                        Io,
                        "{}: connection broken while sending ({} of {total} bytes sent): {e}",
                        self.peer,
                        total - bytes.len()
                    ))
                }
            }
        }
        Ok(())
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
                let header = buf[..FRAME_HEADER_LEN].try_into().expect("4 bytes");
                let end = FRAME_HEADER_LEN + frame_len(header, MAX_REPLY_SIZE)?;
                buf.reserve(end.saturating_sub(buf.len()));
                frame_end = Some(end);
                continue;
            }
            if buf.capacity() == buf.len() {
                buf.reserve(256);
            }
            self.wait(libc::POLLIN, deadline, || {
                format!("waiting for the reply: {} bytes of it received", buf.len())
            })?;
            let spare = buf.spare_capacity_mut();
            // SAFETY: the kernel writes at most `spare.len()` bytes into the
            // spare capacity, and we extend the length by exactly what it wrote.
            let n = unsafe {
                libc::recv(self.fd(), spare.as_mut_ptr().cast(), spare.len(), libc::MSG_DONTWAIT)
            };
            match n {
                0 => {
                    return Err(err!(
                        Io,
                        "{}: connection closed by the server after {} bytes of the reply",
                        self.peer,
                        buf.len()
                    ))
                }
                n if n > 0 => unsafe { buf.set_len(buf.len() + n as usize) },
                _ => {
                    let e = io::Error::last_os_error();
                    if !matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) {
                        return Err(err!(Io, "{}: connection broken while receiving: {e}", self.peer));
                    }
                }
            }
        }
    }

    /// Waits until the socket is ready for `events` or `deadline` passes.
    fn wait(&self, events: libc::c_short, deadline: Instant, doing: impl FnOnce() -> String) -> Result<()> {
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(err!(Timeout, "{}: request-timeout passed while {}", self.peer, doing()));
            }
            // Round up so a wait never ends a fraction of a millisecond early and spins.
            let ms = remaining.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
            let mut pfd = libc::pollfd { fd: self.fd(), events, revents: 0 };
            // SAFETY: one valid pollfd.
            match unsafe { libc::poll(&mut pfd, 1, ms) } {
                0 => continue,
                n if n > 0 => return Ok(()), // ready, or an error the next send/recv reports
                _ => {
                    let e = io::Error::last_os_error();
                    if e.kind() != io::ErrorKind::Interrupted {
                        return Err(err!(Io, "{}: poll: {e}", self.peer));
                    }
                }
            }
        }
    }
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
        Err(_) => Err(err!(
            Connect,
            "{host}: name lookup took longer than connect-timeout ({} ms)",
            timeout.as_millis()
        )),
    }
}

fn describe_connect_error(e: io::Error, addr: SocketAddr, timeout: Duration) -> String {
    if e.kind() == io::ErrorKind::TimedOut || e.kind() == io::ErrorKind::WouldBlock {
        format!("connecting to {addr}: no answer within connect-timeout ({} ms)", timeout.as_millis())
    } else {
        format!("connecting to {addr}: {e}")
    }
}
