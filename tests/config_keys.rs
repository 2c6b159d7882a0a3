//! The key table (`Config::keys()`, rust/src/config/keys.rs) is the one list
//! of config keys: the README's key tables and the C header's list of keys
//! (the doc comment of `flume_config` in src/config.rs, which cbindgen copies
//! into include/flume_client.h) must say what it says.
//!
//! The C list is generated: `FLUME_CLIENT_UPDATE_KEY_DOCS=1 cargo test --test
//! config_keys` rewrites it in src/config.rs, then `FLUME_CLIENT_UPDATE_HEADER=1
//! cargo build` carries it into the header.

use std::collections::BTreeMap;

use flume_client::{Config, ConfigKey};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The rows of the README's key tables (those whose header starts
/// `| key | default |`): each key of a row's first cell, with the row's
/// default cell. A key documented in several rows has all of them.
fn readme_key_rows() -> BTreeMap<String, Vec<String>> {
    let readme = std::fs::read_to_string(format!("{ROOT}/README.md")).unwrap();
    let mut rows: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut in_key_table = false;
    let mut tables = 0;
    for line in readme.lines() {
        if line.starts_with("| key | default |") {
            in_key_table = true;
            tables += 1;
            continue;
        }
        if !line.starts_with('|') {
            in_key_table = false;
            continue;
        }
        if !in_key_table || line.starts_with("| ---") {
            continue;
        }
        // No cell of these tables holds a `|`.
        let cells: Vec<&str> = line.trim().trim_matches('|').split('|').map(str::trim).collect();
        assert!(cells.len() >= 3, "a README key table row without a default cell: {line}");
        for key in backticked(cells[0]) {
            rows.entry(key.to_string()).or_default().push(cells[1].to_string());
        }
    }
    assert!(tables >= 3, "found {tables} key tables in README.md (Configuration, TLS, Kerberos)");
    rows
}

/// The `quoted` words of a Markdown cell.
fn backticked(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

#[test]
fn every_key_of_the_table_is_in_the_readme_with_its_default() {
    let rows = readme_key_rows();
    let mut missing = Vec::new();
    for key in Config::keys() {
        match rows.get(key.name()) {
            None => missing.push(format!("{}: no row", key.name())),
            Some(defaults) => {
                if let Some(default) = key.default_value() {
                    for cell in defaults {
                        if !backticked(cell).contains(&default) {
                            missing.push(format!("{}: its default `{default}` is not in '{cell}'", key.name()));
                        }
                    }
                }
            }
        }
    }
    assert!(missing.is_empty(), "README.md's key tables disagree with Config::keys(): {missing:#?}");
}

#[test]
fn every_key_in_the_readme_is_in_the_table() {
    let unknown: Vec<String> =
        readme_key_rows().into_keys().filter(|name| !Config::keys().iter().any(|k| k.name() == name)).collect();
    assert!(unknown.is_empty(), "README.md documents keys that Config::set does not know: {unknown:?}");
}

/// The generated part of `flume_config`'s doc comment.
const BEGIN: &str = "// BEGIN the key list, generated from rust/src/config/keys.rs by tests/config_keys.rs";
const END: &str = "// END the key list";

/// The key list of the C header: one item per key, wrapped at 80 columns.
fn c_key_list() -> String {
    let mut out = String::new();
    for key in Config::keys() {
        let mut facts = Vec::new();
        if let Some(default) = key.default_value() {
            facts.push(format!("default \"{default}\""));
        }
        if let Some(range) = key.range() {
            facts.push(range);
        }
        if let Some(feature) = key.feature() {
            facts.push(format!("{} builds only", feature.name()));
        }
        let facts = if facts.is_empty() { String::new() } else { format!(" ({})", facts.join("; ")) };
        wrap(&mut out, &format!("- \"{}\"{facts}: {}.", key.name(), key.doc()));
    }
    out
}

/// Appends `text` as `///` lines of at most 80 columns, continuation lines indented by two.
fn wrap(out: &mut String, text: &str) {
    let mut line = String::from("///");
    for word in text.split(' ') {
        if line.len() + 1 + word.len() > 80 && line.len() > "/// ".len() + 2 {
            out.push_str(&line);
            out.push('\n');
            line = String::from("///  ");
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
}

#[test]
fn the_c_headers_key_list_is_the_tables() {
    let path = format!("{ROOT}/src/config.rs");
    let source = std::fs::read_to_string(&path).unwrap();
    let begin = source.find(BEGIN).map(|at| at + source[at..].find('\n').unwrap() + 1);
    let end = source.find(END);
    let (Some(begin), Some(end)) = (begin, end) else {
        panic!("src/config.rs lacks the lines\n{BEGIN}\nand\n{END}\naround flume_config's key list");
    };
    let generated = c_key_list();
    if source[begin..end] == generated {
        return;
    }
    if std::env::var("FLUME_CLIENT_UPDATE_KEY_DOCS").as_deref() == Ok("1") {
        std::fs::write(&path, format!("{}{generated}{}", &source[..begin], &source[end..])).unwrap();
        eprintln!("rewrote the key list of src/config.rs: now run FLUME_CLIENT_UPDATE_HEADER=1 cargo build");
        return;
    }
    panic!(
        "the key list in src/config.rs (flume_config's doc) is not the key table's: regenerate it with \
         FLUME_CLIENT_UPDATE_KEY_DOCS=1 cargo test --test config_keys, then the header with \
         FLUME_CLIENT_UPDATE_HEADER=1 cargo build"
    );
}

/// The header the build generated carries the list (cbindgen copies the doc comment).
#[test]
fn the_header_lists_every_key() {
    let header = std::fs::read_to_string(format!("{ROOT}/include/flume_client.h")).unwrap();
    let missing: Vec<&str> =
        Config::keys().iter().map(ConfigKey::name).filter(|k| !header.contains(&format!("- \"{k}\""))).collect();
    assert!(missing.is_empty(), "include/flume_client.h does not list {missing:?}");
}
