//! One fake Flume Thrift source for the tests (and examples/send_bench.rs): a
//! listener on loopback whose connections read framed Thrift calls, decode
//! them with the crate's own decoder (`flume_client::unstable::decode_call`)
//! and answer each as the test says.
//!
//! `FakeSource::start(protocol)` answers every call `OK` at once and records
//! every call. `FakeSource::builder(protocol)` sets, per test:
//!
//! * the answer per call: a fixed `Status` (`reply`; `set_reply` changes it
//!   while running), or a script deciding per call (`script`: a
//!   `Fn(&Request) -> Action`, which sees the call, its raw bytes and its
//!   index and may answer with any bytes, close the connection, stay silent
//!   or take the raw connection over);
//! * a delay before each answer (`delay`; `set_delay`);
//! * what it records (`record`): every decoded call (the default), only a
//!   summary per call, or nothing (for long runs that watch their memory);
//! * where it listens (`port`, or `listener` for one the test made), and the
//!   largest frame it reads (`max_frame`);
//! * for a benchmark's sink, reading only each call's message header
//!   (`skip_events`).
//!
//! Always counted: connections accepted, open and most open at once; calls in
//! flight and most in flight; calls decoded; bytes read and the bytes of whole
//! frames; frames with a bad length and calls that do not decode (each ends
//! its connection without an answer, as a real source does).
//!
//! `stop` closes the listener and every connection and returns once no
//! connection thread runs (connecting is then refused); `restart` listens
//! again on the same port, keeping what was recorded; dropping the source
//! stops it.
//!
//! Below it, for servers that misbehave at the byte level: `Acceptor` (the
//! listener, its accept thread, the per-connection threads, stop, restart and
//! the connection counts) hands each connection to a function, and
//! `read_frame`, `reply_bytes` and `framed` are the pieces of the call loop.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::ops::{Deref, DerefMut};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use flume_client::unstable::{decode_call, encode_reply, frame_len};
pub use flume_client::unstable::{Call, Method, Status, FRAME_HEADER_LEN};
use flume_client::Protocol;

/// The largest frame a source reads unless told otherwise.
pub const DEFAULT_MAX_FRAME: usize = 64 << 20;

// ---------------------------------------------------------------------------
// The listener and its connections.

/// Set once a server is stopping; connection threads can wait on it instead
/// of sleeping, so that a stop does not wait out their pauses.
#[derive(Clone, Default)]
pub struct Stopping(Arc<(Mutex<bool>, Condvar)>);

impl Stopping {
    fn set(&self) {
        *self.0 .0.lock().unwrap() = true;
        self.0 .1.notify_all();
    }

    fn clear(&self) {
        *self.0 .0.lock().unwrap() = false;
    }

    pub fn is_set(&self) -> bool {
        *self.0 .0.lock().unwrap()
    }

    /// Waits until the server stops or `limit` passes (`None`: no limit);
    /// true if it stopped.
    pub fn wait(&self, limit: Option<Duration>) -> bool {
        let deadline = limit.and_then(|limit| Instant::now().checked_add(limit));
        let mut stopping = self.0 .0.lock().unwrap();
        while !*stopping {
            match deadline {
                None => stopping = self.0 .1.wait(stopping).unwrap(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    stopping = self.0 .1.wait_timeout(stopping, deadline - now).unwrap().0;
                }
            }
        }
        true
    }
}

/// One accepted connection, as a handler gets it (it derefs to the stream).
pub struct Connection {
    pub stream: TcpStream,
    /// Connections accepted before this one, over all runs.
    pub index: usize,
    pub stopping: Stopping,
}

impl Deref for Connection {
    type Target = TcpStream;
    fn deref(&self) -> &TcpStream {
        &self.stream
    }
}

impl DerefMut for Connection {
    fn deref_mut(&mut self) -> &mut TcpStream {
        &mut self.stream
    }
}

type Handler = dyn Fn(&mut Connection) + Send + Sync;

/// Connections, over all runs.
#[derive(Default)]
struct Connections {
    accepted: AtomicUsize,
    open: AtomicUsize,
    most_open: AtomicUsize,
}

struct Running {
    stopping: Stopping,
    /// A clone of every open connection, to shut them all down.
    streams: Arc<Mutex<HashMap<usize, TcpStream>>>,
    handlers: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: JoinHandle<()>,
}

/// A listener whose accept thread hands each connection, on a thread of its
/// own, to `handler`; the connection closes when the handler returns.
pub struct Acceptor {
    addr: SocketAddr,
    handler: Arc<Handler>,
    connections: Arc<Connections>,
    running: Option<Running>,
}

