//! `flume_client`: sending events.

use std::ffi::{c_char, c_void, CString};
use std::ptr;
use std::time::Duration;

use super::config::flume_config;
use super::error::{flume_result, guard, guard_result};
use super::event::{c_str, flume_event, with_c_events};
use crate::err;
use ::flume_client::Client;
use ::flume_client::Config;
use ::flume_client::Error;

/// A client of one or more Flume Thrift sources. Create with
/// flume_client_new(), free with flume_client_free().
///
/// Thread-safety: one client may be used by many threads at once; each call
/// takes a connection from its host's pool of maxConnections (waiting at most
/// request-timeout for one). Calls block the calling thread until the answer
/// comes or a timeout passes (each function states its longest wait); none
/// installs signal handlers, and a peer that closes the connection never
/// raises SIGPIPE.
///
/// One attempt on one host waits at most request-timeout for a free pooled
/// connection (then FLUME_ERR_BUSY from that host, nothing sent), then at most
/// connect-timeout to connect when it holds no open connection (name lookup,
/// every address of the name, the TLS handshake and the Kerberos negotiation
/// included), then at most
/// request-timeout for the call. A call tries up to max-attempts hosts (default:
/// every host), one after another.
///
/// Delivery: FLUME_OK means a source acknowledged the events (they are in its
/// channel). FLUME_ERR_TIMEOUT, FLUME_ERR_IO, FLUME_ERR_PROTOCOL and
/// FLUME_ERR_INTERNAL leave delivery unknown: resending may duplicate events
/// (at-least-once). FLUME_ERR_FAILED and FLUME_ERR_SERVER mean the events were
/// rejected. The other codes mean nothing was sent.
///
/// Several hosts: a call that fails on one host is retried on the next (up to
/// max-attempts hosts). Events a server acknowledged are never resent, but a
/// call retried after a timeout or a broken connection may arrive twice: this
/// is at-least-once delivery. If any attempt left delivery unknown, the
/// call's result is that attempt's code, never one saying nothing was sent.
pub struct flume_client {
    inner: Client,
}

/// A new client of `hosts`: "host:port", or several separated by commas and/or
/// spaces, where a host is a name, an IPv4 address or a bracketed IPv6 address
/// ("[::1]:4141"). `hosts` may be NULL or "" when `conf` names its hosts with
/// the "hosts" and "hosts.<alias>" keys. `conf` may be NULL for the defaults;
/// it is copied, so the caller may free it at once.
///
/// Does not connect: connecting happens on the first call, so a service may
/// start before its agent.
///
/// Returns NULL on failure, with the reason in flume_last_error(): hosts not
/// UTF-8 or malformed (port 0 or above 65535, IPv6 without brackets, empty),
/// or NULL while conf names no hosts; an alias in "hosts" without its
/// "hosts.<alias>"; TLS settings that cannot be used (unreadable files, a key
/// not matching its certificate, TLS keys without "ssl"="true"); Kerberos
/// settings that cannot be used (no "server-principal", a keytab without
/// "client-principal" or unreadable, Kerberos keys without "kerberos"="true",
/// libgssapi_krb5.so.2 missing: the message names the package); with
/// "queue.spool.dir", a directory in use by another client (FLUME_ERR_CONFIG,
/// naming its pid) or that cannot be created, read or written (FLUME_ERR_SPOOL).
///
/// With "queue.spool.dir", reads the directory's segments (checking every
/// record) and starts the sender thread at once, which sends what a previous
/// client left before any new event; blocks for that scan (about the time to
/// read the unacknowledged bytes from disk).
///
/// Threads: any thread; the client it returns may then be used by many
/// threads at once.
/// Blocks: never on the network. With "ssl"="true" it reads conf's TLS files
/// (truststore or the system's CA store, client certificate and key). With
/// "kerberos"="true" it loads libgssapi_krb5.so.2 (once per process) and
/// reads no ticket: tickets are fetched when connecting, within
/// connect-timeout.
/// Ownership: `hosts` and `conf` are only read during the call: conf is copied
/// (its delivery callback too), so the caller may free it at once. The caller
/// owns the client returned and frees it with flume_client_free().
#[no_mangle]
pub unsafe extern "C" fn flume_client_new(hosts: *const c_char, conf: *const flume_config) -> *mut flume_client {
    guard(|| {
        let config = conf.as_ref().map_or_else(Config::default, |c| c.config().clone());
        let hosts = if hosts.is_null() && !config.host_aliases.is_empty() { "" } else { c_str(hosts, "hosts")? };
        let client = Client::new(hosts, &config)?;
        Ok(Box::into_raw(Box::new(flume_client { inner: client })))
    })
    .unwrap_or(ptr::null_mut())
}

