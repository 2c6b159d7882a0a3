//! The C boundary: checks pointers, converts C types to Rust borrows, catches
//! panics, keeps the thread's last error, and calls the Rust API. No logic
//! lives here. cbindgen turns these items and their doc comments into
//! `include/flume_client.h`.

#![allow(non_camel_case_types)]

mod client;
mod config;
mod error;
mod event;

pub use client::*;
pub use config::*;
pub use error::*;
pub use event::*;
