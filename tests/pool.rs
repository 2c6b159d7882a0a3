//! Many threads, one client: 16 threads share a client and send 1,000,000
//! events to one server. Every event arrives exactly once, and the client
//! never holds more than `maxConnections` connections at once.

#[path = "common/fake_source.rs"]
mod fake_source;

use std::sync::{Arc, Mutex};
use std::thread;

use fake_source::{Action, FakeSource, Record, Status};
use flume_client::{Client, Config, EventView, Protocol, FLUME_MAX_FRAME_SIZE};

const THREADS: usize = 16;
const EVENTS: usize = 1_000_000;
const PER_CALL: usize = 1_000;
const MAX_CONNECTIONS: usize = 5;

/// A source counting how often each event id (the body's first 4 bytes) arrives.
fn counting_source(arrivals: &Arc<Mutex<Vec<u8>>>) -> FakeSource {
    let arrivals = Arc::clone(arrivals);
    FakeSource::builder(Protocol::Compact)
        .max_frame(FLUME_MAX_FRAME_SIZE)
        .record(Record::Nothing)
        .script(move |r| {
            let mut arrivals = arrivals.lock().unwrap();
            for event in &r.call.events {
                let id = u32::from_le_bytes(event.body[..4].try_into().unwrap()) as usize;
                arrivals[id] = arrivals[id].saturating_add(1);
            }
            Action::Reply(Status::Ok)
        })
        .start()
}

#[test]
fn sixteen_threads_send_a_million_events_exactly_once_within_max_connections() {
    let arrivals = Arc::new(Mutex::new(vec![0; EVENTS]));
    let server = counting_source(&arrivals);
    let addr = server.addr();

    let mut config = Config::default();
    config.set("maxConnections", &MAX_CONNECTIONS.to_string()).unwrap();
    let client = Arc::new(Client::new(&addr, &config).unwrap());
    let headers: [(&[u8], &[u8]); 2] = [(b"host", b"test"), (b"thread", b"t")];
    let senders: Vec<_> = (0..THREADS)
        .map(|t| {
            let client = Arc::clone(&client);
            thread::spawn(move || {
                let ids: Vec<usize> = (t..EVENTS).step_by(THREADS).collect();
                for chunk in ids.chunks(PER_CALL) {
                    let bodies: Vec<[u8; 16]> = chunk
                        .iter()
                        .map(|&id| {
                            let mut body = [b'.'; 16];
                            body[..4].copy_from_slice(&(id as u32).to_le_bytes());
                            body
                        })
                        .collect();
                    let events: Vec<EventView> = bodies.iter().map(|b| EventView::new(&headers, b)).collect();
                    client.append_batch(&events).unwrap();
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }

    let arrivals = arrivals.lock().unwrap();
    let missing = arrivals.iter().filter(|&&n| n == 0).count();
    let repeated = arrivals.iter().filter(|&&n| n > 1).count();
    assert_eq!((missing, repeated), (0, 0), "events missing / arriving more than once");
    let most_open = server.most_open();
    assert!(most_open <= MAX_CONNECTIONS, "{most_open} connections open at once");
    assert!(most_open >= 2, "16 threads should have used several connections, used {most_open}");
    assert_eq!(server.accepted(), most_open, "connections were replaced without errors");
    let stats = client.stats_json().unwrap();
    assert!(stats.contains(&format!("\"events_acked\":{EVENTS},")), "{stats}");
}
