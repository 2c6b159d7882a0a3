//! flume-send: sends the lines of files (or of stdin) to Flume Thrift sources,
//! one event per line, in order, each batch acknowledged before the next.
//!
//! It takes `flume-ng avro-client`'s options (`-H -p -F -R -P`) and more. On a
//! failure it names the first line that was not acknowledged and the `--skip`
//! that resumes from it; the exit status says what failed.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use flume_client::unstable::{batch_call_size, event_size, Method};
use flume_client::{Client, Config, Error, ErrorKind, EventView, Protocol};
use flume_tools::{base64, count, human_bytes, is_terminal, json, parse_properties, print_and_exit, signals, version};

const USAGE: &str = "\
usage: flume-send [options] [FILE...]

Sends the lines of FILEs (standard input when there are none, or for '-') to
Flume Thrift sources, one event per line, in order: each batch is acknowledged
by the source before the next is sent. Like flume-ng avro-client, but over
Thrift, with any batch size, real timeouts and no JVM.

where to send (one of):
  -H, --host HOST          the source's host (with -p)
  -p, --port PORT          the source's port
      --hosts LIST         host:port,host:port,...: the next host is tried when
                           one fails
  -P, --rpcProps FILE      a Flume client properties file: client.type, hosts,
                           hosts.<alias>, batch-size, ... (its hosts are used
                           when neither -H nor --hosts is given)

what to send:
  -F, --filename FILE      read FILE (repeatable; FILE arguments work too)
  -R, --headerFile FILE    headers for every event, from a Java properties file
                           (`key = value` lines)
      --header KEY=VALUE   a header for every event (repeatable; overrides -R)
      --json               each line is an event as JSON:
                           {\"headers\":{\"k\":\"v\"},\"body\":\"text\"}; its headers are
                           added to the others (and win); blank lines are skipped
      --base64             with --json: bodies are base64 (for binary bodies)
                           (max-frame-size applies to the decoded event, not
                           to the line)
      --skip N             skip the first N lines (to resume after a failure)

client settings (Flume's keys: the README's Configuration lists them all;
these override -P):
      --protocol P         compact (default) or binary, as the source's
      --batch-size N       most events per call (default 100)
      --connect-timeout MS (default 20000)
      --request-timeout MS (default 20000)
      --config KEY=VALUE   any client setting (repeatable)

TLS, to a source with ssl=true (in a build with TLS, cargo build -p
flume-tools --features tls, whose --version says \"with TLS\"; the README's TLS
section has the details):
      --ssl                connect with TLS (the key ssl=true)
      --truststore FILE    PEM file of the CA certificates to trust (default:
                           the system's CA store)
      --ssl-server-name N  the name to expect in the server's certificate (and
                           send as SNI), when -H or --hosts give an address or
                           another name
      --ssl-client-cert FILE, --ssl-client-key FILE
                           mutual TLS: a PEM certificate chain and its
                           unencrypted PEM key

output:
  -q, --quiet              no progress display and no summary (errors are
                           still printed)
  -h, --help               this text
  -V, --version            the version

Lines are read up to a batch at a time; when the input pauses (a pipe or a
terminal with nothing more to read yet) the lines read so far are sent at once.
Lines end with \\n or \\r\\n. On a terminal, stderr shows the progress.

exit status:
  0    every line was acknowledged
  1    usage: a bad option or value, a bad -P file or setting, no host
  2    input: a file cannot be read, a line is not an event (bad JSON or
       base64, too large for max-frame-size, a header that is not UTF-8)
  3    connect: no connection to any host could be made
  4    rejected: the source answered FAILED (its channel is full) or ERROR
  5    uncertain: request-timeout passed, the connection broke or the reply
       was malformed; the failed call's events may have been delivered
  130  interrupted by SIGINT (143: SIGTERM), between two batches
After a failure every line before the first unacknowledged one was delivered:
flume-send names that line and the --skip that resumes from it.

examples:
  flume-send -H agent1 -p 4141 -F app.log
  flume-send -H agent1 -p 4141 -F app.log -R headers.properties --batch-size 1000
  tail -F app.log | flume-send --hosts agent1:4141,agent2:4141 --header host=$(hostname)
  flume-send -P client.properties --json --base64 events.jsonl
  flume-send -H agent1 -p 4141 -F app.log --skip 51200    # resume after a failure
  flume-send -H agent1 -p 4141 --ssl --truststore ca.pem -F app.log
";

/// Exit statuses (see USAGE).
const EXIT_USAGE: i32 = 1;
const EXIT_INPUT: i32 = 2;
const EXIT_CONNECT: i32 = 3;
const EXIT_REJECTED: i32 = 4;
const EXIT_UNCERTAIN: i32 = 5;

/// Why flume-send stops early: the exit status and what to print.
struct Failure {
    code: i32,
    message: String,
}

/// An error as the C library reports it, with its code's name first
/// ("FLUME_ERR_FAILED: 127.0.0.1:4141: ..."): what scripts reading the
/// output match on.
fn coded(e: &Error) -> String {
    format!("{}: {}", e.kind().name(), e.message())
}

fn fail(code: i32, message: impl Into<String>) -> Failure {
    Failure { code, message: message.into() }
}

fn main() {
    match run(std::env::args_os().skip(1).collect()) {
        Ok(()) => std::process::exit(0),
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("flume-send: {}", f.message);
            }
            if f.code == EXIT_USAGE {
                eprintln!("(flume-send --help lists the options)");
            }
            std::process::exit(f.code);
        }
    }
}

