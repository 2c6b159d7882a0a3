//! The one table of config keys: for each key its name, default, one-line doc,
//! the cargo feature it needs, and how its value is parsed, checked and stored.
//!
//! Everything else about keys derives from `KEYS`: `Config::set` looks the key
//! up here, `Config::default()` applies each key's default, `Config::validate`
//! checks the numeric fields against each key's range, the "not available in
//! this build" refusals come from each key's feature, the list of known keys
//! in the unknown-key message is this table's, and the tests keep the README's
//! key tables and the C header's key list (src/config.rs) equal to it.
//!
//! To add a key: add a field to `Config` (with its doc, naming the key), give it
//! its empty value in `Config::empty`, add one `ConfigKey` to `KEYS` (most keys need only
//! a `Value` kind and `field!(name)`; a key with rules of its own gets a
//! `Custom` function below the table), a row in the README's key table, and a
//! test; then regenerate the C key list with
//! `FLUME_CLIENT_UPDATE_KEY_DOCS=1 cargo test --test config_keys` and the header
//! with `FLUME_CLIENT_UPDATE_HEADER=1 cargo build`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{ClientType, Config, HostSelector, Protocol, QueueFull, SpoolFsync, MIN_FRAME_SIZE};
use crate::address::parse_host_port;
use crate::error::{err, Error, Result};

/// The cargo feature a key needs. In a build without it the key is refused
/// with "... is not available in this build of flume-client".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feature {
    /// `tls`: TLS with rustls (CMake `-DFLUME_CLIENT_TLS=ON`).
    Tls,
    /// `kerberos`: SASL GSSAPI (CMake `-DFLUME_CLIENT_KERBEROS=ON`).
    Kerberos,
}

impl Feature {
    /// The cargo feature's name.
    pub fn name(self) -> &'static str {
        match self {
            Feature::Tls => "tls",
            Feature::Kerberos => "kerberos",
        }
    }

    /// Whether this build has the feature.
    pub fn is_available(self) -> bool {
        match self {
            Feature::Tls => cfg!(feature = "tls"),
            Feature::Kerberos => cfg!(feature = "kerberos"),
        }
    }

    /// Why `key` is refused in a build without the feature.
    pub(crate) fn unavailable(self, key: &str) -> Error {
        let (what, cmake, remark) = match self {
            Feature::Tls => ("TLS", "FLUME_CLIENT_TLS", "; JKS truststores never will be: export PEM"),
            Feature::Kerberos => ("Kerberos", "FLUME_CLIENT_KERBEROS", ""),
        };
        err!(
            Config,
            "{key}: {what} is not available in this build of flume-client (build it with the cargo feature {}, or \
             CMake -D{cmake}=ON{remark})",
            self.name()
        )
    }
}

/// One config key. The fields are the table's columns; see `KEYS`.
pub struct ConfigKey {
    /// The key, as in a Flume client properties file. A name ending in
    /// `<alias>` (`hosts.<alias>`) stands for every key with its prefix.
    name: &'static str,
    /// The default as the key's own text, applied by `Config::default()`;
    /// `None`: unset (the doc says what that means).
    default: Option<&'static str>,
    /// One line for the README and the C header.
    doc: &'static str,
    /// The cargo feature the key needs, if any.
    feature: Option<Feature>,
    /// How the text is parsed, checked and stored.
    value: Value,
}

/// How a key's text is parsed, checked and stored: a few kinds cover most keys.
enum Value {
    /// A whole number from `min` to `max`.
    Number { min: u64, max: u64, field: Field<dyn Whole> },
    /// Whole milliseconds from `min` to `max` in text; in Rust, any `Duration`
    /// of at least `min` ms (`Duration::MAX` means no limit).
    Millis { min: u64, max: u64, field: Field<Duration> },
    /// `true` or `false` in any case (`parse_bool`).
    Bool(Field<bool>),
    /// A boolean that turns the key's feature on: `false` is accepted in every
    /// build, `true` only in builds with the feature.
    Switch(Field<bool>),
    /// A file or directory name, checked by `check` (which names the key in
    /// its errors) before it is stored.
    Path { check: fn(&str, &Path) -> Result<()>, field: Field<Option<PathBuf>> },
    /// A string, checked by `check` before it is stored.
    Text { check: fn(&str, &str) -> Result<()>, field: Field<Option<String>> },
    /// A key with rules of its own: `set(config, key, value)`.
    Custom(fn(&mut Config, &str, &str) -> Result<()>),
    /// A Flume key that stores nothing: `check(key, value)` accepts the values
    /// that change nothing (e.g. `trust-all-certs=false`) and refuses the
    /// others saying why. Not listed among the known keys.
    Refused(fn(&str, &str) -> Result<()>),
}

