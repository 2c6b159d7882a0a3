//! The statistics of a client as typed values (`Client::stats`), and their
//! JSON form (`Client::stats_json`, the C `flume_client_stats_json`), written
//! from these values so that both always say the same.

use std::fmt::Write;
use std::path::PathBuf;
use std::time::Duration;

use crate::address::HostPort;
use crate::config::SpoolFsync;
use crate::error::ErrorKind;

/// A snapshot of a client's statistics, from [`Client::stats`](crate::Client::stats).
///
/// Counters count from the client's creation. Each figure is read on its
/// own, without stopping the client: figures read while calls run may be a
/// call apart.
///
/// ```no_run
/// # fn main() -> Result<(), flume_client::Error> {
/// let client = flume_client::Client::builder().host("agent1:4141").build()?;
/// let stats = client.stats()?;
/// println!("{} events acknowledged, {} queued", stats.events_acked, stats.queue.events);
/// for host in &stats.hosts {
///     println!("{}: {} events, up: {}", host.address, host.events_acked, host.is_up());
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Events a source acknowledged with OK.
    pub events_acked: u64,
    /// `append` and `appendBatch` calls a source acknowledged with OK.
    pub calls_acked: u64,
    /// Bytes of calls written to sources.
    pub bytes_sent: u64,
    /// Connections opened (first ones and reconnects).
    pub connects: u64,
    /// Failed call attempts by result code: every kind, in code order.
    pub failures: Vec<(ErrorKind, u64)>,
    /// Call latency, from a call's first byte sent to its reply's last byte.
    pub latency: LatencyStats,
    /// The asynchronous send queue (`Client::send`).
    pub queue: QueueStats,
    /// Each host, in the order of the client's host list.
    pub hosts: Vec<HostStats>,
    /// The durable queue, with `queue.spool.dir`.
    pub spool: Option<SpoolStats>,
}

/// Call latency figures of [`Stats`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LatencyStats {
    /// Calls answered (OK or not).
    pub count: u64,
    /// Their latencies added up, in microseconds.
    pub total_us: u64,
    /// The longest, in microseconds.
    pub max_us: u64,
    /// Bucket `i` counts calls that took less than 2^i µs; the last one,
    /// everything slower.
    pub buckets: Vec<u64>,
}

impl LatencyStats {
    /// The mean latency in whole microseconds (0 before any call).
    pub fn mean_us(&self) -> u64 {
        self.total_us.checked_div(self.count).unwrap_or(0)
    }
}

/// The asynchronous send queue's figures of [`Stats`] (all 0 before the first `send`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueStats {
    /// Events queued, not yet reported.
    pub events: usize,
    /// Their header and body bytes.
    pub bytes: usize,
    /// Delivery reports of acknowledged events.
    pub reports_ok: u64,
    /// Delivery reports of failed events by result code: every kind, in code order.
    pub reports_failed: Vec<(ErrorKind, u64)>,
}

/// One host's figures of [`Stats`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostStats {
    /// The host's address.
    pub address: HostPort,
    /// Time left before the host is tried again after failures (zero: in use).
    pub backoff: Duration,
    /// Calls to the host that failed in a row.
    pub consecutive_failures: u32,
    /// Events the host acknowledged with OK.
    pub events_acked: u64,
    /// Calls the host acknowledged with OK.
    pub calls_acked: u64,
    /// Failed call attempts to the host.
    pub failures: u64,
    /// Connections opened to the host.
    pub connects: u64,
    /// Open connections to the host waiting in its pool.
    pub idle_connections: usize,
}

impl HostStats {
    /// Whether the host is in use (not skipped in backoff).
    pub fn is_up(&self) -> bool {
        self.backoff.as_millis() == 0
    }
}

/// The durable queue's figures of [`Stats`] (`queue.spool.dir`, docs/spool.md).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpoolStats {
    /// The spool directory.
    pub dir: PathBuf,
    /// Its sync policy.
    pub fsync: SpoolFsync,
    /// Events in the spool, not yet acknowledged.
    pub events: u64,
    /// Their record bytes.
    pub bytes: u64,
    /// Segment files.
    pub segments: usize,
    /// Events written to the spool by this client.
    pub spooled_events: u64,
    /// Their record bytes.
    pub spooled_bytes: u64,
    /// Events found in the spool when it was opened (left by a previous client).
    pub replayed: u64,
    /// Of those, the ones not yet reported.
    pub replay_pending: u64,
    /// Records cut short by a crash, skipped.
    pub torn_records: u64,
    /// Records failing their checksum, skipped.
    pub corrupt_records: u64,
    /// Writes that failed.
    pub write_errors: u64,
    /// Syncs made.
    pub fsyncs: u64,
    /// Syncs that failed.
    pub sync_errors: u64,
    /// Segment files created.
    pub segments_created: u64,
    /// Segment files deleted.
    pub segments_deleted: u64,
    /// The last problem met, if any.
    pub last_problem: Option<String>,
}

