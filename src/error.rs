//! Result codes, the thread's last error, panic catching, and the static strings.

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use ::flume_client::{Error, ErrorKind};

/// The result of a call: FLUME_OK (0) or one of the FLUME_ERR_* codes.
///
/// Each code also says whether anything was sent; see the FLUME_ERR_* macros.
/// flume_last_error() gives the detail of the most recent failure, and
/// flume_result_str() a fixed description of any code.
pub type flume_result = u32;

/// Success.
pub const FLUME_OK: flume_result = 0;
/// A NULL pointer where one is not allowed, invalid UTF-8 in a header, a count too large for memory, or a bad host list. Nothing was sent.
pub const FLUME_ERR_INVALID_ARG: flume_result = 1;
/// An unknown config key, or a value out of range. Nothing was sent.
pub const FLUME_ERR_CONFIG: flume_result = 2;
/// One event alone cannot fit in a frame of max-frame-size. Nothing was sent.
pub const FLUME_ERR_TOO_LARGE: flume_result = 3;
/// No connection could be made: refused, unreachable, name not resolved, or connect-timeout passed. Nothing was sent.
pub const FLUME_ERR_CONNECT: flume_result = 4;
/// request-timeout passed before the reply came. The events MAY have been delivered. The connection was closed.
pub const FLUME_ERR_TIMEOUT: flume_result = 5;
/// The connection broke while sending or receiving. The events MAY have been delivered.
pub const FLUME_ERR_IO: flume_result = 6;
/// The reply was malformed: bad frame, wrong protocol, wrong seqid or method name. The events MAY have been delivered. The connection was closed.
pub const FLUME_ERR_PROTOCOL: flume_result = 7;
/// The server answered FAILED: its channel is full (retry later), or the call had more events than the channel's
/// transactionCapacity (every such call fails: lower batch-size). The events were sent and rejected; the connection
/// stays usable.
pub const FLUME_ERR_FAILED: flume_result = 8;
/// The server answered ERROR, UNKNOWN, a status outside the enum, or raised an exception: the events were sent and rejected.
pub const FLUME_ERR_SERVER: flume_result = 9;
/// A bug in this library (a caught panic). The events MAY have been delivered. Please report it.
pub const FLUME_ERR_INTERNAL: flume_result = 10;
/// flume_client_send() only: the send queue is full (queue.max-events or queue.max-bytes), at once with
/// queue.full = fail, or after queue.block-timeout with queue.full = block. Nothing was queued; no report follows.
pub const FLUME_ERR_QUEUE_FULL: flume_result = 11;
/// Delivery reports: the client was freed, and close-timeout passed, before the event could be sent.
/// It was not delivered. flume_client_send(): called while flume_client_free() of the same client runs
/// (from a delivery callback): nothing was queued; no report follows.
pub const FLUME_ERR_CLOSED: flume_result = 12;
/// No pooled connection became free in time: all maxConnections connections to the host stayed busy with
/// other calls for request-timeout. Nothing was sent; retry later, or raise maxConnections.
pub const FLUME_ERR_BUSY: flume_result = 13;
/// The durable send queue (queue.spool.dir) could not be used: flume_client_send() could not write the
/// event to the spool (disk full, a write or sync error). Nothing was accepted and no report follows; every
/// event spooled before is intact. A spool at queue.spool.max-bytes is FLUME_ERR_QUEUE_FULL instead.
/// flume_client_new() fails with it (NULL, reason in flume_last_error()) when the directory cannot be
/// created, read or written.
pub const FLUME_ERR_SPOOL: flume_result = 14;
/// Delivery reports only: event-timeout passed before the event was written to any connection, while the
/// sender was busy with the events ahead of it (failing or slow calls). Nothing was sent: resending it
/// cannot duplicate it.
pub const FLUME_ERR_EXPIRED: flume_result = 15;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// What C users get for `e` (flume_last_error(), delivery reports): the
/// code's name, then the detail: "FLUME_ERR_IO: 10.0.0.1:4141: ...". NUL bytes
/// are written as `\0`.
pub(crate) fn c_message(e: &Error) -> CString {
    let text = format!("{}: {}", e.kind().name(), e.message()).replace('\0', "\\0");
    CString::new(text).expect("NULs replaced")
}

