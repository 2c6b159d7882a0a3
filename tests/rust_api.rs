//! The Rust API as a Rust program uses it (issue 20): the builder and its
//! checks, properties from a path, owned events from references, `.map()`
//! and maps, `BatchError`, typed statistics, `Debug`, `Send + Sync`, and the
//! example program (examples/rust-app), built and run; all against the
//! bundled receiver (`flume-receive`, tests/common/flume_agent.rs) on a free
//! loopback port.
//!
//! The settings refused by `Client::new` are in tests/config_rules.rs;
//! `Duration::MAX`, a panicking callback and a client dropped in its own
//! callback, for a `Config`, in tests/async_send.rs. Here the same through
//! the builder.

#[path = "common/fake_source.rs"]
mod fake_source;
#[path = "common/flume_agent.rs"]
mod flume_agent;

use std::collections::{BTreeMap, HashMap};
use std::error::Error as _;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flume_agent::{scratch_dir, Downstream, Received};
use flume_client::{
    BatchError, Client, ClientBuilder, Config, DeliveryCallback, ErrorKind, Event, EventView, Protocol, Stats,
};

fn receiver(label: &str) -> Downstream {
    Downstream::start(label, Protocol::Compact)
}

fn address(downstream: &Downstream) -> String {
    format!("127.0.0.1:{}", downstream.port())
}

#[track_caller]
fn refused(builder: ClientBuilder, kind: ErrorKind, says: &str) {
    match builder.build() {
        Ok(client) => panic!("built a client that should be refused ({says}): {client:?}"),
        Err(e) => {
            assert_eq!(e.kind(), kind, "{e}");
            assert!(e.message().contains(says), "{e} (expected {says:?})");
        }
    }
}

#[test]
fn the_builder_refuses_what_a_properties_file_could_not_set() {
    let local = || Client::builder().host("127.0.0.1:4141");
    // Each made a client that looped, waited or failed every call (issue 20).
    refused(local().batch_size(0), ErrorKind::Config, "batch-size (Config::batch_size): 0");
    refused(local().max_attempts(0), ErrorKind::Config, "max-attempts (Config::max_attempts): 0");
    refused(local().max_connections(0), ErrorKind::Config, "maxConnections (Config::max_connections): 0");
    refused(local().event_timeout(Duration::ZERO), ErrorKind::Config, "event-timeout (Config::event_timeout)");
    refused(local().max_backoff(Duration::ZERO), ErrorKind::Config, "maxBackoff");
    // An empty host, port 0, no host at all: refused when built, not at the first call.
    refused(Client::builder().host(":0"), ErrorKind::InvalidArg, "':0'");
    refused(Client::builder().host("agent1:0"), ErrorKind::InvalidArg, "port '0'");
    refused(Client::builder().host(""), ErrorKind::InvalidArg, "names no host");
    refused(Client::builder(), ErrorKind::InvalidArg, "names no host");
    // The first error wins, and a later good setting does not hide it.
    refused(local().set("batch-size", "many").batch_size(10), ErrorKind::Config, "batch-size: 'many'");
    refused(local().properties_str("hosts = h1\nmaxConnections = 0\n"), ErrorKind::Config, "line 2");
    refused(local().properties_file("/nonexistent/flume.properties"), ErrorKind::InvalidArg, "cannot read");
    // At the edges of the ranges, the same settings are accepted.
    local().batch_size(1).max_attempts(1).max_connections(1).event_timeout(Duration::from_millis(1)).build().unwrap();
}

#[test]
fn properties_load_from_a_path_as_the_c_function_does() {
    // Config::load_properties took the file's text: a path gave "unknown config key '/path/...'".
    let downstream = receiver("properties");
    let dir = scratch_dir().join("rust-api-properties");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("client.properties");
    std::fs::write(
        &path,
        format!("# a Flume client properties file\nbatch-size = 7\nhosts = h1\nhosts.h1 = {}\n", address(&downstream)),
    )
    .unwrap();

    let mut config = Config::default();
    config.load_properties_file(&path).unwrap();
    assert_eq!(config.batch_size, 7);
    assert_eq!(config.configured_hosts().unwrap()[0].port, downstream.port());

    // The builder takes the hosts from the file; a setting after it overrides the file's.
    let client = Client::builder().properties_file(&path).batch_size(3).build().unwrap();
    assert_eq!(client.config().batch_size, 3);
    client.append(&Event::new("from a properties file")).unwrap();
    downstream.wait_for(Duration::from_secs(10), "the event", |e| e.len() == 1);

    // Text and file, two named functions, with errors naming the line (and the file).
    let mut config = Config::default();
    config.load_properties_str("batch-size = 9\n").unwrap();
    assert_eq!(config.batch_size, 9);
    std::fs::write(&path, "batch-size = 5\nbatch-size = none\n").unwrap();
    let e = config.load_properties_file(&path).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    assert!(e.message().contains(&*path.to_string_lossy()) && e.message().contains("line 2"), "{e}");
    assert_eq!(config.batch_size, 9, "a failed load changes nothing");
    let e = config.load_properties_file(dir.join("missing.properties")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArg, "{e}");
    assert!(e.message().contains("cannot read") && e.message().contains("missing.properties"), "{e}");
}

