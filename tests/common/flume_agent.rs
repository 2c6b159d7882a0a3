//! A real Apache Flume 1.11.0 agent for the tests (scripts/flume-agent.sh,
//! which brings Flume from Maven Central with tests/flume/pom.xml), and the
//! bundled `flume-receive` as the agent's downstream: the agent's own Thrift
//! sink forwards what it took to `flume-receive --format json --base64`,
//! whose JSON lines keep headers and bodies byte for byte.
//!
//! `FlumeAgent` runs `scripts/flume-agent.sh run`, which prints the port and
//! the JVM's pid once the source listens and stops the agent when its stdin
//! ends (so an agent never outlives a test process). `kill` sends SIGKILL to
//! the JVM; `start_again` starts it with the same configuration, directory
//! (file channel data) and port. An agent that cannot be brought or started
//! fails the test with the script's output (never a skip).
//!
//! `flume-receive` and `flume-send` are the tools crate's binaries, built with
//! `cargo build -p flume-tools` (once per test process) into this target
//! directory.

#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use flume_client::Protocol;

// The tools' own codecs, to read what flume-receive wrote. (Their unit tests
// come along and run here too; their imports then look unused to the compiler.)
#[path = "../../tools/src/base64.rs"]
#[allow(unused_imports)]
mod base64;
#[path = "../../tools/src/json.rs"]
mod json;

/// How long the script may take to bring Flume and start it (a cold Maven
/// cache downloads about 60 MB; a start is 3 to 10 s on a busy machine).
const START_TIMEOUT: Duration = Duration::from_secs(300);

/// The repository's root (this file is also included from the tools crate).
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    if manifest.join("scripts/flume-agent.sh").is_file() {
        manifest.to_path_buf()
    } else {
        manifest.join("..")
    }
}

fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Compact => "compact",
        Protocol::Binary => "binary",
    }
}

/// The agent's channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelKind {
    Memory,
    /// Durable: checkpoint and data in the agent's directory, kept across
    /// `kill` and `start_again`.
    File,
}

/// The agent's sink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SinkKind {
    /// Takes and drops every event.
    Null,
    /// No sink at all: the channel only fills.
    None,
    /// Flume's Thrift sink forwarding to this loopback port (with the
    /// source's protocol), e.g. a `Downstream`.
    Thrift(u16),
    /// Flume's file_roll sink writing the agent directory's `sink/`, one file
    /// per start (`rollInterval = 0`), with the serializer `avro_event`
    /// unless a raw line sets another (`text`: each body and a newline).
    FileRoll,
}

/// What `scripts/flume-agent.sh` writes into the agent's configuration.
#[derive(Clone, Debug)]
pub struct AgentOptions {
    pub protocol: Protocol,
    /// The source's `threads`: always set (Flume's default makes a thread per
    /// call, never reclaimed; see README).
    pub threads: u32,
    pub channel: ChannelKind,
    pub capacity: u32,
    pub transaction_capacity: u32,
    /// The memory channel's keep-alive in seconds (Flume's default: 3).
    pub keep_alive: Option<u32>,
    pub sink: SinkKind,
    pub sink_batch_size: u32,
    /// `ssl = true` with this keystore (PKCS12) and password.
    pub ssl: Option<(PathBuf, String)>,
    /// Raw configuration lines (the components are a1, r1, c1, k1).
    pub lines: Vec<String>,
    pub java_opts: Vec<String>,
    pub heap: String,
}

impl AgentOptions {
    pub fn new(protocol: Protocol, sink: SinkKind) -> AgentOptions {
        AgentOptions {
            protocol,
            threads: 8,
            channel: ChannelKind::Memory,
            capacity: 100_000,
            transaction_capacity: 1000,
            keep_alive: None,
            sink,
            sink_batch_size: 1000,
            ssl: None,
            lines: Vec::new(),
            java_opts: Vec::new(),
            heap: "256m".into(),
        }
    }

    fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        let mut opt = |k: &str, v: String| {
            a.push(k.into());
            a.push(v);
        };
        opt("--protocol", protocol_name(self.protocol).into());
        opt("--threads", self.threads.to_string());
        opt("--channel", if self.channel == ChannelKind::File { "file" } else { "memory" }.into());
        opt("--capacity", self.capacity.to_string());
        opt("--transaction-capacity", self.transaction_capacity.to_string());
        if let Some(k) = self.keep_alive {
            opt("--keep-alive", k.to_string());
        }
        opt(
            "--sink",
            match &self.sink {
                SinkKind::Null => "null".into(),
                SinkKind::None => "none".into(),
                SinkKind::Thrift(port) => format!("thrift:127.0.0.1:{port}"),
                SinkKind::FileRoll => "file_roll".into(),
            },
        );
        opt("--sink-batch-size", self.sink_batch_size.to_string());
        if let Some((keystore, password)) = &self.ssl {
            opt("--ssl", keystore.display().to_string());
            opt("--keystore-password", password.clone());
            opt("--keystore-type", "PKCS12".into());
        }
        for line in &self.lines {
            opt("--line", line.clone());
        }
        for o in &self.java_opts {
            opt("--java-opt", o.clone());
        }
        opt("--heap", self.heap.clone());
        a
    }
}

/// A running real Flume agent. Killed (SIGKILL) on drop.
pub struct FlumeAgent {
    label: String,
    options: AgentOptions,
    dir: PathBuf,
    port: u16,
    script: Option<Child>,
    stdin: Option<ChildStdin>,
    pid: i32,
    output: PathBuf,
}

impl FlumeAgent {
    /// Starts an agent and waits until its source listens. Panics if it cannot.
    pub fn start(label: &str, options: AgentOptions) -> FlumeAgent {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let label = format!("{label}-{n}");
        let dir = scratch_dir().join(format!("agent-{label}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let output = dir.join("script.out");
        let mut agent = FlumeAgent { label, options, dir, port: 0, script: None, stdin: None, pid: 0, output };
        agent.launch();
        agent
    }

    fn launch(&mut self) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.output)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", self.output.display()));
        let mut command = Command::new(repo_root().join("scripts/flume-agent.sh"));
        command.arg("run").arg("--dir").arg(&self.dir).args(self.options.args());
        if self.port != 0 {
            command.arg("--port").arg(self.port.to_string());
        }
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::from(log));
        let mut child = command.spawn().unwrap_or_else(|e| panic!("agent {}: cannot run {command:?}: {e}", self.label));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        self.stdin = child.stdin.take();
        self.script = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        let (mut port, mut pid) = (None, None);
        while port.is_none() || pid.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(p) = line.strip_prefix("PORT ") {
                        port = p.trim().parse::<u16>().ok();
                    } else if let Some(p) = line.strip_prefix("PID ") {
                        pid = p.trim().parse::<i32>().ok();
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => self.fail(&format!("did not listen within {START_TIMEOUT:?}")),
                Err(mpsc::RecvTimeoutError::Disconnected) => self.fail("exited before its source listened"),
            }
        }
        let port = port.unwrap();
        assert!(self.port == 0 || self.port == port, "agent {}: restarted on port {port}", self.label);
        self.port = port;
        self.pid = pid.unwrap();
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `host:port` to give `Client::new`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The complete lines the file_roll sink wrote (with the `text`
    /// serializer: one per body), over every file of every start.
    pub fn file_roll_lines(&self) -> Vec<Vec<u8>> {
        let mut lines = Vec::new();
        let mut files: Vec<PathBuf> = fs::read_dir(self.dir.join("sink"))
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        for file in files {
            let bytes = fs::read(&file).unwrap_or_default();
            let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            lines.extend(bytes[..complete].split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec));
        }
        lines
    }

    /// How many lines the file_roll sink has written so far (a cheap check
    /// before `file_roll_lines`).
    pub fn file_roll_line_count(&self) -> usize {
        fs::read_dir(self.dir.join("sink"))
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| fs::read(e.path()).unwrap_or_default().iter().filter(|&&b| b == b'\n').count())
                    .sum()
            })
            .unwrap_or(0)
    }

    /// The agent's log (flume.log) and the script's output.
    pub fn log(&self) -> String {
        let flume = fs::read_to_string(self.dir.join("flume.log")).unwrap_or_default();
        let script = fs::read_to_string(&self.output).unwrap_or_default();
        format!("{}\n--- script ---\n{}", tail(&flume, 6000), tail(&script, 2000))
    }

    /// Whether the agent's JVM is running.
    pub fn running(&self) -> bool {
        // SAFETY: kill(2) with signal 0 only checks the pid.
        self.script.is_some() && unsafe { libc::kill(self.pid, 0) } == 0
    }

    /// SIGKILL to the agent's JVM (as a crash would), and waits until it and
    /// its script are gone.
    pub fn kill(&mut self) {
        if let Some(mut script) = self.script.take() {
            // SAFETY: kill(2) on the pid of the JVM our script started.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
            self.stdin = None;
            let _ = script.wait();
        }
    }

    /// Starts the killed agent again: same configuration, directory and port.
    pub fn start_again(&mut self) {
        assert!(self.script.is_none(), "agent {} is running", self.label);
        self.launch();
    }

    /// `kill`, then `start_again`.
    pub fn restart(&mut self) {
        self.kill();
        self.start_again();
    }

    fn fail(&mut self, what: &str) -> ! {
        self.kill();
        panic!(
            "real Flume agent {} {what} (scripts/flume-agent.sh; Flume 1.11.0 from Maven Central needs mvn and a \
             JDK: scripts/install-deps.sh)\n--- its log ({}) ---\n{}",
            self.label,
            self.dir.display(),
            self.log()
        );
    }
}

