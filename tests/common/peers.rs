//! Real Apache Thrift servers to test against: a Python one (the `thrift`
//! package, `tests/peers/python_server.py`) and a Java one set up like Flume's
//! Thrift source (libthrift, `tests/peers/FlumeTestServer.java`), both using
//! code that Apache Thrift's compiler generates from `tests/peers/flume.thrift`.
//!
//! Each `PeerServer` is its own process on its own free loopback port; it
//! records every call it receives to a file that `PeerServer::calls` parses.
//! A peer that cannot be built or started fails the test with the reason
//! (never a skip).
//!
//! Tools, each overridable by an environment variable: `thrift` (THRIFT),
//! `python3` (PYTHON), `javac` / `java` (JAVAC / JAVA), and the class path of
//! libthrift and slf4j (THRIFT_JAVA_CLASSPATH, default Debian's jars in
//! /usr/share/java).

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use flume_client::Protocol;

/// How long a peer may take to print its port once its process started.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the events a test expects may take to show up in the record.
const RECORD_TIMEOUT: Duration = Duration::from_secs(30);

const DEFAULT_JAVA_CLASSPATH: &str =
    "/usr/share/java/thrift.jar:/usr/share/java/slf4j-api.jar:/usr/share/java/slf4j-nop.jar";

const INSTALL_HINT: &str = "the interop tests need: thrift-compiler, python3 with the `thrift` \
     package (Debian: apt-get install python3-thrift; PYTHON names another python), a JDK (default-jdk-headless), \
     libthrift-java, libslf4j-java";

/// Which server implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerKind {
    /// Apache Thrift's Python library: TThreadedServer, TFramedTransport.
    Python,
    /// Apache Thrift's Java library as Flume uses it: TThreadedSelectorServer,
    /// TNonblockingServerSocket, TFastFramedTransport.
    Java,
}

impl PeerKind {
    pub fn name(self) -> &'static str {
        match self {
            PeerKind::Python => "python",
            PeerKind::Java => "java",
        }
    }
}

pub fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Compact => "compact",
        Protocol::Binary => "binary",
    }
}

/// An event as the server decoded it; headers sorted by key (the server holds
/// them in a map, so their order is not kept).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub body: Vec<u8>,
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A call as the server received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// `append` or `appendBatch`.
    pub method: String,
    pub events: Vec<Received>,
}

/// A running peer server. Stopped (killed) on drop.
pub struct PeerServer {
    label: String,
    child: Child,
    stdin: Option<ChildStdin>,
    port: u16,
    record: PathBuf,
    stderr: PathBuf,
}

impl PeerServer {
    /// Builds the peer if needed (once per test process), starts it on a free
    /// loopback port and waits until it listens. Panics if it cannot.
    pub fn start(kind: PeerKind, protocol: Protocol) -> PeerServer {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let label = format!("{}-{}-{n}", kind.name(), protocol_name(protocol));
        PeerServer::spawn(label, |record| {
            let mut command = match kind {
                PeerKind::Python => python_command("python_server.py"),
                PeerKind::Java => java_command("FlumeTestServer"),
            };
            command.arg("0").arg(protocol_name(protocol)).arg(record);
            command
        })
    }

    /// Starts the peer that `command` makes, given the file it is to record
    /// calls to (its arguments start: port 0, protocol, that file), and waits
    /// for its "PORT <n>" line. `label` names the peer's files and messages.
    pub fn spawn(label: String, command: impl FnOnce(&Path) -> Command) -> PeerServer {
        let dir = work_dir().join("runs");
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let record = dir.join(format!("{label}.calls"));
        let stderr = dir.join(format!("{label}.stderr"));
        let stderr_file =
            fs::File::create(&stderr).unwrap_or_else(|e| panic!("cannot create {}: {e}", stderr.display()));
        let mut command = command(&record);
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::from(stderr_file));
        let mut child =
            command.spawn().unwrap_or_else(|e| panic!("{label}: cannot run {command:?}: {e} ({INSTALL_HINT})"));