impl Stats {
    /// The failed call attempts of `kind`.
    pub fn failures_of(&self, kind: ErrorKind) -> u64 {
        count_of(&self.failures, kind)
    }

    /// The statistics as one JSON object, the form of
    /// [`Client::stats_json`](crate::Client::stats_json) and of the C
    /// `flume_client_stats_json` (keys: README "Statistics").
    pub fn to_json(&self) -> String {
        let mut j = String::with_capacity(1024);
        let _ = write!(
            j,
            "{{\"events_acked\":{},\"calls_acked\":{},\"bytes_sent\":{},\"connects\":{},\"failures\":{{",
            self.events_acked, self.calls_acked, self.bytes_sent, self.connects
        );
        for (i, (kind, count)) in self.failures.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            let _ = write!(j, "{sep}\"{}\":{count}", kind.name());
        }
        let latency = &self.latency;
        let _ = write!(
            j,
            "}},\"latency_us\":{{\"count\":{},\"mean\":{},\"max\":{},\"buckets\":[",
            latency.count,
            latency.mean_us(),
            latency.max_us
        );
        for (i, bucket) in latency.buckets.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            let _ = write!(j, "{sep}{bucket}");
        }
        let queue = &self.queue;
        let _ = write!(
            j,
            "]}},\"queue\":{{\"events\":{},\"bytes\":{},\"reports\":{{\"FLUME_OK\":{}",
            queue.events, queue.bytes, queue.reports_ok
        );
        for (kind, count) in &queue.reports_failed {
            let _ = write!(j, ",\"{}\":{count}", kind.name());
        }
        j.push_str("}},\"hosts\":[");
        for (i, host) in self.hosts.iter().enumerate() {
            let backoff_ms = host.backoff.as_millis();
            let _ = write!(
                j,
                "{}{{\"address\":\"{}\",\"state\":\"{}\",\"backoff_ms\":{backoff_ms},\"consecutive_failures\":{},\
                 \"events_acked\":{},\"calls_acked\":{},\"failures\":{},\"connects\":{},\"idle_connections\":{}}}",
                if i == 0 { "" } else { "," },
                host.address,
                if host.is_up() { "up" } else { "backoff" },
                host.consecutive_failures,
                host.events_acked,
                host.calls_acked,
                host.failures,
                host.connects,
                host.idle_connections
            );
        }
        j.push(']');
        if let Some(spool) = &self.spool {
            // The spool's object goes last.
            j.push_str(",\"spool\":");
            spool.write_json(&mut j);
        }
        j.push('}');
        j
    }
}

impl QueueStats {
    /// The delivery reports of failed events of `kind`.
    pub fn reports_of(&self, kind: ErrorKind) -> u64 {
        count_of(&self.reports_failed, kind)
    }
}

impl SpoolStats {
    fn write_json(&self, j: &mut String) {
        let _ = write!(
            j,
            "{{\"dir\":\"{}\",\"fsync\":\"{}\",\"events\":{},\"bytes\":{},\"segments\":{},\"spooled_events\":{},\
             \"spooled_bytes\":{},\"replayed\":{},\"replay_pending\":{},\"torn_records\":{},\"corrupt_records\":{},\
             \"write_errors\":{},\"fsyncs\":{},\"sync_errors\":{},\"segments_created\":{},\"segments_deleted\":{},\
             \"last_problem\":",
            json_escape(&self.dir.display().to_string()),
            match self.fsync {
                SpoolFsync::Never => "never",
                SpoolFsync::Interval(_) => "interval",
                SpoolFsync::Always => "always",
            },
            self.events,
            self.bytes,
            self.segments,
            self.spooled_events,
            self.spooled_bytes,
            self.replayed,
            self.replay_pending,
            self.torn_records,
            self.corrupt_records,
            self.write_errors,
            self.fsyncs,
            self.sync_errors,
            self.segments_created,
            self.segments_deleted,
        );
        match &self.last_problem {
            Some(p) => {
                let _ = write!(j, "\"{}\"}}", json_escape(p));
            }
            None => j.push_str("null}"),
        }
    }
}

fn count_of(counts: &[(ErrorKind, u64)], kind: ErrorKind) -> u64 {
    counts.iter().find(|(k, _)| *k == kind).map_or(0, |(_, n)| *n)
}

/// `s` as the inside of a JSON string.
fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}
