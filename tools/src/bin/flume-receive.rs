//! flume-receive: a small Flume-compatible Thrift source that prints what it
//! receives. For the quick start, the smoke tests, and anyone testing an
//! integration without a Flume agent. It can also misbehave on purpose
//! (`--reply failed|error|close|garbage`, `--fail-ratio`, `--delay-ms`) to show
//! how a client handles a struggling agent.

use std::io::{self, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use flume_client::unstable::{decode_call, encode_reply, frame_len, ReceivedEvent, Status, FRAME_HEADER_LEN};
use flume_client::{Protocol, FLUME_MAX_FRAME_SIZE};
use flume_tools::{base64, count, escape_bytes, json, print_and_exit, signals, version};

const USAGE: &str = "\
usage: flume-receive [options]

A Flume-compatible Thrift source (framed transport, compact or binary
protocol) that prints the events it receives, one a line, or appends them to a
file. It can misbehave on purpose, to show how a client copes with a
struggling agent. It runs until SIGINT (Ctrl-C), SIGTERM or --exit-after,
then prints its counts on stderr.

options:
  --bind ADDR          address to listen on (default 127.0.0.1; 0.0.0.0 or ::
                       for every interface)
  --port N             port to listen on; 0 picks a free one (default 4141)
  --protocol P         compact (default) or binary, as the source's `protocol`
  --port-file PATH     write the bound port to PATH once listening
  --output PATH        append the events to PATH instead of writing to stdout
  --format F           text (default): [key=value, ...] body, one event a
                       line: control characters, quotes and backslashes
                       escaped as Rust writes them (\\n, \\\", \\u{1b}), each
                       byte that is not UTF-8 as \\xNN
                       json: {\"headers\":{...},\"body\":\"...\"} (what
                       flume-send --json reads); bytes of a body that are
                       not UTF-8 become U+FFFD: give --base64 for binary
  --base64             write bodies in base64 (exact for binary bodies; what
                       flume-send --json --base64 reads)
  --reply R            answer every call with R: ok (default), failed (channel
                       full), error, close (close the connection without
                       answering) or garbage (bytes that are not Thrift); the
                       events are written whatever the answer
  --fail-ratio R       answer FAILED to a share R (0 to 1) of the calls, evenly
                       spread (0.1: every 10th call); their events are not
                       written, as a full channel would not take them
  --delay-ms N         wait N ms before each answer
  --ssl-cert FILE      serve TLS (as a source with ssl=true) with this PEM
                       certificate chain, leaf first (needs --ssl-key, and a
                       build with TLS: cargo build -p flume-tools --features tls)
  --ssl-key FILE       the certificate's unencrypted PEM private key
  --ssl-client-ca FILE mutual TLS: require a client certificate signed by a
                       CA of this PEM file
  --exit-after N       exit once N events (N >= 1) have been received, after
                       answering the call that reached N; without it, run
                       until SIGINT or SIGTERM
  -h, --help           this text
  -V, --version        the version

exit status:
  0  stopped by SIGINT, SIGTERM or --exit-after
  1  usage: an unknown option or a bad value
  2  the events cannot be written (--output cannot be opened, a write failed)
  3  cannot listen on --bind and --port

examples:
  flume-receive --port 41414 --protocol binary --format json --output events.jsonl
  flume-receive --port 4141 --fail-ratio 0.1     # every 10th call answered FAILED
  flume-receive --port 4141 --delay-ms 5000      # a slow agent: clients time out
  flume-receive --port 0 --port-file port --exit-after 1000 > events.txt
  flume-receive --port 4141 --ssl-cert server.pem --ssl-key server.key
";

#[derive(Clone, Copy, PartialEq)]
enum Reply {
    Status(Status),
    Close,
    Garbage,
}

struct Options {
    bind: String,
    port: u16,
    protocol: Protocol,
    port_file: Option<String>,
    output: Option<String>,
    json: bool,
    base64: bool,
    reply: Reply,
    /// `--fail-ratio` in parts per million, so the share is exact.
    fail_ppm: u64,
    delay: Duration,
    exit_after: Option<u64>,
    ssl_cert: Option<String>,
    ssl_key: Option<String>,
    ssl_client_ca: Option<String>,
}

/// The options that take a value (the others are handled before the value is read).
const VALUE_OPTIONS: &[&str] = &[
    "--bind",
    "--port",
    "--protocol",
    "--port-file",
    "--output",
    "--format",
    "--reply",
    "--fail-ratio",
    "--delay-ms",
    "--exit-after",
    "--ssl-cert",
    "--ssl-key",
    "--ssl-client-ca",
];

fn parse_args(args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut o = Options {
        bind: "127.0.0.1".into(),
        port: 4141,
        protocol: Protocol::Compact,
        port_file: None,
        output: None,
        json: false,
        base64: false,
        reply: Reply::Status(Status::Ok),
        fail_ppm: 0,
        delay: Duration::ZERO,
        exit_after: None,
        ssl_cert: None,
        ssl_key: None,
        ssl_client_ca: None,
    };
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        // --name=value or --name value.
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_string(), Some(value.to_string())),
            _ => (arg.clone(), None),
        };
        match flag.as_str() {
            "-h" | "--help" => print_and_exit("flume-receive", USAGE),
            "-V" | "--version" => print_and_exit("flume-receive", &version("flume-receive")),
            "--base64" => {
                if inline.is_some() {
                    return Err("--base64 takes no value".into());
                }
                o.base64 = true;
                continue;
            }
            _ => {}
        }
        if !VALUE_OPTIONS.contains(&flag.as_str()) {
            return Err(format!("unknown option {flag}"));
        }
        let value = match inline {
            Some(value) => value,
            None => args.next().ok_or_else(|| format!("{flag} needs a value"))?,
        };
        let number = |v: &str| v.parse::<u64>().map_err(|_| format!("{flag}: '{v}' is not a whole number"));
        match flag.as_str() {
            "--bind" => o.bind = value,
            "--port" => o.port = value.parse().map_err(|_| format!("--port: '{value}' is not a port"))?,
            "--protocol" => {
                o.protocol = match value.as_str() {
                    "compact" => Protocol::Compact,
                    "binary" => Protocol::Binary,
                    _ => return Err(format!("--protocol: '{value}' is neither compact nor binary")),
                }
            }
            "--port-file" => o.port_file = Some(value),
            "--output" => o.output = Some(value),
            "--format" => {
                o.json = match value.as_str() {
                    "text" => false,
                    "json" => true,
                    _ => return Err(format!("--format: '{value}' is neither text nor json")),
                }
            }
            "--reply" => {
                o.reply = match value.as_str() {
                    "ok" => Reply::Status(Status::Ok),
                    "failed" => Reply::Status(Status::Failed),
                    "error" => Reply::Status(Status::Error),
                    "close" => Reply::Close,
                    "garbage" => Reply::Garbage,
                    _ => return Err(format!("--reply: '{value}' is not ok, failed, error, close or garbage")),
                }
            }
            "--fail-ratio" => {
                o.fail_ppm = match value.parse::<f64>() {
                    Ok(r) if (0.0..=1.0).contains(&r) => (r * 1e6).round() as u64,
                    _ => return Err(format!("--fail-ratio: '{value}' is not a number from 0 to 1")),
                }
            }
            "--delay-ms" => o.delay = Duration::from_millis(number(&value)?),
            "--exit-after" => match number(&value)? {
                0 => {
                    return Err(
                        "--exit-after: N must be at least 1 (leave it out to run until SIGINT or SIGTERM)".into()
                    )
                }
                n => o.exit_after = Some(n),
            },
            "--ssl-cert" => o.ssl_cert = Some(value),
            "--ssl-key" => o.ssl_key = Some(value),
            "--ssl-client-ca" => o.ssl_client_ca = Some(value),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if o.ssl_cert.is_some() != o.ssl_key.is_some() {
        return Err("--ssl-cert and --ssl-key go together".into());
    }
    if o.ssl_client_ca.is_some() && o.ssl_cert.is_none() {
        return Err("--ssl-client-ca is for TLS: give --ssl-cert and --ssl-key too".into());
    }
    if o.ssl_cert.is_some() && !cfg!(feature = "tls") {
        return Err("this flume-receive was built without TLS (cargo build -p flume-tools --features tls)".into());
    }
    Ok(o)
}

/// What happened, for the counts printed on exit.
#[derive(Default)]
struct Counts {
    connections: AtomicU64,
    calls: AtomicU64,
    events: AtomicU64,
    written: AtomicU64,
    ok: AtomicU64,
    failed: AtomicU64,
    other: AtomicU64,
}

struct Shared {
    options: Options,
    /// Whether connections are served in TLS.
    tls: bool,
    sink: Mutex<Box<dyn Write + Send>>,
    counts: Counts,
}

impl Shared {
    fn sink(&self) -> MutexGuard<'_, Box<dyn Write + Send>> {
        // A panicking writer leaves the sink as usable as any failed write.
        self.sink.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Flushes the events, prints the counts and exits with `code`.
    fn finish(&self, code: i32, why: &str) -> ! {
        let flushed = self.sink().flush();
        let c = &self.counts;
        let load = |n: &AtomicU64| n.load(Ordering::SeqCst);
        eprintln!(
            "flume-receive: {why}: {} in {} on {}; answered {} OK, {} FAILED, {} otherwise; {} written",
            count(load(&c.events), "event", "events"),
            count(load(&c.calls), "call", "calls"),
            count(load(&c.connections), "connection", "connections"),
            load(&c.ok),
            load(&c.failed),
            load(&c.other),
            count(load(&c.written), "event", "events"),
        );
        if let Err(e) = flushed {
            eprintln!("flume-receive: cannot write the events: {e}");
            std::process::exit(2);
        }
        std::process::exit(code);
    }
}

fn main() {
    let options = parse_args(std::env::args().skip(1)).unwrap_or_else(|e| {
        eprintln!("flume-receive: {e}\n(flume-receive --help lists the options)");
        std::process::exit(1);
    });
    let tls = tls_config(&options).unwrap_or_else(|e| {
        eprintln!("flume-receive: {e}");
        std::process::exit(1);
    });
    let listener = match TcpListener::bind((options.bind.as_str(), options.port)) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("flume-receive: cannot listen on {}:{}: {e}", options.bind, options.port);
            std::process::exit(3);
        }
    };
    let sink: Box<dyn Write + Send> = match &options.output {
        Some(path) => match std::fs::OpenOptions::new().create(true).append(true).open(path) {
            Ok(file) => Box::new(BufWriter::new(file)),
            Err(e) => {
                eprintln!("flume-receive: cannot open {path}: {e}");
                std::process::exit(2);
            }
        },
        None => Box::new(BufWriter::new(io::stdout())),
    };
    if let Err(e) = run(listener, options, sink, tls) {
        eprintln!("flume-receive: {e}");
        std::process::exit(3);
    }
}