#[test]
fn owned_events_from_references_map_and_hash_maps() {
    let downstream = receiver("events");
    let client = Client::builder().host(address(&downstream)).build().unwrap();

    // Headers built per event inside .map() (borrow errors with EventView).
    let events: Vec<Event> = (0..3)
        .map(|i| Event::new(format!("mapped {i}")).with_header("index", i.to_string()).with_header("kind", "mapped"))
        .collect();
    // &[&Event]: references to events owned elsewhere.
    let refs: Vec<&Event> = events.iter().rev().collect();
    client.append_batch(&refs).unwrap();
    // Headers from a HashMap, by value and by reference, and from a BTreeMap.
    let map = HashMap::from([("region".to_string(), "eu".to_string())]);
    let by_ref = Event::new(b"by reference".to_vec()).with_headers(&map);
    let by_value = Event::new(String::from("by value")).with_headers(map.clone());
    let sorted = Event::new("sorted").with_headers(BTreeMap::from([("b", "2"), ("a", "1")]));
    client.append_batch(&[by_ref, by_value, sorted]).unwrap();
    client.append(&Event::from("from &str")).unwrap();

    let received = downstream.wait_for(Duration::from_secs(10), "7 events", |e| e.len() == 7);
    let headers = |r: &Received| r.headers.clone();
    let bodies: Vec<&[u8]> = received.iter().map(|r| r.body.as_slice()).collect();
    assert_eq!(
        bodies,
        [&b"mapped 2"[..], b"mapped 1", b"mapped 0", b"by reference", b"by value", b"sorted", b"from &str"]
    );
    assert_eq!(headers(&received[0]), [("index".to_string(), "2".to_string()), ("kind".into(), "mapped".into())]);
    assert_eq!(headers(&received[3]), [("region".to_string(), "eu".to_string())]);
    assert_eq!(headers(&received[4]), [("region".to_string(), "eu".to_string())]);
    assert_eq!(headers(&received[5]), [("a".to_string(), "1".to_string()), ("b".into(), "2".into())]);
}

#[test]
fn duration_max_through_the_builder_means_no_limit() {
    // Duration::MAX panicked with "overflow when adding duration to instant" (issue 20).
    let downstream = receiver("duration-max");
    let client = Client::builder()
        .host(address(&downstream))
        .connect_timeout(Duration::MAX)
        .request_timeout(Duration::MAX)
        .queue_block_timeout(Duration::MAX)
        .set("queue.full", "block")
        .linger(Duration::MAX)
        .event_timeout(Duration::from_millis(300)) // linger is capped below it
        .close_timeout(Duration::MAX)
        .build()
        .unwrap();
    client.append(&Event::new("append")).unwrap();
    client.append_batch(&[Event::new("batch 1"), Event::new("batch 2")]).unwrap();
    for i in 0..10 {
        client.send(&Event::new(format!("send {i}")), i).unwrap();
    }
    let start = Instant::now();
    client.flush(Duration::MAX).unwrap();
    assert!(start.elapsed() < Duration::from_secs(10), "flush took {:?}", start.elapsed());
    downstream.wait_for(Duration::from_secs(10), "13 events", |e| e.len() == 13);
}

