//! A fault-injecting TCP proxy on loopback, for tests: it sits between a
//! client and a receiver, forwards bytes both ways, and for every chunk it
//! reads asks its plan what to do with it: pass it on, delay it, stall the
//! direction, reset both connections, truncate (forward a prefix, then close),
//! or corrupt a byte.
//!
//! A plan is any `Fn(&Chunk) -> Fault`; `random_plan` draws faults from a
//! seeded PRNG at given rates, `scripted_plan` applies faults at given
//! connections, directions and byte offsets. The proxy counts the faults it
//! injected and its open connections, so a test can wait until everything is
//! torn down before counting file descriptors.
//!
//! Everything stops when the `Proxy` is dropped: the listener closes, every
//! connection is closed, and its threads end within `POLL`.

#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How often blocked reads, writes and the accept loop look at the stop flags.
const POLL: Duration = Duration::from_millis(20);
/// How long the proxy tries to reach the upstream for each accepted connection.
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Which way a chunk travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the client to the upstream (calls).
    ToServer,
    /// From the upstream to the client (replies).
    ToClient,
}

/// What the proxy does with a chunk it has read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forward it.
    Pass,
    /// Forward it after this pause (later chunks of the direction wait too).
    Delay(Duration),
    /// Drop it and everything after it in this direction; the connection stays
    /// open until one of its ends closes.
    Stall,
    /// Close both connections with a TCP reset (SO_LINGER 0).
    Reset,
    /// Forward at most this many bytes of the chunk, then close both connections.
    Truncate(usize),
    /// XOR the byte at `offset % len` with `mask` (not 0), then forward the chunk.
    Corrupt { offset: usize, mask: u8 },
}

impl Fault {
    fn index(self) -> usize {
        match self {
            Fault::Pass => 0,
            Fault::Delay(_) => 1,
            Fault::Stall => 2,
            Fault::Reset => 3,
            Fault::Truncate(_) => 4,
            Fault::Corrupt { .. } => 5,
        }
    }
}

/// A chunk the proxy read, as shown to the plan.
#[derive(Clone, Copy, Debug)]
pub struct Chunk {
    /// Connections accepted before this one.
    pub connection: usize,
    pub direction: Direction,
    /// Bytes of this direction of this connection before the chunk.
    pub offset: u64,
    pub len: usize,
}

pub type Plan = dyn Fn(&Chunk) -> Fault + Send + Sync;

/// Faults injected so far, by kind, and connections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultCounts {
    pub delay: u64,
    pub stall: u64,
    pub reset: u64,
    pub truncate: u64,
    pub corrupt: u64,
    /// Accepted connections whose upstream could not be reached (closed at once).
    pub upstream_refused: u64,
    pub connections: u64,
}

impl FaultCounts {
    /// Faults of every kind but `Pass`.
    pub fn total(&self) -> u64 {
        self.delay + self.stall + self.reset + self.truncate + self.corrupt
    }

    pub fn add(&mut self, other: &FaultCounts) {
        self.delay += other.delay;
        self.stall += other.stall;
        self.reset += other.reset;
        self.truncate += other.truncate;
        self.corrupt += other.corrupt;
        self.upstream_refused += other.upstream_refused;
        self.connections += other.connections;
    }
}

impl std::fmt::Display for FaultCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} faults ({} delay, {} stall, {} reset, {} truncate, {} corrupt) over {} connections, {} refused upstream",
            self.total(),
            self.delay,
            self.stall,
            self.reset,
            self.truncate,
            self.corrupt,
            self.connections,
            self.upstream_refused
        )
    }
}

struct Shared {
    upstream: SocketAddr,
    plan: Mutex<Arc<Plan>>,
    stop: AtomicBool,
    accepted: AtomicUsize,
    open: AtomicUsize,
    counts: [AtomicU64; 6],
    upstream_refused: AtomicU64,
    /// The close flag of each open connection, for `close_all`.
    connections: Mutex<Vec<Arc<AtomicBool>>>,
}

/// A proxy listening on a free loopback port, forwarding to `upstream`.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<thread::JoinHandle<()>>,
}

