//! `Client::builder()`: a client's hosts and settings as typed values, with
//! the delivery callback as a closure and Flume properties from a file or a
//! string. It fills a `Config` and ends in `Client::new`, so a built client is
//! held to exactly the rules (and error codes) of one made from a `Config`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::client::Client;
use crate::config::{ClientType, Config, HostSelector, QueueFull, SpoolFsync};
use crate::error::{Error, Result};
use crate::report::{DeliveryCallback, DeliveryReport};
use crate::wire::Protocol;

/// Builds a [`Client`]: hosts, typed settings, a delivery callback, Flume
/// properties. Made by [`Client::builder`].
///
/// Settings apply in the order of the calls, so a setting after
/// [`properties_file`](ClientBuilder::properties_file) overrides the file's.
/// Nothing is checked before [`build`](ClientBuilder::build), which fails with
/// the first error: `InvalidArg` for a bad host or an unreadable file,
/// `Config` for a setting out of its range (the ranges of
/// [`Config::validate`]).
///
/// ```
/// use std::time::Duration;
/// use flume_client::{Client, Protocol};
///
/// let client = Client::builder()
///     .host("127.0.0.1:4141")
///     .protocol(Protocol::Compact)
///     .batch_size(500)
///     .request_timeout(Duration::from_secs(5))
///     .on_delivery(|report| {
///         if let Err(e) = report.result {
///             eprintln!("event {} not delivered: {e}", report.opaque);
///         }
///     })
///     .build()?; // connects only when the first event goes out
/// assert_eq!(client.config().batch_size, 500);
/// # Ok::<(), flume_client::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
#[must_use = "a builder does nothing until .build()"]
pub struct ClientBuilder {
    hosts: Vec<String>,
    config: Config,
    /// The first error of a call, returned by `build`.
    error: Option<Error>,
}

impl Client {
    /// A builder of a client, with Flume's defaults and no host yet.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }
}

impl ClientBuilder {
    /// A builder with Flume's defaults and no host (the same as [`Client::builder`]).
    pub fn new() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A builder starting from the settings of `config` (its hosts too, if it
    /// names them with `hosts`/`hosts.<alias>`).
    pub fn from_config(config: Config) -> ClientBuilder {
        ClientBuilder { config, ..ClientBuilder::default() }
    }

    /// Adds one host, `host:port` or `[ipv6]:port` (a host list such as
    /// `"h1:4141, h2:4141"` adds each). Hosts are tried in the order added.
    /// Without any, the hosts come from the `hosts` and `hosts.<alias>`
    /// properties.
    pub fn host(mut self, host: impl Into<String>) -> ClientBuilder {
        self.hosts.push(host.into());
        self
    }

    /// Adds several hosts, as [`host`](ClientBuilder::host) does for each.
    pub fn hosts<I>(mut self, hosts: I) -> ClientBuilder
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.hosts.extend(hosts.into_iter().map(Into::into));
        self
    }

    /// Applies a Flume client properties file (the format of `flume-ng
    /// avro-client -P`), key by key; see [`Config::load_properties_file`].
    pub fn properties_file(self, path: impl AsRef<Path>) -> ClientBuilder {
        self.apply(|config| config.load_properties_file(path))
    }

    /// Applies the text of a Flume client properties file; see
    /// [`Config::load_properties_str`].
    pub fn properties_str(self, text: &str) -> ClientBuilder {
        self.apply(|config| config.load_properties_str(text))
    }

    /// Sets one key from its string value, under Flume's key name (as
    /// [`Config::set`]), for what has no typed method here.
    pub fn set(self, key: &str, value: &str) -> ClientBuilder {
        self.apply(|config| config.set(key, value))
    }

    /// The function called once for every event queued by [`Client::send`],
    /// on the client's sender thread, with its report. Replaces an earlier one.
    /// A panic in it costs that report only (see [`Client::callback_panics`]).
    pub fn on_delivery<F>(mut self, callback: F) -> ClientBuilder
    where
        F: Fn(&DeliveryReport) + Send + Sync + 'static,
    {
        self.config.delivery_callback = Some(DeliveryCallback::new(callback));
        self
    }