/// Where a key's value lives in `Config`; `field!(name)` makes one.
struct Field<T: ?Sized + 'static> {
    /// The field's name, for `Config::validate`'s messages.
    name: &'static str,
    get: fn(&Config) -> &T,
    get_mut: fn(&mut Config) -> &mut T,
}

macro_rules! field {
    ($name:ident) => {
        Field { name: stringify!($name), get: |c| &c.$name, get_mut: |c| &mut c.$name }
    };
}

/// A field holding a whole number: `usize`, `u64`, or `Option<usize>` (unset: `None`).
trait Whole {
    fn get(&self) -> Option<u64>;
    fn put(&mut self, n: u64);
}

impl Whole for usize {
    fn get(&self) -> Option<u64> {
        Some(*self as u64)
    }
    fn put(&mut self, n: u64) {
        *self = n as usize;
    }
}

impl Whole for u64 {
    fn get(&self) -> Option<u64> {
        Some(*self)
    }
    fn put(&mut self, n: u64) {
        *self = n;
    }
}

impl Whole for Option<usize> {
    fn get(&self) -> Option<u64> {
        self.map(|n| n as u64)
    }
    fn put(&mut self, n: u64) {
        *self = Some(n as usize);
    }
}

/// Durations are whole milliseconds, up to 24 hours, in text.
const MAX_MILLIS: u64 = 86_400_000;

use Feature::{Kerberos, Tls};

