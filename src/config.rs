//! `flume_config`: settings under Flume's key names.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use super::error::{flume_result, guard, guard_result, FLUME_OK};
use super::event::c_str;
use crate::err;
use ::flume_client::Config;
use ::flume_client::{DeliveryCallback, DeliveryReport};

/// Client settings, set as string keys and values like a Flume client
/// properties file. Create with flume_config_new(), fill with flume_config_set(),
/// pass to flume_client_new() (which copies it), free with flume_config_free().
///
/// Keys (Flume's names), with their defaults and ranges; durations are whole
/// milliseconds. A key marked "tls builds only" or "kerberos builds only"
/// gives FLUME_ERR_CONFIG "... is not available in this build" unless the
/// library was built with that feature (CMake -DFLUME_CLIENT_TLS=ON,
/// -DFLUME_CLIENT_KERBEROS=ON); "ssl" and "kerberos" may still be "false".
// BEGIN the key list, generated from rust/src/config/keys.rs by tests/config_keys.rs
/// - "protocol" (default "compact"): `compact` or `binary`: the Thrift
///   protocol, which must match the source's `protocol`.
/// - "batch-size" (default "100"; 1 to 1000000): most events in one
///   `appendBatch` call.
/// - "connect-timeout" (default "20000"; 1 to 86400000 ms): the longest a
///   connection takes to be made, name lookup (and TLS or Kerberos) included.
/// - "request-timeout" (default "20000"; 1 to 86400000 ms): from the first byte
///   of a call sent to the last byte of its reply (values under 1000 are
///   honoured, unlike in Flume's Java client); also the longest wait for a free
///   pooled connection.
/// - "max-frame-size" (default "16384000"; 64 to 2147483647): most payload
///   bytes in one frame: batches are also split by bytes (Flume's source closes
///   the connection on a larger frame).
/// - "maxConnections" (default "5"; 1 to 1024): connections to each host at
///   once; a call that finds them all busy waits at most request-timeout.
/// - "hosts": host aliases separated by spaces, e.g. `h1 h2`, each given by
///   `hosts.<alias>`; used when the client is made without a host list.
/// - "hosts.<alias>": the `host:port` of an alias of `hosts`.
/// - "client.type" (default "thrift"): `thrift` (with several hosts it fails
///   over), `default_failover` (hosts in order, a failing host skipped until
///   its backoff ends) or `default_loadbalance` (calls spread by
///   host-selector).
/// - "max-attempts" (1 to 1024): hosts tried for one call; unset: the number of
///   hosts.
/// - "host-selector" (default "round_robin"): `round_robin` or `random`: where
///   each load-balanced call starts.
/// - "backoff" (default "false"): whether load balancing skips a failed host
///   for a while (failover always does).
/// - "maxBackoff" (default "30000"): the longest a failed host is skipped, in
///   ms (0 to 86400000; 0 means the default): min(maxBackoff, 1000 ms * 2^n)
///   after n failures in a row.
/// - "queue.max-events" (default "100000"; 1 to 100000000): most events waiting
///   in the send queue.
/// - "queue.max-bytes" (default "67108864"; 1 to SSIZE_MAX): most header and
///   body bytes waiting in the send queue.
/// - "queue.full" (default "fail"): `fail` (a send to a full queue fails at
///   once) or `block` (it waits at most queue.block-timeout).
/// - "queue.block-timeout" (default "1000"; 0 to 86400000 ms): the longest a
///   send waits for room with queue.full=block.
/// - "linger-ms" (default "5"; 0 to 86400000 ms): the longest the sender waits
///   to fill a batch (at most half of event-timeout).
/// - "queue.max-in-flight" (default "1"; 1 to 64): calls the sender thread
///   sends on one connection before it reads their replies (1 to 64): reports
///   stay in send order; a retried call may then deliver its events after later
///   ones.
/// - "retries" (default "10"; 0 to 1000000): times a failed asynchronous batch
///   is sent again (a retry after a timeout may deliver twice).
/// - "retry-backoff" (default "100"; 0 to 86400000 ms): the wait before each
///   retry.
/// - "event-timeout" (default "30000"; 1 to 86400000 ms): a queued event still
///   undelivered this long after it was sent is reported failed.
/// - "close-timeout" (default "5000"; 0 to 86400000 ms): how long freeing a
///   client flushes its queue.
/// - "queue.spool.dir": a directory where every accepted event is written
///   before the send returns; unset: the queue is in memory only.
/// - "queue.spool.fsync" (default "interval"): `never`, `interval` (every
///   queue.spool.fsync-ms) or `always`: when spooled events are synced to the
///   device.
/// - "queue.spool.fsync-ms" (default "1000"): the interval of
///   queue.spool.fsync=interval, in ms (1 to 86400000).
/// - "queue.spool.max-bytes" (default "1073741824"; 4096 to SSIZE_MAX): most
///   unacknowledged bytes in the spool, past which queue.full applies.
/// - "queue.spool.segment-bytes" (default "16777216"; 4096 to 1073741824): the
///   size of each segment file of the spool.
/// - "ssl" (default "false"; tls builds only): `true`: connect with TLS 1.2 or
///   1.3.
/// - "truststore" (tls builds only): a PEM file of the CA certificates to
///   trust; unset: the system's CA store.
/// - "truststore-type" (default "PEM"; tls builds only): `PEM` only: JKS and
///   PKCS12 are refused with the `keytool` command that exports PEM.
/// - "truststore-password" (tls builds only): refused: a PEM truststore has no
///   password.
/// - "ssl-server-name" (tls builds only): the name sent as SNI and checked
///   against the server's certificate; unset: each host's own name.
/// - "ssl-verify-hostname" (default "true"; tls builds only): `false` still
///   verifies the certificate chain, but not that it names the server.
/// - "ssl-client-cert" (tls builds only): mutual TLS: a PEM certificate chain,
///   with ssl-client-key.
/// - "ssl-client-key" (tls builds only): mutual TLS: the unencrypted PEM
///   private key of ssl-client-cert.
/// - "exclude-protocols" (tls builds only): accepted when it lists only
///   protocols never spoken (SSLv2Hello, SSLv3, TLSv1, TLSv1.1).
/// - "include-protocols" (tls builds only): refused: TLS 1.2 and 1.3 only.
/// - "exclude-cipher-suites" (tls builds only): refused: rustls' cipher suites
///   only.
/// - "include-cipher-suites" (tls builds only): refused: rustls' cipher suites
///   only.
/// - "trust-all-certs" (default "false"): `false` is accepted; `true` is
///   refused in every build, with the way to a truststore.
/// - "kerberos" (default "false"; kerberos builds only): `true`: authenticate
///   every connection with SASL GSSAPI (MIT's libgssapi_krb5.so.2, loaded when
///   a client is made).
/// - "client-principal" (kerberos builds only): who the client authenticates as
///   (`_HOST` becomes this machine's name); unset: the ticket cache's.
/// - "client-keytab" (kerberos builds only): a keytab holding
///   client-principal's keys; unset: the ticket cache (KRB5CCNAME).
/// - "server-principal" (kerberos builds only): required with kerberos=true:
///   the source's principal, `service/host@REALM` (`_HOST` becomes the name of
///   the host connected to).
/// - "compression-type": refused: compression belongs to Flume's Avro client.
/// - "compression-level": refused: compression belongs to Flume's Avro client.
// END the key list
///
/// Hosts: "hosts" and "hosts.<alias>" are used when flume_client_new() gets
/// NULL or "" for its hosts. A host that failed n times in a row is skipped
/// for min(maxBackoff, 1000 ms * 2^n), n capped at 16; when every host is
/// backing off, a call tries the one whose backoff ends first.
///
/// TLS: files are checked when their key is set and read again by
/// flume_client_new(), which fails if TLS keys are set without "ssl"="true"
/// or the client key does not match its certificate.
///
/// Asynchronous sending (flume_client_send): a send that finds
/// queue.max-events or queue.max-bytes reached fails (FLUME_ERR_QUEUE_FULL) or
/// blocks, as queue.full says. Retrying after a timeout or a broken connection
/// may deliver an event twice (at-least-once). An event still undelivered
/// event-timeout after it was queued is reported with the last error
/// (FLUME_ERR_EXPIRED if it was never sent and the sender was not failing to
/// connect; see flume_delivery_cb). flume_client_free() flushes for at most
/// close-timeout (see its worst case there).
///
/// Kerberos (SASL GSSAPI, Flume's secured Thrift source): MIT's
/// libgssapi_krb5.so.2 is loaded when a client is made (flume_client_new()
/// fails with the package to install if it is missing); nothing new is
/// linked. With client-keytab, tickets live in memory, are the client's own
/// and are renewed from the keytab; without it, the ticket cache is kept
/// fresh by the caller (kinit, k5start). Kerberos keys without
/// "kerberos"="true", or a keytab without a principal, make
/// flume_client_new() fail. The negotiation is part of connecting: it ends
/// within connect-timeout, and every failure is FLUME_ERR_CONNECT (nothing
/// delivered) with the GSSAPI text and what to check.
///
/// Durable send queue (docs/spool.md): with queue.spool.dir, the directory
/// (created if missing) holds every event flume_client_send() accepted before
/// it returns, until its report, and the next client on the directory sends
/// what this one left if it dies or is freed first. One client per directory
/// (an flock; another gets FLUME_ERR_CONFIG naming the pid holding it).
/// queue.spool.fsync "never" survives the process crashing, not a power loss;
/// "interval" loses at most the last interval in a power loss; with "always"
/// send returns after the record is synced (msync). Events beyond
/// queue.max-events/queue.max-bytes wait on disk only.
///
/// Flume keys deliberately unsupported (JKS truststores, Avro compression) give FLUME_ERR_CONFIG saying why.
///
/// Not thread-safe: do not set one config from several threads at once.
pub struct flume_config {
    inner: Config,
}

