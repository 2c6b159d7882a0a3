//! What `flume-send` and `flume-receive` share: a small JSON reader and
//! writer, base64, Java properties files (the library's own parser), signal
//! handling and number formatting.
//!
//! Only the tools use this crate; the library installs no signal handlers and
//! needs none of it.

pub mod base64;
pub mod json;
pub mod signals;

/// Parses Java properties text into (key, value) pairs in file order, as
/// `java.util.Properties.load` reads it (the library's own parser, so a header
/// file, `flume-send -R`, reads like a client properties file, `-P`); the
/// error names the line.
pub fn parse_properties(text: &str) -> Result<Vec<(String, String)>, String> {
    flume_client::parse_properties(text)
        .map(|pairs| pairs.into_iter().map(|p| (p.key, p.value)).collect())
        .map_err(|e| e.to_string())
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