#[test]
fn a_closure_callback_panicking_on_every_second_report_costs_only_those_reports() {
    // A panic killed the sender thread: later sends never reported, delivered events reported twice (issue 20).
    let downstream = receiver("panics");
    let reports: Arc<Mutex<Vec<u32>>> = Arc::new(Mutex::new(vec![0; 200]));
    let counted = Arc::clone(&reports);
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !info.payload().downcast_ref::<&str>().is_some_and(|s| s.starts_with("deliberate")) {
            default_hook(info);
        }
    }));
    let client = Client::builder()
        .host(address(&downstream))
        .batch_size(7)
        .on_delivery(move |report| {
            assert!(report.result.is_ok(), "{:?}", report.result);
            counted.lock().unwrap()[report.opaque] += 1;
            if report.opaque % 2 == 1 {
                panic!("deliberate panic in a delivery callback");
            }
        })
        .build()
        .unwrap();
    for id in 0..100 {
        client.send(&Event::new(format!("{id}")), id).unwrap();
    }
    client.flush(Duration::from_secs(10)).unwrap();
    for id in 100..200 {
        client.send(&Event::new(format!("{id}")), id).unwrap();
    }
    client.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(client.callback_panics(), 100);
    drop(client);
    assert!(reports.lock().unwrap().iter().all(|&n| n == 1), "every event reported exactly once");
    downstream.wait_for(Duration::from_secs(10), "200 events", |e| e.len() == 200);
}

#[test]
fn batch_error_says_what_was_acknowledged_and_chains_the_error() {
    let downstream = receiver("batch-error");
    let events: Vec<Event> = (0..5).map(|i| Event::new(format!("{i}"))).collect();
    // A batch with an event that cannot fit: nothing sent, delivered 0.
    let small = Client::builder().host(address(&downstream)).max_frame_size(100).build().unwrap();
    let mut batch = events.clone();
    batch.push(Event::new(vec![b'x'; 200]));
    let e: BatchError = small.append_batch(&batch).unwrap_err();
    assert_eq!((e.kind(), e.delivered()), (ErrorKind::TooLarge, 0), "{e}");
    assert!(e.message().contains("event 5"), "{e}");
    assert_eq!(e.source().unwrap().to_string(), e.error().to_string());
    assert!(e.to_string().contains(e.message()), "{e}");
    // Nothing listening: Connect, and `?` carries it into Box<dyn Error>.
    let closed = Client::builder().host("127.0.0.1:1").connect_timeout(Duration::from_secs(2)).build().unwrap();
    let send = || -> Result<(), Box<dyn std::error::Error>> {
        closed.append_batch(&events)?;
        Ok(())
    };
    let boxed = send().unwrap_err();
    let e = boxed.downcast_ref::<BatchError>().expect("a BatchError");
    assert_eq!((e.kind(), e.delivered()), (ErrorKind::Connect, 0), "{e}");
    // Into flume_client::Error, for functions returning flume_client::Result.
    let plain: flume_client::Error = closed.append_batch(&events).unwrap_err().into();
    assert_eq!(plain.kind(), ErrorKind::Connect);
    assert!(downstream.events().is_empty());
}

#[test]
fn typed_statistics_are_the_json_statistics() {
    let downstream = receiver("stats");
    let client = Client::builder().host(address(&downstream)).batch_size(4).build().unwrap();
    let empty: Stats = client.stats().unwrap();
    assert_eq!((empty.events_acked, empty.queue.events, empty.spool.is_none()), (0, 0, true));
    let events: Vec<Event> = (0..10).map(|i| Event::new(format!("{i}"))).collect();
    client.append_batch(&events).unwrap();
    client.send(&Event::new("queued"), 0).unwrap();
    client.flush(Duration::from_secs(10)).unwrap();
    let stats = client.stats().unwrap();
    assert_eq!(stats.to_json(), client.stats_json().unwrap());
    assert_eq!((stats.events_acked, stats.calls_acked, stats.connects), (11, 4, 1), "{stats:?}");
    assert_eq!(stats.queue.reports_ok, 1);
    assert_eq!(stats.latency.count, 4);
    assert_eq!(stats.latency.buckets.iter().sum::<u64>(), 4);
    assert_eq!(stats.failures_of(ErrorKind::Timeout), 0);
    assert_eq!(stats.hosts.len(), 1);
    let host = &stats.hosts[0];
    assert_eq!((host.address.port, host.events_acked, host.is_up()), (downstream.port(), 11, true));
    assert!(stats.to_json().contains("\"events_acked\":11,\"calls_acked\":4,"), "{}", stats.to_json());
}

