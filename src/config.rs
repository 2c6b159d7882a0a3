//! Client settings under Flume's own key names, with Flume's defaults.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{err, Error, Result};
use crate::hosts::{parse_host_port, HostPort};
use crate::properties::parse_properties;
use crate::sender::DeliveryCallback;

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

/// How a client with several hosts spreads its calls (`client.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientType {
    /// `thrift` (default): Flume's Thrift client. With several hosts, behaves as `default_failover`.
    Thrift,
    /// `default_failover`: hosts in order; a failing host is skipped until its backoff ends.
    Failover,
    /// `default_loadbalance`: calls spread by `host-selector`; failing hosts backed off if `backoff`.
    LoadBalance,
}

/// How `default_loadbalance` picks the host of each call (`host-selector`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostSelector {
    /// `round_robin` (default): each call starts at the next host.
    RoundRobin,
    /// `random`: each call starts at a random host.
    Random,
}

/// Settings of a client. `Config::default()` gives Flume's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `protocol`: `compact` (default) or `binary`.
    pub protocol: Protocol,
    /// `batch-size`: most events in one `appendBatch` call (default 100).
    pub batch_size: usize,
    /// `connect-timeout`: time to establish a connection, name lookup included (default 20 s).
    pub connect_timeout: Duration,
    /// `request-timeout`: time from the first byte of a call sent to the last byte of its
    /// reply, and the longest wait for a free connection (default 20 s).
    pub request_timeout: Duration,
    /// `max-frame-size`: most payload bytes in one frame (default 16,384,000).
    pub max_frame_size: usize,
    /// `maxConnections`: connections the client may hold to each host at once (default 5).
    pub max_connections: usize,
    /// `hosts`: host aliases, each given by a `hosts.<alias>` key (Flume's form).
    pub host_aliases: Vec<String>,
    /// `hosts.<alias>`: the address of each alias, in the order set.
    pub host_addresses: Vec<(String, HostPort)>,
    /// `client.type`: `thrift` (default), `default_failover` or `default_loadbalance`.
    pub client_type: ClientType,
    /// `max-attempts`: hosts tried for one call (default: the number of hosts).
    pub max_attempts: Option<usize>,
    /// `host-selector`: `round_robin` (default) or `random`.
    pub host_selector: HostSelector,
    /// `backoff`: whether load balancing skips a failed host for a while (default false).
    pub backoff: bool,
    /// `maxBackoff`: the longest a failed host is skipped (default, and for 0, 30 s).
    pub max_backoff: Duration,
    /// `queue.max-events`: most events waiting to be sent asynchronously (default 100,000).
    pub queue_max_events: usize,
    /// `queue.max-bytes`: most header and body bytes waiting to be sent (default 64 MiB).
    pub queue_max_bytes: usize,
    /// `queue.full`: `fail` (default) or `block` when the queue is full.
    pub queue_full: QueueFull,
    /// `queue.block-timeout`: the longest `block` waits for room (default 1 s).
    pub queue_block_timeout: Duration,
    /// `linger-ms`: the longest the sender waits to fill a batch (default 5 ms).
    pub linger: Duration,
    /// `retries`: times a failed batch is sent again (default 10).
    pub retries: usize,
    /// `retry-backoff`: wait before each retry (default 100 ms).
    pub retry_backoff: Duration,
    /// `event-timeout`: an event not delivered this long after it was queued is reported failed (default 30 s).
    pub event_timeout: Duration,
    /// `close-timeout`: how long freeing a client flushes its queue (default 5 s).
    pub close_timeout: Duration,
    /// `ssl`: connect with TLS (default false). Needs the `tls` feature; see README "TLS".
    pub ssl: bool,
    /// `truststore`: a PEM file of the CA certificates to trust (default: the system's CA store).
    pub truststore: Option<PathBuf>,
    /// `ssl-server-name`: the name sent in SNI and checked against the server's
    /// certificate (default: each host's own name or address).
    pub ssl_server_name: Option<String>,
    /// `ssl-verify-hostname`: whether the certificate must name the server (default true);
    /// false still verifies the certificate chain.
    pub ssl_verify_hostname: bool,
    /// `ssl-client-cert`: a PEM certificate chain presented for mutual TLS, with `ssl-client-key`.
    pub ssl_client_cert: Option<PathBuf>,
    /// `ssl-client-key`: the unencrypted PEM private key of `ssl-client-cert`.
    pub ssl_client_key: Option<PathBuf>,
    /// `kerberos`: authenticate with Kerberos, SASL GSSAPI (default false).
    /// Needs the `kerberos` feature; see README "Kerberos".
    pub kerberos: bool,
    /// `client-principal`: the principal to authenticate as (`_HOST` becomes
    /// this machine's name); default the ticket cache's.
    pub client_principal: Option<String>,
    /// `client-keytab`: the keytab holding `client-principal`'s keys; unset:
    /// the ticket cache (`KRB5CCNAME`).
    pub client_keytab: Option<PathBuf>,
    /// `server-principal`: the source's principal, e.g. `flume/_HOST@REALM`
    /// (`_HOST` becomes the name of the host connected to).
    pub server_principal: Option<String>,
    /// Called once per event queued by `Client::send`, on the sender thread.
    pub delivery_callback: Option<DeliveryCallback>,
}