#[derive(Default)]
struct Options {
    host: Option<String>,
    port: Option<u16>,
    hosts: Option<String>,
    properties: Option<String>,
    /// --config and the options that stand for a key, in command-line order.
    settings: Vec<(String, String)>,
    inputs: Vec<String>,
    header_files: Vec<String>,
    headers: Vec<(String, String)>,
    json: bool,
    base64: bool,
    skip: u64,
    quiet: bool,
}

fn parse_args(args: Vec<std::ffi::OsString>) -> Result<Options, Failure> {
    let mut o = Options::default();
    let mut args =
        args.into_iter().map(|a| a.into_string().map_err(|a| fail(EXIT_USAGE, format!("argument {a:?} is not UTF-8"))));
    let mut only_files = false;
    while let Some(arg) = args.next() {
        let arg = arg?;
        if only_files || arg == "-" || !arg.starts_with('-') {
            o.inputs.push(arg);
            continue;
        }
        // --name=value, --name value, -Xvalue, -X value.
        let (flag, inline) = if arg.starts_with("--") {
            match arg.split_once('=') {
                Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
                None => (arg.clone(), None),
            }
        } else if arg.len() > 2 && arg.is_char_boundary(2) {
            (arg[..2].to_string(), Some(arg[2..].to_string()))
        } else {
            (arg.clone(), None)
        };
        let boolean = |set: &mut bool| match &inline {
            None => {
                *set = true;
                Ok(())
            }
            Some(_) => Err(fail(EXIT_USAGE, format!("{flag} takes no value"))),
        };
        match flag.as_str() {
            "--" => {
                only_files = true;
                continue;
            }
            "-h" | "--help" => print_and_exit("flume-send", USAGE),
            "-V" | "--version" => print_and_exit("flume-send", &version("flume-send")),
            "--json" => {
                boolean(&mut o.json)?;
                continue;
            }
            "--base64" => {
                boolean(&mut o.base64)?;
                continue;
            }
            "-q" | "--quiet" => {
                boolean(&mut o.quiet)?;
                continue;
            }
            "--ssl" => {
                boolean(&mut true)?;
                o.settings.push(("ssl".into(), "true".into()));
                continue;
            }
            _ => {}
        }
        let value = match inline {
            Some(value) => value,
            None => args.next().ok_or_else(|| fail(EXIT_USAGE, format!("{flag} needs a value")))??,
        };
        let pair = |what: &str| match value.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
            _ => Err(fail(EXIT_USAGE, format!("{flag}: '{value}' is not {what}=VALUE"))),
        };
        match flag.as_str() {
            "-H" | "--host" => o.host = Some(value),
            "-p" | "--port" => {
                o.port = match value.parse::<u16>() {
                    Ok(port) if port > 0 => Some(port),
                    _ => return Err(fail(EXIT_USAGE, format!("{flag}: '{value}' is not a port"))),
                }
            }
            "--hosts" => o.hosts = Some(value),
            "-P" | "--rpcProps" => o.properties = Some(value),
            "-F" | "--filename" => o.inputs.push(value),
            "-R" | "--headerFile" => o.header_files.push(value),
            "--header" => o.headers.push(pair("KEY")?),
            "--config" => o.settings.push(pair("KEY")?),
            "--protocol" | "--batch-size" | "--connect-timeout" | "--request-timeout" | "--truststore"
            | "--ssl-server-name" | "--ssl-client-cert" | "--ssl-client-key" => {
                o.settings.push((flag[2..].to_string(), value))
            }
            "--skip" => {
                o.skip =
                    value.parse().map_err(|_| fail(EXIT_USAGE, format!("--skip: '{value}' is not a whole number")))?
            }
            _ => return Err(fail(EXIT_USAGE, format!("unknown option {flag}"))),
        }
    }
    if o.base64 && !o.json {
        return Err(fail(EXIT_USAGE, "--base64 is for the bodies of --json lines; give --json too"));
    }
    if o.hosts.is_some() && o.host.is_some() {
        return Err(fail(EXIT_USAGE, "give either -H HOST -p PORT or --hosts, not both"));
    }
    if o.host.is_some() != o.port.is_some() {
        return Err(fail(EXIT_USAGE, "-H HOST and -p PORT go together"));
    }
    Ok(o)
}

