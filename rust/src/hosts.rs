//! The hosts of a client: parsing host lists (`host:port` entries separated by
//! commas and/or spaces, where a host is a name, an IPv4 address or a bracketed
//! IPv6 address), and choosing the hosts to try for each call (failover or load
//! balancing, with Flume's backoff rule).

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::config::{ClientType, Config, HostSelector};
use crate::error::{err, Result};
use crate::pool::Pool;
use crate::stats::HostStats;
use crate::sync::{Mutex, MutexGuard};

/// One `host:port` entry of a host list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPort {
    /// A name or an IP address, without brackets.
    pub host: String,
    /// 1 to 65535.
    pub port: u16,
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Parses a host list such as `"h1:4141, 10.0.0.2:4141 [::1]:4141"`.
/// Fails with `InvalidArg` naming the first bad entry.
pub fn parse_host_list(list: &str) -> Result<Vec<HostPort>> {
    let hosts = list
        .split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|entry| !entry.is_empty())
        .map(parse_host_port)
        .collect::<Result<Vec<_>>>()?;
    if hosts.is_empty() {
        return Err(err!(InvalidArg, "host list '{list}' names no host (expected host:port)"));
    }
    Ok(hosts)
}

/// Parses one `host:port` or `[ipv6]:port`.
pub fn parse_host_port(entry: &str) -> Result<HostPort> {
    let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
        let (host, port) =
            rest.split_once("]:").ok_or_else(|| err!(InvalidArg, "host '{entry}': expected [ipv6-address]:port"))?;
        if !matches!(host.parse::<IpAddr>(), Ok(IpAddr::V6(_))) {
            return Err(err!(InvalidArg, "host '{entry}': '{host}' is not an IPv6 address"));
        }
        (host, port)
    } else {
        let (host, port) =
            entry.rsplit_once(':').ok_or_else(|| err!(InvalidArg, "host '{entry}': expected host:port"))?;
        if host.contains(':') {
            return Err(err!(InvalidArg, "host '{entry}': an IPv6 address must be bracketed, as in [::1]:4141"));
        }
        let valid_name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
        if host.is_empty() || !host.chars().all(valid_name) {
            return Err(err!(InvalidArg, "host '{entry}': '{host}' is not a host name or IPv4 address"));
        }
        (host, port)
    };
    let port = match port.parse::<u16>() {
        Ok(p) if p != 0 && port.bytes().all(|b| b.is_ascii_digit()) => p,
        _ => return Err(err!(InvalidArg, "host '{entry}': port '{port}' is not a number from 1 to 65535")),
    };
    Ok(HostPort { host: host.to_string(), port })
}

/// Flume caps the exponent of its backoff at 16 consecutive failures.
const MAX_COUNTED_FAILURES: u32 = 16;

/// One host of a client: its address, its connection pool, its health.
pub(crate) struct Host {
    pub(crate) address: HostPort,
    pub(crate) pool: Pool,
    pub(crate) stats: HostStats,
    health: Mutex<Health>,
}

#[derive(Default)]
struct Health {
    consecutive_failures: u32,
    backoff_until: Option<Instant>,
}

impl Host {
    /// Until when the host is skipped, if it is.
    pub(crate) fn backoff_until(&self, now: Instant) -> Option<Instant> {
        self.health().backoff_until.filter(|&until| until > now)
    }

    pub(crate) fn consecutive_failures(&self) -> u32 {
        self.health().consecutive_failures
    }

    fn health(&self) -> MutexGuard<'_, Health> {
        self.health.lock()
    }
}

/// The hosts and the rule that orders them for each call.
pub(crate) struct HostSet {
    hosts: Vec<Host>,
    order: Order,
    max_attempts: usize,
    /// `None` when failed hosts are not skipped.
    max_backoff: Option<Duration>,
    next_start: AtomicUsize,
}

#[derive(Clone, Copy)]
enum Order {
    /// Always from the first host.
    Failover,
    /// From the next host each call.
    RoundRobin,
    /// From a random host each call.
    Random,
}

