//! `flume_config`: settings under Flume's key names.

use std::ffi::c_char;

use super::error::{flume_result, guard, guard_result};
use super::event::c_str;
use crate::config::Config;
use crate::error::err;

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
/// - "maxConnections": 5; connections one client may hold (1 to 1024).
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
#[no_mangle]
pub unsafe extern "C" fn flume_config_set(conf: *mut flume_config, key: *const c_char, value: *const c_char) -> flume_result {
    guard_result(|| {
        let conf = conf.as_mut().ok_or_else(|| err!(InvalidArg, "conf is NULL"))?;
        conf.inner.set(c_str(key, "key")?, c_str(value, "value")?)
    })
}

/// Frees a config. NULL is a no-op. Clients made from it are unaffected: they
/// hold their own copy.
#[no_mangle]
pub unsafe extern "C" fn flume_config_free(conf: *mut flume_config) {
    let _ = guard(|| {
        if !conf.is_null() {
            drop(Box::from_raw(conf));
        }
        Ok(())
    });
}
