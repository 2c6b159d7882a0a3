//! Per-client statistics: counters updated with relaxed atomics on the call
//! path (no locks, no allocation), read on demand as typed values
//! (`statistics`) or Prometheus text. Each host's counters live here too
//! (`HostStats`, which `hosts` holds and the core updates); a host's state
//! comes as a `HostSnapshot` that `hosts` takes, so this module knows nothing
//! of host internals.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::address::HostPort;
use crate::error::ErrorKind;
use crate::statistics;

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

/// Figures of the sender's queue for the statistics: events queued, bytes
/// queued, reports by result code (`FLUME_OK` first).
pub(crate) type QueueFigures = (usize, usize, [u64; ErrorKind::SLOTS]);

/// One host as the statistics show it, taken by `HostSet::snapshot`.
pub(crate) struct HostSnapshot<'h> {
    pub(crate) address: &'h HostPort,
    /// Time left before a host in backoff is tried again; zero when it is up.
    pub(crate) backoff: Duration,
    pub(crate) consecutive_failures: u32,
    /// Open connections waiting in the host's pool.
    pub(crate) idle_connections: usize,
    pub(crate) counters: &'h HostStats,
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

    /// The statistics as values (`Client::stats`; `Stats::to_json` writes
    /// them as `flume_client_stats_json` returns them).
    /// `queue`: the sender's (events queued, bytes queued, reports by code), once started.
    pub(crate) fn snapshot(&self, hosts: &[HostSnapshot], queue: Option<QueueFigures>) -> statistics::Stats {
        let by_kind = |counts: &dyn Fn(usize) -> u64| -> Vec<(ErrorKind, u64)> {
            ErrorKind::ALL.iter().map(|kind| (*kind, counts(kind.code() as usize))).collect()
        };
        let (events, bytes, reports) = queue.unwrap_or_default();
        statistics::Stats {
            events_acked: get(&self.events_acked),
            calls_acked: get(&self.calls_acked),
            bytes_sent: get(&self.bytes_sent),
            connects: get(&self.connects),
            failures: by_kind(&|code| get(&self.failures[code])),
            latency: statistics::LatencyStats {
                count: get(&self.latency_count),
                total_us: get(&self.latency_total_us),
                max_us: get(&self.latency_max_us),
                buckets: self.latency_buckets.iter().map(get).collect(),
            },
            queue: statistics::QueueStats {
                events,
                bytes,
                reports_ok: reports[0],
                reports_failed: by_kind(&|code| reports[code]),
            },
            hosts: hosts
                .iter()
                .map(|host| statistics::HostStats {
                    address: host.address.clone(),
                    backoff: host.backoff,
                    consecutive_failures: host.consecutive_failures,
                    events_acked: get(&host.counters.events_acked),
                    calls_acked: get(&host.counters.calls_acked),
                    failures: get(&host.counters.failures),
                    connects: get(&host.counters.connects),
                    idle_connections: host.idle_connections,
                })
                .collect(),
            spool: None, // the sender's (Client::stats)
        }
    }
}