/// Every key `Config::set` knows, in the order of the docs.
#[rustfmt::skip]
pub(crate) static KEYS: &[ConfigKey] = &[
    // Calls and connections.
    ConfigKey {
        name: "protocol", default: Some("compact"), feature: None,
        doc: "`compact` or `binary`: the Thrift protocol, which must match the source's `protocol`",
        value: Value::Custom(set_protocol),
    },
    ConfigKey {
        name: "batch-size", default: Some("100"), feature: None,
        doc: "most events in one `appendBatch` call",
        value: Value::Number { min: 1, max: 1_000_000, field: field!(batch_size) },
    },
    ConfigKey {
        name: "connect-timeout", default: Some("20000"), feature: None,
        doc: "the longest a connection takes to be made, name lookup (and TLS or Kerberos) included",
        value: Value::Millis { min: 1, max: MAX_MILLIS, field: field!(connect_timeout) },
    },
    ConfigKey {
        name: "request-timeout", default: Some("20000"), feature: None,
        doc: "from the first byte of a call sent to the last byte of its reply (values under 1000 are honoured, \
              unlike in Flume's Java client); also the longest wait for a free pooled connection",
        value: Value::Millis { min: 1, max: MAX_MILLIS, field: field!(request_timeout) },
    },
    ConfigKey {
        name: "max-frame-size", default: Some("16384000"), feature: None,
        doc: "most payload bytes in one frame: batches are also split by bytes (Flume's source closes the \
              connection on a larger frame)",
        value: Value::Number { min: MIN_FRAME_SIZE as u64, max: i32::MAX as u64, field: field!(max_frame_size) },
    },
    ConfigKey {
        name: "maxConnections", default: Some("5"), feature: None,
        doc: "connections to each host at once; a call that finds them all busy waits at most request-timeout",
        value: Value::Number { min: 1, max: 1024, field: field!(max_connections) },
    },
    // Hosts, failover and load balancing.
    ConfigKey {
        name: "hosts", default: None, feature: None,
        doc: "host aliases separated by spaces, e.g. `h1 h2`, each given by `hosts.<alias>`; used when the client \
              is made without a host list",
        value: Value::Custom(set_hosts),
    },
    ConfigKey {
        name: "hosts.<alias>", default: None, feature: None,
        doc: "the `host:port` of an alias of `hosts`",
        value: Value::Custom(set_host_address),
    },
    ConfigKey {
        name: "client.type", default: Some("thrift"), feature: None,
        doc: "`thrift` (with several hosts it fails over), `default_failover` (hosts in order, a failing host \
              skipped until its backoff ends) or `default_loadbalance` (calls spread by host-selector)",
        value: Value::Custom(set_client_type),
    },
    ConfigKey {
        name: "max-attempts", default: None, feature: None,
        doc: "hosts tried for one call; unset: the number of hosts",
        value: Value::Number { min: 1, max: 1024, field: field!(max_attempts) },
    },
    ConfigKey {
        name: "host-selector", default: Some("round_robin"), feature: None,
        doc: "`round_robin` or `random`: where each load-balanced call starts",
        value: Value::Custom(set_host_selector),
    },
    ConfigKey {
        name: "backoff", default: Some("false"), feature: None,
        doc: "whether load balancing skips a failed host for a while (failover always does)",
        value: Value::Bool(field!(backoff)),
    },
    ConfigKey {
        name: "maxBackoff", default: Some("30000"), feature: None,
        doc: "the longest a failed host is skipped, in ms (0 to 86400000; 0 means the default): min(maxBackoff, \
              1000 ms * 2^n) after n failures in a row",
        value: Value::Custom(set_max_backoff),
    },
    // Asynchronous sending.
    ConfigKey {
        name: "queue.max-events", default: Some("100000"), feature: None,
        doc: "most events waiting in the send queue",
        value: Value::Number { min: 1, max: 100_000_000, field: field!(queue_max_events) },
    },
    ConfigKey {
        name: "queue.max-bytes", default: Some("67108864"), feature: None,
        doc: "most header and body bytes waiting in the send queue",
        value: Value::Number { min: 1, max: isize::MAX as u64, field: field!(queue_max_bytes) },
    },
    ConfigKey {
        name: "queue.full", default: Some("fail"), feature: None,
        doc: "`fail` (a send to a full queue fails at once) or `block` (it waits at most queue.block-timeout)",
        value: Value::Custom(set_queue_full),
    },
    ConfigKey {
        name: "queue.block-timeout", default: Some("1000"), feature: None,
        doc: "the longest a send waits for room with queue.full=block",
        value: Value::Millis { min: 0, max: MAX_MILLIS, field: field!(queue_block_timeout) },
    },
    ConfigKey {
        name: "linger-ms", default: Some("5"), feature: None,
        doc: "the longest the sender waits to fill a batch (at most half of event-timeout)",
        value: Value::Millis { min: 0, max: MAX_MILLIS, field: field!(linger) },
    },
    ConfigKey {
        name: "queue.max-in-flight", default: Some("1"), feature: None,
        doc: "calls the sender thread sends on one connection before it reads their replies (1 to 64): \
              reports stay in send order; a retried call may then deliver its events after later ones",
        value: Value::Number { min: 1, max: 64, field: field!(queue_max_in_flight) },
    },
    ConfigKey {
        name: "retries", default: Some("10"), feature: None,
        doc: "times a failed asynchronous batch is sent again (a retry after a timeout may deliver twice)",
        value: Value::Number { min: 0, max: 1_000_000, field: field!(retries) },
    },
    ConfigKey {
        name: "retry-backoff", default: Some("100"), feature: None,
        doc: "the wait before each retry",
        value: Value::Millis { min: 0, max: MAX_MILLIS, field: field!(retry_backoff) },
    },
    ConfigKey {
        name: "event-timeout", default: Some("30000"), feature: None,
        doc: "a queued event still undelivered this long after it was sent is reported failed",
        value: Value::Millis { min: 1, max: MAX_MILLIS, field: field!(event_timeout) },
    },
    ConfigKey {
        name: "close-timeout", default: Some("5000"), feature: None,
        doc: "how long freeing a client flushes its queue",
        value: Value::Millis { min: 0, max: MAX_MILLIS, field: field!(close_timeout) },
    },
    // The durable send queue (docs/spool.md).
    ConfigKey {
        name: "queue.spool.dir", default: None, feature: None,
        doc: "a directory where every accepted event is written before the send returns; unset: the queue is in \
              memory only",
        value: Value::Path { check: check_spool_dir, field: field!(spool_dir) },
    },
    ConfigKey {
        name: "queue.spool.fsync", default: Some("interval"), feature: None,
        doc: "`never`, `interval` (every queue.spool.fsync-ms) or `always`: when spooled events are synced to the \
              device",
        value: Value::Custom(set_spool_fsync),
    },
    ConfigKey {
        name: "queue.spool.fsync-ms", default: Some("1000"), feature: None,
        doc: "the interval of queue.spool.fsync=interval, in ms (1 to 86400000)",
        value: Value::Custom(set_spool_fsync_ms),
    },
    ConfigKey {
        name: "queue.spool.max-bytes", default: Some("1073741824"), feature: None,
        doc: "most unacknowledged bytes in the spool, past which queue.full applies",
        value: Value::Number { min: 4096, max: isize::MAX as u64, field: field!(spool_max_bytes) },
    },
    ConfigKey {
        name: "queue.spool.segment-bytes", default: Some("16777216"), feature: None,
        doc: "the size of each segment file of the spool",
        value: Value::Number { min: 4096, max: 1 << 30, field: field!(spool_segment_bytes) },
    },
    // TLS.
    ConfigKey {
        name: "ssl", default: Some("false"), feature: Some(Tls),
        doc: "`true`: connect with TLS 1.2 or 1.3",
        value: Value::Switch(field!(ssl)),
    },
    ConfigKey {
        name: "truststore", default: None, feature: Some(Tls),
        doc: "a PEM file of the CA certificates to trust; unset: the system's CA store",
        value: Value::Path { check: check_truststore, field: field!(truststore) },
    },
    ConfigKey {
        name: "truststore-type", default: Some("PEM"), feature: Some(Tls),
        doc: "`PEM` only: JKS and PKCS12 are refused with the `keytool` command that exports PEM",
        value: Value::Refused(truststore_type),
    },
    ConfigKey {
        name: "truststore-password", default: None, feature: Some(Tls),
        doc: "refused: a PEM truststore has no password",
        value: Value::Refused(truststore_password),
    },
    ConfigKey {
        name: "ssl-server-name", default: None, feature: Some(Tls),
        doc: "the name sent as SNI and checked against the server's certificate; unset: each host's own name",
        value: Value::Text { check: check_server_name, field: field!(ssl_server_name) },
    },
    ConfigKey {
        name: "ssl-verify-hostname", default: Some("true"), feature: Some(Tls),
        doc: "`false` still verifies the certificate chain, but not that it names the server",
        value: Value::Bool(field!(ssl_verify_hostname)),
    },
    ConfigKey {
        name: "ssl-client-cert", default: None, feature: Some(Tls),
        doc: "mutual TLS: a PEM certificate chain, with ssl-client-key",
        value: Value::Path { check: check_client_cert, field: field!(ssl_client_cert) },
    },
    ConfigKey {
        name: "ssl-client-key", default: None, feature: Some(Tls),
        doc: "mutual TLS: the unencrypted PEM private key of ssl-client-cert",
        value: Value::Path { check: check_client_key, field: field!(ssl_client_key) },
    },
    ConfigKey {
        name: "exclude-protocols", default: None, feature: Some(Tls),
        doc: "accepted when it lists only protocols never spoken (SSLv2Hello, SSLv3, TLSv1, TLSv1.1)",
        value: Value::Refused(exclude_protocols),
    },
    ConfigKey {
        name: "include-protocols", default: None, feature: Some(Tls),
        doc: "refused: TLS 1.2 and 1.3 only",
        value: Value::Refused(tls_not_configurable),
    },
    ConfigKey {
        name: "exclude-cipher-suites", default: None, feature: Some(Tls),
        doc: "refused: rustls' cipher suites only",
        value: Value::Refused(tls_not_configurable),
    },
    ConfigKey {
        name: "include-cipher-suites", default: None, feature: Some(Tls),
        doc: "refused: rustls' cipher suites only",
        value: Value::Refused(tls_not_configurable),
    },
    ConfigKey {
        name: "trust-all-certs", default: Some("false"), feature: None,
        doc: "`false` is accepted; `true` is refused in every build, with the way to a truststore",
        value: Value::Refused(trust_all_certs),
    },
    // Kerberos.
    ConfigKey {
        name: "kerberos", default: Some("false"), feature: Some(Kerberos),
        doc: "`true`: authenticate every connection with SASL GSSAPI (MIT's libgssapi_krb5.so.2, loaded when a \
              client is made)",
        value: Value::Switch(field!(kerberos)),
    },
    ConfigKey {
        name: "client-principal", default: None, feature: Some(Kerberos),
        doc: "who the client authenticates as (`_HOST` becomes this machine's name); unset: the ticket cache's",
        value: Value::Text { check: check_not_empty, field: field!(client_principal) },
    },
    ConfigKey {
        name: "client-keytab", default: None, feature: Some(Kerberos),
        doc: "a keytab holding client-principal's keys; unset: the ticket cache (KRB5CCNAME)",
        value: Value::Path { check: check_keytab, field: field!(client_keytab) },
    },
    ConfigKey {
        name: "server-principal", default: None, feature: Some(Kerberos),
        doc: "required with kerberos=true: the source's principal, `service/host@REALM` (`_HOST` becomes the \
              name of the host connected to)",
        value: Value::Text { check: check_server_principal, field: field!(server_principal) },
    },
    // Flume keys of the Avro client.
    ConfigKey {
        name: "compression-type", default: None, feature: None,
        doc: "refused: compression belongs to Flume's Avro client",
        value: Value::Refused(compression),
    },
    ConfigKey {
        name: "compression-level", default: None, feature: None,
        doc: "refused: compression belongs to Flume's Avro client",
        value: Value::Refused(compression),
    },
];