impl Acceptor {
    /// Listens on 127.0.0.1:`port` (0: a free port).
    pub fn start(port: u16, handler: impl Fn(&mut Connection) + Send + Sync + 'static) -> Acceptor {
        Acceptor::on(bind(SocketAddr::from(([127, 0, 0, 1], port))), handler)
    }

    /// Serves on a listener the test made (connections it queued are accepted first).
    pub fn on(listener: TcpListener, handler: impl Fn(&mut Connection) + Send + Sync + 'static) -> Acceptor {
        let addr = listener.local_addr().expect("the listener's address");
        let mut acceptor = Acceptor { addr, handler: Arc::new(handler), connections: Arc::default(), running: None };
        acceptor.run(listener);
        acceptor
    }

    fn run(&mut self, listener: TcpListener) {
        assert!(self.running.is_none(), "already running");
        assert!(
            reuse_addr(&listener),
            "std's TcpListener::bind did not set SO_REUSEADDR: a restart on the same port would fail"
        );
        let stopping = Stopping::default();
        let streams: Arc<Mutex<HashMap<usize, TcpStream>>> = Arc::default();
        let handlers: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let acceptor = {
            let (stopping, streams, handlers) = (stopping.clone(), Arc::clone(&streams), Arc::clone(&handlers));
            let (handler, connections) = (Arc::clone(&self.handler), Arc::clone(&self.connections));
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stopping.is_set() {
                        break; // woken by `stop`: the listener closes here
                    }
                    let Ok(stream) = stream else { continue };
                    let index = connections.accepted.fetch_add(1, SeqCst);
                    let open = connections.open.fetch_add(1, SeqCst) + 1;
                    connections.most_open.fetch_max(open, SeqCst);
                    streams.lock().unwrap().insert(index, stream.try_clone().expect("clone an accepted stream"));
                    let (handler, connections, streams) =
                        (Arc::clone(&handler), Arc::clone(&connections), Arc::clone(&streams));
                    let stopping = stopping.clone();
                    let thread = thread::spawn(move || {
                        let mut connection = Connection { stream, index, stopping };
                        handler(&mut connection);
                        // Both descriptors go before the count does (a test may count descriptors once idle).
                        drop(streams.lock().unwrap().remove(&index));
                        drop(connection);
                        connections.open.fetch_sub(1, SeqCst);
                    });
                    handlers.lock().unwrap().push(thread);
                }
            })
        };
        self.running = Some(Running { stopping, streams, handlers, acceptor });
    }

    /// Closes the listener and every connection; returns once no handler
    /// runs. Connecting to the port is then refused. Panics if a handler
    /// panicked.
    pub fn stop(&mut self) {
        let Some(running) = self.running.take() else { return };
        running.stopping.set();
        // Wake the accept loop, which then sees the flag and drops the listener.
        let _ = TcpStream::connect_timeout(&self.wake_addr(), Duration::from_secs(2));
        let accepted = running.acceptor.join();
        for stream in running.streams.lock().unwrap().values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let handlers: Vec<_> = running.handlers.lock().unwrap().drain(..).collect();
        let panicked = handlers.into_iter().map(JoinHandle::join).filter(Result::is_err).count();
        // A panic there (a script's assertion) fails the test, unless it is failing already.
        if !thread::panicking() {
            assert!(accepted.is_ok(), "the accept thread panicked");
            assert_eq!(panicked, 0, "connection threads panicked");
        }
    }

    /// Listens again on the same address.
    pub fn restart(&mut self) {
        let listener = bind(self.addr);
        self.run(listener);
    }

    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    pub fn socket_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address as a host list entry (`127.0.0.1:port`).
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn accepted(&self) -> usize {
        self.connections.accepted.load(SeqCst)
    }

    pub fn open(&self) -> usize {
        self.connections.open.load(SeqCst)
    }

    pub fn most_open(&self) -> usize {
        self.connections.most_open.load(SeqCst)
    }

    /// Waits until no connection is open; false if some still are after `timeout`.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.open() > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(5));
        }
        true
    }

    fn wake_addr(&self) -> SocketAddr {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(if addr.is_ipv4() { [127, 0, 0, 1].into() } else { std::net::Ipv6Addr::LOCALHOST.into() });
        }
        addr
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Binds `addr`. A port just released is retried briefly, in case a
/// connection of another test got it as its ephemeral port meanwhile.
fn bind(addr: SocketAddr) -> TcpListener {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpListener::bind(addr) {
            Ok(listener) => return listener,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && addr.port() != 0 && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("binding {addr}: {e}"),
        }
    }
}