    /// The settings so far (hosts given with [`host`](ClientBuilder::host) aside).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Makes the client: the first error of the calls before, or the error
    /// of [`Client::new`] (the same codes). Does not connect; with a spool
    /// directory, opens it and starts sending what it holds.
    pub fn build(self) -> Result<Client> {
        if let Some(e) = self.error {
            return Err(e);
        }
        Client::new(&self.hosts.join(", "), &self.config)
    }

    fn apply(mut self, change: impl FnOnce(&mut Config) -> Result<()>) -> ClientBuilder {
        if self.error.is_none() {
            if let Err(e) = change(&mut self.config) {
                self.error = Some(e);
            }
        }
        self
    }
}

/// One typed setter per `Config` field: `$name(value)` sets `config.$field`.
macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $type:ty => $field:ident $(($wrap:path))?;)+) => {
        impl ClientBuilder {
            $(
                $(#[$doc])*
                pub fn $name(mut self, value: $type) -> ClientBuilder {
                    self.config.$field = $($wrap)?(value);
                    self
                }
            )+
        }
    };
}

setters! {
    /// `protocol`: the Thrift protocol, which must match the source's (default compact).
    protocol: Protocol => protocol;
    /// `batch-size`: most events in one `appendBatch` call, 1 to 1,000,000 (default 100).
    batch_size: usize => batch_size;
    /// `connect-timeout`: the longest a connection takes to establish, name
    /// lookup included (default 20 s; `Duration::MAX`: no limit).
    connect_timeout: Duration => connect_timeout;
    /// `request-timeout`: the longest from a call's first byte sent to its
    /// reply's last byte, and the longest wait for a free pooled connection
    /// (default 20 s; `Duration::MAX`: no limit).
    request_timeout: Duration => request_timeout;
    /// `max-frame-size`: most payload bytes in one frame, at least 64 (default 16,384,000).
    max_frame_size: usize => max_frame_size;
    /// `maxConnections`: connections held to each host at once, 1 to 1024 (default 5).
    max_connections: usize => max_connections;
    /// `client.type`: how calls spread over several hosts (default `Thrift`, which fails over).
    client_type: ClientType => client_type;
    /// `max-attempts`: hosts tried for one call, 1 to 1024 (default: the number of hosts).
    max_attempts: usize => max_attempts (Some);
    /// `host-selector`: how load balancing picks each call's first host (default round robin).
    host_selector: HostSelector => host_selector;
    /// `backoff`: whether load balancing skips a failed host for a while (default false).
    backoff: bool => backoff;
    /// `maxBackoff`: the longest a failed host is skipped, more than zero (default 30 s).
    max_backoff: Duration => max_backoff;
    /// `queue.max-events`: most events waiting in the send queue (default 100,000).
    queue_max_events: usize => queue_max_events;
    /// `queue.max-bytes`: most header and body bytes waiting in the send queue (default 64 MiB).
    queue_max_bytes: usize => queue_max_bytes;
    /// `queue.full`: what `send` does when the queue is full (default `Fail`).
    queue_full: QueueFull => queue_full;
    /// `queue.block-timeout`: the longest `send` waits for room with `QueueFull::Block` (default 1 s).
    queue_block_timeout: Duration => queue_block_timeout;
    /// `linger-ms`: the longest the sender waits to fill a batch (default 5 ms).
    linger: Duration => linger;
    /// `retries`: times the sender sends a failed batch again (default 10).
    retries: usize => retries;
    /// `retry-backoff`: the wait before each retry (default 100 ms).
    retry_backoff: Duration => retry_backoff;
    /// `event-timeout`: a queued event not delivered this long after `send`
    /// is reported failed; at least 1 ms (default 30 s).
    event_timeout: Duration => event_timeout;
    /// `close-timeout`: how long dropping the client flushes its queue (default 5 s).
    close_timeout: Duration => close_timeout;
    /// `queue.spool.fsync`: when the spool's records reach the device (default every second).
    spool_fsync: SpoolFsync => spool_fsync;
    /// `queue.spool.max-bytes`: most bytes of unacknowledged records in the spool (default 1 GiB).
    spool_max_bytes: u64 => spool_max_bytes;
    /// `queue.spool.segment-bytes`: the size at which a spool segment file is closed (default 16 MiB).
    spool_segment_bytes: u64 => spool_segment_bytes;
}

