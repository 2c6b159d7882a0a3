//! TCP: connecting within a deadline (name lookup, Happy Eyeballs across a
//! name's addresses) and the two syscalls every stream uses, a nonblocking
//! vectored `sendmsg` that never raises SIGPIPE and a `poll` until a deadline.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::mpsc;
use std::time::Duration;

use crate::clock::Instant;

use crate::address::HostPort;
use crate::error::{err, Result};

/// Segments one `sendmsg` takes at most: Linux's `UIO_MAXIOV`. A call of
/// 100 events with spliced bodies (about 200 segments) is one `sendmsg`; a
/// call of thousands, a few.
pub(super) const MAX_IOVECS: usize = 1024;

/// The iovecs of a connection's vectored writes, kept from call to call for
/// their memory: it grows to the most segments a call had (at most
/// `MAX_IOVECS`, 16 KiB), then allocates no more. On the heap, not the
/// stack: 16 KiB in a call's frame would be 16 KiB more of the caller's
/// stack. Empty between calls (`Iovecs` empties it).
#[derive(Default)]
pub(super) struct IovecBuf(Vec<libc::iovec>);

// SAFETY: between calls it holds no iovec (so no pointer into anyone's
// memory); during a call it is borrowed by the thread making it.
unsafe impl Send for IovecBuf {}

/// The segments of a vectored write not yet (fully) sent, as the iovecs
/// `sendmsg` reads: those of `iovecs` from `first` on, in order.
pub(super) struct Iovecs<'a, 's> {
    iovecs: &'a mut Vec<libc::iovec>,
    first: usize,
    /// The iovecs point into slices of this lifetime.
    segments: std::marker::PhantomData<&'s [u8]>,
}

impl<'a, 's> Iovecs<'a, 's> {
    pub(super) fn new(buf: &'a mut IovecBuf) -> Iovecs<'a, 's> {
        debug_assert!(buf.0.is_empty(), "the last write's `Iovecs` emptied it");
        Iovecs { iovecs: &mut buf.0, first: 0, segments: std::marker::PhantomData }
    }