/// What `Client::send` does when the queue is full (`queue.full`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueFull {
    /// Fail at once with `QueueFull`.
    Fail,
    /// Wait up to `queue.block-timeout` for room, then fail with `QueueFull`.
    Block,
}

/// Flume's `maxBackoff` when unset or 0.
const DEFAULT_MAX_BACKOFF: Duration = Duration::from_millis(30_000);

impl Default for Config {
    fn default() -> Config {
        Config {
            protocol: Protocol::Compact,
            batch_size: 100,
            connect_timeout: Duration::from_millis(20_000),
            request_timeout: Duration::from_millis(20_000),
            max_frame_size: FLUME_MAX_FRAME_SIZE,
            max_connections: 5,
            host_aliases: Vec::new(),
            host_addresses: Vec::new(),
            client_type: ClientType::Thrift,
            max_attempts: None,
            host_selector: HostSelector::RoundRobin,
            backoff: false,
            max_backoff: DEFAULT_MAX_BACKOFF,
            queue_max_events: 100_000,
            queue_max_bytes: 64 << 20,
            queue_full: QueueFull::Fail,
            queue_block_timeout: Duration::from_millis(1000),
            linger: Duration::from_millis(5),
            retries: 10,
            retry_backoff: Duration::from_millis(100),
            event_timeout: Duration::from_millis(30_000),
            close_timeout: Duration::from_millis(5_000),
            ssl: false,
            truststore: None,
            ssl_server_name: None,
            ssl_verify_hostname: true,
            ssl_client_cert: None,
            ssl_client_key: None,
            kerberos: false,
            client_principal: None,
            client_keytab: None,
            server_principal: None,
            delivery_callback: None,
        }
    }
}

/// The keys `Config::set` accepts, besides `hosts.<alias>`.
pub const KEYS: &[&str] = &[
    "protocol",
    "batch-size",
    "connect-timeout",
    "request-timeout",
    "max-frame-size",
    "maxConnections",
    "hosts",
    "client.type",
    "max-attempts",
    "host-selector",
    "backoff",
    "maxBackoff",
    "ssl",
    "truststore",
    "truststore-type",
    "ssl-server-name",
    "ssl-verify-hostname",
    "ssl-client-cert",
    "ssl-client-key",
    "queue.max-events",
    "queue.max-bytes",
    "queue.full",
    "queue.block-timeout",
    "linger-ms",
    "retries",
    "retry-backoff",
    "event-timeout",
    "close-timeout",
    "kerberos",
    "client-principal",
    "client-keytab",
    "server-principal",
];