fn run(args: Vec<std::ffi::OsString>) -> Result<(), Failure> {
    let o = parse_args(args)?;

    // The client: -P first, then the settings of the command line.
    let mut config = Config::default();
    if let Some(path) = &o.properties {
        config.load_properties_file(path).map_err(|e| fail(EXIT_USAGE, e.message()))?;
    }
    for (key, value) in &o.settings {
        config.set(key, value).map_err(|e| fail(EXIT_USAGE, e.message()))?;
    }
    let hosts = match (&o.hosts, &o.host, o.port) {
        (Some(list), _, _) => list.clone(),
        (None, Some(host), Some(port)) if host.contains(':') && !host.starts_with('[') => format!("[{host}]:{port}"),
        (None, Some(host), Some(port)) => format!("{host}:{port}"),
        _ if !config.host_aliases.is_empty() => String::new(), // the -P file's hosts
        _ => return Err(fail(EXIT_USAGE, "no host: give -H HOST -p PORT, --hosts LIST, or a -P file naming hosts")),
    };
    let client = Client::new(&hosts, &config).map_err(|e| fail(EXIT_USAGE, coded(&e)))?;

    // The headers of every event: -R files, then --header.
    let mut headers: Vec<(String, String)> = Vec::new();
    for path in &o.header_files {
        let text = std::fs::read_to_string(path).map_err(|e| fail(EXIT_INPUT, format!("cannot read {path}: {e}")))?;
        for (key, value) in parse_properties(&text).map_err(|e| fail(EXIT_INPUT, format!("{path}: {e}")))? {
            set_header(&mut headers, key, value);
        }
    }
    for (key, value) in &o.headers {
        set_header(&mut headers, key.clone(), value.clone());
    }

    let lines = Lines::open(&o.inputs)?;
    if let Err(e) = signals::catch_interrupts() {
        eprintln!("flume-send: cannot catch SIGINT and SIGTERM ({e}); an interrupted run will not say where to resume");
    }
    let progress = Progress::new(!o.quiet && is_terminal(libc::STDERR_FILENO));
    let mut run = Run { client, headers, lines, options: o, progress, acked: 0, bytes: 0, done: 0 };
    let result = run.send_all();
    run.progress.clear();
    run.report(&result);
    // Printed by `report`.
    result.map_err(|f| fail(f.code, ""))
}