        // The first line of stdout is "PORT <n>"; the rest is drained so that
        // the peer never blocks on a full pipe.
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            for _ in lines {}
        });
        let stdin = child.stdin.take();
        let mut server = PeerServer { label, child, stdin, port: 0, record, stderr };
        let first = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Some(Ok(line))) => line,
            Ok(_) => server.fail("exited (or closed stdout) before printing its port"),
            Err(_) => server.fail(&format!("printed no port within {START_TIMEOUT:?}")),
        };
        server.port = match first.strip_prefix("PORT ").and_then(|p| p.trim().parse().ok()) {
            Some(port) if port != 0 => port,
            _ => server.fail(&format!("printed {first:?} instead of \"PORT <n>\"")),
        };
        server
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `host:port` to give `Client::new`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Every call received so far, once the calls hold at least
    /// `expected_events` events in all (waits at most `RECORD_TIMEOUT`).
    pub fn calls(&mut self, expected_events: usize) -> Vec<Call> {
        let deadline = Instant::now() + RECORD_TIMEOUT;
        loop {
            let calls = self.read_record();
            let count: usize = calls.iter().map(|c| c.events.len()).sum();
            if count >= expected_events {
                return calls;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                self.fail(&format!("exited ({status}) with {count} of {expected_events} events recorded"));
            }
            if Instant::now() > deadline {
                self.fail(&format!(
                    "recorded {count} events in {} calls, not {expected_events}, within {RECORD_TIMEOUT:?}",
                    calls.len()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Parses the complete calls of the record file.
    fn read_record(&self) -> Vec<Call> {
        let text = match fs::read(&self.record) {
            Ok(bytes) => {
                String::from_utf8(bytes).unwrap_or_else(|e| panic!("{}: record is not ASCII: {e}", self.label))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => panic!("{}: cannot read {}: {e}", self.label, self.record.display()),
        };
        // Only whole lines, and only calls whose every event line is there.
        let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
        let mut calls = Vec::new();
        let mut lines = complete.lines();
        while let Some(line) = lines.next() {
            let fields: Vec<&str> = line.split(' ').collect();
            let (method, count) = match fields.as_slice() {
                ["call", _, method, count] => (method.to_string(), count.parse::<usize>().ok()),
                _ => (String::new(), None),
            };
            let count = count.unwrap_or_else(|| panic!("{}: bad call line {line:?}", self.label));
            let mut events = Vec::with_capacity(count);
            for _ in 0..count {
                match lines.next() {
                    Some(event) => events.push(self.parse_event(event)),
                    None => return calls, // still being written
                }
            }
            calls.push(Call { method, events });
        }
        calls
    }

    fn parse_event(&self, line: &str) -> Received {
        let mut fields = line.split(' ');
        assert_eq!(fields.next(), Some("event"), "{}: bad event line {line:?}", self.label);
        let body = match fields.next() {
            Some("-") => Vec::new(),
            Some(hex) => self.unhex(hex),
            None => panic!("{}: event line without body {line:?}", self.label),
        };
        let mut headers: Vec<(Vec<u8>, Vec<u8>)> = fields
            .map(|h| {
                let (k, v) =
                    h.split_once('=').unwrap_or_else(|| panic!("{}: bad header {h:?} in {line:?}", self.label));
                (self.unhex(k), self.unhex(v))
            })
            .collect();
        headers.sort();
        Received { body, headers }
    }

    fn unhex(&self, hex: &str) -> Vec<u8> {
        unhex(hex).unwrap_or_else(|| panic!("{}: bad hex {hex:?}", self.label))
    }

    /// Stops the peer (killed, so nothing more is recorded) and returns every
    /// call it recorded.
    #[allow(dead_code)] // not every test crate that includes this file uses it
    pub fn stop(mut self) -> Vec<Call> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.read_record()
    }

    /// Panics with the peer's stderr.
    fn fail(&mut self, what: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let stderr = fs::read_to_string(&self.stderr).unwrap_or_default();
        panic!(
            "peer {} {what}\n--- its stderr ({}) ---\n{}\n--- ({INSTALL_HINT})",
            self.label,
            self.stderr.display(),
            tail(&stderr, 4000)
        );
    }
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        self.stdin = None; // the peer exits at end of stdin, even if the kill below is missed
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "peer {}: record kept in {} (stderr: {})",
                self.label,
                self.record.display(),
                self.stderr.display()
            );
        } else {
            let _ = fs::remove_file(&self.record);
            let _ = fs::remove_file(&self.stderr);
        }
    }
}

/// Decodes lowercase or uppercase hex; `None` if `hex` is not hex. (A plain
/// loop over a table: the tests run unoptimized and bodies reach 16 MB.)
pub fn unhex(hex: &str) -> Option<Vec<u8>> {
    const BAD: u8 = 0xff;
    static TABLE: OnceLock<[u8; 256]> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [BAD; 256];
        for (i, c) in (b'0'..=b'9').enumerate() {
            t[c as usize] = i as u8;
        }
        for (i, c) in (b'a'..=b'f').enumerate() {
            t[c as usize] = 10 + i as u8;
            t[c.to_ascii_uppercase() as usize] = 10 + i as u8;
        }
        t
    });
    let bytes = hex.as_bytes();
    if bytes.len() % 2 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 2);
    let mut bad = 0u8;
    let mut i = 0;
    while i < bytes.len() {
        let hi = table[bytes[i] as usize];
        let lo = table[bytes[i + 1] as usize];
        bad |= hi | lo;
        out.push((hi << 4) | (lo & 0x0f));
        i += 2;
    }
    (bad & 0xf0 == 0).then_some(out)
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