impl Config {
    /// Sets one key from its string value, as in a Flume client properties file.
    /// Fails with `Config` for an unknown key, a value out of range, or a Flume
    /// key this library deliberately does not support, leaving the config unchanged.
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
            "connect-timeout" => self.connect_timeout = parse_millis(key, value, 1)?,
            "request-timeout" => self.request_timeout = parse_millis(key, value, 1)?,
            "max-frame-size" => {
                self.max_frame_size = parse_number(key, value, MIN_FRAME_SIZE, i32::MAX as usize)?
            }
            "maxConnections" => self.max_connections = parse_number(key, value, 1, 1024)?,
            "hosts" => {
                let aliases: Vec<String> = value.split_whitespace().map(str::to_string).collect();
                if aliases.is_empty() {
                    return Err(err!(Config, "hosts: names no host alias (expected e.g. 'h1 h2')"));
                }
                self.host_aliases = aliases;
            }
            "client.type" => {
                self.client_type = match value {
                    "thrift" => ClientType::Thrift,
                    "default_failover" => ClientType::Failover,
                    "default_loadbalance" => ClientType::LoadBalance,
                    "default" => {
                        return Err(err!(Config, "client.type: 'default' is Flume's Avro client; this library speaks Thrift (use thrift, default_failover or default_loadbalance)"))
                    }
                    _ => return Err(err!(Config, "client.type: '{value}' is not thrift, default_failover or default_loadbalance")),
                }
            }
            "max-attempts" => self.max_attempts = Some(parse_number(key, value, 1, 1024)?),
            "host-selector" => {
                self.host_selector = match value {
                    "round_robin" => HostSelector::RoundRobin,
                    "random" => HostSelector::Random,
                    _ => return Err(err!(Config, "host-selector: '{value}' is neither round_robin nor random (custom selector classes are Java-only)")),
                }
            }
            "backoff" => self.backoff = parse_bool(key, value)?,
            "maxBackoff" => {
                let ms = parse_millis(key, value, 0)?;
                self.max_backoff = if ms.is_zero() { DEFAULT_MAX_BACKOFF } else { ms };
            }
            "queue.max-events" => self.queue_max_events = parse_number(key, value, 1, 100_000_000)?,
            "queue.max-bytes" => self.queue_max_bytes = parse_number(key, value, 1, isize::MAX as usize)?,
            "queue.full" => {
                self.queue_full = match value {
                    "fail" => QueueFull::Fail,
                    "block" => QueueFull::Block,
                    _ => return Err(err!(Config, "queue.full: '{value}' is neither fail nor block")),
                }
            }
            "queue.block-timeout" => self.queue_block_timeout = parse_millis(key, value, 0)?,
            "linger-ms" => self.linger = parse_millis(key, value, 0)?,
            "retries" => self.retries = parse_number(key, value, 0, 1_000_000)?,
            "retry-backoff" => self.retry_backoff = parse_millis(key, value, 0)?,
            "event-timeout" => self.event_timeout = parse_millis(key, value, 1)?,
            "close-timeout" => self.close_timeout = parse_millis(key, value, 0)?,
            "ssl" => {
                let on = parse_bool(key, value)?;
                if on && !cfg!(feature = "tls") {
                    return Err(err!(Config, "ssl: TLS is not available in this build of flume-client"));
                }
                self.ssl = on;
            }
            // Files are read and checked here, so a bad one fails at once (and again when a client is made).
            "truststore" | "truststore-type" | "truststore-password" | "ssl-server-name" | "ssl-verify-hostname"
            | "ssl-client-cert" | "ssl-client-key" | "exclude-protocols" | "include-protocols"
            | "exclude-cipher-suites" | "include-cipher-suites" => {
                #[cfg(feature = "tls")]
                crate::tls::set_key(self, key, value)?;
                #[cfg(not(feature = "tls"))]
                return Err(unsupported(key));
            }
            "kerberos" => {
                let on = parse_bool(key, value)?;
                if on && !cfg!(feature = "kerberos") {
                    return Err(unsupported(key));
                }
                self.kerberos = on;
            }
            "client-principal" | "client-keytab" | "server-principal" => {
                if !cfg!(feature = "kerberos") {
                    return Err(unsupported(key));
                }
                self.set_kerberos_key(key, value)?;
            }
            _ => {
                if let Some(alias) = key.strip_prefix("hosts.") {
                    let address = parse_host_port(value).map_err(|e| err!(Config, "{key}: {}", e.message()))?;
                    self.host_addresses.retain(|(a, _)| a != alias);
                    self.host_addresses.push((alias.to_string(), address));
                    return Ok(());
                }
                return Err(unsupported(key));
            }
        }
        Ok(())
    }

    /// Applies a Java properties file's text (a Flume client properties file,
    /// as `flume-ng avro-client -P` reads) key by key, in order. On failure the
    /// config is unchanged and the error names the line.
    pub fn load_properties(&mut self, text: &str) -> Result<()> {
        let properties = parse_properties(text).map_err(|e| err!(Config, "line {}: {}", e.line, e.message))?;
        let mut updated = self.clone();
        for p in properties {
            updated.set(&p.key, &p.value).map_err(|e| err!(Config, "line {}: {}", p.line, e.message()))?;
        }
        *self = updated;
        Ok(())
    }

    /// The first TLS key besides `ssl` that is not at its default, if any: a
    /// client refuses TLS settings without `ssl=true` rather than ignore them.
    pub(crate) fn tls_key_set(&self) -> Option<&'static str> {
        [
            ("truststore", self.truststore.is_some()),
            ("ssl-server-name", self.ssl_server_name.is_some()),
            ("ssl-verify-hostname", !self.ssl_verify_hostname),
            ("ssl-client-cert", self.ssl_client_cert.is_some()),
            ("ssl-client-key", self.ssl_client_key.is_some()),
        ]
        .into_iter()
        .find_map(|(key, set)| set.then_some(key))
    }

    /// `client-principal`, `client-keytab`, `server-principal`: the keytab is
    /// checked when set (and again when a client is made).
    fn set_kerberos_key(&mut self, key: &str, value: &str) -> Result<()> {
        if value.is_empty() {
            return Err(err!(Config, "{key}: empty"));
        }
        match key {
            "client-principal" => self.client_principal = Some(value.to_string()),
            "server-principal" => {
                // Flume's form: service/host@REALM (host may be _HOST); the realm may be left to krb5.conf.
                let (service, rest) = value.split_once('/').ok_or_else(|| {
                    err!(Config, "server-principal: '{value}' is not service/host@REALM (e.g. flume/_HOST@EXAMPLE.COM)")
                })?;
                let host = rest.split_once('@').map_or(rest, |(h, _)| h);
                if service.is_empty() || host.is_empty() || rest.ends_with('@') {
                    return Err(err!(Config, "server-principal: '{value}' is not service/host@REALM (e.g. flume/_HOST@EXAMPLE.COM)"));
                }
                self.server_principal = Some(value.to_string());
            }
            _ => {
                #[cfg(feature = "kerberos")]
                crate::kerberos::check_keytab(std::path::Path::new(value))?;
                self.client_keytab = Some(PathBuf::from(value));
            }
        }
        Ok(())
    }

    /// The first Kerberos key besides `kerberos` that is set, if any: a client
    /// refuses them without `kerberos=true` rather than ignore them.
    pub(crate) fn kerberos_key_set(&self) -> Option<&'static str> {
        [
            ("client-principal", self.client_principal.is_some()),
            ("client-keytab", self.client_keytab.is_some()),
            ("server-principal", self.server_principal.is_some()),
        ]
        .into_iter()
        .find_map(|(key, set)| set.then_some(key))
    }

    /// The hosts named by `hosts` and `hosts.<alias>`, in alias order.
    pub fn configured_hosts(&self) -> Result<Vec<HostPort>> {
        self.host_aliases
            .iter()
            .map(|alias| {
                self.host_addresses
                    .iter()
                    .find(|(a, _)| a == alias)
                    .map(|(_, address)| address.clone())
                    .ok_or_else(|| err!(Config, "hosts names '{alias}' but hosts.{alias} is not set"))
            })
            .collect()
    }
}