fn reuse_addr(listener: &TcpListener) -> bool {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: one c_int out-parameter of the size given, on a live socket.
    let rc = unsafe {
        libc::getsockopt(
            listener.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    rc == 0 && value != 0
}

/// A port nothing listens on: bound, then closed (connecting is refused).
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------
// The pieces of the call loop.

/// How one frame read ended.
pub enum Frame {
    /// A whole frame: its payload is in the buffer given.
    Read,
    /// The peer closed, or the read failed (at a frame's start or inside it).
    Closed,
    /// A header declaring a length outside `1..=max`.
    BadLength,
}

/// Reads one frame into `header` and `payload`, adding every byte read to `bytes`.
pub fn read_frame(
    stream: &mut TcpStream,
    max: usize,
    header: &mut [u8; FRAME_HEADER_LEN],
    payload: &mut Vec<u8>,
    bytes: &AtomicUsize,
) -> Frame {
    if read_counted(stream, header, bytes).is_err() {
        return Frame::Closed;
    }
    let Ok(len) = frame_len(*header, max) else { return Frame::BadLength };
    payload.resize(len, 0);
    if read_counted(stream, payload, bytes).is_err() {
        return Frame::Closed;
    }
    Frame::Read
}

/// `read_exact` that counts every byte as it arrives.
fn read_counted(stream: &mut TcpStream, mut buf: &mut [u8], bytes: &AtomicUsize) -> io::Result<()> {
    while !buf.is_empty() {
        match stream.read(buf) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                bytes.fetch_add(n, SeqCst);
                buf = &mut buf[n..];
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The framed reply a Flume source sends, carrying `status`.
pub fn reply_bytes(protocol: Protocol, seqid: i32, method: Method, status: Status) -> Vec<u8> {
    let mut buf = Vec::new();
    encode_reply(protocol, &mut buf, seqid, method, status);
    buf
}

/// `payload` behind its frame header.
pub fn framed(payload: &[u8]) -> Vec<u8> {
    let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(payload);
    frame
}

// ---------------------------------------------------------------------------
// The source.

/// A call as the source read it, for a script.
pub struct Request<'a> {
    /// Calls decoded before this one, over all connections and runs.
    pub index: usize,
    /// The connection's index (connections accepted before it).
    pub connection: usize,
    /// The protocol the source decodes calls with (the client's).
    pub protocol: Protocol,
    pub header: [u8; FRAME_HEADER_LEN],
    /// The frame's payload as received.
    pub payload: &'a [u8],
    pub call: Call,
}

impl Request<'_> {
    pub fn seqid(&self) -> i32 {
        self.call.seqid
    }

    pub fn method(&self) -> Method {
        self.call.method
    }

    /// The framed reply a Flume source sends, carrying `status`.
    pub fn reply(&self, status: Status) -> Vec<u8> {
        reply_bytes(self.protocol, self.seqid(), self.method(), status)
    }
}

/// What the source does with a call it has read.
pub enum Action {
    /// Answers with the reply carrying this status.
    Reply(Status),
    /// Writes these bytes (in one write) and waits for the next call.
    Send(Vec<u8>),
    /// Writes these bytes, then closes the connection.
    SendThenClose(Vec<u8>),
    /// Writes `now`, waits `pause`, writes `later`, then waits for the next call.
    SendThenLater { now: Vec<u8>, pause: Duration, later: Vec<u8> },
    /// Closes the connection without a byte of answer.
    Close,
    /// Never answers; reads the next call (the connection stays open until the client drops it).
    Silent,
    /// Hands the connection to this function, then closes it.
    Take(Box<dyn FnOnce(&mut Connection) + Send>),
}

pub type Script = dyn Fn(&Request) -> Action + Send + Sync;

/// What the source keeps of each call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    /// Only the counters.
    Nothing,
    /// A `Summary` per call.
    Summaries,
    /// A `Summary` and the decoded call.
    Calls,
}

/// One call, in brief.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    pub connection: usize,
    pub method: Method,
    pub seqid: i32,
    pub events: usize,
    /// Bytes of the frame's payload.
    pub payload_len: usize,
    /// The payload's first two bytes (strict binary: 0x80 0x01; compact: 0x82 and the version and type).
    pub head: [u8; 2],
}

