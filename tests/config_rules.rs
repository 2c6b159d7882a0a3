//! A `Config` built field by field in Rust is held to the rules of
//! `flume_config_set`: `Client::new` refuses what a properties file could not
//! set, instead of a client that loops, waits or fails every call.

use std::time::Duration;

use flume_client::{Client, Config, ErrorKind, HostPort};

/// `Config::default()` changed by `change`.
fn with(change: impl FnOnce(&mut Config)) -> Config {
    let mut config = Config::default();
    change(&mut config);
    config
}

fn refused(config: Config, hosts: &str, expected: &str) {
    match Client::new(hosts, &config) {
        Ok(_) => panic!("Client::new accepted a config that flume_config_set cannot make (expected: {expected})"),
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Config, "{e}");
            assert!(e.message().contains(expected), "{e} (expected {expected})");
        }
    }
}

#[test]
fn batch_size_zero_is_refused() {
    // It made append_batch loop forever sending empty calls.
    refused(with(|c| c.batch_size = 0), "127.0.0.1:4141", "batch-size (Config::batch_size): 0");
}

#[test]
fn max_attempts_zero_is_refused() {
    // It made every call fail with Internal, "a bug in this library".
    refused(with(|c| c.max_attempts = Some(0)), "127.0.0.1:4141", "max-attempts (Config::max_attempts): 0");
}

#[test]
fn max_connections_zero_is_refused() {
    // It made every call wait request-timeout for a connection that could never exist.
    refused(with(|c| c.max_connections = 0), "127.0.0.1:4141", "maxConnections (Config::max_connections): 0");
}

#[test]
fn a_zero_event_timeout_is_refused() {
    // It failed every event sent asynchronously.
    refused(with(|c| c.event_timeout = Duration::ZERO), "127.0.0.1:4141", "event-timeout (Config::event_timeout)");
}

#[test]
fn an_empty_host_with_port_zero_is_refused() {
    // It was accepted and failed only at the first call.
    let config = with(|c| {
        c.host_aliases = vec!["h1".into()];
        c.host_addresses = vec![("h1".into(), HostPort { host: String::new(), port: 0 })];
    });
    refused(config, "", "hosts.h1 (Config::host_addresses): host ':0'");
}

#[test]
fn every_setting_at_the_edge_of_its_range_is_accepted() {
    let config = with(|c| {
        c.batch_size = 1;
        c.max_attempts = Some(1);
        c.max_connections = 1;
        c.event_timeout = Duration::from_millis(1);
        c.request_timeout = Duration::from_millis(1);
        c.connect_timeout = Duration::from_millis(1);
        c.max_frame_size = 64;
        c.queue_max_events = 1;
        c.queue_max_bytes = 1;
        c.host_aliases = vec!["h1".into()];
        c.host_addresses = vec![("h1".into(), HostPort { host: "::1".into(), port: 65535 })];
    });
    Client::new("", &config).unwrap();
}