/// Sets a header, replacing the value of a key already set.
fn set_header(headers: &mut Vec<(String, String)>, key: String, value: String) {
    match headers.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => headers.push((key, value)),
    }
}

/// Where a line is: its number in the whole input (1-based) and in its file.
#[derive(Clone, Copy, Debug)]
struct Loc {
    line: u64,
    input: usize,
    file_line: u64,
}

/// One input file (or stdin).
struct Input {
    name: String,
    reader: BufReader<Box<dyn Read>>,
    fd: i32,
}

/// The lines of every input in turn.
struct Lines {
    inputs: Vec<Input>,
    current: usize,
    line: u64,
    file_line: u64,
    buf: Vec<u8>,
}

impl Lines {
    /// Opens every input now, so a missing file is found before anything is sent.
    fn open(names: &[String]) -> Result<Lines, Failure> {
        let stdin = || Input { name: "stdin".into(), reader: BufReader::new(Box::new(io::stdin())), fd: 0 };
        let mut inputs = Vec::new();
        for name in names {
            if name == "-" {
                inputs.push(stdin());
                continue;
            }
            let file = File::open(name).map_err(|e| fail(EXIT_INPUT, format!("cannot open {name}: {e}")))?;
            if file.metadata().is_ok_and(|m| m.is_dir()) {
                return Err(fail(EXIT_INPUT, format!("{name} is a directory")));
            }
            let fd = file.as_raw_fd();
            inputs.push(Input { name: name.clone(), reader: BufReader::with_capacity(256 << 10, Box::new(file)), fd });
        }
        if inputs.is_empty() {
            inputs.push(stdin());
        }
        Ok(Lines { inputs, current: 0, line: 0, file_line: 0, buf: Vec::new() })
    }

    /// Reads the next line into `buf` (without its \n or \r\n); `None` after
    /// the last line of the last input. A line longer than `limit.bytes` is an error.
    fn next(&mut self, limit: &LineLimit) -> io::Result<Option<Loc>> {
        while let Some(input) = self.inputs.get_mut(self.current) {
            if read_line(&mut input.reader, &mut self.buf, limit)? {
                self.line += 1;
                self.file_line += 1;
                return Ok(Some(Loc { line: self.line, input: self.current, file_line: self.file_line }));
            }
            self.current += 1;
            self.file_line = 0;
        }
        Ok(None)
    }

    /// Where the next line would come from, for read errors.
    fn position(&self) -> String {
        match self.inputs.get(self.current) {
            Some(input) => format!("{}:{}", input.name, self.file_line + 1),
            None => "end of input".into(),
        }
    }

    /// Whether the next read would wait: nothing buffered and nothing to read
    /// now (a pipe or terminal whose writer is quiet). Files never pause.
    fn paused(&self) -> bool {
        match self.inputs.get(self.current) {
            Some(input) => input.reader.buffer().is_empty() && !signals::wait_readable(input.fd, 0).unwrap_or(true),
            None => false,
        }
    }
}

/// Reads one line into `buf`, without its end; false at end of input. A
/// signal stops a blocked read (`Interrupted`); otherwise reads are retried.
fn read_line(reader: &mut BufReader<Box<dyn Read>>, buf: &mut Vec<u8>, limit: &LineLimit) -> io::Result<bool> {
    buf.clear();
    loop {
        let available = match reader.fill_buf() {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::Interrupted && signals::received().is_none() => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(!buf.is_empty());
        }
        let (used, end) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        buf.extend_from_slice(&available[..used - end as usize]);
        reader.consume(used);
        if buf.len() > limit.bytes.saturating_add(1) {
            return Err(io::Error::new(io::ErrorKind::InvalidData, limit.message.clone()));
        }
        if end {
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(true);
        }
    }
}