impl flume_config {
    pub(crate) fn config(&self) -> &Config {
        &self.inner
    }
}

/// A new config holding the defaults. Never NULL (aborts only if memory is
/// exhausted, like malloc failing in Rust). Free with flume_config_free().
///
/// Threads: any thread; the config it returns is for one thread at a time.
/// Blocks: never.
/// Ownership: the caller owns the config and frees it with flume_config_free().
#[no_mangle]
pub extern "C" fn flume_config_new() -> *mut flume_config {
    Box::into_raw(Box::new(flume_config { inner: Config::default() }))
}

/// Sets one key (see flume_config) from its string value; leading and trailing
/// spaces are ignored.
///
/// Returns FLUME_OK; FLUME_ERR_INVALID_ARG if conf, key or value is NULL or not
/// UTF-8; FLUME_ERR_CONFIG for an unknown key or a value out of range, naming
/// both in flume_last_error(). On failure the config is unchanged.
///
/// Threads: one thread at a time per config (it is not locked); different
/// configs on different threads at once.
/// Blocks: never on the network; a key naming a file (truststore, TLS client
/// certificate or key, Kerberos keytab) reads it.
/// Ownership: `key` and `value` are only read during the call; the config
/// keeps its own copy of what it needs.
#[no_mangle]
pub unsafe extern "C" fn flume_config_set(
    conf: *mut flume_config,
    key: *const c_char,
    value: *const c_char,
) -> flume_result {
    guard_result(|| {
        let conf = conf.as_mut().ok_or_else(|| err!(InvalidArg, "conf is NULL"))?;
        conf.inner.set(c_str(key, "key")?, c_str(value, "value")?)
    })
}