impl Proxy {
    pub fn start(upstream: SocketAddr, plan: impl Fn(&Chunk) -> Fault + Send + Sync + 'static) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        listener.set_nonblocking(true).expect("nonblocking listener");
        let addr = listener.local_addr().expect("proxy address");
        let shared = Arc::new(Shared {
            upstream,
            plan: Mutex::new(Arc::new(plan)),
            stop: AtomicBool::new(false),
            accepted: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
            counts: Default::default(),
            upstream_refused: AtomicU64::new(0),
            connections: Mutex::new(Vec::new()),
        });
        let accept_shared = Arc::clone(&shared);
        let accept = thread::spawn(move || accept_loop(listener, accept_shared));
        Proxy { addr, shared, accept: Some(accept) }
    }

    /// A proxy that forwards everything untouched.
    pub fn transparent(upstream: SocketAddr) -> Proxy {
        Proxy::start(upstream, |_| Fault::Pass)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the plan for the chunks read from now on.
    pub fn set_plan(&self, plan: impl Fn(&Chunk) -> Fault + Send + Sync + 'static) {
        *self.shared.plan.lock().unwrap() = Arc::new(plan);
    }

    /// Connections currently open (both threads of each not yet ended).
    pub fn open_connections(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }

    pub fn counts(&self) -> FaultCounts {
        let c = |i: usize| self.shared.counts[i].load(Ordering::SeqCst);
        FaultCounts {
            delay: c(1),
            stall: c(2),
            reset: c(3),
            truncate: c(4),
            corrupt: c(5),
            upstream_refused: self.shared.upstream_refused.load(Ordering::SeqCst),
            connections: self.shared.accepted.load(Ordering::SeqCst) as u64,
        }
    }

    /// Closes every open connection (the listener stays).
    pub fn close_all(&self) {
        for flag in self.shared.connections.lock().unwrap().iter() {
            flag.store(true, Ordering::SeqCst);
        }
    }

    /// Waits up to `timeout` until no connection is open; true if none is.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.open_connections() > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(5));
        }
        true
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.close_all();
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        self.wait_idle(Duration::from_secs(5));
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        let client = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(2));
                continue;
            }
            Err(_) => {
                thread::sleep(Duration::from_millis(2));
                continue;
            }
        };
        let index = shared.accepted.fetch_add(1, Ordering::SeqCst);
        let _ = client.set_nonblocking(false);
        let server = match TcpStream::connect_timeout(&shared.upstream, UPSTREAM_CONNECT_TIMEOUT) {
            Ok(server) => server,
            Err(_) => {
                // The receiver is down: the client sees its connection closed.
                shared.upstream_refused.fetch_add(1, Ordering::SeqCst);
                continue;
            }
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let closed = Arc::new(AtomicBool::new(false));
        {
            let mut connections = shared.connections.lock().unwrap();
            connections.retain(|flag| Arc::strong_count(flag) > 1); // drop the flags of ended connections
            connections.push(Arc::clone(&closed));
        }
        shared.open.fetch_add(1, Ordering::SeqCst);
        let ends =
            Arc::new(Ends { client, server, closed, threads_left: AtomicUsize::new(2), shared: Arc::clone(&shared) });
        for direction in [Direction::ToServer, Direction::ToClient] {
            let ends = Arc::clone(&ends);
            thread::spawn(move || {
                pump(&ends, index, direction);
                if ends.threads_left.fetch_sub(1, Ordering::SeqCst) == 1 {
                    // The last thread drops the sockets (with `ends`), then the connection counts as closed.
                    let shared = Arc::clone(&ends.shared);
                    drop(ends);
                    shared.open.fetch_sub(1, Ordering::SeqCst);
                }
            });
        }
    }
}

/// The two sockets of one proxied connection.
struct Ends {
    client: TcpStream,
    server: TcpStream,
    /// Set to close both: each thread ends within `POLL`, and the sockets close with the last one.
    closed: Arc<AtomicBool>,
    threads_left: AtomicUsize,
    shared: Arc<Shared>,
}

impl Ends {
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst) || self.shared.stop.load(Ordering::SeqCst)
    }

    /// Makes the close a reset: with SO_LINGER 0, closing a socket sends RST.
    fn reset(&self) {
        for stream in [&self.client, &self.server] {
            let linger = libc::linger { l_onoff: 1, l_linger: 0 };
            // SAFETY: a valid socket and a correctly sized option value.
            unsafe {
                libc::setsockopt(
                    stream.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_LINGER,
                    &linger as *const libc::linger as *const libc::c_void,
                    std::mem::size_of::<libc::linger>() as libc::socklen_t,
                );
            }
        }
        self.close();
    }
}

