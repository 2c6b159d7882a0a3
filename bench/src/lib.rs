//! The events every client of the benchmark sends (bench_common.h holds the
//! same for the C and C++ programs): three headers and a body of `len` bytes.

pub const HEADERS: [(&[u8], &[u8]); 3] =
    [(b"host", b"web-17.example.com"), (b"topic", b"clicks"), (b"timestamp", b"1718000000000")];

/// Body byte `i`: 'a' + i % 26.
pub fn body(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

pub fn protocol(name: &str) -> flume_client::Protocol {
    match name {
        "compact" => flume_client::Protocol::Compact,
        "binary" => flume_client::Protocol::Binary,
        _ => panic!("protocol must be compact or binary, not {name}"),
    }
}

/// `append` for a batch of 1 (what flume_client_append sends), else `appendBatch`.
pub fn method(batch: usize) -> flume_client::unstable::Method {
    if batch == 1 {
        flume_client::unstable::Method::Append
    } else {
        flume_client::unstable::Method::AppendBatch
    }
}
