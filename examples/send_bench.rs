//! Benchmark of the asynchronous path: the cost of `send` per event (a
//! 256-byte body with three headers) and the sustained throughput of `send`
//! beside the synchronous `append_batch`, against an in-process sink that
//! answers OK.
//!
//! Then the same `send` through the durable queue (`queue.spool.dir`) with
//! each `queue.spool.fsync` policy beside the in-memory queue.
//!
//!     cargo run --release --example send_bench [events] [--no-spool]
//!
//! The caller's instructions per `send` (deterministic, unlike its CPU time on
//! a loaded machine): run it under callgrind, counting inside `Client::send`
//! only, and divide by the events sent (three times `events`, with `--no-spool`):
//!
//!     valgrind --tool=callgrind --toggle-collect='*Client::send*' \
//!         target/release/examples/send_bench 100000 --no-spool
//!
//! `events` then `only` (`memory`, `never`, `interval` or `always`): that queue's
//! round of the durable-queue comparison alone, without the rest: for a profiler.

#[path = "../tests/common/fake_source.rs"]
mod fake_source;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_source::{FakeSource, Record};
use flume_client::{Client, Config, DeliveryCallback, DeliveryReport, EventView, Protocol, FLUME_MAX_FRAME_SIZE};

/// A null sink: reads each compact call's message header only (seqid and method), skips the events, answers OK.
fn sink() -> FakeSource {
    FakeSource::builder(Protocol::Compact).max_frame(FLUME_MAX_FRAME_SIZE).record(Record::Nothing).skip_events().start()
}

/// CPU time of the whole process (every thread: the caller, the client's
/// threads and the sink).
fn process_cpu() -> Duration {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

/// The machine's load averages (1, 5, 15 minutes), as `uptime` shows them.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// CPU time of the calling thread (`CLOCK_THREAD_CPUTIME_ID`: exact, where
/// `getrusage` counts in scheduler ticks, too coarse for a burst of sends).
fn thread_cpu() -> Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let no_spool = args.iter().any(|a| a == "--no-spool");
    let events: usize = args.iter().find(|a| !a.starts_with("--")).map_or(1_000_000, |n| n.parse().expect("events"));
    let only = args.iter().filter(|a| !a.starts_with("--")).nth(1).cloned();
    let sink = sink();
    let addr = sink.addr();

    let headers: [(&[u8], &[u8]); 3] =
        [(b"host", b"web-1.example.org"), (b"topic", b"clicks"), (b"timestamp", b"1700000000000")];
    let body = [b'x'; 256];
    let event = EventView::new(&headers, &body);
    if let Some(only) = only {
        spool_rounds(&addr, &event, events, Some(&only));
        return;
    }
    let reported = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&reported);
    let mut config = Config::default();
    config.set("batch-size", "1000").unwrap();
    config.set("queue.max-events", &events.to_string()).unwrap();
    config.set("queue.max-bytes", "2000000000").unwrap();
    config.delivery_callback = Some(DeliveryCallback(Arc::new(move |r: &DeliveryReport| {
        assert!(r.result.is_ok());
        counter.fetch_add(1, Ordering::Relaxed);
    })));
    let client = Client::new(&addr, &config).unwrap();

    // A first round warms up the connection and the allocator (the memory of
    // a full queue, which the measured round then reuses).
    for i in 0..events {
        client.send(&event, i).unwrap();
    }
    client.flush(Duration::from_secs(600)).unwrap();
    reported.store(0, Ordering::Relaxed);

    // send: the caller's cost per event, then the time until every report came.
    let start = Instant::now();
    let cpu_start = thread_cpu();
    for i in 0..events {
        client.send(&event, i).unwrap();
    }
    let send_cpu = thread_cpu() - cpu_start;
    let send_time = start.elapsed();
    client.flush(Duration::from_secs(600)).unwrap();
    let async_time = start.elapsed();
    assert_eq!(reported.load(Ordering::Relaxed), events);

    // send in bursts that stay within the queue's bounds (5 batches, then
    // flush): the caller's cost when the queue reuses its memory, rather than
    // growing into memory never touched before (page faults) as above.
    let burst = 5_000.min(events);
    let mut burst_cpu = Duration::ZERO;
    for round in 0..events / burst {
        let cpu_start = thread_cpu();
        for i in 0..burst {
            client.send(&event, round * burst + i).unwrap();
        }
        burst_cpu += thread_cpu() - cpu_start;
        client.flush(Duration::from_secs(600)).unwrap();
    }
    let bursts_sent = events / burst * burst;

    // append_batch of 1000 from one thread, the synchronous path.
    let batch = vec![event; 1000];
    let start = Instant::now();
    for _ in 0..events / 1000 {
        client.append_batch(&batch).unwrap();
    }
    let sync_time = start.elapsed();

    let per_second = |t: Duration| events as f64 / t.as_secs_f64();
    println!("events: {events} of 256 bytes with 3 headers, batch-size 1000, loopback");
    println!("send, caller's CPU time:   {:8.0} ns/event", send_cpu.as_nanos() as f64 / events as f64);
    println!(
        "send, caller's wall time:  {:8.0} ns/event (with the sender and the sink on the same cores)",
        send_time.as_nanos() as f64 / events as f64
    );
    println!(
        "send in bursts of {burst}, caller's CPU time: {:8.0} ns/event (the queue's memory reused)",
        burst_cpu.as_nanos() as f64 / bursts_sent as f64
    );
    println!("send until all reported:   {:10.0} events/s", per_second(async_time));
    println!("append_batch (1000/call):  {:10.0} events/s", per_second(sync_time));
    drop(client);
    if !no_spool {
        spool_rounds(&addr, &event, events, None);
    }
}

