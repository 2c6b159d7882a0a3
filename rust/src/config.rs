//! Client settings under Flume's own key names, with Flume's defaults: values
//! and their checks, below everything that uses them (no transport, host or
//! sender here). The files the TLS and Kerberos keys name are read and
//! checked when the key is set, by the submodules `tls` and `kerberos`.

use std::path::{Path, PathBuf};
use std::time::Duration;

#[cfg(feature = "kerberos")]
pub(crate) mod kerberos;
#[cfg(feature = "tls")]
pub(crate) mod tls;

use crate::address::{parse_host_port, HostPort};
use crate::error::{err, Error, ErrorKind, Result};
use crate::properties::parse_properties;
use crate::report::DeliveryCallback;
use crate::wire::Protocol;

mod keys;

pub use keys::{ConfigKey, Feature};

/// The largest frame payload Flume's Thrift source accepts.
pub const FLUME_MAX_FRAME_SIZE: usize = 16_384_000;

/// The smallest `max-frame-size` accepted: room for a call with one small event.
pub(crate) const MIN_FRAME_SIZE: usize = 64;

/// How a client with several hosts spreads its calls (`client.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
#[non_exhaustive]
pub enum HostSelector {
    /// `round_robin` (default): each call starts at the next host.
    RoundRobin,
    /// `random`: each call starts at a random host.
    Random,
}

