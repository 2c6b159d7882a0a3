//! make_frames: writes one framed call of BATCH events (BODY-byte bodies,
//! the benchmark's three headers) in PROTOCOL to OUTPUT, encoded by the
//! library's own encoder, for the floor client (bench_flume floor) to send
//! over and over.
//!
//! Usage: make_frames PROTOCOL BATCH BODY OUTPUT

use flume_client::unstable::encode_call;
use flume_client::EventView;
use flume_client_bench::{body, method, protocol, HEADERS};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: make_frames PROTOCOL BATCH BODY OUTPUT");
        std::process::exit(2);
    }
    let batch: usize = args[2].parse().expect("BATCH");
    let body = body(args[3].parse().expect("BODY"));
    let events = vec![EventView::new(&HEADERS, &body); batch];
    let mut frame = Vec::new();
    encode_call(protocol(&args[1]), &mut frame, 1, method(batch), &events);
    std::fs::write(&args[4], &frame).expect("write OUTPUT");
}