/// The TLS server configuration, when --ssl-cert is given.
#[cfg(feature = "tls")]
type Tls = Option<Arc<rustls::ServerConfig>>;
#[cfg(not(feature = "tls"))]
type Tls = Option<Arc<std::convert::Infallible>>;

#[cfg(feature = "tls")]
fn tls_config(options: &Options) -> Result<Tls, String> {
    match (&options.ssl_cert, &options.ssl_key) {
        (Some(cert), Some(key)) => {
            flume_tools::tls::server_config(cert, key, options.ssl_client_ca.as_deref()).map(Some)
        }
        _ => Ok(None),
    }
}

#[cfg(not(feature = "tls"))]
fn tls_config(_: &Options) -> Result<Tls, String> {
    Ok(None) // parse_args refused --ssl-cert
}

fn run(listener: TcpListener, options: Options, sink: Box<dyn Write + Send>, tls: Tls) -> io::Result<()> {
    let port = listener.local_addr()?.port();
    listener.set_nonblocking(true)?;
    if let Err(e) = signals::catch_interrupts() {
        eprintln!("flume-receive: cannot catch SIGINT and SIGTERM ({e}); the counts will not be printed");
    }
    let security = match (&tls, &options.ssl_client_ca) {
        (None, _) => "",
        (Some(_), None) => ", TLS",
        (Some(_), Some(_)) => ", TLS with client certificates",
    };
    eprintln!("flume-receive: listening on {}:{port} ({:?}{security})", options.bind, options.protocol);
    if let Some(path) = &options.port_file {
        // Write then rename, so a reader never sees a partial port number.
        let tmp = format!("{path}.tmp");
        std::fs::write(&tmp, format!("{port}\n"))?;
        std::fs::rename(&tmp, path)?;
    }
    let shared = Arc::new(Shared { tls: tls.is_some(), options, sink: Mutex::new(sink), counts: Counts::default() });
    loop {
        if let Some(signal) = signals::received() {
            shared.finish(0, signals::name(signal));
        }
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false)?;
                shared.counts.connections.fetch_add(1, Ordering::SeqCst);
                let shared = Arc::clone(&shared);
                let tls = tls.clone();
                std::thread::spawn(move || {
                    if let Err(e) = serve_connection(stream, tls, &shared) {
                        if e.kind() != io::ErrorKind::UnexpectedEof {
                            eprintln!("flume-receive: connection closed: {e}");
                        }
                    }
                });
            }
            // A signal interrupts the wait; the loop then sees it.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                signals::wait_readable(listener.as_raw_fd(), 1000)?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // E.g. out of file descriptors: say so, and go on.
                eprintln!("flume-receive: accept: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Serves one connection, in TLS when configured.
fn serve_connection(stream: TcpStream, tls: Tls, shared: &Shared) -> io::Result<()> {
    match tls {
        None => serve(stream, shared),
        #[cfg(feature = "tls")]
        Some(config) => {
            // The handshake happens within the first read; its failure (an
            // untrusted client certificate, a plain-text client) is that read's error.
            let connection = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
            serve(rustls::StreamOwned::new(connection, stream), shared)
        }
        #[cfg(not(feature = "tls"))]
        Some(never) => match *never {},
    }
}

/// Answers the calls of one connection until it closes.
fn serve(mut stream: impl Read + Write, shared: &Shared) -> io::Result<()> {
    let options = &shared.options;
    let counts = &shared.counts;
    let mut payload = Vec::new();
    let mut reply = Vec::new();
    let mut text = String::new();
    loop {
        let mut header = [0u8; FRAME_HEADER_LEN];
        stream.read_exact(&mut header)?;
        if header[0] == 0x16 && header[1] == 0x03 && !shared.tls {
            return Err(io::Error::other(
                "the client began a TLS handshake (it has ssl=true): start flume-receive with --ssl-cert and --ssl-key",
            ));
        }
        let len = frame_len(header, FLUME_MAX_FRAME_SIZE).map_err(io::Error::other)?;
        payload.resize(len, 0);
        stream.read_exact(&mut payload)?;
        let call = decode_call(options.protocol, &payload).map_err(io::Error::other)?;
        let n = counts.calls.fetch_add(1, Ordering::SeqCst) + 1;
        // Call n is failed when the share of failed calls reaches the next whole number.
        let fail = n * options.fail_ppm / 1_000_000 > (n - 1) * options.fail_ppm / 1_000_000;
        if !fail {
            if let Err(e) = record(shared, &call.events, &mut text) {
                eprintln!("flume-receive: cannot write the events: {e}");
                std::process::exit(2);
            }
        }
        std::thread::sleep(options.delay);
        let answer = if fail { Reply::Status(Status::Failed) } else { options.reply };
        // Counted before the reply goes out: a client that has its answer and
        // then stops the receiver (SIGINT) must find the call in the summary.
        match answer {
            Reply::Status(Status::Ok) => counts.ok.fetch_add(1, Ordering::SeqCst),
            Reply::Status(Status::Failed) => counts.failed.fetch_add(1, Ordering::SeqCst),
            _ => counts.other.fetch_add(1, Ordering::SeqCst),
        };
        let received = call.events.len() as u64;
        let total = counts.events.fetch_add(received, Ordering::SeqCst) + received;
        match answer {
            Reply::Close => {}
            Reply::Garbage => stream.write_all(b"\x00\x00\x00\x05hello")?,
            Reply::Status(status) => {
                reply.clear();
                encode_reply(options.protocol, &mut reply, call.seqid, call.method, status);
                stream.write_all(&reply)?;
            }
        }
        // TLS: out of rustls' buffer onto the socket before any exit.
        stream.flush()?;
        if options.exit_after.is_some_and(|n| total >= n) {
            shared.finish(0, &format!("{} received (--exit-after)", count(total, "event", "events")));
        }
        if answer == Reply::Close {
            return Ok(());
        }
    }
}

/// Writes the events of one call, each as one line, and flushes.
fn record(shared: &Shared, events: &[ReceivedEvent], text: &mut String) -> io::Result<()> {
    let options = &shared.options;
    text.clear();
    for event in events {
        let body = if options.base64 {
            base64::encode(&event.body)
        } else if options.json {
            String::from_utf8_lossy(&event.body).into_owned()
        } else {
            escape_bytes(&event.body)
        };
        if options.json {
            json::write_event(text, event.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())), &body);
        } else {
            let headers: Vec<String> =
                event.headers.iter().map(|(k, v)| format!("{}={}", k.escape_debug(), v.escape_debug())).collect();
            text.push('[');
            text.push_str(&headers.join(", "));
            text.push_str("] ");
            text.push_str(&body);
            text.push('\n');
        }
    }
    let mut sink = shared.sink();
    sink.write_all(text.as_bytes())?;
    sink.flush()?;
    shared.counts.written.fetch_add(events.len() as u64, Ordering::SeqCst);
    Ok(())
}
