//! The tools' command lines as a Unix user meets them: output to a closed
//! pipe, options, counts in the summaries, the text format's escapes.

mod common;

use std::fs;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use common::*;

/// What --version says of TLS in this build.
const TLS: &str = if cfg!(feature = "tls") { "with TLS" } else { "without TLS" };

/// A pipe whose read end is already closed: the write end, for a child's stdout.
fn closed_pipe() -> OwnedFd {
    let mut fds = [0; 2];
    // SAFETY: pipe(2) fills two descriptors we then own.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both descriptors are ours and open.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    write
}

#[test]
fn help_and_version_to_a_closed_pipe_end_quietly_by_sigpipe() {
    for (tool, arg) in [
        (SEND, "--help"),
        (SEND, "-h"),
        (SEND, "-V"),
        (SEND, "--version"),
        (RECEIVE, "--help"),
        (RECEIVE, "--version"),
        (RECEIVE, "-V"),
    ] {
        let out = Command::new(tool)
            .arg(arg)
            .stdin(Stdio::null())
            .stdout(Stdio::from(closed_pipe()))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        // As `yes | true` ends: by SIGPIPE (141 in a shell), saying nothing.
        assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{tool} {arg}: {} {err}", out.status);
        assert_eq!(err, "", "{tool} {arg}");
    }
}

#[test]
fn help_and_version_to_a_full_device_say_so() {
    let full = fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
    let out = Command::new(SEND).arg("--help").stdout(full).stderr(Stdio::piped()).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", out.status);
    assert!(stderr(&out).contains("flume-send: cannot write to stdout"), "{}", stderr(&out));
}

#[test]
fn receive_version_and_unknown_options() {
    for arg in ["--version", "-V"] {
        let out = Command::new(RECEIVE).arg(arg).output().unwrap();
        assert!(out.status.success(), "{arg}: {}", stderr(&out));
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            format!("flume-receive {} ({TLS})\n", env!("CARGO_PKG_VERSION"))
        );
    }
    let out = Command::new(SEND).arg("--version").output().unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("flume-send {} ({TLS})\n", env!("CARGO_PKG_VERSION")));
    // An unknown option alone is unknown, not "needs a value".
    for (args, message) in [
        (&["--nonsense"][..], "unknown option --nonsense"),
        (&["--nonsense", "1"][..], "unknown option --nonsense"),
        (&["--port"][..], "--port needs a value"),
        (&["--base64=yes"][..], "--base64 takes no value"),
        (&["--exit-after", "0"][..], "--exit-after: N must be at least 1"),
    ] {
        let out = Command::new(RECEIVE).args(args).stdin(Stdio::null()).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn exit_after_one_event_says_one_event_and_the_text_format_escapes_bytes() {
    let dir = scratch("one");
    let output = dir.join("out.txt");
    let port_file = dir.join("port");
    let child = Command::new(RECEIVE)
        .args(["--port", "0", "--exit-after", "1", "--port-file", port_file.to_str().unwrap()])
        .arg("--output")
        .arg(&output)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !port_file.exists() {
        assert!(std::time::Instant::now() < deadline, "flume-receive did not listen");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let port = fs::read_to_string(&port_file).unwrap().trim().to_string();
    // Invalid UTF-8 (0xff, a lone 0xc3), a backslash followed by "xff", an
    // escape character and a tab in one body; a header with a newline.
    let out = send(
        &["-H", "127.0.0.1", "-p", &port, "--header", "k=a\"b", "--json", "--base64"],
        Some(b"{\"headers\":{\"n\":\"x\\ny\"},\"body\":\"/2HDXHhmZhsJw6k=\"}\n"),
    );
    assert_code(&out, 0);
    assert!(stderr(&out).contains("flume-send: 1 event (11 B) acknowledged"), "{}", stderr(&out));
    let done = child.wait_with_output().unwrap();
    assert!(done.status.success(), "{}", done.status);
    let log = String::from_utf8_lossy(&done.stderr);
    assert!(
        log.contains("1 event received (--exit-after): 1 event in 1 call on 1 connection; answered 1 OK, 0 FAILED, 0 otherwise; 1 event written"),
        "{log}"
    );
    assert_eq!(fs::read_to_string(&output).unwrap(), "[k=a\\\"b, n=x\\ny] \\xffa\\xc3\\\\xff\\u{1b}\\té\n");
}

/// Without the `tls` feature the TLS options say so (tools/tests/tls.rs tests them with it).
#[cfg(not(feature = "tls"))]
#[test]
fn tls_options_in_a_build_without_tls_say_how_to_get_it() {
    let out = Command::new(RECEIVE).args(["--ssl-cert", "s.pem", "--ssl-key", "s.key"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("built without TLS (cargo build -p flume-tools --features tls)"), "{}", stderr(&out));
    let out = send(&["-H", "127.0.0.1", "-p", &dead_port().to_string(), "--ssl"], Some(b"x\n"));
    assert_code(&out, 1);
    assert!(stderr(&out).contains("TLS is not available in this build"), "{}", stderr(&out));
}

/// A client properties file saved with a byte order mark (as some Windows
/// editors do) reads like one without.
#[test]
fn a_properties_file_with_a_byte_order_mark_works() {
    let dir = scratch("bom");
    let mut receiver = Receiver::start(&dir, "r", &[]);
    let props = dir.join("client.properties");
    fs::write(&props, format!("\u{feff}batch-size = 5\nhosts = h1\nhosts.h1 = 127.0.0.1:{}\n", receiver.port)).unwrap();
    // From a file, which never pauses: flume-send then sends full batches only.
    let input = dir.join("in.txt");
    fs::write(&input, (1..=12).map(|i| format!("{i}\n")).collect::<String>()).unwrap();
    let out = send(&["-P", props.to_str().unwrap(), input.to_str().unwrap()], None);
    assert_code(&out, 0);
    assert_eq!(receiver.events().len(), 12);
    let (_, log) = receiver.stop();
    assert!(log.contains("12 events in 3 calls"), "batch-size = 5 was not applied: {log}");
}