enum Answer {
    Fixed(Status),
    Script(Arc<Script>),
}

/// How a source is set up; `FakeSource::builder` makes one.
pub struct Options {
    protocol: Protocol,
    port: u16,
    listener: Option<TcpListener>,
    answer: Answer,
    delay: Duration,
    record: Record,
    max_frame: usize,
    skip_events: bool,
}

impl Options {
    /// Listens on 127.0.0.1:`port` (default 0: a free port).
    pub fn port(mut self, port: u16) -> Options {
        self.port = port;
        self
    }

    /// Serves on a listener the test made (any address; its queued connections are accepted first).
    pub fn listener(mut self, listener: TcpListener) -> Options {
        self.listener = Some(listener);
        self
    }

    /// Answers every call with `status` (default `Ok`).
    pub fn reply(mut self, status: Status) -> Options {
        self.answer = Answer::Fixed(status);
        self
    }

    /// Decides per call.
    pub fn script(mut self, script: impl Fn(&Request) -> Action + Send + Sync + 'static) -> Options {
        self.answer = Answer::Script(Arc::new(script));
        self
    }

    /// Waits this long before each answer (default none).
    pub fn delay(mut self, delay: Duration) -> Options {
        self.delay = delay;
        self
    }

    /// What to keep of each call (default `Record::Calls`).
    pub fn record(mut self, record: Record) -> Options {
        self.record = record;
        self
    }

    /// The largest frame payload read (default 64 MiB); a longer declared length ends the connection.
    pub fn max_frame(mut self, max: usize) -> Options {
        self.max_frame = max;
        self
    }

    /// Reads only each call's message header (method and seqid) and skips
    /// its events, which a script then does not see: a sink for benchmarks,
    /// whose decoding would cost more than the client's encoding.
    pub fn skip_events(mut self) -> Options {
        self.skip_events = true;
        self
    }

    pub fn start(self) -> FakeSource {
        let shared = Arc::new(Shared {
            protocol: AtomicU8::new(protocol_number(self.protocol)),
            answer: Mutex::new(self.answer),
            delay: Mutex::new(self.delay),
            record: self.record,
            max_frame: self.max_frame,
            skip_events: self.skip_events,
            summaries: Mutex::default(),
            calls: Mutex::default(),
            decoded: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            most_in_flight: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            framed_bytes: AtomicUsize::new(0),
            bad_frames: AtomicUsize::new(0),
            undecodable: AtomicUsize::new(0),
            actions_done: AtomicUsize::new(0),
        });
        let serving = Arc::clone(&shared);
        let handler = move |connection: &mut Connection| serve(connection, &serving);
        let acceptor = match self.listener {
            Some(listener) => Acceptor::on(listener, handler),
            None => Acceptor::start(self.port, handler),
        };
        FakeSource { acceptor, shared }
    }
}

struct Shared {
    /// `protocol_number` of the protocol calls are decoded with.
    protocol: AtomicU8,
    answer: Mutex<Answer>,
    delay: Mutex<Duration>,
    record: Record,
    max_frame: usize,
    skip_events: bool,
    summaries: Mutex<Vec<Summary>>,
    calls: Mutex<Vec<Call>>,
    decoded: AtomicUsize,
    /// Calls read and not yet answered.
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    /// Every byte read from any connection.
    bytes: AtomicUsize,
    /// The bytes of whole frames (headers included).
    framed_bytes: AtomicUsize,
    bad_frames: AtomicUsize,
    undecodable: AtomicUsize,
    /// Actions carried out to their end, the connection kept.
    actions_done: AtomicUsize,
}

impl Shared {
    fn protocol(&self) -> Protocol {
        if self.protocol.load(SeqCst) == protocol_number(Protocol::Binary) {
            Protocol::Binary
        } else {
            Protocol::Compact
        }
    }
}

fn protocol_number(protocol: Protocol) -> u8 {
    match protocol {
        Protocol::Compact => 0,
        Protocol::Binary => 1,
    }
}

