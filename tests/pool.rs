//! Many threads, one client: 16 threads share a client and send 1,000,000
//! events to one server. Every event arrives exactly once, and the client
//! never holds more than `maxConnections` connections at once.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use flume_client::unstable::{decode_call, encode_reply, frame_len, Status, FRAME_HEADER_LEN};
use flume_client::{Client, Config, EventView, Protocol, FLUME_MAX_FRAME_SIZE};

const THREADS: usize = 16;
const EVENTS: usize = 1_000_000;
const PER_CALL: usize = 1_000;
const MAX_CONNECTIONS: usize = 5;

/// What the server saw: how often each event id arrived, and connections.
#[derive(Default)]
struct Seen {
    arrivals: Mutex<Vec<u8>>,
    open: AtomicUsize,
    most_open: AtomicUsize,
    accepted: AtomicUsize,
}

fn serve(listener: TcpListener, seen: Arc<Seen>) {
    for stream in listener.incoming() {
        let seen = Arc::clone(&seen);
        let stream = stream.unwrap();
        seen.accepted.fetch_add(1, Ordering::SeqCst);
        let open = seen.open.fetch_add(1, Ordering::SeqCst) + 1;
        seen.most_open.fetch_max(open, Ordering::SeqCst);
        thread::spawn(move || {
            answer(stream, &seen);
            seen.open.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

fn answer(mut stream: TcpStream, seen: &Seen) {
    let (mut payload, mut reply) = (Vec::new(), Vec::new());
    let mut header = [0u8; FRAME_HEADER_LEN];
    while stream.read_exact(&mut header).is_ok() {
        payload.resize(frame_len(header, FLUME_MAX_FRAME_SIZE).unwrap(), 0);
        stream.read_exact(&mut payload).unwrap();
        let call = decode_call(Protocol::Compact, &payload).unwrap();
        {
            let mut arrivals = seen.arrivals.lock().unwrap();
            for event in &call.events {
                let id = u32::from_le_bytes(event.body[..4].try_into().unwrap()) as usize;
                arrivals[id] = arrivals[id].saturating_add(1);
            }
        }
        reply.clear();
        encode_reply(Protocol::Compact, &mut reply, call.seqid, call.method, Status::Ok);
        stream.write_all(&reply).unwrap();
    }
}

#[test]
fn sixteen_threads_send_a_million_events_exactly_once_within_max_connections() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Seen { arrivals: Mutex::new(vec![0; EVENTS]), ..Seen::default() });
    let server_seen = Arc::clone(&seen);
    thread::spawn(move || serve(listener, server_seen));

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

    let arrivals = seen.arrivals.lock().unwrap();
    let missing = arrivals.iter().filter(|&&n| n == 0).count();
    let repeated = arrivals.iter().filter(|&&n| n > 1).count();
    assert_eq!((missing, repeated), (0, 0), "events missing / arriving more than once");
    let most_open = seen.most_open.load(Ordering::SeqCst);
    assert!(most_open <= MAX_CONNECTIONS, "{most_open} connections open at once");
    assert!(most_open >= 2, "16 threads should have used several connections, used {most_open}");
    assert_eq!(seen.accepted.load(Ordering::SeqCst), most_open, "connections were replaced without errors");
    let stats = client.stats_json().unwrap();
    assert!(stats.contains(&format!("\"events_acked\":{EVENTS},")), "{stats}");
}
