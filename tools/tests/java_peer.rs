//! flume-send to Apache Thrift's Java server set up as Flume's Thrift source
//! sets it up (the root crate's harness: tests/common/peers.rs and
//! tests/peers/FlumeTestServer.java).

mod common;
#[allow(dead_code)]
#[path = "../../tests/common/peers.rs"]
mod peers;

use std::fs;

use common::*;
use flume_client::Protocol;
use peers::{PeerKind, PeerServer};

#[test]
fn a_hundred_thousand_lines_reach_the_java_server_in_order() {
    let dir = scratch("java");
    let lines = lines(100_000);
    let file = dir.join("app.log");
    write_lines(&file, &lines);
    let header_file = dir.join("headers.properties");
    fs::write(&header_file, "host=web-1\ntopic=clicks\n").unwrap();

    let mut server = PeerServer::start(PeerKind::Java, Protocol::Binary);
    let out = send(
        &["--hosts", &server.address(), "--protocol", "binary", "--batch-size", "1000", "-F", file.to_str().unwrap(),
          "-R", header_file.to_str().unwrap(), "--header", "source=flume-send"],
        None,
    );
    assert_code(&out, 0);

    let calls = server.calls(lines.len());
    assert!(calls.iter().all(|c| c.method == "appendBatch"));
    assert_eq!(calls.len(), 100);
    let events: Vec<_> = calls.into_iter().flat_map(|c| c.events).collect();
    assert_eq!(events.len(), lines.len());
    let expected: Vec<(Vec<u8>, Vec<u8>)> = sorted(&[("host", "web-1"), ("source", "flume-send"), ("topic", "clicks")])
        .into_iter()
        .map(|(k, v)| (k.into_bytes(), v.into_bytes()))
        .collect();
    for (i, (event, line)) in events.iter().zip(&lines).enumerate() {
        assert_eq!(event.body, line.as_bytes(), "line {}", i + 1);
        assert_eq!(event.headers, expected, "line {}", i + 1);
    }
}