impl ConfigKey {
    /// The key's name; `hosts.<alias>` stands for every `hosts.` key.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The default as the key's text (what setting it to changes nothing);
    /// `None` when the key is unset by default.
    pub fn default_value(&self) -> Option<&'static str> {
        self.default
    }

    /// One line saying what the key does.
    pub fn doc(&self) -> &'static str {
        self.doc
    }

    /// The cargo feature the key needs, if any.
    pub fn feature(&self) -> Option<Feature> {
        self.feature
    }

    /// The values a numeric key takes, e.g. `1 to 1000000` or `1 to 86400000 ms`.
    /// `isize::MAX` is written `SSIZE_MAX`, its name in C, the same on every platform.
    pub fn range(&self) -> Option<String> {
        let bound = |n: u64| if n == isize::MAX as u64 { "SSIZE_MAX".to_string() } else { n.to_string() };
        match &self.value {
            Value::Number { min, max, .. } => Some(format!("{} to {}", bound(*min), bound(*max))),
            Value::Millis { min, max, .. } => Some(format!("{min} to {max} ms")),
            _ => None,
        }
    }

    /// Whether the key only refuses what it cannot do (it stores nothing).
    pub fn is_refused(&self) -> bool {
        matches!(self.value, Value::Refused(_))
    }

    /// Whether `key` is this key (or, for `hosts.<alias>`, has its prefix).
    fn names(&self, key: &str) -> bool {
        match self.name.strip_suffix("<alias>") {
            Some(prefix) => key.starts_with(prefix),
            None => key == self.name,
        }
    }

    /// Parses `value` (already trimmed) and stores it, or fails naming `key`
    /// with `config` unchanged. Refuses a key whose feature this build lacks.
    fn set(&self, config: &mut Config, key: &str, value: &str) -> Result<()> {
        if let Some(feature) = self.feature.filter(|f| !f.is_available()) {
            // A switch may still be turned off; every other key of the feature is refused as it is.
            if !matches!(self.value, Value::Switch(_)) || parse_bool(key, value)? {
                return Err(feature.unavailable(key));
            }
        }
        self.store(config, key, value)
    }

    /// `set` without the feature check.
    fn store(&self, config: &mut Config, key: &str, value: &str) -> Result<()> {
        match &self.value {
            Value::Number { min, max, field } => (field.get_mut)(config).put(parse_number(key, value, *min, *max)?),
            Value::Millis { min, max, field } => *(field.get_mut)(config) = parse_millis(key, value, *min, *max)?,
            Value::Bool(field) | Value::Switch(field) => *(field.get_mut)(config) = parse_bool(key, value)?,
            Value::Path { check, field } => {
                check(key, Path::new(value))?;
                *(field.get_mut)(config) = Some(PathBuf::from(value));
            }
            Value::Text { check, field } => {
                check(key, value)?;
                *(field.get_mut)(config) = Some(value.to_string());
            }
            Value::Custom(set) => set(config, key, value)?,
            Value::Refused(check) => check(key, value)?,
        }
        Ok(())
    }

    /// `Config::validate`'s rule for this key, if it has one of its kind: a
    /// number in its range, a duration of at least its least value.
    fn validate(&self, config: &Config) -> Result<()> {
        match &self.value {
            Value::Number { min, max, field } => match (field.get)(config).get() {
                Some(n) if !(*min..=*max).contains(&n) => {
                    Err(err!(Config, "{} (Config::{}): {n} is not from {min} to {max}", self.name, field.name))
                }
                _ => Ok(()),
            },
            Value::Millis { min, field, .. } => {
                let value = *(field.get)(config);
                if value < Duration::from_millis(*min) {
                    return Err(err!(
                        Config,
                        "{} (Config::{}): {value:?} is less than its least value, {min} ms",
                        self.name,
                        field.name
                    ));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Whether `config` holds something other than the default for this key
    /// (as far as the table knows where the key is stored).
    fn is_set(&self, config: &Config, default: &Config) -> bool {
        match &self.value {
            Value::Number { field, .. } => (field.get)(config).get() != (field.get)(default).get(),
            Value::Millis { field, .. } => (field.get)(config) != (field.get)(default),
            Value::Bool(field) | Value::Switch(field) => (field.get)(config) != (field.get)(default),
            Value::Path { field, .. } => (field.get)(config) != (field.get)(default),
            Value::Text { field, .. } => (field.get)(config) != (field.get)(default),
            Value::Custom(_) | Value::Refused(_) => false,
        }
    }
}

/// The table's entry for `key`.
pub(crate) fn find(key: &str) -> Option<&'static ConfigKey> {
    KEYS.iter().find(|k| k.names(key))
}

/// Sets `key` to `value` (trimmed) by its entry, or refuses an unknown key.
pub(crate) fn set(config: &mut Config, key: &str, value: &str) -> Result<()> {
    match find(key) {
        Some(entry) => entry.set(config, key, value.trim()),
        None => Err(err!(
            Config,
            "unknown config key '{key}' (known: {})",
            KEYS.iter().filter(|k| !k.is_refused()).map(|k| k.name).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// Applies every key's default to `config`, in table order.
pub(crate) fn apply_defaults(config: &mut Config) {
    for key in KEYS {
        if let Some(default) = key.default {
            // Without the feature check: a default is always the value "off".
            let applied = key.store(config, key.name, default);
            debug_assert!(applied.is_ok(), "the default of {} is not valid: {applied:?}", key.name);
        }
    }
}

/// The first key of `feature` besides its switch that `config` holds at
/// something other than its default, if any.
#[cfg(any(feature = "tls", feature = "kerberos"))]
pub(crate) fn first_set(config: &Config, feature: Feature) -> Option<&'static str> {
    let default = Config::default();
    KEYS.iter()
        .filter(|k| k.feature == Some(feature) && !matches!(k.value, Value::Switch(_)))
        .find(|k| k.is_set(config, &default))
        .map(|k| k.name)
}

/// Refuses a `Config` (built field by field in Rust) that turns on, or sets
/// a key of, a feature this build lacks: the first such key, in table order.
pub(crate) fn check_features(config: &Config) -> Result<()> {
    let default = Config::default();
    match KEYS.iter().find(|k| k.feature.is_some_and(|f| !f.is_available()) && k.is_set(config, &default)) {
        Some(key) => Err(key.feature.map_or_else(|| unreachable!(), |f| f.unavailable(key.name))),
        None => Ok(()),
    }
}

/// Every rule of the table's kinds that `config` breaks, the first one.
pub(crate) fn validate(config: &Config) -> Result<()> {
    KEYS.iter().try_for_each(|k| k.validate(config))
}

/// A boolean as Flume's Java client reads it (`Boolean.parseBoolean`): `true`
/// or `false` in any case. Other words are refused, where Java would silently
/// read them as false.
pub(crate) fn parse_bool(key: &str, value: &str) -> Result<bool> {
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(err!(Config, "{key}: '{value}' is neither true nor false"))
    }
}

fn parse_number(key: &str, value: &str, min: u64, max: u64) -> Result<u64> {
    match value.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(err!(Config, "{key}: '{value}' is not a whole number from {min} to {max}")),
    }
}

fn parse_millis(key: &str, value: &str, min: u64, max: u64) -> Result<Duration> {
    parse_number(key, value, min, max).map(Duration::from_millis)
}

// The keys with rules of their own (`Value::Custom`), in table order.

fn set_protocol(config: &mut Config, _: &str, value: &str) -> Result<()> {
    config.protocol = match value {
        "compact" => Protocol::Compact,
        "binary" => Protocol::Binary,
        _ => return Err(err!(Config, "protocol: '{value}' is neither 'compact' nor 'binary'")),
    };
    Ok(())
}

fn set_hosts(config: &mut Config, _: &str, value: &str) -> Result<()> {
    let aliases: Vec<String> = value.split_whitespace().map(str::to_string).collect();
    if aliases.is_empty() {
        return Err(err!(Config, "hosts: names no host alias (expected e.g. 'h1 h2')"));
    }
    config.host_aliases = aliases;
    Ok(())
}

/// `hosts.<alias>`: a later value for the same alias replaces the earlier one.
fn set_host_address(config: &mut Config, key: &str, value: &str) -> Result<()> {
    let alias = &key["hosts.".len()..];
    let address = parse_host_port(value).map_err(|e| err!(Config, "{key}: {}", e.message()))?;
    config.host_addresses.retain(|(a, _)| a != alias);
    config.host_addresses.push((alias.to_string(), address));
    Ok(())
}

fn set_client_type(config: &mut Config, _: &str, value: &str) -> Result<()> {
    config.client_type = match value {
        "thrift" => ClientType::Thrift,
        "default_failover" => ClientType::Failover,
        "default_loadbalance" => ClientType::LoadBalance,
        "default" => {
            return Err(err!(
                Config,
                "client.type: 'default' is Flume's Avro client; this library speaks Thrift (use thrift, \
                 default_failover or default_loadbalance)"
            ))
        }
        _ => return Err(err!(Config, "client.type: '{value}' is not thrift, default_failover or default_loadbalance")),
    };
    Ok(())
}

fn set_host_selector(config: &mut Config, _: &str, value: &str) -> Result<()> {
    config.host_selector = match value {
        "round_robin" => HostSelector::RoundRobin,
        "random" => HostSelector::Random,
        _ => {
            return Err(err!(
                Config,
                "host-selector: '{value}' is neither round_robin nor random (custom selector classes are Java-only)"
            ))
        }
    };
    Ok(())
}

/// `maxBackoff`: 0 means the default, as in Flume.
fn set_max_backoff(config: &mut Config, key: &str, value: &str) -> Result<()> {
    let ms = parse_millis(key, value, 0, MAX_MILLIS)?;
    config.max_backoff = if ms.is_zero() { Config::default().max_backoff } else { ms };
    Ok(())
}

fn set_queue_full(config: &mut Config, _: &str, value: &str) -> Result<()> {
    config.queue_full = match value {
        "fail" => QueueFull::Fail,
        "block" => QueueFull::Block,
        _ => return Err(err!(Config, "queue.full: '{value}' is neither fail nor block")),
    };
    Ok(())
}

/// `queue.spool.fsync`: `interval` takes `queue.spool.fsync-ms`, set before or after.
fn set_spool_fsync(config: &mut Config, _: &str, value: &str) -> Result<()> {
    config.spool_fsync = match value {
        "never" => SpoolFsync::Never,
        "interval" => SpoolFsync::Interval(config.spool_fsync_interval),
        "always" => SpoolFsync::Always,
        _ => return Err(err!(Config, "queue.spool.fsync: '{value}' is not never, interval or always")),
    };
    Ok(())
}

/// The range of `queue.spool.fsync-ms`, also checked by `Config::validate`.
pub(crate) const SPOOL_FSYNC_MS_MIN: u64 = 1;

fn set_spool_fsync_ms(config: &mut Config, key: &str, value: &str) -> Result<()> {
    config.spool_fsync_interval = parse_millis(key, value, SPOOL_FSYNC_MS_MIN, MAX_MILLIS)?;
    if let SpoolFsync::Interval(_) = config.spool_fsync {
        config.spool_fsync = SpoolFsync::Interval(config.spool_fsync_interval);
    }
    Ok(())
}

// The checks of `Value::Path` and `Value::Text` keys: files are read and
// checked when their key is set, so a bad one fails at once (and again when a
// client is made). A key's check runs only in builds with its feature.

fn check_spool_dir(_: &str, dir: &Path) -> Result<()> {
    if dir.as_os_str().is_empty() {
        return Err(err!(
            Config,
            "queue.spool.dir: empty (give a directory, or leave the key unset for a queue in memory only)"
        ));
    }
    Ok(())
}

fn check_file_name(key: &str, file: &Path) -> Result<()> {
    if file.as_os_str().is_empty() {
        return Err(err!(Config, "{key}: empty file name"));
    }
    Ok(())
}

fn check_truststore(key: &str, file: &Path) -> Result<()> {
    check_file_name(key, file)?;
    #[cfg(feature = "tls")]
    super::tls::check_truststore(file).map_err(|e| e.config_error(key))?;
    Ok(())
}

fn check_client_cert(key: &str, file: &Path) -> Result<()> {
    check_file_name(key, file)?;
    #[cfg(feature = "tls")]
    super::tls::check_client_cert(file).map_err(|e| e.config_error(key))?;
    Ok(())
}

fn check_client_key(key: &str, file: &Path) -> Result<()> {
    check_file_name(key, file)?;
    #[cfg(feature = "tls")]
    super::tls::check_client_key(file).map_err(|e| e.config_error(key))?;
    Ok(())
}

fn check_server_name(key: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(err!(Config, "{key}: empty (remove it to check each host's own name)"));
    }
    #[cfg(feature = "tls")]
    if !super::tls::is_server_name(value) {
        return Err(err!(Config, "{key}: '{value}' is neither a DNS name nor an IP address"));
    }
    Ok(())
}

fn check_not_empty(key: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(err!(Config, "{key}: empty"));
    }
    Ok(())
}

fn check_keytab(key: &str, file: &Path) -> Result<()> {
    if file.as_os_str().is_empty() {
        return Err(err!(Config, "{key}: empty"));
    }
    #[cfg(feature = "kerberos")]
    super::kerberos::check_keytab(file)?;
    Ok(())
}

/// Flume's form, `service/host@REALM` (host may be `_HOST`); the realm may be left to krb5.conf.
fn check_server_principal(key: &str, value: &str) -> Result<()> {
    check_not_empty(key, value)?;
    let malformed = || err!(Config, "{key}: '{value}' is not service/host@REALM (e.g. flume/_HOST@EXAMPLE.COM)");
    let (service, rest) = value.split_once('/').ok_or_else(malformed)?;
    let host = rest.split_once('@').map_or(rest, |(h, _)| h);
    if service.is_empty() || host.is_empty() || rest.ends_with('@') {
        return Err(malformed());
    }
    Ok(())
}

// The keys that store nothing (`Value::Refused`).

fn truststore_type(key: &str, value: &str) -> Result<()> {
    if !value.eq_ignore_ascii_case("PEM") {
        return Err(err!(
            Config,
            "{key}: '{value}' is not supported: flume-client reads PEM truststores only (set truststore-type=PEM \
             or remove it). Export a JKS truststore's CA certificates with \
             `keytool -exportcert -rfc -alias ALIAS -keystore FILE -file ca.pem`"
        ));
    }
    Ok(())
}

fn truststore_password(key: &str, _: &str) -> Result<()> {
    Err(err!(
        Config,
        "{key}: a PEM truststore needs no password: remove truststore-password (JKS truststores are not \
         supported: export PEM with `keytool -exportcert -rfc`)"
    ))
}

/// Protocol names Flume's `exclude-protocols` may list that this library never
/// speaks anyway (Flume's default is `SSLv3`).
const NEVER_SPOKEN: [&str; 4] = ["SSLv2Hello", "SSLv3", "TLSv1", "TLSv1.1"];

fn exclude_protocols(key: &str, value: &str) -> Result<()> {
    // Flume's list is separated by spaces; a comma is accepted too.
    let kept: Vec<&str> = value
        .split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|p| !p.is_empty() && !NEVER_SPOKEN.contains(p))
        .collect();
    if !kept.is_empty() {
        return Err(err!(
            Config,
            "{key}: cannot exclude {}: flume-client always offers TLSv1.2 and TLSv1.3 (the server chooses) and \
             never speaks {}; only those may be listed",
            kept.join(" "),
            NEVER_SPOKEN.join(", ")
        ));
    }
    Ok(())
}