/// Why a key is refused: Flume keys this library deliberately lacks get their reason.
fn unsupported(key: &str) -> Error {
    match key {
        "kerberos" | "client-principal" | "client-keytab" | "server-principal" => {
            err!(
                Config,
                "{key}: Kerberos is not available in this build of flume-client (build it with the cargo feature \
                 kerberos, or CMake -DFLUME_CLIENT_KERBEROS=ON)"
            )
        }
        "truststore" | "truststore-password" | "truststore-type" | "exclude-protocols" | "include-protocols"
        | "exclude-cipher-suites" | "include-cipher-suites" | "ssl-server-name" | "ssl-verify-hostname"
        | "ssl-client-cert" | "ssl-client-key" => {
            err!(Config, "{key}: TLS is not available in this build of flume-client (and JKS truststores never will be: export PEM)")
        }
        "compression-type" | "compression-level" => {
            err!(Config, "{key}: compression belongs to Flume's Avro client; the Thrift source has none")
        }
        _ => err!(Config, "unknown config key '{key}' (known: {}, hosts.<alias>)", KEYS.join(", ")),
    }
}

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(err!(Config, "{key}: '{value}' is neither true nor false")),
    }
}

fn parse_number(key: &str, value: &str, min: usize, max: usize) -> Result<usize> {
    match value.parse::<u64>() {
        Ok(n) if n >= min as u64 && n <= max as u64 => Ok(n as usize),
        _ => Err(err!(Config, "{key}: '{value}' is not a whole number from {min} to {max}")),
    }
}