impl ClientBuilder {
    /// `queue.spool.dir`: keep the send queue in this directory, so that
    /// queued events survive a crash or restart (see docs/spool.md). Default:
    /// in memory only.
    pub fn spool_dir(mut self, dir: impl Into<PathBuf>) -> ClientBuilder {
        self.config.spool_dir = Some(dir.into());
        self
    }
}

/// TLS settings (README "TLS").
#[cfg(feature = "tls")]
impl ClientBuilder {
    /// `ssl`: connect with TLS (default false).
    ///
    /// Available with the `tls` feature.
    pub fn tls(mut self, on: bool) -> ClientBuilder {
        self.config.ssl = on;
        self
    }

    /// `truststore`: a PEM file of the CA certificates to trust (default: the
    /// system's CA store). Read when the client is built.
    ///
    /// Available with the `tls` feature.
    pub fn truststore(mut self, pem_file: impl Into<PathBuf>) -> ClientBuilder {
        self.config.truststore = Some(pem_file.into());
        self
    }

    /// `ssl-server-name`: the name sent in SNI and checked against the
    /// certificate (default: each host's own name or address).
    ///
    /// Available with the `tls` feature.
    pub fn tls_server_name(self, name: &str) -> ClientBuilder {
        self.set("ssl-server-name", name)
    }

    /// `ssl-verify-hostname`: whether the certificate must name the server
    /// (default true); false still verifies the chain.
    ///
    /// Available with the `tls` feature.
    pub fn tls_verify_hostname(mut self, verify: bool) -> ClientBuilder {
        self.config.ssl_verify_hostname = verify;
        self
    }

    /// `ssl-client-cert` and `ssl-client-key`: a PEM certificate chain and its
    /// unencrypted PEM private key, presented for mutual TLS.
    ///
    /// Available with the `tls` feature.
    pub fn tls_client_cert(mut self, cert_file: impl Into<PathBuf>, key_file: impl Into<PathBuf>) -> ClientBuilder {
        self.config.ssl_client_cert = Some(cert_file.into());
        self.config.ssl_client_key = Some(key_file.into());
        self
    }
}

/// Kerberos settings (README "Kerberos").
#[cfg(feature = "kerberos")]
impl ClientBuilder {
    /// `kerberos`: authenticate with Kerberos, SASL GSSAPI (default false).
    ///
    /// Available with the `kerberos` feature.
    pub fn kerberos(mut self, on: bool) -> ClientBuilder {
        self.config.kerberos = on;
        self
    }

    /// `client-principal`: the principal to authenticate as (`_HOST` becomes
    /// this machine's name); default the ticket cache's.
    ///
    /// Available with the `kerberos` feature.
    pub fn client_principal(self, principal: &str) -> ClientBuilder {
        self.set("client-principal", principal)
    }

    /// `client-keytab`: the keytab holding the client principal's keys
    /// (default: the ticket cache, `KRB5CCNAME`).
    ///
    /// Available with the `kerberos` feature.
    pub fn client_keytab(mut self, keytab: impl Into<PathBuf>) -> ClientBuilder {
        self.config.client_keytab = Some(keytab.into());
        self
    }

    /// `server-principal`: the source's principal, e.g. `flume/_HOST@REALM`.
    ///
    /// Available with the `kerberos` feature.
    pub fn server_principal(self, principal: &str) -> ClientBuilder {
        self.set("server-principal", principal)
    }
}
