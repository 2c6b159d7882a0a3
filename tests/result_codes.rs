//! The one table of result codes (rust/src/error.rs) against the places that
//! must repeat it as text: the C header's constants (cbindgen writes them from
//! the literal `pub const`s of src/error.rs), README's "Result codes" table and
//! the C++ header's `delivery_unknown`.

use std::collections::BTreeSet;
use std::ffi::CStr;

use flume_client::{Delivery, ErrorKind};

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// Every `#define FLUME_...` of the header with its number and doc comment,
/// the comment's lines joined by single spaces.
fn header_constants(header: &str) -> Vec<(String, u32, String)> {
    let lines: Vec<&str> = header.lines().collect();
    let mut constants = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.strip_prefix("#define FLUME_") else { continue };
        let mut words = rest.split_whitespace();
        let (Some(name), Some(value)) = (words.next(), words.next()) else { continue };
        let Ok(number) = value.parse::<u32>() else { continue };
        let name = format!("FLUME_{name}");
        if !(name == "FLUME_OK" || name.starts_with("FLUME_ERR_")) {
            continue;
        }
        assert_eq!(lines[i - 1].trim(), "*/", "{name}: no doc comment right above it");
        let start = (0..i).rev().find(|&j| lines[j].trim() == "/**").unwrap_or_else(|| panic!("{name}: no /**"));
        let doc: Vec<&str> = lines[start + 1..i - 1]
            .iter()
            .map(|l| l.trim().trim_start_matches('*').trim())
            .filter(|l| !l.is_empty())
            .collect();
        constants.push((name, number, doc.join(" ")));
    }
    constants
}

#[test]
fn the_headers_constants_are_the_table() {
    let header = read("include/flume_client.h");
    let constants = header_constants(&header);
    let mut expected = vec![("FLUME_OK".to_string(), 0, "Success.".to_string())];
    expected.extend(ErrorKind::ALL.iter().map(|k| (k.name().to_string(), k.code(), k.c_doc().to_string())));
    for (want, got) in expected.iter().zip(&constants) {
        assert_eq!(want, got, "the table (left) and include/flume_client.h (right) differ");
    }
    assert_eq!(constants.len(), expected.len(), "the header's codes: {constants:?}");
}

/// The same through the C library itself: the constants, and flume_result_str().
#[test]
fn flume_result_str_is_the_tables_description() {
    for kind in ErrorKind::ALL {
        let text = unsafe { CStr::from_ptr(flume_client_ffi::flume_result_str(kind.code())) };
        assert_eq!(text.to_str().unwrap(), kind.description());
    }
    let text = |code| unsafe { CStr::from_ptr(flume_client_ffi::flume_result_str(code)) }.to_str().unwrap();
    assert_eq!(text(0), "FLUME_OK: success");
    assert_eq!(text(ErrorKind::SLOTS as u32), "unknown result code");
}

/// README's table: one row per code in code order, with its number, and a
/// third column ("was anything sent?") saying what `delivery()` says.
#[test]
fn the_readmes_table_is_the_table() {
    let readme = read("README.md");
    let section = readme.split("\n## Result codes\n").nth(1).expect("a Result codes section");
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    let rows: Vec<(String, String)> = section
        .lines()
        .filter(|l| l.starts_with("| `FLUME_"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
            (cells[0].to_string(), cells.last().unwrap().to_string())
        })
        .collect();
    assert_eq!(rows.first().map(|r| r.0.as_str()), Some("`FLUME_OK` (0)"));
    let codes = &rows[1..];
    assert_eq!(codes.len(), ErrorKind::ALL.len(), "{rows:?}");
    for (kind, (code, sent)) in ErrorKind::ALL.iter().zip(codes) {
        assert_eq!(code, &format!("`{}` ({})", kind.name(), kind.code()));
        let said = match sent.as_str() {
            s if s.starts_with("nothing") => Delivery::NotSent,
            s if s.starts_with("maybe") => Delivery::MaybeDelivered,
            "yes, and rejected" => Delivery::Rejected,
            s => panic!("{code}: '{s}' says nothing, maybe, or yes, and rejected"),
        };
        assert_eq!(said, kind.delivery(), "README's row for {code}");
    }
}

/// flume::delivery_unknown() of the C++ header names exactly the codes that
/// may have delivered.
#[test]
fn the_cpp_headers_delivery_unknown_is_the_table() {
    let hpp = read("include/flume_client.hpp");
    let start = hpp.find("constexpr bool delivery_unknown(Code code) noexcept {").expect("delivery_unknown");
    let body = &hpp[start..start + hpp[start..].find("\n}").unwrap()];
    let named: BTreeSet<&str> = body
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("FLUME_ERR_"))
        .collect();
    let maybe: BTreeSet<&str> = ErrorKind::ALL.iter().filter(|k| k.maybe_delivered()).map(|k| k.name()).collect();
    assert_eq!(named, maybe);
}
