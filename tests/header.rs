//! The committed header must be what the current source generates.

#[test]
fn header_is_up_to_date() {
    let generated = std::fs::read_to_string(concat!(env!("OUT_DIR"), "/flume_client.h")).unwrap();
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/flume_client.h")).unwrap();
    assert!(
        generated == committed,
        "include/flume_client.h is stale: regenerate it with FLUME_CLIENT_UPDATE_HEADER=1 cargo build"
    );
}

/// Every function of the header says, in its own doc comment, which threads
/// may call it, its longest wait and who owns what: the lines "Threads:",
/// "Blocks:" and "Ownership:".
#[test]
fn every_function_states_its_threads_blocking_bound_and_ownership() {
    let header = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/flume_client.h")).unwrap();
    let lines: Vec<&str> = header.lines().collect();
    let mut functions = 0;
    let mut missing = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        // A prototype starts at column 0 with its return type and holds "flume_...(".
        let Some(open) = line.find('(') else { continue };
        let starts_like_a_prototype =
            line.starts_with(|c: char| c.is_ascii_lowercase()) && !line.starts_with("typedef");
        let name = line[..open].rsplit([' ', '*']).next().unwrap_or("");
        if !starts_like_a_prototype || !name.starts_with("flume_") {
            continue;
        }
        functions += 1;
        assert_eq!(lines[i - 1].trim(), "*/", "{name}: no doc comment right above it");
        let doc_start = (0..i).rev().find(|&j| lines[j].trim_start().starts_with("/**")).unwrap();
        let doc = &lines[doc_start..i];
        for label in ["Threads:", "Blocks:", "Ownership:"] {
            if !doc.iter().any(|l| l.trim_start().trim_start_matches('*').trim_start().starts_with(label)) {
                missing.push(format!("{name}: {label}"));
            }
        }
    }
    assert!(functions >= 17, "found only {functions} functions in the header");
    assert!(missing.is_empty(), "doc comments lacking a line: {missing:?}");
}

/// The header's own ownership rule names its one exception.
#[test]
fn the_header_does_not_claim_it_keeps_no_pointer_at_all() {
    let header = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/flume_client.h")).unwrap();
    assert!(!header.contains("the library never keeps a pointer the caller passed in"));
    let prologue = &header[..header.find("#ifndef FLUME_CLIENT_H").unwrap()];
    assert!(
        prologue.contains("with one exception: flume_config_set_delivery_cb() keeps `cb` and\n * `user`"),
        "{prologue}"
    );
}