/// Durations are whole milliseconds, up to 24 hours.
fn parse_millis(key: &str, value: &str, min: usize) -> Result<Duration> {
    parse_number(key, value, min, 86_400_000).map(|ms| Duration::from_millis(ms as u64))
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
        c.set("hosts", " h1  h2 ").unwrap();
        c.set("hosts.h2", "[::1]:2").unwrap();
        c.set("hosts.h1", "a:1").unwrap();
        c.set("client.type", "default_loadbalance").unwrap();
        c.set("max-attempts", "3").unwrap();
        c.set("host-selector", "random").unwrap();
        c.set("backoff", "true").unwrap();
        c.set("maxBackoff", "0").unwrap();
        c.set("ssl", "false").unwrap();
        assert_eq!(
            c,
            Config {
                protocol: Protocol::Binary,
                batch_size: 7,
                connect_timeout: Duration::from_millis(150),
                request_timeout: Duration::from_millis(250),
                max_frame_size: 1000,
                max_connections: 2,
                host_aliases: vec!["h1".into(), "h2".into()],
                host_addresses: vec![
                    ("h2".into(), HostPort { host: "::1".into(), port: 2 }),
                    ("h1".into(), HostPort { host: "a".into(), port: 1 }),
                ],
                client_type: ClientType::LoadBalance,
                max_attempts: Some(3),
                host_selector: HostSelector::Random,
                backoff: true,
                max_backoff: Duration::from_secs(30),
                ..Config::default()
            }
        );
        assert_eq!(
            c.configured_hosts().unwrap(),
            [HostPort { host: "a".into(), port: 1 }, HostPort { host: "::1".into(), port: 2 }]
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
            ("hosts.h1", "a"),
            ("hosts.h1", "[::1]"),
            ("hosts", " "),
            ("client.type", "default"),
            ("client.type", "avro"),
            ("max-attempts", "0"),
            ("host-selector", "com.example.MySelector"),
            ("backoff", "yes"),
            ("maxBackoff", "-1"),
            ("ssl", "yes"),
            ("truststore", "/etc/ts.jks"),
            ("truststore-password", "changeit"),
            ("kerberos", "yes"),
            ("server-principal", "flume@EXAMPLE.COM"),
            ("compression-type", "deflate"),
            ("batchSize", "10"),
        ] {
            let e = c.set(key, value).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{key}={value}");
            assert!(e.message().contains(key), "{e}");
        }
        assert_eq!(c, Config::default());
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn tls_keys_need_the_tls_feature() {
        let mut c = Config::default();
        for (key, value) in [("ssl", "true"), ("truststore", "ca.pem"), ("ssl-server-name", "a"), ("ssl-client-key", "k")] {
            let e = c.set(key, value).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{key}={value}");
            assert!(e.message().contains("TLS is not available in this build"), "{e}");
        }
        assert_eq!(c, Config::default());
    }

    #[cfg(not(feature = "kerberos"))]
    #[test]
    fn kerberos_keys_need_the_kerberos_feature() {
        let mut c = Config::default();
        for (key, value) in [
            ("kerberos", "true"),
            ("client-principal", "app@EXAMPLE.COM"),
            ("client-keytab", "/etc/app.keytab"),
            ("server-principal", "flume/_HOST@EXAMPLE.COM"),
        ] {
            let e = c.set(key, value).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{key}={value}");
            assert!(e.message().contains("Kerberos is not available in this build"), "{e}");
            assert!(e.message().contains(key), "{e}");
        }
        c.set("kerberos", "false").unwrap();
        assert_eq!(c, Config::default());
    }

    #[cfg(feature = "kerberos")]
    #[test]
    fn kerberos_keys_are_checked_when_set() {
        let mut c = Config::default();
        c.set("kerberos", "true").unwrap();
        c.set("server-principal", "flume/_HOST@EXAMPLE.COM").unwrap();
        c.set("client-principal", "app/_HOST@EXAMPLE.COM").unwrap();
        assert_eq!(c.server_principal.as_deref(), Some("flume/_HOST@EXAMPLE.COM"));
        for (key, value, says) in [
            ("server-principal", "flume/@EXAMPLE.COM", "not service/host@REALM"),
            ("server-principal", "/h@EXAMPLE.COM", "not service/host@REALM"),
            ("server-principal", "flume/h@", "not service/host@REALM"),
            ("client-keytab", "/nonexistent/app.keytab", "cannot read /nonexistent/app.keytab"),
            ("client-keytab", "Cargo.toml", "is not a Kerberos keytab"),
            ("client-principal", " ", "empty"),
        ] {
            let e = c.set(key, value).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{key}={value}");
            assert!(e.message().contains(says), "{key}={value}: {e}");
        }
        assert_eq!(c.server_principal.as_deref(), Some("flume/_HOST@EXAMPLE.COM"));
    }
}