impl HostSet {
    pub(crate) fn new(addresses: Vec<HostPort>, config: &Config) -> HostSet {
        let (order, backoff) = match config.client_type {
            ClientType::Thrift | ClientType::Failover => (Order::Failover, true),
            ClientType::LoadBalance => match config.host_selector {
                HostSelector::RoundRobin => (Order::RoundRobin, config.backoff),
                HostSelector::Random => (Order::Random, config.backoff),
            },
        };
        let hosts: Vec<Host> = addresses
            .into_iter()
            .map(|address| Host {
                address,
                pool: Pool::new(config.max_connections),
                stats: HostStats::default(),
                health: Mutex::default(),
            })
            .collect();
        HostSet {
            max_attempts: config.max_attempts.unwrap_or(hosts.len()),
            // With one host there is nothing to skip to: just retry it.
            max_backoff: (backoff && hosts.len() > 1).then_some(config.max_backoff),
            order,
            hosts,
            next_start: AtomicUsize::new(0),
        }
    }

    pub(crate) fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The hosts to try for one call, in order, at most `max-attempts`: those
    /// not backing off, starting where the order says among them (so a
    /// backed-off host's share spreads evenly over the others, as in Flume's
    /// selectors). If every host is backing off, the one whose backoff ends
    /// first, so a call is never refused untried.
    pub(crate) fn candidates(&self) -> impl Iterator<Item = &Host> {
        let now = Instant::now();
        let n = self.hosts.len();
        let is_up = move |h: &&Host| h.backoff_until(now).is_none();
        let up = self.hosts.iter().filter(is_up).count();
        let fallback = if up == 0 { self.hosts.iter().min_by_key(|h| h.backoff_until(now)) } else { None };
        let k = match self.order {
            Order::Failover => 0,
            Order::RoundRobin => self.next_start.fetch_add(1, Ordering::Relaxed),
            Order::Random => RandomState::new().hash_one(now) as usize,
        } % up.max(1);
        // The index of the k-th host that is up.
        let start = self.hosts.iter().enumerate().filter(|(_, h)| is_up(h)).nth(k).map_or(0, |(i, _)| i);
        (0..n).map(move |i| &self.hosts[(start + i) % n]).filter(is_up).chain(fallback).take(self.max_attempts)
    }

    pub(crate) fn succeeded(&self, host: &Host) {
        *host.health() = Health::default();
    }

    /// Flume's rule: a failed host is skipped until now + min(maxBackoff,
    /// 1 s * 2^consecutive failures), the count capped at 16.
    pub(crate) fn failed(&self, host: &Host) {
        let mut health = host.health();
        health.consecutive_failures = (health.consecutive_failures + 1).min(MAX_COUNTED_FAILURES);
        if let Some(max_backoff) = self.max_backoff {
            let backoff = Duration::from_millis(1000u64 << health.consecutive_failures).min(max_backoff);
            health.backoff_until = Some(crate::sync::deadline_in(backoff));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn hp(host: &str, port: u16) -> HostPort {
        HostPort { host: host.into(), port }
    }

    #[test]
    fn names_ipv4_and_bracketed_ipv6_separated_by_commas_and_spaces() {
        assert_eq!(
            parse_host_list(" agent-1.example:4141,10.0.0.2:41414  [::1]:4141 ,[fe80::1%2]:1").unwrap_err().kind(),
            ErrorKind::InvalidArg
        );
        assert_eq!(
            parse_host_list(" agent-1.example:4141,10.0.0.2:41414  [::1]:4141 ,").unwrap(),
            vec![hp("agent-1.example", 4141), hp("10.0.0.2", 41414), hp("::1", 4141)]
        );
        assert_eq!(hp("::1", 1).to_string(), "[::1]:1");
    }

    #[test]
    fn malformed_entries_are_invalid_arg_naming_the_entry() {
        for bad in [
            "",
            " , ",
            "host",
            "host:",
            ":4141",
            "host:0",
            "host:65536",
            "host:+1",
            "host:12x",
            "::1:4141",
            "[::1]4141",
            "[10.0.0.1]:4141",
            "[::1:4141",
            "h/x:1",
            "héllo:1",
        ] {
            let e = parse_host_list(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArg, "{bad:?}");
            assert!(e.message().contains(bad.trim_matches([' ', ','])), "{bad:?}: {e}");
        }
    }
}
