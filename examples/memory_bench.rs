//! Memory figures: the resident memory a client with default settings adds to
//! a process (made, then after its first call and with its sender thread
//! started), and the bytes of memory each event queued by `send` holds (a
//! 256-byte body with three headers, the events of bench/run.sh), measured as
//! resident memory grown while 100,000 events (the default `queue.max-events`)
//! wait in the queue behind a receiver that reads nothing and never answers.
//!
//!     cargo run --release --example memory_bench [events]

use std::net::TcpListener;
use std::time::Duration;

use flume_client::{Client, Config, EventView};

/// Resident bytes of this process (`/proc/self/statm`, second field, in pages).
fn resident() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: usize = statm.split_whitespace().nth(1).expect("resident field").parse().expect("a number");
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize
}

fn main() {
    let events: usize = std::env::args().nth(1).map_or(100_000, |n| n.parse().expect("events"));
    // A receiver that accepts and then neither reads nor answers: what is sent stays queued.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream.unwrap());
        }
    });
    let headers: [(&[u8], &[u8]); 3] =
        [(b"host", b"web-17.example.com"), (b"topic", b"clicks"), (b"timestamp", b"1718000000000")];
    let body = [b'a'; 256];
    let event = EventView::new(&headers, &body);
    let event_bytes = body.len() + headers.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();

    let before = resident();
    let client = Client::new(&addr, &Config::default()).unwrap();
    let made = resident();
    // The first send starts the sender thread, which connects and sends one batch that is never answered.
    client.send(&event, 0).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let started = resident();
    for i in 1..events {
        client.send(&event, i).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    let queued = resident();
    let per_event = (queued - started) as f64 / (events - 1) as f64;
    println!("resident memory of a default client, made:                {:>8.1} KiB", (made - before) as f64 / 1024.0);
    println!(
        "resident memory of a default client, sender started:      {:>8.1} KiB",
        (started - before) as f64 / 1024.0
    );
    println!(
        "bytes per queued event ({event_bytes} bytes of body and headers): {per_event:>8.1} (target: event + 64 = {})",
        event_bytes + 64
    );
    println!("(dropping the client now waits close-timeout, 5 s, then reports the queued events as failed)");
    drop(client);
}
