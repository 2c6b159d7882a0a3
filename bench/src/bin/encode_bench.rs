//! encode_bench: the encoder alone, beside memcpy. For each protocol, batch
//! size and body size, encodes the call into a reused buffer for a while
//! (flume_client::unstable::encode_call: every byte copied), then copies the same
//! bytes (an already-encoded frame) into a reused buffer with copy_from_slice
//! for the same while, then encodes as the client does (encode_call_spliced:
//! bodies of SPLICED_BODY_MIN bytes or more left for the vectored write).
//! Prints one JSON object per line.
//!
//! Usage: encode_bench SECONDS_PER_CELL

use std::hint::black_box;
use std::time::{Duration, Instant};

use flume_client::unstable::{encode_call, encode_call_spliced, SPLICED_BODY_MIN};
use flume_client::EventView;
use flume_client_bench::{body, method, protocol, HEADERS};

/// Runs `f` repeatedly for about `time`; returns (runs, seconds).
fn timed(time: Duration, mut f: impl FnMut()) -> (u64, f64) {
    // Warm up (and fault in the buffers).
    for _ in 0..3 {
        f();
    }
    let start = Instant::now();
    let mut runs = 0u64;
    loop {
        for _ in 0..16 {
            f();
        }
        runs += 16;
        let elapsed = start.elapsed();
        if elapsed >= time {
            return (runs, elapsed.as_secs_f64());
        }
    }
}

fn main() {
    let seconds: f64 = std::env::args().nth(1).map_or(0.5, |s| s.parse().expect("SECONDS_PER_CELL"));
    let time = Duration::from_secs_f64(seconds / 2.0);
    for proto in ["compact", "binary"] {
        for body_len in [256usize, 4096] {
            for batch in [1usize, 100, 1000] {
                // Each event its own body, as real events have (and as memcpy reads).
                let bodies = body(body_len).repeat(batch);
                let events: Vec<EventView> =
                    bodies.chunks(body_len).map(|b| EventView::new(&HEADERS, b)).collect();
                let mut buf = Vec::new();
                encode_call(protocol(proto), &mut buf, 1, method(batch), &events);
                let frame = buf.clone();
                let mut seqid = 0i32;
                let (enc_runs, enc_secs) = timed(time, || {
                    seqid = seqid.wrapping_add(1);
                    buf.clear();
                    encode_call(protocol(proto), &mut buf, seqid, method(batch), black_box(&events));
                    black_box(&buf);
                });
                let mut copy = vec![0u8; frame.len()];
                let (cp_runs, cp_secs) = timed(time, || {
                    copy.copy_from_slice(black_box(&frame));
                    black_box(&copy);
                });
                let mut splices = Vec::new();
                let (sp_runs, sp_secs) = timed(time, || {
                    seqid = seqid.wrapping_add(1);
                    buf.clear();
                    let events = black_box(&events);
                    encode_call_spliced(protocol(proto), &mut buf, seqid, method(batch), events, SPLICED_BODY_MIN, &mut splices);
                    black_box(&buf);
                });
                let bytes = frame.len() as f64;
                println!(
                    "{{\"kind\":\"encode\",\"protocol\":\"{proto}\",\"batch\":{batch},\"body\":{body_len},\
                     \"frame_bytes\":{},\"encode_gbps\":{:.3},\"memcpy_gbps\":{:.3},\"encode_ns_per_event\":{:.1},\"spliced_ns_per_event\":{:.1}}}",
                    frame.len(),
                    bytes * enc_runs as f64 / enc_secs / 1e9,
                    bytes * cp_runs as f64 / cp_secs / 1e9,
                    enc_secs * 1e9 / (enc_runs as f64 * batch as f64),
                    sp_secs * 1e9 / (sp_runs as f64 * batch as f64),
                );
            }
        }
    }
}
