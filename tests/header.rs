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
