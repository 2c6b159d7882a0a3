//! What `flume-send` and `flume-receive` share: a small JSON reader and
//! writer, base64, Java properties files (the library's own parser), signal
//! handling and number formatting.
//!
//! Only the tools use this crate; the library installs no signal handlers and
//! needs none of it.

pub mod base64;
pub mod json;
pub mod signals;
#[cfg(feature = "tls")]
pub mod tls;

/// Parses Java properties text into (key, value) pairs in file order, as
/// `java.util.Properties.load` reads it (the library's own parser, so a header
/// file, `flume-send -R`, reads like a client properties file, `-P`); the
/// error names the line.
pub fn parse_properties(text: &str) -> Result<Vec<(String, String)>, String> {
    flume_client::parse_properties(text)
        .map(|pairs| pairs.into_iter().map(|p| (p.key, p.value)).collect())
        .map_err(|e| e.to_string())
}

/// Writes `text` (`--help`, `--version`) to stdout and exits 0. When stdout
/// is a pipe whose reader has gone (`flume-send --help | true`), the tool
/// ends as any Unix filter does, killed by SIGPIPE (status 141 in a shell),
/// without a message: Rust ignores SIGPIPE, so the write's `EPIPE` is turned
/// back into the signal here. Any other write error (`>/dev/full`) is printed
/// and exits 1.
pub fn print_and_exit(tool: &str, text: &str) -> ! {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Ok(()) => std::process::exit(0),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => die_of_sigpipe(),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "{tool}: cannot write to stdout: {e}");
            std::process::exit(1)
        }
    }
}

/// What `--version` prints: the tool, its version, and whether it has TLS.
pub fn version(tool: &str) -> String {
    let tls = if cfg!(feature = "tls") { "with TLS" } else { "without TLS" };
    format!("{tool} {} ({tls})\n", env!("CARGO_PKG_VERSION"))
}

/// Ends the process by SIGPIPE with its default action, as a filter whose
/// reader went away would end; exit status 141 if the signal cannot be raised.
pub fn die_of_sigpipe() -> ! {
    // SAFETY: restoring a default disposition and raising a signal at ourselves.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    std::process::exit(128 + libc::SIGPIPE)
}

/// `1 event`, `2 events`: a count with its noun in the right number.
pub fn count(n: u64, singular: &str, plural: &str) -> String {
    format!("{n} {}", if n == 1 { singular } else { plural })
}

/// Text for a terminal from bytes that may not be UTF-8: valid UTF-8 as Rust's
/// `escape_debug` writes it (`\n`, `\t`, `\\`, `\"`, `\u{1b}`), each byte
/// of invalid UTF-8 as `\xNN`. Since a backslash is itself escaped, the result
/// is one line and names every byte exactly.
pub fn escape_bytes(bytes: &[u8]) -> String {
    // (`<[u8]>::utf8_chunks` is newer than the crate's rust-version.)
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        let (valid, invalid) = match std::str::from_utf8(rest) {
            Ok(text) => (text, 0),
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                let valid = std::str::from_utf8(valid).unwrap_or_default();
                (valid, e.error_len().unwrap_or(after.len()))
            }
        };
        out.extend(valid.escape_debug());
        for b in &rest[valid.len()..valid.len() + invalid] {
            out.push_str(&format!("\\x{b:02x}"));
        }
        rest = &rest[valid.len() + invalid..];
    }
    out
}

/// Whether file descriptor `fd` is a terminal.
pub fn is_terminal(fd: libc::c_int) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// A byte count for people: `512 B`, `1.5 KB`, `12.3 MB` (powers of 1000).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KB", "MB", "GB", "TB", "PB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 999.95 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_picks_a_unit() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1000), "1.0 KB");
        assert_eq!(human_bytes(1_550), "1.6 KB");
        assert_eq!(human_bytes(999_960), "1.0 MB");
        assert_eq!(human_bytes(12_345_678), "12.3 MB");
        assert_eq!(human_bytes(u64::MAX), "18446.7 PB");
    }

    #[test]
    fn counts_have_their_noun_in_the_right_number() {
        assert_eq!(count(0, "event", "events"), "0 events");
        assert_eq!(count(1, "event", "events"), "1 event");
        assert_eq!(count(2, "call", "calls"), "2 calls");
    }

    #[test]
    fn invalid_utf8_is_escaped_byte_by_byte() {
        assert_eq!(escape_bytes(b"plain"), "plain");
        assert_eq!(escape_bytes("tab\there \"q\" \\ \u{1b} é".as_bytes()), "tab\\there \\\"q\\\" \\\\ \\u{1b} é");
        assert_eq!(escape_bytes(b"a\xff\xfeb\xc3"), "a\\xff\\xfeb\\xc3");
        // A literal backslash-x stays distinguishable from an escaped byte.
        assert_eq!(escape_bytes(b"\\xff"), "\\\\xff");
        assert_eq!(escape_bytes("é".as_bytes()), "é");
    }

    #[test]
    fn header_files_are_java_properties() {
        let text = "# headers\nhost = web-1\ntopic:clicks\n! comment\nnote = a \\\n    b\nempty\n";
        assert_eq!(
            parse_properties(text).unwrap(),
            [
                ("host".to_string(), "web-1".to_string()),
                ("topic".to_string(), "clicks".to_string()),
                ("note".to_string(), "a b".to_string()),
                ("empty".to_string(), String::new()),
            ]
        );
        assert!(parse_properties("k = \\u12\n").unwrap_err().contains("line 1"));
    }
}
