//! The C library: the C boundary over the Rust crate `flume-client` (rust/).
//! It checks pointers, converts C types to Rust borrows, catches panics,
//! keeps the thread's last error, and calls the Rust API. No logic lives here.
//! cbindgen turns these items and their doc comments into
//! `include/flume_client.h`.

#![allow(non_camel_case_types)]
// Each function's doc, the C header's text, states what its pointers must be
// (NULL or not, owned or borrowed, for how long) in C terms.
#![allow(clippy::missing_safety_doc)]

mod client;
mod config;
mod error;
mod event;

/// The largest frame payload Flume's Thrift source accepts.
pub const FLUME_MAX_FRAME_SIZE: usize = 16_384_000;
// cbindgen reads literals only: the C constant is the Rust crate's, checked here.
const _: () = assert!(FLUME_MAX_FRAME_SIZE == ::flume_client::FLUME_MAX_FRAME_SIZE);

/// Builds a `flume_client::Error` with a formatted message: `err!(InvalidArg, "{what} is NULL")`.
macro_rules! err {
    ($kind:ident, $($arg:tt)+) => {
        ::flume_client::Error::new(::flume_client::ErrorKind::$kind, format!($($arg)+))
    };
}
pub(crate) use err;

pub use client::*;
pub use config::*;
pub use error::*;
pub use event::*;
