//! An example Rust program using the `flume-client` crate, as README "From
//! Rust" shows it: a client made with the builder; a synchronous
//! `append_batch` of owned events; four threads sharing the client, queueing
//! events with `send`; a delivery callback counting the reports into an
//! `Arc<Mutex<_>>`; errors carried by `?` into `Box<dyn Error>`.
//!
//! Usage: `rust-app HOST:PORT [EVENTS_PER_THREAD]` (default 250). Prints one
//! line per outcome and exits non-zero if any event was not delivered.

use std::collections::HashMap;
use std::error::Error;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flume_client::{Client, Event};

const THREADS: usize = 4;

/// Delivery reports counted by the callback: acknowledged, and failed by reason.
#[derive(Default)]
struct Reports {
    delivered: usize,
    failed: HashMap<String, usize>,
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let host = args.next().ok_or("usage: rust-app HOST:PORT [EVENTS_PER_THREAD]")?;
    let per_thread: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(250);

    let reports = Arc::new(Mutex::new(Reports::default()));
    let counted = Arc::clone(&reports);
    let client = Client::builder()
        .host(host)
        .batch_size(100)
        .request_timeout(Duration::from_secs(10))
        .on_delivery(move |report| {
            let mut reports = counted.lock().unwrap();
            match report.result {
                Ok(()) => reports.delivered += 1,
                Err(e) => *reports.failed.entry(e.to_string()).or_default() += 1,
            }
        })
        .build()?;

    // First the synchronous path: one call, acknowledged when it returns.
    let batch: Vec<Event> = (0..10)
        .map(|i| Event::new(format!("batch event {i}")).with_headers([("app", "rust-app"), ("batch", "yes")]))
        .collect();
    client.append_batch(&batch)?;

    // One client shared by every thread: `Client` is Send + Sync.
    std::thread::scope(|scope| -> flume_client::Result<()> {
        let workers: Vec<_> = (0..THREADS)
            .map(|thread| {
                let client = &client;
                scope.spawn(move || -> flume_client::Result<()> {
                    for i in 0..per_thread {
                        let event = Event::new(format!("event {i} of thread {thread}"))
                            .with_header("thread", thread.to_string())
                            .with_header("app", "rust-app");
                        client.send(&event, thread * per_thread + i)?;
                    }
                    Ok(())
                })
            })
            .collect();
        for worker in workers {
            worker.join().expect("a sending thread panicked")?;
        }
        Ok(())
    })?;
    client.flush(Duration::from_secs(30))?;

    let stats = client.stats()?;
    let reports = reports.lock().unwrap();
    println!("sent {} events from {THREADS} threads: {} delivered", THREADS * per_thread, reports.delivered);
    for (reason, count) in &reports.failed {
        println!("{count} failed: {reason}");
    }
    println!("append_batch: {} events acknowledged", batch.len());
    println!("acknowledged in total: {} events in {} calls", stats.events_acked, stats.calls_acked);
    if reports.delivered != THREADS * per_thread {
        return Err(format!(
            "{} of {} events not delivered",
            THREADS * per_thread - reports.delivered,
            THREADS * per_thread
        )
        .into());
    }
    Ok(())
}
