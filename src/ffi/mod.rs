//! The C boundary: checks pointers, converts C types to Rust borrows, catches
//! panics, keeps the thread's last error, and calls the Rust API. No logic
//! lives here. cbindgen turns these items and their doc comments into
//! `include/flume_client.h`.

#![allow(non_camel_case_types)]
// Each function's doc, the C header's text, states what its pointers must be
// (NULL or not, owned or borrowed, for how long) in C terms.
#![allow(clippy::missing_safety_doc)]

mod client;
mod config;
mod error;
mod event;

pub use client::*;
pub use config::*;
pub use error::*;
pub use event::*;
