//! flume-receiver: a small Flume-compatible Thrift source that prints what it
//! receives. For the quick start, the smoke tests, and anyone testing an
//! integration without a Flume agent. It can also misbehave on purpose
//! (`--reply failed|error|close|garbage`, `--delay-ms`) to show how a client
//! handles a struggling agent.

use std::io::{self, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flume_client::wire::{decode_call, encode_reply, frame_len, ReceivedEvent, Status, FRAME_HEADER_LEN};
use flume_client::{Protocol, FLUME_MAX_FRAME_SIZE};

const USAGE: &str = "\
usage: flume-receiver [options]

A Flume-compatible Thrift source (framed, compact or binary) that prints the
events it receives, one per line.

options:
  --bind ADDR          address to listen on (default 127.0.0.1)
  --port N             port to listen on; 0 picks a free one (default 4141)
  --protocol P         compact (default) or binary
  --port-file PATH     write the bound port to PATH once listening
  --output PATH        write events to PATH instead of stdout
  --format F           text (default) or json
  --reply R            ok (default), failed, error, close (close without
                       answering) or garbage (answer bytes that are not Thrift)
  --delay-ms N         wait N ms before each answer
  --exit-after N       exit after receiving N events
  -h, --help           this text

example:
  flume-receiver --port 41414 --protocol binary --format json --output events.jsonl
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
    reply: Reply,
    delay: Duration,
    exit_after: Option<u64>,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        bind: "127.0.0.1".into(),
        port: 4141,
        protocol: Protocol::Compact,
        port_file: None,
        output: None,
        json: false,
        reply: Reply::Status(Status::Ok),
        delay: Duration::ZERO,
        exit_after: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            print!("{USAGE}");
            std::process::exit(0);
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |v: &str| v.parse::<u64>().map_err(|_| format!("{flag}: '{v}' is not a number"));
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
            "--delay-ms" => o.delay = Duration::from_millis(number(&value)?),
            "--exit-after" => o.exit_after = Some(number(&value)?),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(o)
}

fn main() {
    let options = parse_args().unwrap_or_else(|e| {
        eprintln!("flume-receiver: {e}\n\n{USAGE}");
        std::process::exit(2);
    });
    if let Err(e) = run(options) {
        eprintln!("flume-receiver: {e}");
        std::process::exit(1);
    }
}

struct Shared {
    options: Options,
    sink: Mutex<Box<dyn Write + Send>>,
    events: AtomicU64,
}

fn run(options: Options) -> io::Result<()> {
    let listener = TcpListener::bind((options.bind.as_str(), options.port))?;
    let port = listener.local_addr()?.port();
    let sink: Box<dyn Write + Send> = match &options.output {
        Some(path) => Box::new(BufWriter::new(std::fs::OpenOptions::new().create(true).append(true).open(path)?)),
        None => Box::new(BufWriter::new(io::stdout())),
    };
    eprintln!("flume-receiver: listening on {}:{port} ({:?})", options.bind, options.protocol);
    if let Some(path) = &options.port_file {
        // Write then rename, so a reader never sees a partial port number.
        let tmp = format!("{path}.tmp");
        std::fs::write(&tmp, format!("{port}\n"))?;
        std::fs::rename(&tmp, path)?;
    }
    let shared = Arc::new(Shared { options, sink: Mutex::new(sink), events: AtomicU64::new(0) });
    for stream in listener.incoming() {
        let stream = stream?;
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || {
            if let Err(e) = serve(stream, &shared) {
                if e.kind() != io::ErrorKind::UnexpectedEof {
                    eprintln!("flume-receiver: connection closed: {e}");
                }
            }
        });
    }
    Ok(())
}

/// Answers the calls of one connection until it closes.
fn serve(mut stream: TcpStream, shared: &Shared) -> io::Result<()> {
    let options = &shared.options;
    let mut payload = Vec::new();
    let mut reply = Vec::new();
    loop {
        let mut header = [0u8; FRAME_HEADER_LEN];
        stream.read_exact(&mut header)?;
        let len = frame_len(header, FLUME_MAX_FRAME_SIZE).map_err(io::Error::other)?;
        payload.resize(len, 0);
        stream.read_exact(&mut payload)?;
        let call = decode_call(options.protocol, &payload).map_err(io::Error::other)?;
        record(shared, &call.events)?;
        std::thread::sleep(options.delay);
        match options.reply {
            Reply::Close => return Ok(()),
            Reply::Garbage => stream.write_all(b"\x00\x00\x00\x05hello")?,
            Reply::Status(status) => {
                reply.clear();
                encode_reply(options.protocol, &mut reply, call.seqid, call.method, status);
                stream.write_all(&reply)?;
            }
        }
        let total = shared.events.fetch_add(call.events.len() as u64, Ordering::SeqCst) + call.events.len() as u64;
        if options.exit_after.is_some_and(|n| total >= n) {
            shared.sink.lock().unwrap().flush()?;
            std::process::exit(0);
        }
    }
}

fn record(shared: &Shared, events: &[ReceivedEvent]) -> io::Result<()> {
    let mut sink = shared.sink.lock().unwrap();
    for event in events {
        if shared.options.json {
            let headers: Vec<String> =
                event.headers.iter().map(|(k, v)| format!("{}:{}", json_string(k), json_string(v))).collect();
            let body = json_string(&String::from_utf8_lossy(&event.body));
            writeln!(sink, "{{\"headers\":{{{}}},\"body\":{body}}}", headers.join(","))?;
        } else {
            let headers: Vec<String> = event.headers.iter().map(|(k, v)| format!("{k}={v}")).collect();
            writeln!(sink, "[{}] {}", headers.join(", "), String::from_utf8_lossy(&event.body).escape_debug())?;
        }
    }
    sink.flush()
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
