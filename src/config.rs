//! `flume_config`: settings under Flume's key names.

use std::ffi::{c_char, c_void, CString};
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
/// Keys (Flume's names) and defaults:
/// - "protocol": "compact" (default) or "binary"; must match the source's.
/// - "batch-size": 100; most events in one appendBatch call (1 to 1000000).
/// - "connect-timeout": 20000 ms; time to resolve and connect (1 to 86400000).
/// - "request-timeout": 20000 ms; from the first byte of a call sent to the last
///   byte of its reply (1 to 86400000). Unlike Flume's Java client, values under
///   1000 are honoured.
/// - "max-frame-size": 16384000; most payload bytes in one frame (64 to 2147483647).
///   Flume's source closes the connection on a larger frame.
/// - "maxConnections": 5; connections the client may hold to each host (1 to
///   1024). A call that finds them all busy waits at most request-timeout.
/// - "hosts": host aliases separated by spaces, e.g. "h1 h2", each given by
///   "hosts.<alias>" = "host:port" (Flume's form); used when flume_client_new()
///   gets NULL or "" for its hosts.
/// - "client.type": "thrift" (default; with several hosts it fails over like
///   default_failover), "default_failover" (hosts in order, a failing host
///   skipped until its backoff ends) or "default_loadbalance" (calls spread
///   by host-selector).
/// - "max-attempts": hosts tried for one call; default the number of hosts.
/// - "host-selector": "round_robin" (default) or "random" (load balancing).
/// - "backoff": "false" (default) or "true": whether load balancing skips a
///   failed host. Failover always does.
/// - "maxBackoff": 30000 ms (also for 0); the longest a failed host is skipped.
///   A host that failed n times in a row is skipped for min(maxBackoff,
///   1000 ms * 2^n), n capped at 16. When every host is backing off, a call
///   tries the one whose backoff ends first.
/// - "ssl": "false" (default) or "true": TLS 1.2/1.3, only in builds with the
///   tls feature (CMake -DFLUME_CLIENT_TLS=ON); otherwise "true" and every TLS
///   key give FLUME_ERR_CONFIG. TLS keys: "truststore" (PEM file of CA
///   certificates; default the system's CA store), "truststore-type" ("PEM"
///   only), "ssl-server-name" (SNI and name checked; default each host's),
///   "ssl-verify-hostname" ("true"; "false" verifies the chain only),
///   "ssl-client-cert" / "ssl-client-key" (PEM, mutual TLS). Files are checked
///   when set and read again by flume_client_new(), which fails if TLS keys are
///   set without "ssl"="true" or the key does not match the certificate.
///
/// Asynchronous sending (flume_client_send):
/// - "queue.max-events": 100000; "queue.max-bytes": 67108864 (header and body
///   bytes). A send that finds either limit reached fails or blocks:
/// - "queue.full": "fail" (default: FLUME_ERR_QUEUE_FULL at once) or "block"
///   (wait up to "queue.block-timeout", default 1000 ms, then fail).
/// - "linger-ms": 5; the longest the sender waits to fill a batch of batch-size
///   (at most half of event-timeout, so lingering never expires an event).
/// - "retries": 10; times a batch that failed is sent again, each after
///   "retry-backoff" (100 ms). Retrying after a timeout or a broken connection
///   may deliver an event twice (at-least-once).
/// - "event-timeout": 30000 ms; an event still undelivered this long after it
///   was queued is reported with the last error (FLUME_ERR_EXPIRED if it was
///   never sent and the sender was not failing to connect; see flume_delivery_cb).
/// - "close-timeout": 5000 ms; how long flume_client_free() flushes (see its
///   worst case there).
///
/// Kerberos (SASL GSSAPI, Flume's secured Thrift source), only in builds with
/// the kerberos feature (CMake -DFLUME_CLIENT_KERBEROS=ON); otherwise every
/// Kerberos key gives FLUME_ERR_CONFIG:
/// - "kerberos": "false" (default) or "true". MIT's libgssapi_krb5.so.2 is
///   loaded when a client is made (flume_client_new() fails with the package
///   to install if it is missing); nothing new is linked.
/// - "server-principal": the source's agent-principal, "service/host@REALM";
///   "_HOST" becomes the name of the host connected to. Required.
/// - "client-principal": who to authenticate as ("_HOST": this machine's
///   name); default the ticket cache's principal.
/// - "client-keytab": a keytab holding client-principal's keys (checked when
///   set); tickets then live in memory, are the client's own and are renewed
///   from the keytab. Unset: the ticket cache (KRB5CCNAME), kept fresh by the
///   caller (kinit, k5start).
///
/// Kerberos keys without "kerberos"="true", or a keytab without a principal,
/// make flume_client_new() fail. The negotiation is part of connecting: it
/// ends within connect-timeout, and every failure is FLUME_ERR_CONNECT
/// (nothing delivered) with the GSSAPI text and what to check.
///
/// Durable send queue (docs/spool.md):
/// - "queue.spool.dir": unset (the queue is in memory only). A directory
///   (created if missing) where every event flume_client_send() accepts is
///   written before it returns, kept until its report, and sent by the next
///   client on the directory if this one dies or is freed first. One client
///   per directory (an flock; another gets FLUME_ERR_CONFIG naming the pid
///   holding it).
/// - "queue.spool.fsync": "never" (survives the process crashing, not a power
///   loss), "interval" (default: synced every "queue.spool.fsync-ms", default
///   1000, so a power loss loses at most that interval) or "always" (send
///   returns after the record is synced, msync).
/// - "queue.spool.max-bytes": 1073741824 (4096 to SSIZE_MAX); unacknowledged
///   bytes in the spool, past which queue.full applies (events beyond
///   queue.max-events/queue.max-bytes wait on disk only).
/// - "queue.spool.segment-bytes": 16777216 (4096 to 1073741824); the size of
///   each segment file.
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
/// Blocks: never on the network; the TLS file keys ("truststore",
/// "ssl-client-cert", "ssl-client-key") read their file.
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
/// Blocks: reads the file (and the TLS files it names); no network.
/// Ownership: `path` is only read during the call.
#[no_mangle]
pub unsafe extern "C" fn flume_config_load_properties(conf: *mut flume_config, path: *const c_char) -> flume_result {
    guard_result(|| {
        let conf = conf.as_mut().ok_or_else(|| err!(InvalidArg, "conf is NULL"))?;
        let path = c_str(path, "path")?;
        let text = std::fs::read_to_string(path).map_err(|e| err!(InvalidArg, "cannot read {path}: {e}"))?;
        conf.inner.load_properties(&text).map_err(|e| err!(Config, "{path}: {}", e.message()))
    })
}

/// Like flume_config_load_properties(), from the text of a properties file
/// (NUL-terminated UTF-8) instead of a file name.
///
/// Threads: as flume_config_set().
/// Blocks: never on the network; reads only the TLS files the text names.
/// Ownership: `text` is only read during the call.
#[no_mangle]
pub unsafe extern "C" fn flume_config_load_properties_str(
    conf: *mut flume_config,
    text: *const c_char,
) -> flume_result {
    guard_result(|| {
        let conf = conf.as_mut().ok_or_else(|| err!(InvalidArg, "conf is NULL"))?;
        conf.inner.load_properties(c_str(text, "text")?)
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
        let (code, message) = match report.result {
            Ok(()) => (FLUME_OK, CString::default()),
            Err(e) => (e.kind().code(), CString::new(e.to_string().replace('\0', "\\0")).unwrap_or_default()),
        };
        // SAFETY: the caller gave a function of this signature.
        unsafe { (self.cb)(report.opaque as *mut c_void, code, message.as_ptr(), self.user) }
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