/// `tests/peers` of the root crate, also when this file is included by the
/// tools crate's tests (whose manifest is one level down, in `tools/`).
pub fn peers_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let own = manifest.join("tests").join("peers");
    let root = manifest.join("..").join("tests").join("peers");
    if !own.join("flume.thrift").is_file() && root.join("flume.thrift").is_file() {
        root
    } else {
        own
    }
}

pub fn tool(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_string())
}

/// This test process's scratch directory, under cargo's target/tmp. Scratch
/// directories of runs that ended over an hour ago are removed.
pub fn work_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let name = format!("interop-{}", std::process::id());
        if let Ok(entries) = fs::read_dir(base) {
            let old = SystemTime::now() - Duration::from_secs(3600);
            for entry in entries.flatten() {
                let stale = entry.file_name().to_string_lossy().starts_with("interop-")
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

/// Runs a build step; `Err` with its output if it fails.
fn run(what: &str, command: &mut Command) -> Result<(), String> {
    match command.output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "{what} failed ({}): {command:?}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            tail(&String::from_utf8_lossy(&out.stderr), 4000)
        )),
        Err(e) => Err(format!("{what}: cannot run {command:?}: {e}")),
    }
}

fn thrift_gen(language: &str, out: &Path) -> Result<(), String> {
    fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    run(
        "the Thrift compiler",
        Command::new(tool("THRIFT", "thrift"))
            .arg("--gen")
            .arg(language)
            .arg("-out")
            .arg(out)
            .arg(peers_dir().join("flume.thrift")),
    )
}

/// A command running the Python peer `script` of `tests/peers`.
pub fn python_command(script: &str) -> Command {
    let mut command = Command::new(tool("PYTHON", "python3"));
    command.arg(peers_dir().join(script)).env("PYTHONPATH", python_code()).env("PYTHONDONTWRITEBYTECODE", "1");
    command
}

/// A command running the Java peer `class` of `tests/peers`.
pub fn java_command(class: &str) -> Command {
    let mut command = Command::new(tool("JAVA", "java"));
    command.arg("-cp").arg(java_classpath()).arg(class);
    command
}

/// The directory of the Python code generated from the IDL (module `flume`).
fn python_code() -> PathBuf {
    static CODE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let code = CODE.get_or_init(|| {
        let out = work_dir().join("gen-py");
        thrift_gen("py", &out)?;
        Ok(out)
    });
    code.clone().unwrap_or_else(|e| panic!("cannot build the Python peer: {e}\n({INSTALL_HINT})"))
}

/// The class path of the Java peers (every `.java` file of `tests/peers`):
/// their classes, compiled with the code generated from the IDL, and libthrift.
fn java_classpath() -> String {
    static CLASSPATH: OnceLock<Result<String, String>> = OnceLock::new();
    let classpath = CLASSPATH.get_or_init(|| {
        let src = work_dir().join("gen-java");
        let classes = work_dir().join("java-classes");
        thrift_gen("java:generated_annotations=suppress", &src)?;
        fs::create_dir_all(&classes).map_err(|e| format!("cannot create {}: {e}", classes.display()))?;
        let mut sources = Vec::new();
        for dir in [peers_dir(), src.join("org/apache/flume/thrift")] {
            for entry in fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
                let path = entry.map_err(|e| e.to_string())?.path();
                if path.extension().is_some_and(|x| x == "java") {
                    sources.push(path);
                }
            }
        }
        let library = tool("THRIFT_JAVA_CLASSPATH", DEFAULT_JAVA_CLASSPATH);
        run(
            "javac",
            Command::new(tool("JAVAC", "javac"))
                .args(["-nowarn", "-Xlint:none", "-encoding", "UTF-8", "-d"])
                .arg(&classes)
                .arg("-cp")
                .arg(&library)
                .args(&sources),
        )?;
        Ok(format!("{}:{library}", classes.display()))
    });
    classpath.clone().unwrap_or_else(|e| panic!("cannot build the Java peer: {e}\n({INSTALL_HINT})"))
}