/// `include-protocols`, `exclude-cipher-suites`, `include-cipher-suites`.
fn tls_not_configurable(key: &str, _: &str) -> Result<()> {
    Err(err!(
        Config,
        "{key}: not configurable: flume-client speaks TLS 1.2 and 1.3 only, with rustls' cipher suites (all with \
         forward secrecy and authenticated encryption)"
    ))
}

/// `trust-all-certs=true`, a key of Flume's client, is refused: trusting any
/// certificate lets anyone on the path read and change the events. Flume's
/// default, false, is what this library always does.
fn trust_all_certs(key: &str, value: &str) -> Result<()> {
    if parse_bool(key, value)? {
        return Err(err!(
            Config,
            "trust-all-certs: refused: trusting every certificate lets anyone on the network path read and alter \
             the events. Trust the server's CA instead: set truststore to a PEM file of it, exported from a JKS \
             truststore with `keytool -exportcert -rfc -alias ALIAS -keystore truststore.jks -file ca.pem`, or \
             taken from the server with `openssl s_client -connect HOST:PORT -showcerts </dev/null` (its last \
             certificate, checked out of band)"
        ));
    }
    Ok(())
}

fn compression(key: &str, _: &str) -> Result<()> {
    Err(err!(Config, "{key}: compression belongs to Flume's Avro client; the Thrift source has none"))
}