/// Applies a Java properties file, such as a Flume client properties file
/// (what `flume-ng avro-client -P` reads), key by key in file order as with
/// flume_config_set(). `path` is a NUL-terminated file name.
///
/// Returns FLUME_OK; FLUME_ERR_INVALID_ARG if conf or path is NULL, or the
/// file cannot be read or is not UTF-8; FLUME_ERR_CONFIG for an unknown or
/// unsupported key, a bad value or a malformed escape, naming the line in
/// flume_last_error(). On failure the config is unchanged.
///
/// Threads: as flume_config_set().
/// Blocks: reads the file (and the files its keys name); no network.
/// Ownership: `path` is only read during the call.
#[no_mangle]
pub unsafe extern "C" fn flume_config_load_properties(conf: *mut flume_config, path: *const c_char) -> flume_result {
    guard_result(|| {
        let conf = conf.as_mut().ok_or_else(|| err!(InvalidArg, "conf is NULL"))?;
        let path = c_str(path, "path")?;
        conf.inner.load_properties_file(path)
    })
}

/// Like flume_config_load_properties(), from the text of a properties file
/// (NUL-terminated UTF-8) instead of a file name.
///
/// Threads: as flume_config_set().
/// Blocks: never on the network; reads only the files its keys name.
/// Ownership: `text` is only read during the call.
#[no_mangle]
pub unsafe extern "C" fn flume_config_load_properties_str(
    conf: *mut flume_config,
    text: *const c_char,
) -> flume_result {
    guard_result(|| {
        let conf = conf.as_mut().ok_or_else(|| err!(InvalidArg, "conf is NULL"))?;
        conf.inner.load_properties_str(c_str(text, "text")?)
    })
}