/// One metric family of the Prometheus text format: its `# HELP` and `# TYPE`
/// lines. Samples follow with [`sample`].
pub(crate) fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// One sample line: `name{label="value"} number`, `labels` already formatted
/// (empty for none).
pub(crate) fn sample(out: &mut String, name: &str, labels: &str, value: impl std::fmt::Display) {
    if labels.is_empty() {
        let _ = writeln!(out, "{name} {value}");
    } else {
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
}

/// A label value escaped as the text format requires (backslash, quote, newline).
pub(crate) fn label_value(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Microseconds as the seconds Prometheus expects (shortest exact decimal).
fn seconds(us: u64) -> f64 {
    us as f64 / 1e6
}

impl Stats {
    /// The statistics in the Prometheus text exposition format 0.0.4 (see
    /// `flume_client_stats_prometheus`): the figures of [`Stats::snapshot`],
    /// with metric names prefixed `flume_client_`, counters ending `_total`,
    /// times in seconds and the latency as a cumulative histogram.
    pub(crate) fn to_prometheus(&self, hosts: &[HostSnapshot], queue: Option<QueueFigures>) -> String {
        let mut p = String::with_capacity(8192);
        let counters = [
            ("flume_client_events_acked_total", "Events a source acknowledged with OK.", &self.events_acked),
            (
                "flume_client_calls_acked_total",
                "append and appendBatch calls a source acknowledged with OK.",
                &self.calls_acked,
            ),
            ("flume_client_sent_bytes_total", "Bytes of calls written to sources.", &self.bytes_sent),
            (
                "flume_client_connections_opened_total",
                "Connections opened to sources (first ones and reconnects).",
                &self.connects,
            ),
        ];
        for (name, help, counter) in counters {
            family(&mut p, name, "counter", help);
            sample(&mut p, name, "", get(counter));
        }
        let name = "flume_client_call_failures_total";
        family(&mut p, name, "counter", "Failed call attempts, by result code.");
        for kind in ErrorKind::ALL {
            sample(&mut p, name, &format!("code=\"{}\"", kind.name()), get(&self.failures[kind.code() as usize]));
        }

        // Bucket i counts calls under 2^i us, that is at most 2^i us: `le`
        // bounds, made cumulative. The last bucket (everything slower) is +Inf,
        // and the count is the buckets' sum so that +Inf always equals it.
        let name = "flume_client_call_duration_seconds";
        family(
            &mut p,
            name,
            "histogram",
            "Call latency, from the first byte of a call sent to the last byte of its reply.",
        );
        let mut cumulative = 0;
        for (i, bucket) in self.latency_buckets.iter().enumerate() {
            cumulative += get(bucket);
            let le = if i + 1 == LATENCY_BUCKETS { "+Inf".to_string() } else { seconds(1 << i).to_string() };
            sample(&mut p, "flume_client_call_duration_seconds_bucket", &format!("le=\"{le}\""), cumulative);
        }
        sample(&mut p, "flume_client_call_duration_seconds_sum", "", seconds(get(&self.latency_total_us)));
        sample(&mut p, "flume_client_call_duration_seconds_count", "", cumulative);
        let name = "flume_client_call_duration_max_seconds";
        family(&mut p, name, "gauge", "The longest call latency since the client was made.");
        sample(&mut p, name, "", seconds(get(&self.latency_max_us)));

        let (events, bytes, reports) = queue.unwrap_or_default();
        let name = "flume_client_queue_events";
        family(&mut p, name, "gauge", "Events in the asynchronous send queue, not yet reported.");
        sample(&mut p, name, "", events);
        let name = "flume_client_queue_bytes";
        family(&mut p, name, "gauge", "Header and body bytes of the events in the asynchronous send queue.");
        sample(&mut p, name, "", bytes);
        let name = "flume_client_delivery_reports_total";
        family(&mut p, name, "counter", "Delivery reports of asynchronously sent events, by result code.");
        sample(&mut p, name, "result=\"FLUME_OK\"", reports[0]);
        for kind in ErrorKind::ALL {
            sample(&mut p, name, &format!("result=\"{}\"", kind.name()), reports[kind.code() as usize]);
        }

        let per_host: Vec<(String, u64, &HostSnapshot)> = hosts
            .iter()
            .map(|host| {
                let backoff_ms = host.backoff.as_millis() as u64;
                (format!("host=\"{}\"", label_value(&host.address.to_string())), backoff_ms, host)
            })
            .collect();
        type HostFigure = fn(u64, &HostSnapshot) -> String;
        let host_families: [(&str, &str, &str, HostFigure); 8] = [
            (
                "flume_client_host_up",
                "gauge",
                "1 when the host is used, 0 while it is skipped after failures (backoff).",
                |b, _| u64::from(b == 0).to_string(),
            ),
            (
                "flume_client_host_backoff_seconds",
                "gauge",
                "Time left before a host in backoff is tried again.",
                |b, _| (b as f64 / 1e3).to_string(),
            ),
            ("flume_client_host_consecutive_failures", "gauge", "Calls to the host that failed in a row.", |_, h| {
                h.consecutive_failures.to_string()
            }),
            ("flume_client_host_events_acked_total", "counter", "Events the host acknowledged with OK.", |_, h| {
                get(&h.counters.events_acked).to_string()
            }),
            ("flume_client_host_calls_acked_total", "counter", "Calls the host acknowledged with OK.", |_, h| {
                get(&h.counters.calls_acked).to_string()
            }),
            ("flume_client_host_call_failures_total", "counter", "Failed call attempts to the host.", |_, h| {
                get(&h.counters.failures).to_string()
            }),
            ("flume_client_host_connections_opened_total", "counter", "Connections opened to the host.", |_, h| {
                get(&h.counters.connects).to_string()
            }),
            (
                "flume_client_host_idle_connections",
                "gauge",
                "Open connections to the host waiting in its pool.",
                |_, h| h.idle_connections.to_string(),
            ),
        ];
        for (name, kind, help, figure) in host_families {
            family(&mut p, name, kind, help);
            for (labels, backoff_ms, host) in &per_host {
                sample(&mut p, name, labels, figure(*backoff_ms, host));
            }
        }
        p
    }
}

#[cfg(test)]
mod prometheus_tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label_value(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(label_value("line\nbreak"), "line\\nbreak");
    }

    #[test]
    fn bucket_bounds_are_exact_decimal_seconds() {
        assert_eq!(seconds(1).to_string(), "0.000001");
        assert_eq!(seconds(1 << 20).to_string(), "1.048576");
    }
}