/// One connection: read a framed call, record it, act, until the client
/// closes or the action ends the connection.
fn serve(connection: &mut Connection, shared: &Shared) {
    let mut header = [0u8; FRAME_HEADER_LEN];
    let mut payload = Vec::new();
    loop {
        match read_frame(&mut connection.stream, shared.max_frame, &mut header, &mut payload, &shared.bytes) {
            Frame::Read => {}
            Frame::Closed => return,
            Frame::BadLength => {
                shared.bad_frames.fetch_add(1, SeqCst);
                return;
            }
        }
        shared.framed_bytes.fetch_add(FRAME_HEADER_LEN + payload.len(), SeqCst);
        let in_flight = shared.in_flight.fetch_add(1, SeqCst) + 1;
        shared.most_in_flight.fetch_max(in_flight, SeqCst);
        let protocol = shared.protocol();
        let call = if shared.skip_events {
            message_header(protocol, &payload).map(|(method, seqid)| Call { method, seqid, events: Vec::new() })
        } else {
            decode_call(protocol, &payload).ok()
        };
        let Some(call) = call else {
            shared.undecodable.fetch_add(1, SeqCst);
            shared.in_flight.fetch_sub(1, SeqCst);
            return;
        };
        let index = shared.decoded.fetch_add(1, SeqCst);
        if shared.record != Record::Nothing {
            let summary = Summary {
                connection: connection.index,
                method: call.method,
                seqid: call.seqid,
                events: call.events.len(),
                payload_len: payload.len(),
                head: [payload[0], payload.get(1).copied().unwrap_or(0)],
            };
            shared.summaries.lock().unwrap().push(summary);
        }
        if shared.record == Record::Calls {
            shared.calls.lock().unwrap().push(call.clone());
        }
        let request = Request { index, connection: connection.index, protocol, header, payload: &payload, call };
        // The script runs without the lock: it may take its time.
        let script = match &*shared.answer.lock().unwrap() {
            Answer::Fixed(status) => Err(*status),
            Answer::Script(script) => Ok(Arc::clone(script)),
        };
        let action = match script {
            Err(status) => Action::Reply(status),
            Ok(script) => script(&request),
        };
        let delay = *shared.delay.lock().unwrap();
        if !delay.is_zero() {
            thread::sleep(delay);
        }
        let kept = act(connection, &request, action);
        shared.in_flight.fetch_sub(1, SeqCst);
        if !kept {
            return;
        }
        shared.actions_done.fetch_add(1, SeqCst);
    }
}

/// The method and seqid of a call's message header, read without the crate's
/// decoder (compact: protocol id, version and type, seqid varint, name; strict
/// binary: version and type, name, seqid).
fn message_header(protocol: Protocol, payload: &[u8]) -> Option<(Method, i32)> {
    let (name, seqid) = match protocol {
        Protocol::Compact => {
            let (seqid, at) = varint(payload, 2)?;
            let (len, at) = varint(payload, at)?;
            (payload.get(at..at.checked_add(len as usize)?)?, seqid as i32)
        }
        Protocol::Binary => {
            let len = i32::from_be_bytes(payload.get(4..8)?.try_into().ok()?);
            let end = 8usize.checked_add(usize::try_from(len).ok()?)?;
            (payload.get(8..end)?, i32::from_be_bytes(payload.get(end..end + 4)?.try_into().ok()?))
        }
    };
    match name {
        b"append" => Some((Method::Append, seqid)),
        b"appendBatch" => Some((Method::AppendBatch, seqid)),
        _ => None,
    }
}

/// A compact varint (at most 5 bytes) at `at`: its value and the offset after it.
fn varint(bytes: &[u8], mut at: usize) -> Option<(u32, usize)> {
    let mut value = 0u32;
    for shift in (0..35).step_by(7) {
        let b = *bytes.get(at)?;
        at += 1;
        value |= ((b & 0x7f) as u32) << shift;
        if b & 0x80 == 0 {
            return Some((value, at));
        }
    }
    None
}

/// Carries out `action`; false if the connection ends.
fn act(connection: &mut Connection, request: &Request, action: Action) -> bool {
    let stream = &mut connection.stream;
    match action {
        Action::Reply(status) => stream.write_all(&request.reply(status)).is_ok(),
        Action::Send(bytes) => stream.write_all(&bytes).is_ok(),
        Action::SendThenClose(bytes) => {
            let _ = stream.write_all(&bytes);
            false
        }
        Action::SendThenLater { now, pause, later } => {
            stream.write_all(&now).is_ok() && {
                thread::sleep(pause);
                stream.write_all(&later).is_ok()
            }
        }
        Action::Close => false,
        Action::Silent => true,
        Action::Take(take) => {
            take(connection);
            false
        }
    }
}

/// A fake Flume Thrift source (see the module's doc). Its listener and
/// connections are an `Acceptor`, which it derefs to (`addr`, `stop`,
/// `restart`, `accepted`, `most_open`, `wait_idle`, ...).
pub struct FakeSource {
    acceptor: Acceptor,
    shared: Arc<Shared>,
}

