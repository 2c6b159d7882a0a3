//! Client settings under Flume's own key names, with Flume's defaults.

use std::time::Duration;

use crate::error::{err, Result};

/// The Thrift protocol spoken inside each frame. Flume's Thrift source has no
/// negotiation: it must match the source's `protocol` setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// `TCompactProtocol`, Flume's default.
    Compact,
    /// Strict `TBinaryProtocol`.
    Binary,
}

/// The largest frame payload Flume's Thrift source accepts.
pub const FLUME_MAX_FRAME_SIZE: usize = 16_384_000;

/// The smallest `max-frame-size` accepted: room for a call with one small event.
pub(crate) const MIN_FRAME_SIZE: usize = 64;

/// Settings of a client. `Config::default()` gives Flume's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `protocol`: `compact` (default) or `binary`.
    pub protocol: Protocol,
    /// `batch-size`: most events in one `appendBatch` call (default 100).
    pub batch_size: usize,
    /// `connect-timeout`: time to establish a connection, name lookup included (default 20 s).
    pub connect_timeout: Duration,
    /// `request-timeout`: time from the first byte of a call sent to the last byte of its reply (default 20 s).
    pub request_timeout: Duration,
    /// `max-frame-size`: most payload bytes in one frame (default 16,384,000).
    pub max_frame_size: usize,
    /// `maxConnections`: connections one client may hold at once (default 5).
    pub max_connections: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            protocol: Protocol::Compact,
            batch_size: 100,
            connect_timeout: Duration::from_millis(20_000),
            request_timeout: Duration::from_millis(20_000),
            max_frame_size: FLUME_MAX_FRAME_SIZE,
            max_connections: 5,
        }
    }
}

/// The keys `Config::set` accepts.
pub const KEYS: [&str; 6] = [
    "protocol",
    "batch-size",
    "connect-timeout",
    "request-timeout",
    "max-frame-size",
    "maxConnections",
];

impl Config {
    /// Sets one key from its string value, as in a Flume client properties file.
    /// Fails with `Config` for an unknown key or a value out of range, leaving the
    /// setting unchanged.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let value = value.trim();
        match key {
            "protocol" => {
                self.protocol = match value {
                    "compact" => Protocol::Compact,
                    "binary" => Protocol::Binary,
                    _ => return Err(err!(Config, "protocol: '{value}' is neither 'compact' nor 'binary'")),
                }
            }
            "batch-size" => self.batch_size = parse_number(key, value, 1, 1_000_000)?,
            "connect-timeout" => self.connect_timeout = parse_millis(key, value)?,
            "request-timeout" => self.request_timeout = parse_millis(key, value)?,
            "max-frame-size" => {
                self.max_frame_size = parse_number(key, value, MIN_FRAME_SIZE, i32::MAX as usize)?
            }
            "maxConnections" => self.max_connections = parse_number(key, value, 1, 1024)?,
            _ => return Err(err!(Config, "unknown config key '{key}' (known: {})", KEYS.join(", "))),
        }
        Ok(())
    }
}

fn parse_number(key: &str, value: &str, min: usize, max: usize) -> Result<usize> {
    match value.parse::<u64>() {
        Ok(n) if n >= min as u64 && n <= max as u64 => Ok(n as usize),
        _ => Err(err!(Config, "{key}: '{value}' is not a whole number from {min} to {max}")),
    }
}

/// Timeouts are whole milliseconds from 1 ms to 24 hours.
fn parse_millis(key: &str, value: &str) -> Result<Duration> {
    parse_number(key, value, 1, 86_400_000).map(|ms| Duration::from_millis(ms as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn defaults_are_flumes() {
        let c = Config::default();
        assert_eq!(c.protocol, Protocol::Compact);
        assert_eq!(c.batch_size, 100);
        assert_eq!(c.connect_timeout, Duration::from_secs(20));
        assert_eq!(c.request_timeout, Duration::from_secs(20));
        assert_eq!(c.max_frame_size, 16_384_000);
        assert_eq!(c.max_connections, 5);
    }

    #[test]
    fn every_key_sets_its_field() {
        let mut c = Config::default();
        c.set("protocol", "binary").unwrap();
        c.set("batch-size", "7").unwrap();
        c.set("connect-timeout", "150").unwrap();
        c.set("request-timeout", " 250 ").unwrap();
        c.set("max-frame-size", "1000").unwrap();
        c.set("maxConnections", "2").unwrap();
        assert_eq!(
            c,
            Config {
                protocol: Protocol::Binary,
                batch_size: 7,
                connect_timeout: Duration::from_millis(150),
                request_timeout: Duration::from_millis(250),
                max_frame_size: 1000,
                max_connections: 2,
            }
        );
    }

    #[test]
    fn bad_values_and_unknown_keys_are_config_errors_and_change_nothing() {
        let mut c = Config::default();
        for (key, value) in [
            ("protocol", "json"),
            ("batch-size", "0"),
            ("batch-size", "-1"),
            ("batch-size", "ten"),
            ("connect-timeout", ""),
            ("request-timeout", "0"),
            ("max-frame-size", "63"),
            ("max-frame-size", "2147483648"),
            ("maxConnections", "0"),
            ("hosts.h1", "a:1"),
            ("batchSize", "10"),
        ] {
            let e = c.set(key, value).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{key}={value}");
            assert!(e.message().contains(key), "{e}");
        }
        assert_eq!(c, Config::default());
    }
}