/// Sends one event with Flume's append call and waits for the answer.
///
/// Returns FLUME_OK when the source acknowledged the event, or:
/// - FLUME_ERR_INVALID_ARG: client or event NULL, a NULL pointer with a non-zero
///   count inside the event, or a header that is not UTF-8. Nothing sent.
/// - FLUME_ERR_TOO_LARGE: the event does not fit in max-frame-size. Nothing sent.
/// - FLUME_ERR_CONNECT: no connection could be made. Nothing sent.
/// - FLUME_ERR_TIMEOUT, FLUME_ERR_IO, FLUME_ERR_PROTOCOL: delivery unknown; the
///   connection is closed and the next call reconnects.
/// - FLUME_ERR_FAILED, FLUME_ERR_SERVER: the source rejected the event.
/// - FLUME_ERR_BUSY: every pooled connection of the hosts tried stayed busy
///   with other threads' calls for request-timeout. Nothing sent.
///
/// flume_last_error() gives the detail.
///
/// Threads: any number of threads at once on one client.
/// Blocks: at most max-attempts x (request-timeout + connect-timeout +
/// request-timeout): a pooled connection, a connection, the call, on each host
/// tried (see flume_client). With the defaults (20 s each) and one host: 60 s.
/// Ownership: the event and all it points to are only read during the call;
/// the caller may reuse or free them once it returns.
#[no_mangle]
pub unsafe extern "C" fn flume_client_append(client: *mut flume_client, event: *const flume_event) -> flume_result {
    guard_result(|| {
        let client = client.as_ref().ok_or_else(|| err!(InvalidArg, "client is NULL"))?;
        if event.is_null() {
            return Err(err!(InvalidArg, "event is NULL"));
        }
        with_c_events(event, 1, |events| client.inner.append(&events[0]))
    })
}

/// Sends `count` events with Flume's appendBatch call, split into calls of at
/// most batch-size events and max-frame-size bytes, in order, waiting for each
/// answer and stopping at the first failure. Every event is checked before
/// anything is sent. `count` 0 sends nothing and returns FLUME_OK (`events` may
/// then be NULL).
///
/// If `delivered` is not NULL it receives the number of leading events the
/// source acknowledged, on success (count) and on failure alike, so a caller
/// can resume after them. The events of the call that failed were not
/// acknowledged; with FLUME_ERR_TIMEOUT, FLUME_ERR_IO or FLUME_ERR_PROTOCOL they
/// may still have been delivered.
///
/// Returns the codes of flume_client_append(); FLUME_ERR_INVALID_ARG also for
/// `events` NULL with `count` > 0.
///
/// Threads: any number of threads at once on one client.
/// Blocks: the bound of flume_client_append() for each call it makes, one after
/// another: ceil(count / batch-size) calls, or more when max-frame-size splits
/// them (a failed call ends it).
/// Ownership: the events and all they point to are only read during the call;
/// `delivered` is written before it returns and not kept.
#[no_mangle]
pub unsafe extern "C" fn flume_client_append_batch(
    client: *mut flume_client,
    events: *const flume_event,
    count: usize,
    delivered: *mut usize,
) -> flume_result {
    let mut acknowledged = 0;
    let result = guard_result(|| {
        let client = client.as_ref().ok_or_else(|| err!(InvalidArg, "client is NULL"))?;
        with_c_events(events, count, |events| match client.inner.append_batch(events) {
            Ok(()) => {
                acknowledged = events.len();
                Ok(())
            }
            Err(e) => {
                acknowledged = e.delivered();
                Err(e.into_error())
            }
        })
    });
    if let Some(delivered) = delivered.as_mut() {
        *delivered = acknowledged;
    }
    result
}