/// The delivery report callback of flume_client_send(): called exactly once
/// for every event that flume_client_send() accepted, with the `opaque` given
/// to it, FLUME_OK or the failure code, a message ("" for FLUME_OK; valid only
/// during the call), and the `user` pointer given to
/// flume_config_set_delivery_cb().
///
/// Events a previous client left in a spool (queue.spool.dir) are reported
/// with `opaque` NULL: the process that had their opaques is gone.
///
/// What the result says about the event:
/// - FLUME_OK: the source acknowledged it (it is in the agent's channel);
/// - FLUME_ERR_CONNECT: never sent, no connection could be made (also when
///   event-timeout passed while the agent could not be reached);
/// - FLUME_ERR_EXPIRED: never sent: event-timeout passed while the sender was
///   busy with the events ahead of it (slow or failing calls);
/// - FLUME_ERR_CLOSED: never sent: the client was freed first;
/// - FLUME_ERR_BUSY: never sent: no pooled connection became free in time;
/// - FLUME_ERR_FAILED, FLUME_ERR_SERVER: sent and rejected by the source
///   (after `retries` more tries);
/// - FLUME_ERR_TIMEOUT, FLUME_ERR_IO, FLUME_ERR_PROTOCOL, FLUME_ERR_INTERNAL:
///   delivery unknown: a call carrying it got no valid answer. An event is
///   reported with one of these whenever any attempt of it may have
///   delivered it, even if later attempts only failed to connect.
///
/// It runs on the client's sender thread, one call at a time, in the order
/// events were sent, with no lock of the library held; that thread has the
/// asynchronous signals blocked, so they go to the program's own threads.
/// Never after flume_client_free() returns (except when free was called
/// from the callback itself: see flume_client_free()). A slow callback holds
/// up the reports after it, flush and free.
///
/// From the callback the client may be used: flume_client_send() (never
/// waits for room there; FLUME_ERR_CLOSED while free runs),
/// flume_client_append() and the others; flume_client_flush() fails at once
/// with FLUME_ERR_INVALID_ARG (it would wait for itself);
/// flume_client_free() returns at once and the sender finishes by itself.
pub type flume_delivery_cb =
    Option<unsafe extern "C" fn(opaque: *mut c_void, result: flume_result, message: *const c_char, user: *mut c_void)>;

/// The C callback and its user pointer, which the caller vouches may be used
/// from the sender thread.
struct CCallback {
    cb: unsafe extern "C" fn(*mut c_void, flume_result, *const c_char, *mut c_void),
    user: *mut c_void,
}

// SAFETY: the header tells the caller that `user` is used on the sender thread.
unsafe impl Send for CCallback {}
unsafe impl Sync for CCallback {}

impl CCallback {
    fn report(&self, report: &DeliveryReport) {
        let failure;
        // An acceptance's empty message is a static one: no allocation per report.
        let (code, message) = match report.result {
            Ok(()) => (FLUME_OK, c"".as_ptr()),
            Err(e) => {
                failure = crate::error::c_message(e);
                (e.kind().code(), failure.as_ptr())
            }
        };
        // SAFETY: the caller gave a function of this signature.
        unsafe { (self.cb)(report.opaque as *mut c_void, code, message, self.user) }
    }
}

/// Sets the delivery report callback (see flume_delivery_cb) of clients made
/// from this config, with a `user` pointer passed to every call (may be
/// NULL). `cb` NULL removes it: reports are then only counted in the
/// statistics. Returns FLUME_OK, or FLUME_ERR_INVALID_ARG if conf is NULL.
///
/// Threads: as flume_config_set(); `cb` then runs on the sender thread of
/// each client made from this config (see flume_delivery_cb), so `user` must
/// be usable from that thread.
/// Blocks: never.
/// Ownership: the one exception to "the library keeps no pointer the caller
/// passed in": the config keeps `cb` and `user`, and every client made from it
/// copies them and calls `cb` with `user` until flume_client_free() of that
/// client returns. `user` must stay valid until then; the library never
/// dereferences or frees it.
#[no_mangle]
pub unsafe extern "C" fn flume_config_set_delivery_cb(
    conf: *mut flume_config,
    cb: flume_delivery_cb,
    user: *mut c_void,
) -> flume_result {
    guard_result(|| {
        let conf = conf.as_mut().ok_or_else(|| err!(InvalidArg, "conf is NULL"))?;
        conf.inner.delivery_callback = cb.map(|cb| {
            let c = CCallback { cb, user };
            DeliveryCallback(Arc::new(move |report: &DeliveryReport| c.report(report)))
        });
        Ok(())
    })
}

/// Frees a config. NULL is a no-op. Clients made from it are unaffected: they
/// hold their own copy.
///
/// Threads: once no other thread uses the config.
/// Blocks: never.
/// Ownership: frees the config (not its delivery callback's `user`); freeing
/// it twice is undefined behaviour.
#[no_mangle]
pub unsafe extern "C" fn flume_config_free(conf: *mut flume_config) {
    let _ = guard(|| {
        if !conf.is_null() {
            drop(Box::from_raw(conf));
        }
        Ok(())
    });
}