/// Settings of a client, under Flume's key names. `Config::default()` gives
/// Flume's defaults; set fields on it, or keys with [`Config::set`] and
/// properties files with [`Config::load_properties_file`]. [`Client::new`]
/// checks every field against its key's rules ([`Config::validate`]).
/// [`Client::builder`] sets the same fields with typed methods.
///
/// Each field holds the key its doc names (`Config::set` parses the key's text
/// into it); the key's default, range, feature and doc are in the one table of
/// keys, [`Config::keys()`], which README "Configuration" shows.
///
/// New settings may be added in any release (the struct is
/// `#[non_exhaustive]`): start from `Config::default()`.
///
/// ```
/// use std::time::Duration;
/// let mut config = flume_client::Config::default();
/// config.batch_size = 500;
/// config.request_timeout = Duration::from_secs(5);
/// config.set("client.type", "default_loadbalance")?;
/// config.validate()?;
/// # Ok::<(), flume_client::Error>(())
/// ```
///
/// Its `Debug` shows every setting: a config holds file paths (truststore,
/// keys, keytab), never a key's or a password's contents.
///
/// [`Client::new`]: crate::Client::new
/// [`Client::builder`]: crate::Client::builder
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// `protocol`: the Thrift protocol, which must match the source's.
    pub protocol: Protocol,
    /// `batch-size`: most events in one `appendBatch` call.
    pub batch_size: usize,
    /// `connect-timeout`: time to establish a connection, name lookup included.
    pub connect_timeout: Duration,
    /// `request-timeout`: time from the first byte of a call sent to the last byte of its
    /// reply, and the longest wait for a free connection.
    pub request_timeout: Duration,
    /// `max-frame-size`: most payload bytes in one frame.
    pub max_frame_size: usize,
    /// `maxConnections`: connections the client may hold to each host at once.
    pub max_connections: usize,
    /// `hosts`: host aliases, each given by a `hosts.<alias>` key (Flume's form).
    pub host_aliases: Vec<String>,
    /// `hosts.<alias>`: the address of each alias, in the order set.
    pub host_addresses: Vec<(String, HostPort)>,
    /// `client.type`: how calls are spread over several hosts.
    pub client_type: ClientType,
    /// `max-attempts`: hosts tried for one call; `None`: the number of hosts.
    pub max_attempts: Option<usize>,
    /// `host-selector`: where each load-balanced call starts.
    pub host_selector: HostSelector,
    /// `backoff`: whether load balancing skips a failed host for a while.
    pub backoff: bool,
    /// `maxBackoff`: the longest a failed host is skipped (not zero here; 0 in text means the default).
    pub max_backoff: Duration,
    /// `queue.max-events`: most events waiting to be sent asynchronously.
    pub queue_max_events: usize,
    /// `queue.max-bytes`: most header and body bytes waiting to be sent.
    pub queue_max_bytes: usize,
    /// `queue.full`: what `Client::send` does when the queue is full.
    pub queue_full: QueueFull,
    /// `queue.block-timeout`: the longest `QueueFull::Block` waits for room.
    pub queue_block_timeout: Duration,
    /// `linger-ms`: the longest the sender waits to fill a batch.
    pub linger: Duration,
    /// `retries`: times a failed batch is sent again.
    pub retries: usize,
    /// `queue.max-in-flight`: calls the sender thread has in flight on one
    /// connection (pipelined), their replies read in order.
    pub queue_max_in_flight: usize,
    /// `retry-backoff`: wait before each retry.
    pub retry_backoff: Duration,
    /// `event-timeout`: an event not delivered this long after it was queued is reported failed.
    pub event_timeout: Duration,
    /// `close-timeout`: how long freeing a client flushes its queue.
    pub close_timeout: Duration,
    /// `ssl`: connect with TLS. Needs the `tls` feature; see README "TLS".
    pub ssl: bool,
    /// `truststore`: a PEM file of the CA certificates to trust (`None`: the system's CA store).
    pub truststore: Option<PathBuf>,
    /// `ssl-server-name`: the name sent in SNI and checked against the server's
    /// certificate (`None`: each host's own name or address).
    pub ssl_server_name: Option<String>,
    /// `ssl-verify-hostname`: whether the certificate must name the server;
    /// false still verifies the certificate chain.
    pub ssl_verify_hostname: bool,
    /// `ssl-client-cert`: a PEM certificate chain presented for mutual TLS, with `ssl-client-key`.
    pub ssl_client_cert: Option<PathBuf>,
    /// `ssl-client-key`: the unencrypted PEM private key of `ssl-client-cert`.
    pub ssl_client_key: Option<PathBuf>,
    /// `kerberos`: authenticate with Kerberos, SASL GSSAPI.
    /// Needs the `kerberos` feature; see README "Kerberos".
    pub kerberos: bool,
    /// `client-principal`: the principal to authenticate as (`_HOST` becomes
    /// this machine's name); `None`: the ticket cache's.
    pub client_principal: Option<String>,
    /// `client-keytab`: the keytab holding `client-principal`'s keys; `None`:
    /// the ticket cache (`KRB5CCNAME`).
    pub client_keytab: Option<PathBuf>,
    /// `server-principal`: the source's principal, e.g. `flume/_HOST@REALM`
    /// (`_HOST` becomes the name of the host connected to).
    pub server_principal: Option<String>,
    /// Called once per event queued by `Client::send`, on the sender thread (no key).
    pub delivery_callback: Option<DeliveryCallback>,
    /// `queue.spool.dir`: the directory of the durable send queue (`None`: the
    /// queue is in memory only). See docs/spool.md.
    pub spool_dir: Option<PathBuf>,
    /// `queue.spool.fsync`: when spooled records are synced; `Interval` takes `queue.spool.fsync-ms`.
    pub spool_fsync: SpoolFsync,
    /// `queue.spool.fsync-ms`: the interval of `queue.spool.fsync = interval`.
    pub spool_fsync_interval: Duration,
    /// `queue.spool.max-bytes`: most bytes of unacknowledged records in the spool.
    pub spool_max_bytes: u64,
    /// `queue.spool.segment-bytes`: a segment file is closed once it would exceed this.
    pub spool_segment_bytes: u64,
}

/// When the spool's appended records are synced to the device (`queue.spool.fsync`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpoolFsync {
    /// Never: an accepted event survives the process crashing, not the machine losing power.
    Never,
    /// By a background thread every interval, when anything was appended: a power
    /// loss loses at most the events accepted in the last interval.
    Interval(Duration),
    /// Before `send` returns: an accepted event survives a power loss.
    Always,
}

/// What `Client::send` does when the queue is full (`queue.full`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueueFull {
    /// Fail at once with `QueueFull`.
    Fail,
    /// Wait up to `queue.block-timeout` for room, then fail with `QueueFull`.
    Block,
}

impl Default for Config {
    /// Flume's defaults: each key's default in the key table (`Config::keys()`).
    fn default() -> Config {
        let mut config = Config::empty();
        keys::apply_defaults(&mut config);
        config
    }
}