/// Queues one event for asynchronous sending and returns at once: the
/// library copies the event (the caller may reuse its memory immediately), a
/// background thread of the client sends it in batches over the same pool and
/// hosts as flume_client_append_batch(), retries failures (retries,
/// retry-backoff) and reports the result exactly once to the config's delivery
/// callback (flume_config_set_delivery_cb) with `opaque`, which the library
/// only passes back. Thread-safe; may be called from a delivery callback.
///
/// Blocks: never on the network. With queue.full = block and a full queue it
/// waits for room at most queue.block-timeout, except in a delivery callback,
/// where it fails at once (the room would have to come from the thread
/// running the callback). The first call starts the client's sender thread.
///
/// Returns FLUME_OK when the event was queued; then, and only then, a report
/// follows. Otherwise nothing was queued and no report follows:
/// - FLUME_ERR_INVALID_ARG: client or event NULL, a NULL pointer with a
///   non-zero count inside the event, a header not UTF-8, or a client
///   inherited across fork();
/// - FLUME_ERR_TOO_LARGE: the event does not fit in max-frame-size;
/// - FLUME_ERR_QUEUE_FULL: queue.max-events or queue.max-bytes reached (at once
///   with queue.full = fail; after queue.block-timeout with queue.full = block);
///   with a spool, queue.spool.max-bytes reached;
/// - FLUME_ERR_SPOOL: with queue.spool.dir, the event could not be written to
///   the spool (disk full, a write or sync error); events spooled before are intact.
/// - FLUME_ERR_CLOSED: flume_client_free() of this client has begun (a
///   delivery callback sending while free flushes): sends made during free are
///   refused, never delivered after it.
///
/// Order: events are sent and reported in the order flume_client_send()
/// accepted them (from several threads, the order their calls took the
/// client's queue). With one call in flight (queue.max-in-flight = 1, the
/// default) the source receives the batches in that order too, and a retried
/// batch goes before any later event: a retry after a failure that left
/// delivery unknown may duplicate events, never reorder them. With more
/// calls in flight (pipelined on one connection), a retried call's events may
/// reach the source after later ones; reports still come in send order.
///
/// With a spool, FLUME_OK means the event is in the spool's file (and synced,
/// with queue.spool.fsync = always): it survives this process's death.
/// With queue.spool.fsync = always it also waits for one msync (and for
/// other threads' sends ahead of it).
///
/// Threads: any number of threads at once on one client.
/// Blocks: never on the network; with queue.full = block, at most
/// queue.block-timeout waiting for room in the queue.
/// Ownership: the event is copied before it returns; `opaque` is never
/// dereferenced, only handed to the delivery callback.
#[no_mangle]
pub unsafe extern "C" fn flume_client_send(
    client: *mut flume_client,
    event: *const flume_event,
    opaque: *mut c_void,
) -> flume_result {
    guard_result(|| {
        let client = sending(client, event)?;
        // Its strings measured, checked and copied in one walk, by the encoder.
        with_c_events(event, 1, |events| client.inner.send(&events[0], opaque as usize))
    })
}

/// The client of flume_client_send() and flume_client_send_borrowed(), with
/// both pointers checked.
#[inline(always)]
unsafe fn sending<'c>(client: *mut flume_client, event: *const flume_event) -> Result<&'c flume_client, Error> {
    let client = client.as_ref().ok_or_else(|| err!(InvalidArg, "client is NULL"))?;
    if event.is_null() {
        return Err(err!(InvalidArg, "event is NULL"));
    }
    Ok(client)
}

/// flume_client_send() without copying a large body: a body of 1024 bytes or
/// more stays in the caller's memory, and the sender thread's calls send it
/// from there (as flume_client_append_batch() sends such bodies), so its bytes
/// are copied once, by the kernel, instead of twice. The headers are copied as
/// by flume_client_send(); so is a smaller body (a piece of its own would cost
/// more than the copy), and so is every body when the client has a spool
/// (queue.spool.dir), which keeps its own copy. Everything else is as
/// flume_client_send(): the checks, the queue and its bounds (queue.max-bytes
/// counts the borrowed body too), the order, the reports.
///
/// The caller's promise: after FLUME_OK, the body stays valid and unchanged
/// until the event's delivery callback has been called; the callback may free
/// it (with `opaque` pointing to it, for example). After any other result
/// nothing was queued and the body is the caller's again at once.
///
/// Returns the codes of flume_client_send(); FLUME_ERR_INVALID_ARG also when
/// the config had no delivery callback (nothing would say when the body is
/// free again).
///
/// Threads: any number of threads at once on one client.
/// Blocks: as flume_client_send().
/// Ownership: the headers are copied before it returns; the body is borrowed
/// until the event's delivery callback has been called; `opaque` is never
/// dereferenced, only handed to the delivery callback.
#[no_mangle]
pub unsafe extern "C" fn flume_client_send_borrowed(
    client: *mut flume_client,
    event: *const flume_event,
    opaque: *mut c_void,
) -> flume_result {
    guard_result(|| {
        let client = sending(client, event)?;
        // SAFETY: the header makes the caller promise the body outlives its report.
        with_c_events(event, 1, |events| client.inner.send_borrowed(&events[0], opaque as usize))
    })
}