impl Drop for FlumeAgent {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("agent {}: directory kept: {}", self.label, self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// An event as the agent's downstream received it: headers sorted by key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Received {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// The bundled `flume-receive --format json --base64`, the agent's Thrift
/// sink's target: records every event it receives, exactly. Killed on drop.
pub struct Downstream {
    child: Child,
    port: u16,
    output: PathBuf,
    log: PathBuf,
    /// How far `events` has read `output`, and what it parsed so far.
    read: std::sync::Mutex<(usize, Vec<Received>)>,
}

impl Downstream {
    /// Starts on a free loopback port.
    pub fn start(label: &str, protocol: Protocol) -> Downstream {
        Downstream::start_on(label, protocol, 0)
    }

    /// Starts on `port` (0: a free one), e.g. one an agent's sink was
    /// configured with before anything listened there.
    pub fn start_on(label: &str, protocol: Protocol, port: u16) -> Downstream {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = scratch_dir().join(format!("downstream-{label}-{n}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let port_file = dir.join("port");
        let output = dir.join("events.jsonl");
        let log = dir.join("stderr");
        // Through a shell that stops flume-receive at the end of its stdin, so
        // that a Downstream kept in a static (never dropped) ends with the
        // test process.
        let child = Command::new("sh")
            .arg("-c")
            .arg("\"$0\" \"$@\" & pid=$!; cat >/dev/null; kill $pid 2>/dev/null; wait $pid")
            .arg(tool_binary("flume-receive"))
            .args(["--port", &port.to_string(), "--format", "json", "--base64", "--protocol", protocol_name(protocol)])
            .arg("--port-file")
            .arg(&port_file)
            .arg("--output")
            .arg(&output)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .expect("flume-receive starts");
        let mut d = Downstream { child, port: 0, output, log, read: Default::default() };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(port) = fs::read_to_string(&port_file).ok().and_then(|p| p.trim().parse().ok()) {
                d.port = port;
                return d;
            }
            if let Ok(Some(status)) = d.child.try_wait() {
                panic!(
                    "flume-receive exited ({status}) before listening: {}",
                    fs::read_to_string(&d.log).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "flume-receive did not listen within 30 s");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The events of the lines written since `offset` (complete lines
    /// only); advances `offset`.
    fn read_new(&self, offset: &mut usize) -> Vec<Received> {
        use std::io::{Read, Seek, SeekFrom};
        let mut new = Vec::new();
        if let Ok(mut file) = fs::File::open(&self.output) {
            file.seek(SeekFrom::Start(*offset as u64)).unwrap();
            file.read_to_end(&mut new).unwrap();
        }
        let Some(last) = new.iter().rposition(|&b| b == b'\n') else { return Vec::new() };
        let text = std::str::from_utf8(&new[..=last]).expect("flume-receive writes UTF-8");
        *offset += last + 1;
        text.lines().map(parse_line).collect()
    }

    /// Every event received so far, in arrival order.
    pub fn events(&self) -> Vec<Received> {
        let mut read = self.read.lock().unwrap();
        let (offset, events) = &mut *read;
        let new = self.read_new(offset);
        events.extend(new);
        events.clone()
    }

    /// The events received since the last call of this, without keeping
    /// them (for a million events); not to be mixed with `events`.
    pub fn events_since_last(&self) -> Vec<Received> {
        let mut read = self.read.lock().unwrap();
        self.read_new(&mut read.0)
    }

    /// The events received so far whose header `key` is `value`.
    pub fn events_with(&self, key: &str, value: &str) -> Vec<Received> {
        self.events().into_iter().filter(|e| e.header(key) == Some(value)).collect()
    }

    /// Waits (at most `timeout`) until `done` holds for the events received;
    /// the events then. Panics with what was received if it never does.
    pub fn wait_for(&self, timeout: Duration, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let events = self.events();
            if done(&events) {
                return events;
            }
            assert!(
                Instant::now() < deadline,
                "downstream: {what} not within {timeout:?} ({} events received)",
                events.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Downstream {
    fn drop(&mut self) {
        drop(self.child.stdin.take()); // the shell then stops flume-receive
        let _ = self.child.wait();
        if !std::thread::panicking() {
            if let Some(dir) = self.output.parent() {
                let _ = fs::remove_dir_all(dir);
            }
        }
    }
}

/// One line of `flume-receive --format json --base64`. An event without
/// headers is read without the JSON parser (the million-event test's lines;
/// the parser is slow in a debug build).
fn parse_line(line: &str) -> Received {
    const NO_HEADERS: &str = "{\"headers\":{},\"body\":\"";
    if let Some(body) = line.strip_prefix(NO_HEADERS).and_then(|rest| rest.strip_suffix("\"}")) {
        if !body.contains(['"', '\\']) {
            let body = base64::decode(body).unwrap_or_else(|e| panic!("bad base64 in {line:?}: {e}"));
            return Received { headers: Vec::new(), body };
        }
    }
    let event = json::parse_event(line).unwrap_or_else(|e| panic!("flume-receive wrote {line:?}: {e}"));
    let body = base64::decode(&event.body).unwrap_or_else(|e| panic!("bad base64 in {line:?}: {e}"));
    let mut headers = event.headers;
    headers.sort();
    Received { headers, body }
}

/// A loopback port where nothing listens (bound, then released).
pub fn unused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The path of a binary of the tools crate (`flume-receive`, `flume-send`),
/// built once per test process with this cargo and profile.
pub fn tool_binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(&cargo)
            .current_dir(repo_root())
            .args(["build", "--quiet", "-p", "flume-tools", "--bins"])
            .output()
            .map_err(|e| format!("cannot run {cargo}: {e}"))?;
        if !out.status.success() {
            return Err(format!("cargo build -p flume-tools failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        // target/tmp's parent is the target directory.
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().to_path_buf();
        Ok(target.join("debug"))
    });
    let path = dir.as_ref().unwrap_or_else(|e| panic!("{e}")).join(name);
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

/// This test process's scratch directory, under cargo's target/tmp. Those of
/// runs that ended over an hour ago are removed.
pub fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let name = format!("flume-{}", std::process::id());
        if let Ok(entries) = fs::read_dir(base) {
            let old = std::time::SystemTime::now() - Duration::from_secs(3600);
            for entry in entries.flatten() {
                let stale = entry.file_name().to_string_lossy().starts_with("flume-")
                    && entry.file_name().to_string_lossy() != name
                    && entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < old);
                if stale {
                    let _ = fs::remove_dir_all(entry.path());
                }
            }
        }
        let dir = base.join(name);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        dir
    })
}

fn tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}