/// Records `e` as the thread's last error and returns its code.
pub(crate) fn fail(e: &Error) -> flume_result {
    let text = c_message(e);
    LAST_ERROR.with(|last| *last.borrow_mut() = text);
    e.kind().code()
}

/// Runs `f`, turning a panic into `FLUME_ERR_INTERNAL` and an `Err` into its
/// code, both recorded as the thread's last error.
pub(crate) fn guard<T>(f: impl FnOnce() -> Result<T, Error>) -> Result<T, flume_result> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(fail(&e)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(fail(&Error::new(ErrorKind::Internal, format!("panic caught at the C boundary: {what}"))))
        }
    }
}

/// `guard` for functions that return a `flume_result`.
pub(crate) fn guard_result(f: impl FnOnce() -> Result<(), Error>) -> flume_result {
    match guard(f) {
        Ok(()) => FLUME_OK,
        Err(code) => code,
    }
}

/// The detail of the most recent failure on the calling thread, like errno or
/// dlerror(): which argument, host, key or event was wrong and why. An empty
/// string if no call of this library has failed on this thread.
///
/// Never NULL. The string belongs to the library and stays valid until the next
/// call of this library on the same thread; copy it to keep it. Successful calls
/// do not clear it.
///
/// Threads: any thread; each thread has its own.
/// Blocks: never.
/// Ownership: the library's, valid until the next call of this library on the
/// same thread; never free it.
#[no_mangle]
pub extern "C" fn flume_last_error() -> *const c_char {
    LAST_ERROR.with(|last| last.borrow().as_ptr())
}

/// A fixed description of a result code, e.g. "FLUME_ERR_TIMEOUT: request-timeout
/// passed before the reply came; delivery unknown". Any value is accepted;
/// unknown values give "unknown result code".
///
/// Never NULL.
///
/// Threads: any thread.
/// Blocks: never.
/// Ownership: the string is static: never free it.
#[no_mangle]
pub extern "C" fn flume_result_str(code: flume_result) -> *const c_char {
    let text: &'static CStr = match ErrorKind::from_code(code) {
        Some(kind) => kind.description_c(),
        None if code == FLUME_OK => c"FLUME_OK: success",
        None => c"unknown result code",
    };
    text.as_ptr()
}

/// The library's version, e.g. "0.1.0": the version of the code running, which
/// may differ from FLUME_CLIENT_VERSION, the version of the header compiled
/// against. Never NULL.
///
/// Threads: any thread.
/// Blocks: never.
/// Ownership: the string is static: never free it.
#[no_mangle]
pub extern "C" fn flume_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_str_names_every_code_and_any_integer() {
        let text = |code| unsafe { CStr::from_ptr(flume_result_str(code)) }.to_str().unwrap().to_string();
        assert!(text(FLUME_OK).starts_with("FLUME_OK"));
        for kind in ErrorKind::ALL {
            assert!(text(kind.code()).starts_with(&format!("{}: ", kind.name())), "{kind:?}");
            assert_eq!(text(kind.code()), kind.description());
        }
        assert_eq!(text(16), "unknown result code");
        assert_eq!(text(u32::MAX), "unknown result code");
    }

    /// C users keep the code's name before the detail, and every repetition in it.
    #[test]
    fn the_last_error_is_the_name_and_the_message_as_they_were() {
        let e = Error::new(ErrorKind::Connect, "127.0.0.1:1: connecting to 127.0.0.1:1: refused\0!");
        assert_eq!(fail(&e), FLUME_ERR_CONNECT);
        let detail = unsafe { CStr::from_ptr(flume_last_error()) }.to_str().unwrap();
        assert_eq!(detail, "FLUME_ERR_CONNECT: 127.0.0.1:1: connecting to 127.0.0.1:1: refused\\0!");
    }

    #[test]
    fn a_panic_becomes_internal_with_a_message() {
        let code = guard_result(|| panic!("boom"));
        assert_eq!(code, FLUME_ERR_INTERNAL);
        let detail = unsafe { CStr::from_ptr(flume_last_error()) }.to_str().unwrap();
        assert!(detail.contains("boom"), "{detail}");
    }
}