/// The longest line read, which bounds the memory a line can take; the
/// event's own size is checked against max-frame-size once it is decoded.
struct LineLimit {
    bytes: usize,
    message: String,
}

impl LineLimit {
    /// A plain line is the body itself: longer than max-frame-size, it cannot
    /// fit. A JSON line's event is smaller than the line: base64 takes 4 bytes
    /// for 3, a `\u0001` escape 6 for 1, base64 written as `\u0041` escapes
    /// 24 for 3. So a line may take 8 times max-frame-size, plus room for
    /// headers and spaces.
    fn new(json: bool, max_frame: usize) -> LineLimit {
        if json {
            let bytes = max_frame.saturating_mul(JSON_LINE_FACTOR).saturating_add(JSON_LINE_SLACK);
            let message = format!(
                "a JSON line longer than {bytes} bytes ({JSON_LINE_FACTOR} times max-frame-size, {max_frame}, plus \
                 {JSON_LINE_SLACK}): no event it holds could fit"
            );
            LineLimit { bytes, message }
        } else {
            LineLimit { bytes: max_frame, message: format!("a line longer than max-frame-size ({max_frame} bytes)") }
        }
    }
}

/// See `LineLimit::new`.
const JSON_LINE_FACTOR: usize = 8;
const JSON_LINE_SLACK: usize = 64 << 10;

/// The events read but not sent yet, in one buffer.
#[derive(Default)]
struct Pending {
    /// Bodies and the headers of JSON events.
    data: Vec<u8>,
    events: Vec<Slot>,
    /// Header (key, value) ranges in `data` of JSON events.
    pairs: Vec<(Range<usize>, Range<usize>)>,
    /// Lines through this one are in `events` or need no sending (skipped, blank).
    through: u64,
}

struct Slot {
    body: Range<usize>,
    /// A range of `pairs`, or `None` for the common headers.
    headers: Option<Range<usize>>,
    loc: Loc,
}

impl Pending {
    fn push_bytes(&mut self, bytes: &[u8]) -> Range<usize> {
        let start = self.data.len();
        self.data.extend_from_slice(bytes);
        start..self.data.len()
    }

    fn push(&mut self, headers: Option<&[(&str, &str)]>, body: &[u8], loc: Loc) {
        let headers = headers.map(|headers| {
            let start = self.pairs.len();
            for (k, v) in headers {
                let pair = (self.push_bytes(k.as_bytes()), self.push_bytes(v.as_bytes()));
                self.pairs.push(pair);
            }
            start..self.pairs.len()
        });
        let body = self.push_bytes(body);
        self.events.push(Slot { body, headers, loc });
        self.through = loc.line;
    }

    fn clear(&mut self) {
        self.data.clear();
        self.events.clear();
        self.pairs.clear();
    }
}

/// The state of a run.
struct Run {
    client: Client,
    headers: Vec<(String, String)>,
    lines: Lines,
    options: Options,
    progress: Progress,
    /// Events and body bytes acknowledged.
    acked: u64,
    bytes: u64,
    /// Lines through this one were acknowledged or need no sending: the `--skip` that resumes.
    done: u64,
}

/// How sending ended.
type Outcome = Result<(), Failure>;