/// Waits until every event that flume_client_send() accepted before this call
/// has had its delivery report (its callback has returned), or `timeout_ms`
/// passes. Thread-safe. Blocks at most `timeout_ms`.
///
/// Returns FLUME_OK (also when nothing was ever sent); FLUME_ERR_TIMEOUT when
/// time ran out, with the exact number of those events whose report has not
/// been made yet in flume_last_error() (they stay queued or in flight and
/// will be reported); FLUME_ERR_INVALID_ARG if client is NULL or inherited
/// across fork(), or, at once, when called from a delivery callback of the
/// same client (it would wait for the thread running the callback).
///
/// Threads: any thread but the client's own delivery callback.
/// Blocks: at most timeout_ms.
/// Ownership: keeps nothing.
#[no_mangle]
pub unsafe extern "C" fn flume_client_flush(client: *mut flume_client, timeout_ms: u32) -> flume_result {
    guard_result(|| {
        let client = client.as_ref().ok_or_else(|| err!(InvalidArg, "client is NULL"))?;
        client.inner.flush(Duration::from_millis(timeout_ms.into()))
    })
}

/// The client's statistics as a JSON object, in a new NUL-terminated string
/// that the caller frees with flume_string_free(). NULL, with
/// FLUME_ERR_INVALID_ARG in flume_last_error(), if client is NULL or was
/// inherited across fork() (the child would wait for locks the parent's
/// threads held at the fork). Fields:
/// - "events_acked", "calls_acked": events and calls acknowledged OK;
/// - "bytes_sent": bytes of calls written; "connects": connections opened
///   (the first ones and reconnects);
/// - "failures": failed call attempts by result code name;
/// - "latency_us": call latency from first byte sent to reply: "count",
///   "mean", "max", and "buckets", where bucket i counts calls under 2^i us;
/// - "queue": the send queue's "events" and "bytes" waiting, and "reports"
///   made so far by result code name;
/// - "spool" (with queue.spool.dir only): "dir", "fsync", unacknowledged
///   "events" and "bytes", "segments", "spooled_events", "spooled_bytes",
///   "replayed" (left by a previous client), "replay_pending", "torn_records",
///   "corrupt_records", "write_errors", "fsyncs", "sync_errors",
///   "segments_created", "segments_deleted", "last_problem" (string or null);
/// - "hosts": per host "address", "state" ("up" or "backoff"), "backoff_ms"
///   left, "consecutive_failures", "events_acked", "calls_acked", "failures",
///   "connects", "idle_connections".
///
/// Threads: any number of threads at once, also while others send.
/// Blocks: never on the network nor on a call in flight: it only takes the
/// client's internal locks, each held for a few memory operations.
/// Ownership: the caller owns the string returned and frees it with
/// flume_string_free().
#[no_mangle]
pub unsafe extern "C" fn flume_client_stats_json(client: *const flume_client) -> *mut c_char {
    guard(|| {
        let client = client.as_ref().ok_or_else(|| err!(InvalidArg, "client is NULL"))?;
        Ok(CString::new(client.inner.stats_json()?).expect("JSON has no NUL").into_raw())
    })
    .unwrap_or(ptr::null_mut())
}

/// The same statistics as flume_client_stats_json() in the Prometheus text
/// exposition format (version 0.0.4), in a new NUL-terminated string that the
/// caller frees with flume_string_free(); a service can serve it as it is on
/// its /metrics endpoint (Content-Type: text/plain; version=0.0.4). NULL, with
/// FLUME_ERR_INVALID_ARG in flume_last_error(), if client is NULL or was
/// inherited across fork(). Each family has its # HELP and # TYPE lines; the
/// metrics:
/// - counters flume_client_events_acked_total, flume_client_calls_acked_total,
///   flume_client_sent_bytes_total, flume_client_connections_opened_total;
///   flume_client_call_failures_total{code="FLUME_ERR_..."};
/// - histogram flume_client_call_duration_seconds (buckets at powers of two
///   microseconds, 1 us to 2^26 us) and gauge
///   flume_client_call_duration_max_seconds;
/// - gauges flume_client_queue_events, flume_client_queue_bytes; counter
///   flume_client_delivery_reports_total{result="FLUME_OK"|"FLUME_ERR_..."};
/// - per host (label host="host:port"): gauges flume_client_host_up (1, or 0
///   in backoff), flume_client_host_backoff_seconds,
///   flume_client_host_consecutive_failures,
///   flume_client_host_idle_connections; counters
///   flume_client_host_events_acked_total, flume_client_host_calls_acked_total,
///   flume_client_host_call_failures_total,
///   flume_client_host_connections_opened_total;
/// - with a spool (queue.spool.dir), the figures of the JSON's "spool" object
///   (docs/spool.md): gauge flume_client_spool_info{dir="...",fsync="..."} 1;
///   gauges flume_client_spool_events, flume_client_spool_bytes,
///   flume_client_spool_segments, flume_client_spool_replay_pending; counters
///   flume_client_spool_spooled_events_total, flume_client_spool_spooled_bytes_total,
///   flume_client_spool_replayed_total, flume_client_spool_torn_records_total,
///   flume_client_spool_corrupt_records_total, flume_client_spool_write_errors_total,
///   flume_client_spool_fsyncs_total, flume_client_spool_sync_errors_total,
///   flume_client_spool_segments_created_total,
///   flume_client_spool_segments_deleted_total.
///
/// A process with several clients should add a label of its own to tell them
/// apart (or serve each under its own job).
///
/// Threads: any number of threads at once, also while others send.
/// Blocks: as flume_client_stats_json().
/// Ownership: the caller owns the string returned and frees it with
/// flume_string_free().
#[no_mangle]
pub unsafe extern "C" fn flume_client_stats_prometheus(client: *const flume_client) -> *mut c_char {
    guard(|| {
        let client = client.as_ref().ok_or_else(|| err!(InvalidArg, "client is NULL"))?;
        Ok(CString::new(client.inner.stats_prometheus()?).expect("the text has no NUL").into_raw())
    })
    .unwrap_or(ptr::null_mut())
}

