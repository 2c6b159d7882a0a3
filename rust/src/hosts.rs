//! The hosts of a client (addresses parsed by `address`): choosing the hosts
//! to try for each call (failover or load balancing, with Flume's backoff
//! rule), each host's pool and counters.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::clock::Instant;

use crate::address::HostPort;
use crate::config::{ClientType, Config, HostSelector};
use crate::pool::Pool;
use crate::stats::{HostSnapshot, HostStats};
use crate::sync::{Mutex, MutexGuard};

/// Flume caps the exponent of its backoff at 16 consecutive failures.
const MAX_COUNTED_FAILURES: u32 = 16;

/// One host of a client: its address, its connection pool, its health.
pub(crate) struct Host {
    pub(crate) address: HostPort,
    pub(crate) pool: Pool,
    pub(crate) stats: HostStats,
    health: Mutex<Health>,
    /// No failure since the last success (`health` is its default): then a
    /// call needs neither `health`'s lock nor the time to know the host is up.
    /// Written under that lock.
    healthy: AtomicBool,
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

    /// Whether it is not skipped at `now`.
    fn is_up(&self, now: &LazyNow) -> bool {
        self.healthy.load(Ordering::Acquire) || self.backoff_until(now.get()).is_none()
    }

    fn health(&self) -> MutexGuard<'_, Health> {
        self.health.lock()
    }
}

/// The time, read once and only if needed: with every host healthy, a call
/// reads no clock to choose its hosts.
#[derive(Default)]
struct LazyNow(std::cell::OnceCell<Instant>);

impl LazyNow {
    fn get(&self) -> Instant {
        *self.0.get_or_init(Instant::now)
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
                healthy: AtomicBool::new(true),
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

    /// The hosts' addresses, in order.
    pub(crate) fn addresses(&self) -> impl Iterator<Item = &HostPort> {
        self.hosts.iter().map(|host| &host.address)
    }

    /// Each host's state and counters now, for the statistics.
    pub(crate) fn snapshot(&self) -> Vec<HostSnapshot<'_>> {
        let now = Instant::now();
        self.hosts
            .iter()
            .map(|host| {
                let health = host.health();
                let backoff =
                    health.backoff_until.filter(|&until| until > now).map_or(Duration::ZERO, |until| until - now);
                let consecutive_failures = health.consecutive_failures;
                drop(health);
                HostSnapshot {
                    address: &host.address,
                    backoff,
                    consecutive_failures,
                    idle_connections: host.pool.idle_connections(),
                    counters: &host.stats,
                }
            })
            .collect()
    }

    /// The hosts to try for one call, in order, at most `max-attempts`: those
    /// not backing off, starting where the order says among them (so a
    /// backed-off host's share spreads evenly over the others, as in Flume's
    /// selectors). If every host is backing off, the one whose backoff ends
    /// first, so a call is never refused untried.
    pub(crate) fn candidates(&self) -> impl Iterator<Item = &Host> {
        let now = LazyNow::default();
        let n = self.hosts.len();
        let up = self.hosts.iter().filter(|h| h.is_up(&now)).count();
        let fallback = if up == 0 { self.hosts.iter().min_by_key(|h| h.backoff_until(now.get())) } else { None };
        let k = match self.order {
            Order::Failover => 0,
            Order::RoundRobin => self.next_start.fetch_add(1, Ordering::Relaxed),
            Order::Random => RandomState::new().hash_one(now.get()) as usize,
        } % up.max(1);
        let is_up = move |h: &&Host| h.is_up(&now);
        // The index of the k-th host that is up.
        let start = self.hosts.iter().enumerate().filter(|(_, h)| is_up(h)).nth(k).map_or(0, |(i, _)| i);
        (0..n).map(move |i| &self.hosts[(start + i) % n]).filter(is_up).chain(fallback).take(self.max_attempts)
    }

    pub(crate) fn succeeded(&self, host: &Host) {
        if !host.healthy.load(Ordering::Acquire) {
            let mut health = host.health();
            *health = Health::default();
            host.healthy.store(true, Ordering::Release);
        }
    }

    /// Flume's rule: a failed host is skipped until now + min(maxBackoff,
    /// 1 s * 2^consecutive failures), the count capped at 16.
    pub(crate) fn failed(&self, host: &Host) {
        let mut health = host.health();
        host.healthy.store(false, Ordering::Release);
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

    /// The random selector alone, without a network: each call's first
    /// host is uniform over the hosts (the load-balancing test's spread of
    /// real calls rests on this).
    #[test]
    fn the_random_order_starts_each_call_at_a_uniformly_chosen_host() {
        let mut config = Config::default();
        config.set("client.type", "default_loadbalance").unwrap();
        config.set("host-selector", "random").unwrap();
        let addresses = (1..=3).map(|port| HostPort { host: "127.0.0.1".into(), port }).collect();
        let hosts = HostSet::new(addresses, &config);
        const CALLS: usize = 30_000;
        let mut first = [0usize; 3];
        for _ in 0..CALLS {
            let host = hosts.candidates().next().expect("a host");
            first[usize::from(host.address.port) - 1] += 1;
        }
        // Binomial(30000, 1/3): 400 is about 4.9 standard deviations.
        assert!(first.iter().all(|&n| n.abs_diff(CALLS / 3) <= 400), "{first:?}");
        // Each call still lists every host, from its first one on.
        let order: Vec<u16> = hosts.candidates().map(|h| h.address.port).collect();
        assert_eq!(order.len(), 3);
        assert!([[1, 2, 3], [2, 3, 1], [3, 1, 2]].iter().any(|o| o[..] == order[..]), "{order:?}");
    }
}
