//! Helpers of the tools' tests: they run the built `flume-send` and
//! `flume-receive` binaries, as a user would.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use flume_tools::json;

pub const SEND: &str = env!("CARGO_BIN_EXE_flume-send");
pub const RECEIVE: &str = env!("CARGO_BIN_EXE_flume-receive");

/// A fresh scratch directory for one test, under cargo's target/tmp.
pub fn scratch(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "tools-{}-{}-{name}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running `flume-receive` writing JSON lines to a file. Killed on drop.
pub struct Receiver {
    child: Child,
    pub port: u16,
    pub output: PathBuf,
    log: PathBuf,
}

impl Receiver {
    /// Starts `flume-receive --port 0 --format json --output <dir>/<name>.jsonl ARGS`
    /// and waits until it listens.
    pub fn start(dir: &Path, name: &str, args: &[&str]) -> Receiver {
        let port_file = dir.join(format!("{name}.port"));
        let output = dir.join(format!("{name}.jsonl"));
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(RECEIVE)
            .args(["--port", "0", "--format", "json", "--port-file"])
            .arg(&port_file)
            .arg("--output")
            .arg(&output)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .expect("flume-receive starts");
        let mut receiver = Receiver { child, port: 0, output, log };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(port) = fs::read_to_string(&port_file).ok().and_then(|p| p.trim().parse().ok()) {
                receiver.port = port;
                return receiver;
            }
            if let Ok(Some(status)) = receiver.child.try_wait() {
                panic!("flume-receive exited ({status}) before listening: {}", receiver.log());
            }
            assert!(Instant::now() < deadline, "flume-receive did not listen within 20 s: {}", receiver.log());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The events written so far.
    pub fn events(&self) -> Vec<json::JsonEvent> {
        read_events(&self.output)
    }

    /// Waits (at most 20 s) for the receiver to exit by itself; its status.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "flume-receive did not exit: {}", self.log());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends SIGTERM and waits for the exit; the log (with the counts).
    pub fn stop(&mut self) -> (std::process::ExitStatus, String) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let status = self.wait_exit();
        (status, self.log())
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads a file of JSON-line events.
pub fn read_events(path: &Path) -> Vec<json::JsonEvent> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            json::parse_event(line).unwrap_or_else(|e| panic!("{}:{}: {e}: {line:?}", path.display(), i + 1))
        })
        .collect()
}

/// Runs `flume-send ARGS` with `stdin` as its input (or none).
pub fn send(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(SEND)
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("flume-send starts");
    if let Some(bytes) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        let bytes = bytes.to_vec();
        std::thread::spawn(move || {
            use std::io::Write;
            let _ = pipe.write_all(&bytes);
        });
    }
    child.wait_with_output().unwrap()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts that flume-send exited with `code`.
pub fn assert_code(out: &Output, code: i32) {
    assert_eq!(out.status.code(), Some(code), "flume-send: {}\n{}", out.status, stderr(out));
}

/// The N of "resume with --skip N" in flume-send's stderr.
pub fn resume_point(out: &Output) -> u64 {
    let err = stderr(out);
    let line = err.lines().find_map(|l| l.strip_prefix("flume-send: resume with --skip "));
    line.and_then(|n| n.trim().parse().ok()).unwrap_or_else(|| panic!("no resume point in:\n{err}"))
}

/// `count` lines of varied text: tabs, quotes, backslashes, non-ASCII, some empty.
pub fn lines(count: usize) -> Vec<String> {
    (1..=count)
        .map(|i| match i % 1000 {
            0 => String::new(),
            _ => format!("line {i}\t\"q\" \\ é 😀 {}", "x".repeat(i % 37)),
        })
        .collect()
}

/// Writes `lines` to `path`, each ended by \n.
pub fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    fs::write(path, text).unwrap();
}

/// The bodies of `events` as text.
pub fn bodies(events: &[json::JsonEvent]) -> Vec<String> {
    events.iter().map(|e| e.body.clone()).collect()
}

/// Headers as owned pairs, sorted.
pub fn sorted(headers: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    v.sort();
    v
}

/// A loopback port where nothing listens (bound, then released).
pub fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