    /// Takes segments from `segments` until there are `MAX_IOVECS` or it
    /// ends (those sent dropped from the front first).
    pub(super) fn fill(&mut self, segments: &mut impl Iterator<Item = &'s [u8]>) {
        if self.first > 0 {
            self.iovecs.drain(..self.first);
            self.first = 0;
        }
        for segment in segments.take(MAX_IOVECS - self.iovecs.len()) {
            self.iovecs.push(libc::iovec { iov_base: segment.as_ptr() as *mut libc::c_void, iov_len: segment.len() });
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.first == self.iovecs.len()
    }

    /// One nonblocking `sendmsg` of the pending segments with `MSG_NOSIGNAL`;
    /// those sent are no longer pending.
    pub(super) fn send(&mut self, fd: RawFd) -> io::Result<usize> {
        let pending = &mut self.iovecs[self.first..];
        // SAFETY: zeroed is a valid msghdr (no address, no control data).
        let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
        message.msg_iov = pending.as_mut_ptr();
        message.msg_iovlen = pending.len() as _;
        // SAFETY: the iovecs point into live slices, which the kernel only reads.
        let n = unsafe { libc::sendmsg(fd, &message, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut left = n as usize;
        for iovec in pending {
            if left < iovec.iov_len {
                // SAFETY: `left` bytes into the segment, within it.
                iovec.iov_base = unsafe { iovec.iov_base.cast::<u8>().add(left).cast() };
                iovec.iov_len -= left;
                break;
            }
            left -= iovec.iov_len;
            self.first += 1;
        }
        Ok(n as usize)
    }
}

impl Drop for Iovecs<'_, '_> {
    fn drop(&mut self) {
        self.iovecs.clear(); // no pointer into the segments outlives the write
    }
}

/// One nonblocking `send` of `bytes` with `MSG_NOSIGNAL` (the TLS session's writes).
#[cfg(feature = "tls")]
pub(super) fn send_nosignal(fd: RawFd, bytes: &[u8]) -> io::Result<usize> {
    // SAFETY: `bytes` is live; the kernel only reads it.
    let n = unsafe { libc::send(fd, bytes.as_ptr().cast(), bytes.len(), libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Waits until `fd` is ready for `events` (or has an error or hang-up, which
/// the next send or receive reports): `Ok(true)`; `Ok(false)` once `deadline`
/// passed.
pub(super) fn poll_until(fd: RawFd, events: libc::c_short, deadline: Instant) -> io::Result<bool> {
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
pub(super) fn connect(host: &HostPort, timeout: Duration, deadline: Instant) -> Result<TcpStream> {
    let addrs = interleave_families(resolve(host, timeout)?);
    let mut pending: Vec<(OwnedFd, SocketAddr)> = Vec::with_capacity(addrs.len());
    let mut errors: Vec<String> = Vec::new();
    // The operating system's error for the first address that failed with one: the error's source.
    let mut first_os_error: Option<io::Error> = None;
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
                    errors.push(describe_connect_error(&e, addr, timeout));
                    first_os_error = first_os_error.or(Some(e));
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
            return Err(err!(Connect, "{host}: poll while connecting: {e}").with_source(e));
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
                    errors.push(describe_connect_error(&e, addr, timeout));
                    first_os_error = first_os_error.or(Some(e));
                    next_start = Instant::now(); // a failed attempt lets the next one start at once
                }
            }
        }
    }
    for (_, addr) in &pending {
        errors.push(describe_connect_error(&io::ErrorKind::TimedOut.into(), *addr, timeout));
    }
    if next < addrs.len() {
        errors.push(format!("{} more address(es) not tried", addrs.len() - next));
    }
    let e = err!(
        Connect,
        "{host}: {}",
        if errors.is_empty() {
            format!("connect-timeout of {} ms passed", timeout.as_millis())
        } else {
            errors.join("; ")
        }
    );
    Err(match first_os_error {
        Some(os) => e.with_source(os),
        None => e,
    })
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
    stream.set_nonblocking(false).map_err(|e| err!(Connect, "{host}: clearing O_NONBLOCK: {e}").with_source(e))?;
    stream.set_nodelay(true).map_err(|e| err!(Connect, "{host}: setting TCP_NODELAY: {e}").with_source(e))?;
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
        .map_err(|e| err!(Connect, "{host}: cannot start name lookup: {e}").with_source(e))?;
    match rx.recv_timeout(timeout) {
        Ok(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
        Ok(Ok(_)) => Err(err!(Connect, "{host}: name has no addresses")),
        Ok(Err(e)) => Err(err!(Connect, "{host}: name not resolved: {e}").with_source(e)),
        Err(_) => {
            Err(err!(Connect, "{host}: name lookup took longer than connect-timeout ({} ms)", timeout.as_millis()))
        }
    }
}

fn describe_connect_error(e: &io::Error, addr: SocketAddr, timeout: Duration) -> String {
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

    /// Thousands of segments (empty ones among them) through a socket whose
    /// small buffers make most `sendmsg`s partial: the reader gets every
    /// byte, in order.
    #[test]
    fn vectored_writes_of_more_segments_than_one_sendmsg_takes_resume_where_they_stopped() {
        use std::io::Read;
        use std::os::unix::net::UnixStream;
        let (writer, mut reader) = UnixStream::pair().unwrap();
        writer.set_nonblocking(true).unwrap();
        let small: libc::c_int = 4096;
        // SAFETY: a valid socket and option value.
        unsafe {
            let size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            libc::setsockopt(
                writer.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_SNDBUF,
                (&small as *const libc::c_int).cast(),
                size,
            );
        }
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut segments = Vec::new();
        let (mut at, mut len) = (0, 0);
        while at < data.len() {
            let end = (at + len % 97).min(data.len());
            segments.push(&data[at..end]);
            (at, len) = (end, len + 13);
        }
        assert!(segments.len() > 3 * MAX_IOVECS && segments.iter().any(|s| s.is_empty()));
        let expected = data.len();
        // Bytes lost would leave the reader waiting: a timeout fails it instead.
        reader.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let read = std::thread::spawn(move || {
            let mut got = Vec::new();
            let mut buf = [0u8; 1000];
            while got.len() < expected {
                let n = reader.read(&mut buf).expect("bytes missing: the reader timed out");
                assert!(n > 0, "writer closed early");
                got.extend_from_slice(&buf[..n]);
            }
            got
        });
        let mut buf = IovecBuf::default();
        let mut pending = Iovecs::new(&mut buf);
        let mut rest = segments.into_iter();
        let (mut sends, mut partial) = (0, 0);
        loop {
            pending.fill(&mut rest);
            if pending.is_empty() {
                break;
            }
            match pending.send(writer.as_raw_fd()) {
                Ok(_) => {
                    sends += 1;
                    partial += usize::from(!pending.is_empty());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let deadline = Instant::now() + Duration::from_secs(10);
                    assert!(poll_until(writer.as_raw_fd(), libc::POLLOUT, deadline).unwrap(), "never writable");
                }
                Err(e) => panic!("sendmsg: {e}"),
            }
        }
        assert!(read.join().unwrap() == data, "the bytes read differ from those sent");
        assert!(sends > 3 && partial > 0, "{sends} sendmsg calls, {partial} partial: the test did not test resuming");
    }
}