impl Run {
    fn send_all(&mut self) -> Outcome {
        let config = self.client.config();
        let (protocol, batch_size, max_frame) = (config.protocol, config.batch_size, config.max_frame_size);
        let headers = self.headers.clone();
        let common: Vec<(&[u8], &[u8])> = headers.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())).collect();
        let mut pending = Pending::default();
        let line_limit = LineLimit::new(self.options.json, max_frame);
        loop {
            if let Some(signal) = signals::received() {
                return Err(self.interrupted(signal));
            }
            let full = pending.events.len() >= batch_size || pending.data.len() >= max_frame;
            if !pending.events.is_empty() && (full || self.lines.paused()) {
                self.send(&mut pending, &common)?;
            }
            let loc = match self.lines.next(&line_limit) {
                Ok(Some(loc)) => loc,
                Ok(None) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue, // a signal: see the top
                Err(e) => {
                    let at = self.lines.position();
                    self.send(&mut pending, &common)?;
                    let what = if e.kind() == io::ErrorKind::InvalidData { "" } else { "cannot read: " };
                    return Err(fail(EXIT_INPUT, format!("{at}: {what}{e}")));
                }
            };
            if loc.line <= self.options.skip {
                self.done = loc.line;
                continue;
            }
            match self.event(&common, protocol, max_frame, &mut pending, loc) {
                Ok(true) => {}
                Ok(false) => {
                    // Nothing to send for this line.
                    if pending.events.is_empty() {
                        self.done = loc.line;
                    } else {
                        pending.through = loc.line;
                    }
                }
                Err(why) => {
                    self.send(&mut pending, &common)?;
                    return Err(fail(EXIT_INPUT, format!("{}: {why}", self.describe(loc))));
                }
            }
        }
        self.send(&mut pending, &common)?;
        if self.options.skip > self.lines.line {
            let lines = count(self.lines.line, "line", "lines");
            eprintln!("flume-send: warning: --skip {} but the input has {lines}", self.options.skip);
        }
        Ok(())
    }

    /// Adds the event of the line in `self.lines.buf` to `pending`; false if
    /// the line holds no event (a blank line in JSON mode).
    fn event(
        &self,
        common: &[(&[u8], &[u8])],
        protocol: Protocol,
        max_frame: usize,
        pending: &mut Pending,
        loc: Loc,
    ) -> Result<bool, String> {
        let line = &self.lines.buf;
        let fits = |event: &EventView| {
            let size = batch_call_size(protocol, Method::AppendBatch, 1, event_size(protocol, event));
            if size > max_frame {
                Err(format!("the event needs a frame of {size} bytes, more than max-frame-size ({max_frame})"))
            } else {
                Ok(())
            }
        };
        if !self.options.json {
            fits(&EventView::new(common, line))?;
            pending.push(None, line, loc);
            return Ok(true);
        }
        let text = std::str::from_utf8(line).map_err(|e| format!("not UTF-8 ({e}), so not JSON"))?;
        if text.trim().is_empty() {
            return Ok(false);
        }
        let event = json::parse_event(text).map_err(|e| format!("not an event: {e}"))?;
        let body = if self.options.base64 {
            base64::decode(&event.body).map_err(|e| format!("body: {e}"))?
        } else {
            event.body.into_bytes()
        };
        // The common headers, then the event's own, which win.
        let mut merged: Vec<(&str, &str)> = self
            .headers
            .iter()
            .filter(|(k, _)| !event.headers.iter().any(|(key, _)| key == k))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        merged.extend(event.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let pairs: Vec<(&[u8], &[u8])> = merged.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())).collect();
        fits(&EventView::new(&pairs, &body))?;
        pending.push(Some(&merged), &body, loc);
        Ok(true)
    }

    /// Sends the pending events, waits for their acknowledgement, and empties
    /// `pending`. On failure, says which lines were not acknowledged.
    fn send(&mut self, pending: &mut Pending, common: &[(&[u8], &[u8])]) -> Outcome {
        if pending.events.is_empty() {
            self.done = self.done.max(pending.through);
            return Ok(());
        }
        let pairs: Vec<(&[u8], &[u8])> =
            pending.pairs.iter().map(|(k, v)| (&pending.data[k.clone()], &pending.data[v.clone()])).collect();
        let events: Vec<EventView> = pending
            .events
            .iter()
            .map(|slot| {
                let headers = match &slot.headers {
                    Some(range) => &pairs[range.clone()],
                    None => common,
                };
                EventView::new(headers, &pending.data[slot.body.clone()])
            })
            .collect();
        let result = self.client.append_batch(&events);
        let delivered = result.as_ref().map_or_else(|e| e.delivered(), |()| events.len());
        self.acked += delivered as u64;
        self.bytes += events[..delivered].iter().map(|e| e.body.len() as u64).sum::<u64>();
        drop(events);
        let outcome = match result {
            Ok(()) => {
                self.done = pending.through;
                Ok(())
            }
            Err(e) => {
                let first = pending.events[delivered].loc;
                self.done = first.line - 1;
                Err(self.delivery_failure(e.error(), first, pending))
            }
        };
        pending.clear();
        self.progress.update(self.acked, self.bytes);
        outcome
    }

    fn delivery_failure(&self, e: &Error, first: Loc, pending: &Pending) -> Failure {
        let kind = e.kind();
        let code = if kind == ErrorKind::Connect {
            EXIT_CONNECT
        } else if matches!(kind, ErrorKind::Failed | ErrorKind::Server) {
            EXIT_REJECTED
        } else if matches!(kind, ErrorKind::InvalidArg | ErrorKind::TooLarge) {
            EXIT_INPUT
        } else if kind == ErrorKind::Config {
            EXIT_USAGE
        } else {
            EXIT_UNCERTAIN
        };
        let mut message =
            format!("{}\nflume-send: line {} ({}) was not acknowledged", coded(e), first.line, self.describe(first));
        if kind.maybe_delivered() {
            let last = pending.events.last().map_or(first.line, |s| s.loc.line);
            message.push_str(&format!(
                "\nflume-send: lines {} to {last} may have been delivered all the same: resuming may send them twice",
                first.line
            ));
        }
        fail(code, message)
    }

    fn interrupted(&self, signal: i32) -> Failure {
        fail(128 + signal, format!("interrupted by {}", signals::name(signal)))
    }

    /// `file:line` of a line.
    fn describe(&self, loc: Loc) -> String {
        format!("{}:{}", self.lines.inputs[loc.input].name, loc.file_line)
    }

    /// On failure the error; the summary (also with --quiet after a
    /// failure); and on failure the `--skip` that resumes.
    fn report(&self, outcome: &Outcome) {
        if let Err(f) = outcome {
            eprintln!("flume-send: {}", f.message);
        }
        if !self.options.quiet || outcome.is_err() {
            let elapsed = self.progress.start.elapsed();
            let skipped = match self.options.skip {
                0 => String::new(),
                n => format!(", {} skipped", count(n, "line", "lines")),
            };
            eprintln!(
                "flume-send: {} ({}) acknowledged in {:.2} s ({} events/s){skipped}",
                count(self.acked, "event", "events"),
                human_bytes(self.bytes),
                elapsed.as_secs_f64(),
                rate(self.acked, elapsed)
            );
        }
        if outcome.is_err() {
            eprintln!("flume-send: resume with --skip {}", self.done);
        }
    }
}

/// Events per second, whole.
fn rate(events: u64, elapsed: Duration) -> u64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        (events as f64 / secs) as u64
    } else {
        0
    }
}

/// The progress line on stderr, when it is a terminal.
struct Progress {
    enabled: bool,
    start: Instant,
    last: Option<Instant>,
}

impl Progress {
    fn new(enabled: bool) -> Progress {
        Progress { enabled, start: Instant::now(), last: None }
    }

    fn update(&mut self, events: u64, bytes: u64) {
        if !self.enabled || self.last.is_some_and(|t| t.elapsed() < Duration::from_millis(200)) {
            return;
        }
        self.last = Some(Instant::now());
        let elapsed = self.start.elapsed();
        let events_sent = count(events, "event", "events");
        eprint!("\r\x1b[Kflume-send: {events_sent}, {} events/s, {}", rate(events, elapsed), human_bytes(bytes));
    }

    fn clear(&self) {
        if self.enabled && self.last.is_some() {
            eprint!("\r\x1b[K");
        }
    }
}