#[test]
fn public_types_are_debug_and_the_client_is_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Client>();
    send_sync::<Config>();
    send_sync::<Event>();
    send_sync::<BatchError>();
    send_sync::<Stats>();
    let client = Client::builder().host("127.0.0.1:4141").batch_size(42).on_delivery(|_| {}).build().unwrap();
    let debug = format!("{client:?}");
    assert!(debug.contains("127.0.0.1:4141") && debug.contains("batch_size: 42"), "{debug}");
    assert!(debug.contains("DeliveryCallback"), "{debug}");
    let builder = format!("{:?}", Client::builder().host("h:1"));
    assert!(builder.contains("h:1"), "{builder}");
    assert_eq!(format!("{:?}", DeliveryCallback::new(|_| {})), "DeliveryCallback");
    let view = format!("{:?}", EventView::body(b"x"));
    assert!(view.contains("body"), "{view}");
    // Shared by threads without a lock.
    let client = Arc::new(client);
    let threads: Vec<_> = (0..2).map(|_| Arc::clone(&client)).map(|c| std::thread::spawn(move || c.stats())).collect();
    for thread in threads {
        thread.join().unwrap().unwrap();
    }
}

#[test]
fn the_example_program_delivers_every_event() {
    // examples/rust-app, built as a Rust program depending on the crate would build it.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(&cargo)
        .current_dir(flume_agent::repo_root())
        .args(["build", "--quiet", "-p", "flume-rust-app"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cargo}: {e}"));
    assert!(built.status.success(), "cargo build -p flume-rust-app: {}", String::from_utf8_lossy(&built.stderr));
    let program = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().join("debug/flume-rust-app");

    let downstream = receiver("rust-app");
    let run = Command::new(&program).args([address(&downstream).as_str(), "250"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{}: {stdout}{}", run.status, String::from_utf8_lossy(&run.stderr));
    assert!(stdout.contains("sent 1000 events from 4 threads: 1000 delivered"), "{stdout}");
    assert!(stdout.contains("acknowledged in total: 1010 events"), "{stdout}");
    let received = downstream.wait_for(Duration::from_secs(10), "1010 events", |e| e.len() >= 1010);
    assert_eq!(received.len(), 1010);
    assert!(received.iter().all(|r| r.header("app") == Some("rust-app")));
    let mut bodies: Vec<String> = received.iter().map(|r| String::from_utf8(r.body.clone()).unwrap()).collect();
    bodies.sort();
    bodies.dedup();
    assert_eq!(bodies.len(), 1010, "every event once");
    for thread in 0..4 {
        for i in [0, 249] {
            assert!(bodies.contains(&format!("event {i} of thread {thread}")), "event {i} of thread {thread}");
        }
    }

    // Its errors reach main's Box<dyn Error>: nothing listening is a clear failure, not a panic.
    let failed = Command::new(&program).args(["127.0.0.1:1", "1"]).output().unwrap();
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!stderr.contains("panicked") && stderr.contains("Error: ") && stderr.contains("Connect"), "{stderr}");
}

/// An event whose body panics when read for the `n`th time (a stand-in for a
/// bug reached in the middle of a batch).
struct PanicsOnRead {
    reads: std::sync::atomic::AtomicUsize,
    panic_at: usize,
}

impl flume_client::AsEvent for PanicsOnRead {
    fn header_count(&self) -> usize {
        0
    }
    fn header(&self, _: usize) -> (&[u8], &[u8]) {
        unreachable!("no headers")
    }
    fn body(&self) -> &[u8] {
        if self.reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1 == self.panic_at {
            panic!("injected by the test");
        }
        b"body"
    }
}

#[test]
fn a_panic_in_the_middle_of_a_batch_is_internal_with_the_exact_count_acknowledged() {
    // A panic escaped append_batch: the C boundary then reported 0 acknowledged
    // although the first call's events had been acknowledged.
    let source = fake_source::FakeSource::start(flume_client::Protocol::Compact);
    let client = Client::builder().host(source.addr()).batch_size(2).build().unwrap();
    let events: Vec<PanicsOnRead> = (0..4)
        .map(|i| PanicsOnRead {
            reads: Default::default(),
            // Event 2 is read when the batch is checked, then panics when its call is encoded.
            panic_at: if i == 2 { 2 } else { usize::MAX },
        })
        .collect();
    let e = client.append_batch(&events).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Internal, "{e}");
    assert_eq!(e.delivered(), 2, "{e}");
    assert_eq!(source.events(), 2);
    // The client goes on.
    client.append_batch(&[Event::new("after")]).unwrap();
}