impl Deref for FakeSource {
    type Target = Acceptor;
    fn deref(&self) -> &Acceptor {
        &self.acceptor
    }
}

impl DerefMut for FakeSource {
    fn deref_mut(&mut self) -> &mut Acceptor {
        &mut self.acceptor
    }
}

impl FakeSource {
    /// How a source is set up: answering `OK` at once, recording every call, on a free port.
    pub fn builder(protocol: Protocol) -> Options {
        Options {
            protocol,
            port: 0,
            listener: None,
            answer: Answer::Fixed(Status::Ok),
            delay: Duration::ZERO,
            record: Record::Calls,
            max_frame: DEFAULT_MAX_FRAME,
            skip_events: false,
        }
    }

    /// A source on a free port answering `OK` at once and recording every call.
    pub fn start(protocol: Protocol) -> FakeSource {
        FakeSource::builder(protocol).start()
    }

    /// The same on 127.0.0.1:`port`.
    pub fn start_on(port: u16, protocol: Protocol) -> FakeSource {
        FakeSource::builder(protocol).port(port).start()
    }

    /// A source answering every call with `status`, after `delay`.
    pub fn answering(protocol: Protocol, status: Status, delay: Duration) -> FakeSource {
        FakeSource::builder(protocol).reply(status).delay(delay).start()
    }

    /// From the next call on, answers with `status`.
    pub fn set_reply(&self, status: Status) {
        *self.shared.answer.lock().unwrap() = Answer::Fixed(status);
    }

    /// From the next call on, waits `delay` before each answer.
    pub fn set_delay(&self, delay: Duration) {
        *self.shared.delay.lock().unwrap() = delay;
    }

    /// From the next call on, decodes calls with `protocol`.
    pub fn set_protocol(&self, protocol: Protocol) {
        self.shared.protocol.store(protocol_number(protocol), SeqCst);
    }

    /// Every call decoded, in arrival order (with `Record::Calls`).
    pub fn calls(&self) -> Vec<Call> {
        self.shared.calls.lock().unwrap().clone()
    }

    /// A summary of every call decoded, in arrival order (unless `Record::Nothing`).
    pub fn summaries(&self) -> Vec<Summary> {
        self.shared.summaries.lock().unwrap().clone()
    }

    /// Events in each call, in arrival order (unless `Record::Nothing`).
    pub fn events_per_call(&self) -> Vec<usize> {
        self.shared.summaries.lock().unwrap().iter().map(|s| s.events).collect()
    }

    /// The body of every event received, in arrival order (with `Record::Calls`).
    pub fn bodies(&self) -> Vec<Vec<u8>> {
        let calls = self.shared.calls.lock().unwrap();
        calls.iter().flat_map(|call| call.events.iter().map(|e| e.body.clone())).collect()
    }

    /// Events received (with `Record::Calls`).
    pub fn events(&self) -> usize {
        self.shared.calls.lock().unwrap().iter().map(|call| call.events.len()).sum()
    }

    /// The first two payload bytes of each call (unless `Record::Nothing`).
    pub fn heads(&self) -> Vec<[u8; 2]> {
        self.shared.summaries.lock().unwrap().iter().map(|s| s.head).collect()
    }

    /// Calls decoded (whatever was recorded).
    pub fn calls_decoded(&self) -> usize {
        self.shared.decoded.load(SeqCst)
    }

    pub fn most_in_flight(&self) -> usize {
        self.shared.most_in_flight.load(SeqCst)
    }

    /// Every byte read from any connection.
    pub fn bytes(&self) -> usize {
        self.shared.bytes.load(SeqCst)
    }

    /// The bytes of the whole frames read (headers included).
    pub fn framed_bytes(&self) -> usize {
        self.shared.framed_bytes.load(SeqCst)
    }

    /// Frames whose header declared a length outside `1..=max_frame`.
    pub fn bad_frames(&self) -> usize {
        self.shared.bad_frames.load(SeqCst)
    }

    /// Frames that did not decode as a call.
    pub fn undecodable(&self) -> usize {
        self.shared.undecodable.load(SeqCst)
    }

    /// Waits until `n` actions have been carried out to their end (the connection kept).
    pub fn wait_for_actions(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.shared.actions_done.load(SeqCst) < n {
            assert!(Instant::now() < deadline, "the fake source did not finish its actions");
            thread::sleep(Duration::from_millis(5));
        }
    }
}
