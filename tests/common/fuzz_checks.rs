//! What the fuzz targets (fuzz/fuzz_targets/*.rs) check for each input, shared
//! with tests/fuzz_regressions.rs, which feeds the checked-in seeds and every
//! input a fuzzer ever found (fuzz/regressions/<target>/) through the same
//! checks as a normal cargo test.
//!
//! Each check panics if the function under test panics or breaks its contract.

#![allow(dead_code)]

use flume_client::unstable::{
    decode_call, decode_reply, encode_call, encode_reply, frame_len, Method, Status, FRAME_HEADER_LEN,
};
use flume_client::{parse_host_list, Config, ErrorKind, EventView, Protocol};

/// The check of one target's input.
pub type Check = fn(&[u8]);

/// The fuzz targets, by name (the directories of fuzz/seeds and fuzz/regressions).
pub const TARGETS: [(&str, Check); 4] = [
    ("decode_reply", decode_reply_input),
    ("decode_call", decode_call_input),
    ("parse_host_list", parse_host_list_input),
    ("load_properties", load_properties_input),
];

/// One selector byte (bit 0: binary instead of compact; bit 1: appendBatch
/// instead of append), then a reply's frame payload, decoded as the reply to
/// seqid 1. A failure is a reply fault kind with a message.
pub fn decode_reply_input(data: &[u8]) {
    let Some((&selector, payload)) = data.split_first() else { return };
    let protocol = if selector & 1 == 0 { Protocol::Compact } else { Protocol::Binary };
    let method = if selector & 2 == 0 { Method::Append } else { Method::AppendBatch };
    match decode_reply(protocol, payload, 1, method) {
        Ok(()) => {
            // Whatever decoded as OK, the canonical OK reply decodes as OK too.
            let mut canonical = Vec::new();
            encode_reply(protocol, &mut canonical, 1, method, Status::Ok);
            decode_reply(protocol, &canonical[FRAME_HEADER_LEN..], 1, method).expect("the canonical OK reply");
        }
        Err(e) => {
            assert!(
                matches!(e.kind(), ErrorKind::Protocol | ErrorKind::Failed | ErrorKind::Server),
                "unexpected kind {:?}: {e}",
                e.kind()
            );
            assert!(!e.message().is_empty());
        }
    }
}

/// One selector byte (bit 0: binary instead of compact), then a call's frame
/// payload. A failure is `Protocol`; a call that decodes, encoded again by the
/// client's encoder, decodes to the same call.
pub fn decode_call_input(data: &[u8]) {
    let Some((&selector, payload)) = data.split_first() else { return };
    let protocol = if selector & 1 == 0 { Protocol::Compact } else { Protocol::Binary };
    let call = match decode_call(protocol, payload) {
        Ok(call) => call,
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
            assert!(!e.message().is_empty());
            return;
        }
    };
    let headers: Vec<Vec<(&[u8], &[u8])>> =
        call.events.iter().map(|e| e.headers.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())).collect()).collect();
    let events: Vec<EventView> = call.events.iter().zip(&headers).map(|(e, h)| EventView::new(h, &e.body)).collect();
    let mut frame = Vec::new();
    encode_call(protocol, &mut frame, call.seqid, call.method, &events);
    let header: [u8; FRAME_HEADER_LEN] = frame[..FRAME_HEADER_LEN].try_into().unwrap();
    assert_eq!(frame_len(header, usize::MAX).unwrap(), frame.len() - FRAME_HEADER_LEN);
    let again = decode_call(protocol, &frame[FRAME_HEADER_LEN..]).expect("a re-encoded call decodes");
    assert_eq!(again, call);
}

/// A host list as UTF-8 text. A failure is `InvalidArg` naming a host; a list
/// that parses names at least one host with a port from 1 to 65535, and the
/// hosts written back out parse to the same list.
pub fn parse_host_list_input(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse_host_list(text) {
        Ok(hosts) => {
            assert!(!hosts.is_empty());
            assert!(hosts.iter().all(|h| h.port != 0 && !h.host.is_empty()));
            let written: Vec<String> = hosts.iter().map(ToString::to_string).collect();
            let again = parse_host_list(&written.join(",")).expect("written hosts parse");
            assert_eq!(again, hosts);
        }
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::InvalidArg, "{e}");
            assert!(e.message().contains("host"), "{e}");
        }
    }
}

/// A properties text (UTF-8) loaded into a default config. A failure is
/// `Config` naming the line and leaves the config unchanged; loading the same
/// text twice changes nothing more than loading it once.
pub fn load_properties_input(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut config = Config::default();
    match config.load_properties_str(text) {
        Ok(()) => {
            let mut twice = config.clone();
            twice.load_properties_str(text).expect("the same text loads again");
            assert_eq!(twice, config);
        }
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Config, "{e}");
            assert!(e.message().starts_with("line "), "{e}");
            assert_eq!(config, Config::default(), "a failed load changed the config");
        }
    }
}