fn pump(ends: &Ends, connection: usize, direction: Direction) {
    let (mut from, mut to) = match direction {
        Direction::ToServer => (&ends.client, &ends.server),
        Direction::ToClient => (&ends.server, &ends.client),
    };
    let _ = from.set_read_timeout(Some(POLL));
    let _ = to.set_write_timeout(Some(POLL));
    let mut buf = vec![0u8; 16 * 1024];
    let mut offset = 0u64;
    let mut stalled = false;
    while !ends.is_closed() {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(_) => break,
        };
        if stalled {
            continue; // read and dropped, so the sender never blocks
        }
        let chunk = Chunk { connection, direction, offset, len: n };
        offset += n as u64;
        let plan = Arc::clone(&ends.shared.plan.lock().unwrap());
        let fault = plan(&chunk);
        ends.shared.counts[fault.index()].fetch_add(1, Ordering::SeqCst);
        let data = &mut buf[..n];
        match fault {
            Fault::Pass => {}
            Fault::Delay(pause) => {
                let until = Instant::now() + pause;
                while Instant::now() < until && !ends.is_closed() {
                    thread::sleep(until.saturating_duration_since(Instant::now()).min(POLL));
                }
            }
            Fault::Stall => {
                stalled = true;
                continue;
            }
            Fault::Reset => {
                ends.reset();
                return;
            }
            Fault::Truncate(keep) => {
                let _ = write_all(ends, &mut to, &data[..keep.min(n)]);
                ends.close();
                return;
            }
            Fault::Corrupt { offset, mask } => data[offset % n] ^= if mask == 0 { 0xff } else { mask },
        }
        if write_all(ends, &mut to, &buf[..n]).is_err() {
            break;
        }
    }
    ends.close();
}

/// Writes everything unless the connection is closed meanwhile.
fn write_all(ends: &Ends, to: &mut &TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        if ends.is_closed() {
            return Err(io::ErrorKind::NotConnected.into());
        }
        match to.write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Plans.

/// SplitMix64: small, seedable, good enough to draw faults.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// Probability, per chunk, of each fault.
#[derive(Clone, Copy, Debug)]
pub struct FaultRates {
    /// A pause of up to `max_delay`.
    pub delay: f64,
    pub max_delay: Duration,
    pub stall: f64,
    pub reset: f64,
    pub truncate: f64,
    pub corrupt: f64,
}

/// Faults drawn per chunk from a PRNG seeded with `seed`: the same seed and the
/// same sequence of chunks give the same faults.
pub fn random_plan(seed: u64, rates: FaultRates) -> impl Fn(&Chunk) -> Fault + Send + Sync + 'static {
    let rng = Mutex::new(Rng::new(seed));
    move |chunk: &Chunk| {
        let mut rng = rng.lock().unwrap();
        let roll = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let mut edge = rates.delay;
        if roll < edge {
            let max = rates.max_delay.as_micros().max(1) as u64;
            return Fault::Delay(Duration::from_micros(rng.below(max)));
        }
        edge += rates.stall;
        if roll < edge {
            return Fault::Stall;
        }
        edge += rates.reset;
        if roll < edge {
            return Fault::Reset;
        }
        edge += rates.truncate;
        if roll < edge {
            return Fault::Truncate(rng.below(chunk.len as u64) as usize);
        }
        edge += rates.corrupt;
        if roll < edge {
            return Fault::Corrupt { offset: rng.below(chunk.len as u64) as usize, mask: 1 + rng.below(255) as u8 };
        }
        Fault::Pass
    }
}

/// One scheduled fault: applied to the first chunk of `direction` on
/// connection `connection` that reaches byte `at` of that direction.
#[derive(Clone, Copy, Debug)]
pub struct Scheduled {
    pub connection: usize,
    pub direction: Direction,
    pub at: u64,
    pub fault: Fault,
}

/// Faults at given points; every other chunk passes.
pub fn scripted_plan(schedule: Vec<Scheduled>) -> impl Fn(&Chunk) -> Fault + Send + Sync + 'static {
    let pending = Mutex::new(schedule);
    move |chunk: &Chunk| {
        let mut pending = pending.lock().unwrap();
        let end = chunk.offset + chunk.len as u64;
        let hit = pending
            .iter()
            .position(|s| s.connection == chunk.connection && s.direction == chunk.direction && s.at < end);
        match hit {
            Some(i) => pending.remove(i).fault,
            None => Fault::Pass,
        }
    }
}