/// `send` through the in-memory queue and the spool with each fsync policy:
/// the caller's cost per event and the throughput until every report came.
/// `always` syncs once per event, so it sends fewer events.
fn spool_rounds(addr: &str, event: &EventView, events: usize, only: Option<&str>) {
    // Beside the binary (target/), not in /tmp, which may be a tmpfs where syncing costs nothing.
    let dir = std::env::current_exe().unwrap().parent().unwrap().join("send-bench-spool");
    println!();
    println!("durable queue, directory {} ({})", dir.display(), file_system(dir.parent().unwrap()));
    println!(
        "load average before: {} on {} cores",
        load_average(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<22} {:>8} {:>14} {:>14} {:>14} {:>16} {:>10}",
        "queue", "events", "caller CPU", "caller wall", "process CPU", "until reported", "vs memory"
    );
    let mut memory_rate = 0.0;
    let mut never_rate = None;
    for (name, fsync) in [
        ("memory", None),
        ("spool, fsync never", Some("never")),
        ("spool, fsync interval", Some("interval")),
        ("spool, fsync always", Some("always")),
    ] {
        if only.is_some_and(|only| only != fsync.unwrap_or("memory")) {
            continue;
        }
        let count = if fsync == Some("always") { events.min(5_000) } else { events };
        let _ = std::fs::remove_dir_all(&dir);
        let reported = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&reported);
        let mut config = Config::default();
        config.set("batch-size", "1000").unwrap();
        config.set("queue.max-events", &events.to_string()).unwrap();
        config.set("queue.max-bytes", "2000000000").unwrap();
        if let Some(fsync) = fsync {
            config.set("queue.spool.dir", dir.to_str().unwrap()).unwrap();
            config.set("queue.spool.fsync", fsync).unwrap();
            config.set("queue.spool.max-bytes", "8000000000").unwrap();
        }
        config.delivery_callback = Some(DeliveryCallback(Arc::new(move |r: &DeliveryReport| {
            assert!(r.result.is_ok());
            counter.fetch_add(1, Ordering::Relaxed);
        })));
        let client = Client::new(addr, &config).unwrap();
        let start = Instant::now();
        let process_start = process_cpu();
        let cpu_start = thread_cpu();
        for i in 0..count {
            client.send(event, i + 1).unwrap();
        }
        let send_cpu = thread_cpu() - cpu_start;
        let send_time = start.elapsed();
        client.flush(Duration::from_secs(600)).unwrap();
        let total = start.elapsed();
        let all_cpu = process_cpu() - process_start;
        assert_eq!(reported.load(Ordering::Relaxed), count);
        let rate = count as f64 / total.as_secs_f64();
        match fsync {
            None => memory_rate = rate,
            Some("never") => never_rate = Some(rate),
            Some(_) => {}
        }
        let per_event = |t: Duration| t.as_nanos() as f64 / count as f64;
        let ratio = if memory_rate > 0.0 { format!("{:.2}x", rate / memory_rate) } else { "-".into() };
        println!(
            "{name:<22} {count:>8} {:>11.0} ns {:>11.0} ns {:>11.0} ns {:>9.0} events/s {ratio:>10}",
            per_event(send_cpu),
            per_event(send_time),
            per_event(all_cpu),
            rate,
        );
        drop(client);
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("(caller CPU: the sending thread's CPU time per send; process CPU: every thread's, the sink's too,");
    println!(" per event, from the first send until every report came; until reported: events / that time)");
    if let Some(never) = never_rate.filter(|_| memory_rate > 0.0) {
        println!(
            "fsync never: {:.2}x the in-memory queue's throughput (issue 17 asks for at least 0.50x); load average after: {}",
            never / memory_rate,
            load_average()
        );
    }
}

/// The file system type of `path`, as statfs names it (the common ones).
fn file_system(path: &std::path::Path) -> String {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut s) } != 0 {
        return "file system unknown".into();
    }
    match s.f_type as i64 {
        0xEF53 => "ext4".into(),
        0x0102_1994 => "tmpfs: fsync costs nothing here".into(),
        0x5846_5342 => "xfs".into(),
        0x9123_683E => "btrfs".into(),
        0x794C_7630 => "overlayfs".into(),
        other => format!("file system type {other:#x}"),
    }
}
