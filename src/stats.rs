//! Per-client statistics: counters updated with relaxed atomics on the call
//! path (no locks, no allocation), read as JSON on demand.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::ErrorKind;
use crate::hosts::HostSet;

/// Latency buckets: bucket `i` counts calls that took less than 2^i µs (the
/// last one, everything slower).
const LATENCY_BUCKETS: usize = 28;

#[derive(Default)]
pub(crate) struct Stats {
    events_acked: AtomicU64,
    calls_acked: AtomicU64,
    bytes_sent: AtomicU64,
    connects: AtomicU64,
    /// Failed call attempts, by result code.
    failures: [AtomicU64; ErrorKind::SLOTS],
    latency_count: AtomicU64,
    latency_total_us: AtomicU64,
    latency_max_us: AtomicU64,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS],
}

/// Counters of one host.
#[derive(Default)]
pub(crate) struct HostStats {
    events_acked: AtomicU64,
    calls_acked: AtomicU64,
    failures: AtomicU64,
    connects: AtomicU64,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

impl Stats {
    pub(crate) fn connected(&self, host: &HostStats) {
        add(&self.connects, 1);
        add(&host.connects, 1);
    }

    pub(crate) fn sent(&self, bytes: usize) {
        add(&self.bytes_sent, bytes as u64);
    }

    /// A call answered (OK or not), and how long it took.
    pub(crate) fn answered(&self, took: Duration) {
        let us = took.as_micros().min(u64::MAX as u128) as u64;
        add(&self.latency_count, 1);
        add(&self.latency_total_us, us);
        self.latency_max_us.fetch_max(us, Ordering::Relaxed);
        let bucket = (u64::BITS - us.leading_zeros()) as usize;
        add(&self.latency_buckets[bucket.min(LATENCY_BUCKETS - 1)], 1);
    }

    pub(crate) fn acked(&self, host: &HostStats, events: usize) {
        add(&self.events_acked, events as u64);
        add(&self.calls_acked, 1);
        add(&host.events_acked, events as u64);
        add(&host.calls_acked, 1);
    }

    pub(crate) fn failed(&self, host: &HostStats, kind: ErrorKind) {
        add(&self.failures[kind.code() as usize], 1);
        add(&host.failures, 1);
    }

    /// The statistics as a JSON object (see `flume_client_stats_json`).
    /// `queue`: the sender's (events queued, bytes queued, reports by code), once started.
    pub(crate) fn to_json(&self, hosts: &HostSet, queue: Option<(usize, usize, [u64; ErrorKind::SLOTS])>) -> String {
        let mut j = String::with_capacity(1024);
        let count = get(&self.latency_count);
        let mean = get(&self.latency_total_us).checked_div(count).unwrap_or(0);
        let _ = write!(
            j,
            "{{\"events_acked\":{},\"calls_acked\":{},\"bytes_sent\":{},\"connects\":{},\"failures\":{{",
            get(&self.events_acked),
            get(&self.calls_acked),
            get(&self.bytes_sent),
            get(&self.connects)
        );
        for (i, kind) in ErrorKind::ALL.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            let _ = write!(j, "{sep}\"{}\":{}", kind.name(), get(&self.failures[kind.code() as usize]));
        }
        let _ = write!(
            j,
            "}},\"latency_us\":{{\"count\":{count},\"mean\":{mean},\"max\":{},\"buckets\":[",
            get(&self.latency_max_us)
        );
        for (i, bucket) in self.latency_buckets.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            let _ = write!(j, "{sep}{}", get(bucket));
        }
        let (events, bytes, reports) = queue.unwrap_or_default();
        let _ = write!(j, "]}},\"queue\":{{\"events\":{events},\"bytes\":{bytes},\"reports\":{{\"FLUME_OK\":{}", reports[0]);
        for kind in ErrorKind::ALL {
            let _ = write!(j, ",\"{}\":{}", kind.name(), reports[kind.code() as usize]);
        }
        j.push_str("}},\"hosts\":[");
        let now = Instant::now();
        for (i, host) in hosts.hosts().iter().enumerate() {
            let backoff_ms = host.backoff_until(now).map_or(0, |until| (until - now).as_millis());
            let _ = write!(
                j,
                "{}{{\"address\":\"{}\",\"state\":\"{}\",\"backoff_ms\":{backoff_ms},\"consecutive_failures\":{},\
                 \"events_acked\":{},\"calls_acked\":{},\"failures\":{},\"connects\":{},\"idle_connections\":{}}}",
                if i == 0 { "" } else { "," },
                host.address,
                if backoff_ms > 0 { "backoff" } else { "up" },
                host.consecutive_failures(),
                get(&host.stats.events_acked),
                get(&host.stats.calls_acked),
                get(&host.stats.failures),
                get(&host.stats.connects),
                host.pool.idle_connections()
            );
        }
        j.push_str("]}");
        j
    }
}