/// Frees a string returned by this library (flume_client_stats_json(),
/// flume_client_stats_prometheus()). NULL is a no-op.
///
/// Threads: any thread, not necessarily the one that got the string.
/// Blocks: never.
/// Ownership: takes the string back; freeing another pointer, or one string
/// twice, is undefined behaviour.
#[no_mangle]
pub unsafe extern "C" fn flume_string_free(string: *mut c_char) {
    if !string.is_null() {
        drop(CString::from_raw(string));
    }
}

/// Frees the client. If events sent with flume_client_send() are still
/// unreported, first flushes for at most close-timeout (default 5 s): from
/// its start, flume_client_send() on this client fails with FLUME_ERR_CLOSED.
/// When close-timeout passes, the call in flight is cut (its socket shut
/// down) and the rest is reported on the client's sender thread: queued
/// events as FLUME_ERR_CLOSED (not sent), events an attempt may have
/// delivered as FLUME_ERR_TIMEOUT (delivery unknown). Then free waits for that
/// thread to end: when it returns, no report comes any more and no thread,
/// socket or memory of the client remains.
///
/// Blocks at most: close-timeout, plus the time the delivery callbacks still
/// due take (every event not yet reported gets its callback before free
/// returns, one after another), plus, if the sender thread is connecting when
/// close-timeout passes (name lookup, TCP connect, TLS handshake, Kerberos
/// negotiation), the rest of that connect attempt (at most connect-timeout),
/// which cannot be cut. A call in flight, a retry-backoff pause and
/// lingering do not add to it.
///
/// NULL is a no-op. Must not be called while another thread is still using
/// the client. From a delivery callback while flume_client_free() of the
/// same client runs, it does nothing (the running one frees the client).
/// Otherwise, from a delivery callback of the same client it returns at
/// once: the sender thread finishes the close by itself (flush for
/// close-timeout, then the rest reported as above) after the callback
/// returns, and ends; those later reports still come, with the same `user`,
/// but the callback must not use the freed client in them.
///
/// With queue.spool.dir: after close-timeout, events still unreported are
/// NOT reported; they stay in the spool (synced, unless queue.spool.fsync =
/// never) and the next client on the directory sends them (those of a call
/// in flight may then arrive twice). The directory's lock is released before
/// this returns.
///
/// fork(): a child process must not use its parent's clients (calls fail with
/// FLUME_ERR_INVALID_ARG); freeing one in the child releases its memory
/// without touching the parent's connections or queue.
///
/// Threads: one thread, once no other thread uses the client.
/// Blocks: as stated above, for the events flume_client_send() queued; a
/// client that never sent asynchronously is freed at once.
/// Ownership: frees the client, its connections and its copy of the config
/// (with the delivery callback's `user`, which it never frees itself).
#[no_mangle]
pub unsafe extern "C" fn flume_client_free(client: *mut flume_client) {
    let _ = guard(|| {
        if !client.is_null() {
            // Closed through a shared reference first: delivery callbacks may
            // still use the client (send, append, stats) until it returns.
            // A free from a callback while this one runs finds it closing and
            // leaves the freeing to this one.
            if (*client).inner.close() {
                drop(Box::from_raw(client));
            }
        }
        Ok(())
    });
}