impl Config {
    /// Sets one key from its string value, as in a Flume client properties file.
    /// Fails with `Config` for an unknown key, a value out of range, or a Flume
    /// key this library deliberately does not support, leaving the config unchanged.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        keys::set(self, key, value)
    }

    /// The keys `set` knows, with their defaults, ranges, docs and features:
    /// the one table of config keys, which the README and the C header follow.
    pub fn keys() -> &'static [ConfigKey] {
        keys::KEYS
    }

    /// Every field at its empty value (zero, false, `None`, the first
    /// variant), which `Config::default()` overwrites with the key table's
    /// defaults. A field no key sets keeps its empty value.
    fn empty() -> Config {
        Config {
            protocol: Protocol::Compact,
            batch_size: 0,
            connect_timeout: Duration::ZERO,
            request_timeout: Duration::ZERO,
            max_frame_size: 0,
            max_connections: 0,
            host_aliases: Vec::new(),
            host_addresses: Vec::new(),
            client_type: ClientType::Thrift,
            max_attempts: None,
            host_selector: HostSelector::RoundRobin,
            backoff: false,
            max_backoff: Duration::ZERO,
            queue_max_events: 0,
            queue_max_bytes: 0,
            queue_full: QueueFull::Fail,
            queue_block_timeout: Duration::ZERO,
            linger: Duration::ZERO,
            retries: 0,
            queue_max_in_flight: 0,
            retry_backoff: Duration::ZERO,
            event_timeout: Duration::ZERO,
            close_timeout: Duration::ZERO,
            ssl: false,
            truststore: None,
            ssl_server_name: None,
            ssl_verify_hostname: false,
            ssl_client_cert: None,
            ssl_client_key: None,
            kerberos: false,
            client_principal: None,
            client_keytab: None,
            server_principal: None,
            delivery_callback: None,
            spool_dir: None,
            spool_fsync: SpoolFsync::Never,
            spool_fsync_interval: Duration::ZERO,
            spool_max_bytes: 0,
            spool_segment_bytes: 0,
        }
    }

    /// Applies a Flume client properties file (a Java properties file, as
    /// `flume-ng avro-client -P` reads) key by key, in order, as the C
    /// `flume_config_load_properties` does. Fails with `InvalidArg` when the
    /// file cannot be read, and with `Config` naming the file and the line
    /// of a bad key or value; on failure the config is unchanged.
    ///
    /// ```no_run
    /// let mut config = flume_client::Config::default();
    /// config.load_properties_file("/etc/myapp/flume-client.properties")?;
    /// # Ok::<(), flume_client::Error>(())
    /// ```
    pub fn load_properties_file(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::new(ErrorKind::InvalidArg, format!("cannot read {}: {e}", path.display())).with_source(e)
        })?;
        self.load_properties_str(&text).map_err(|e| err!(Config, "{}: {}", path.display(), e.message()))
    }

    /// Applies the text of a Flume client properties file key by key, in
    /// order (as [`load_properties_file`](Config::load_properties_file) does
    /// with a file's). On failure the config is unchanged and the error
    /// (`Config`) names the line.
    ///
    /// ```
    /// let mut config = flume_client::Config::default();
    /// config.load_properties_str("batch-size = 500\nrequest-timeout = 5000\n")?;
    /// assert_eq!(config.batch_size, 500);
    /// # Ok::<(), flume_client::Error>(())
    /// ```
    pub fn load_properties_str(&mut self, text: &str) -> Result<()> {
        let properties = parse_properties(text).map_err(|e| err!(Config, "line {}: {}", e.line, e.message))?;
        let mut updated = self.clone();
        for p in properties {
            updated.set(&p.key, &p.value).map_err(|e| err!(Config, "line {}: {}", p.line, e.message()))?;
        }
        *self = updated;
        Ok(())
    }

    /// Checks every setting against the rules `set` applies to its key, so a
    /// `Config` built field by field in Rust cannot hold what a properties file
    /// could not: `batch_size` 0, `max_attempts` `Some(0)`, `max_connections`
    /// 0, a zero `event_timeout`, a host with an empty name or port 0... Fails
    /// with `Config` naming the key, the field and the allowed range.
    /// `Client::new` calls it.
    ///
    /// Durations have the key's least value (e.g. 1 ms for `event-timeout`)
    /// but no greatest: a properties file stops at 24 hours, while
    /// `Duration::MAX` here means "no limit".
    pub fn validate(&self) -> Result<()> {
        // The numbers and durations, each against its key's range in the table.
        keys::validate(self)?;
        let spool_fsync_min = Duration::from_millis(keys::SPOOL_FSYNC_MS_MIN);
        if self.spool_fsync_interval < spool_fsync_min {
            return Err(err!(
                Config,
                "queue.spool.fsync-ms (Config::spool_fsync_interval): {:?} is less than its least value, {} ms",
                self.spool_fsync_interval,
                keys::SPOOL_FSYNC_MS_MIN
            ));
        }
        if let SpoolFsync::Interval(every) = self.spool_fsync {
            if every < spool_fsync_min {
                return Err(err!(
                    Config,
                    "queue.spool.fsync-ms (Config::spool_fsync): {every:?} is less than its least value, {} ms",
                    keys::SPOOL_FSYNC_MS_MIN
                ));
            }
        }
        if self.spool_dir.as_ref().is_some_and(|d| d.as_os_str().is_empty()) {
            return Err(err!(Config, "queue.spool.dir (Config::spool_dir): empty"));
        }
        if self.max_backoff.is_zero() {
            // In a properties file 0 means the default; a zero Duration would never back off.
            return Err(err!(
                Config,
                "maxBackoff (Config::max_backoff): zero; the default is {} ms",
                Config::default().max_backoff.as_millis()
            ));
        }
        for alias in &self.host_aliases {
            if alias.is_empty() || alias.contains(char::is_whitespace) {
                return Err(err!(
                    Config,
                    "hosts (Config::host_aliases): '{alias}' is not an alias (empty or with spaces)"
                ));
            }
        }
        for (alias, address) in &self.host_addresses {
            // The same rules as a host list's entry, e.g. "hosts.h1 = agent1:4141".
            parse_host_port(&address.to_string())
                .map_err(|e| err!(Config, "hosts.{alias} (Config::host_addresses): {}", e.message()))?;
        }
        Ok(())
    }

    /// The first TLS key besides `ssl` that is not at its default, if any: a
    /// client refuses TLS settings without `ssl=true` rather than ignore them.
    #[cfg(feature = "tls")]
    pub(crate) fn tls_key_set(&self) -> Option<&'static str> {
        keys::first_set(self, Feature::Tls)
    }

    /// The first Kerberos key besides `kerberos` that is set, if any: a client
    /// refuses them without `kerberos=true` rather than ignore them.
    #[cfg(feature = "kerberos")]
    pub(crate) fn kerberos_key_set(&self) -> Option<&'static str> {
        keys::first_set(self, Feature::Kerberos)
    }

    /// Refuses settings of a feature this build lacks (`ssl=true` without the
    /// `tls` feature, a Kerberos key without `kerberos`...), naming the key:
    /// for a `Config` built field by field, which `set` could not have made.
    pub(crate) fn check_features(&self) -> Result<()> {
        keys::check_features(self)
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

    /// The key table's defaults make the `Config` the defaults were written
    /// out as before there was a table.
    #[test]
    #[allow(clippy::needless_update)] // so that a new field needs no line here
    fn the_key_tables_defaults_are_the_former_defaults() {
        let ms = Duration::from_millis;
        let former = Config {
            protocol: Protocol::Compact,
            batch_size: 100,
            connect_timeout: ms(20_000),
            request_timeout: ms(20_000),
            max_frame_size: FLUME_MAX_FRAME_SIZE,
            max_connections: 5,
            host_aliases: Vec::new(),
            host_addresses: Vec::new(),
            client_type: ClientType::Thrift,
            max_attempts: None,
            host_selector: HostSelector::RoundRobin,
            backoff: false,
            max_backoff: ms(30_000),
            queue_max_events: 100_000,
            queue_max_bytes: 64 << 20,
            queue_full: QueueFull::Fail,
            queue_block_timeout: ms(1000),
            linger: ms(5),
            retries: 10,
            queue_max_in_flight: 1,
            retry_backoff: ms(100),
            event_timeout: ms(30_000),
            close_timeout: ms(5_000),
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
            spool_dir: None,
            spool_fsync: SpoolFsync::Interval(ms(1000)),
            spool_fsync_interval: ms(1000),
            spool_max_bytes: 1 << 30,
            spool_segment_bytes: 16 << 20,
            ..Config::default()
        };
        assert_eq!(Config::default(), former);
    }

    #[test]
    fn setting_a_key_to_its_default_changes_nothing() {
        let mut checked = 0;
        for key in Config::keys() {
            let Some(default) = key.default_value() else { continue };
            if key.feature().is_some_and(|f| !f.is_available()) && default != "false" {
                continue; // refused as a whole in this build (tls_keys_need_the_tls_feature)
            }
            let mut c = Config::default();
            c.set(key.name(), default).unwrap_or_else(|e| panic!("{}={default}: {e}", key.name()));
            assert_eq!(c, Config::default(), "{}={default}", key.name());
            checked += 1;
        }
        assert!(checked >= 25, "{checked}");
    }

    #[test]
    fn the_unknown_key_message_lists_the_keys_that_can_be_set() {
        let e = Config::default().set("batchSize", "10").unwrap_err();
        let m = e.message();
        assert!(m.starts_with("unknown config key 'batchSize' (known: protocol, batch-size, "), "{m}");
        for key in Config::keys() {
            assert_eq!(
                m.contains(&format!(" {},", key.name())) || m.ends_with(&format!(" {})", key.name())),
                !key.is_refused(),
                "{}: {m}",
                key.name()
            );
        }
    }

    #[test]
    fn every_key_of_a_feature_this_build_lacks_is_refused_naming_the_feature() {
        for key in Config::keys() {
            let Some(feature) = key.feature() else { continue };
            if feature.is_available() {
                continue;
            }
            let e = Config::default().set(key.name(), "true").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config);
            assert!(e.message().starts_with(&format!("{}: ", key.name())), "{e}");
            assert!(e.message().contains("is not available in this build of flume-client"), "{e}");
            assert!(e.message().contains(&format!("cargo feature {}", feature.name())), "{e}");
            // Built field by field, the same key is refused when a client is made.
            let mut c = Config::default();
            c.set(key.name(), "false").ok();
            assert_eq!(c.check_features(), Ok(()), "{}", key.name());
        }
        #[cfg(not(feature = "tls"))]
        {
            let e = Config { ssl_verify_hostname: false, ..Config::default() }.check_features().unwrap_err();
            assert!(e.message().starts_with("ssl-verify-hostname: TLS is not available"), "{e}");
        }
        #[cfg(not(feature = "kerberos"))]
        {
            let c = Config { client_keytab: Some("k".into()), ..Config::default() };
            assert!(c.check_features().unwrap_err().message().starts_with("client-keytab: Kerberos is not available"));
        }
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
            ("queue.spool.dir", " "),
            ("queue.spool.fsync", "sometimes"),
            ("queue.spool.fsync-ms", "0"),
            ("queue.spool.max-bytes", "100"),
            ("queue.spool.segment-bytes", "2147483648"),
        ] {
            let e = c.set(key, value).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{key}={value}");
            assert!(e.message().contains(key), "{e}");
        }
        assert_eq!(c, Config::default());
    }

    #[test]
    fn booleans_are_true_or_false_in_any_case_and_nothing_else() {
        let mut c = Config::default();
        for (value, expected) in [("True", true), ("FALSE", false), ("tRuE", true), (" false ", false)] {
            c.set("backoff", value).unwrap();
            assert_eq!(c.backoff, expected, "{value}");
        }
        for value in ["yes", "1", "on", "truee", "t", ""] {
            let e = c.set("backoff", value).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{value}");
            assert!(e.message().contains("neither true nor false"), "{e}");
        }
    }

    #[test]
    fn trust_all_certs_false_is_accepted_and_true_refused_with_the_way_to_a_truststore() {
        let mut c = Config::default();
        c.set("trust-all-certs", "false").unwrap();
        c.set("trust-all-certs", "FALSE").unwrap();
        assert_eq!(c, Config::default());
        for value in ["true", "True"] {
            let e = c.set("trust-all-certs", value).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config);
            let m = e.message();
            assert!(m.starts_with("trust-all-certs: refused"), "{m}");
            assert!(
                m.contains("keytool -exportcert -rfc") && m.contains("openssl s_client") && m.contains("truststore"),
                "{m}"
            );
            assert!(!m.contains("unknown config key"), "{m}");
        }
        let e = c.set("trust-all-certs", "maybe").unwrap_err();
        assert!(e.message().contains("neither true nor false"), "{e}");
        assert_eq!(c, Config::default());
    }

    #[test]
    fn validate_applies_the_rules_of_set_to_each_field() {
        assert_eq!(Config::default().validate(), Ok(()));
        let mut edge = Config {
            batch_size: 1_000_000,
            max_attempts: Some(1024),
            max_connections: 1,
            event_timeout: Duration::from_millis(1),
            connect_timeout: Duration::MAX,
            linger: Duration::ZERO,
            retries: 0,
            ..Config::default()
        };
        edge.set("hosts", "h1").unwrap();
        edge.set("hosts.h1", "[::1]:1").unwrap();
        assert_eq!(edge.validate(), Ok(()));
        let cases: Vec<(Config, &str)> = vec![
            (
                Config { batch_size: 0, ..Config::default() },
                "batch-size (Config::batch_size): 0 is not from 1 to 1000000",
            ),
            (Config { batch_size: 1_000_001, ..Config::default() }, "batch-size"),
            (Config { max_attempts: Some(0), ..Config::default() }, "max-attempts (Config::max_attempts): 0"),
            (Config { max_connections: 0, ..Config::default() }, "maxConnections (Config::max_connections): 0"),
            (Config { max_connections: 1025, ..Config::default() }, "maxConnections"),
            (Config { max_frame_size: 63, ..Config::default() }, "max-frame-size"),
            (Config { queue_max_events: 0, ..Config::default() }, "queue.max-events"),
            (Config { queue_max_bytes: 0, ..Config::default() }, "queue.max-bytes"),
            (
                Config { event_timeout: Duration::ZERO, ..Config::default() },
                "event-timeout (Config::event_timeout): 0ns",
            ),
            (Config { event_timeout: Duration::from_micros(999), ..Config::default() }, "event-timeout"),
            (Config { connect_timeout: Duration::ZERO, ..Config::default() }, "connect-timeout"),
            (Config { request_timeout: Duration::ZERO, ..Config::default() }, "request-timeout"),
            (Config { max_backoff: Duration::ZERO, ..Config::default() }, "maxBackoff"),
            (Config { host_aliases: vec![String::new()], ..Config::default() }, "hosts (Config::host_aliases)"),
            (
                Config {
                    host_addresses: vec![("h1".into(), HostPort { host: String::new(), port: 0 })],
                    ..Config::default()
                },
                "hosts.h1 (Config::host_addresses)",
            ),
            (
                Config {
                    host_addresses: vec![("h1".into(), HostPort { host: "a".into(), port: 0 })],
                    ..Config::default()
                },
                "port '0' is not a number from 1 to 65535",
            ),
            (
                Config {
                    host_addresses: vec![("h1".into(), HostPort { host: "a b".into(), port: 1 })],
                    ..Config::default()
                },
                "'a b' is not a host name",
            ),
        ];
        for (config, expected) in cases {
            let e = config.validate().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{e}");
            assert!(e.message().contains(expected), "{e} (expected {expected})");
        }
    }

    #[test]
    fn spool_keys_set_their_fields_in_any_order() {
        let mut c = Config::default();
        assert_eq!(c.spool_dir, None);
        assert_eq!(c.spool_fsync, SpoolFsync::Interval(Duration::from_secs(1)));
        c.set("queue.spool.fsync-ms", "250").unwrap();
        assert_eq!(c.spool_fsync, SpoolFsync::Interval(Duration::from_millis(250)));
        c.set("queue.spool.fsync", "always").unwrap();
        c.set("queue.spool.fsync-ms", "50").unwrap();
        assert_eq!(c.spool_fsync, SpoolFsync::Always);
        c.set("queue.spool.fsync", "interval").unwrap();
        assert_eq!(c.spool_fsync, SpoolFsync::Interval(Duration::from_millis(50)));
        c.set("queue.spool.fsync", "never").unwrap();
        assert_eq!(c.spool_fsync, SpoolFsync::Never);
        c.set("queue.spool.dir", " /var/spool/flume ").unwrap();
        assert_eq!(c.spool_dir, Some(PathBuf::from("/var/spool/flume")));
        c.set("queue.spool.max-bytes", "1000000").unwrap();
        c.set("queue.spool.segment-bytes", "65536").unwrap();
        assert_eq!((c.spool_max_bytes, c.spool_segment_bytes), (1_000_000, 65_536));
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn tls_keys_need_the_tls_feature() {
        let mut c = Config::default();
        for (key, value) in
            [("ssl", "true"), ("truststore", "ca.pem"), ("ssl-server-name", "a"), ("ssl-client-key", "k")]
        {
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
