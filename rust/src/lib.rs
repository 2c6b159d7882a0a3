//! flume-client: send events to Apache Flume's Thrift source, from Rust or
//! from C through the `flume_*` functions of `include/flume_client.h`.
//!
//! A call travels one way: the C boundary (`ffi`) checks pointers and calls
//! the `Client`, which validates the events and splits them into calls; `wire`
//! encodes each call into a reused buffer; `conn` sends it and reads the reply
//! under a deadline; `wire` decodes the reply and the client maps it to a
//! result (`Error`, whose kind is the C result code).

mod batch_error;
mod builder;
mod cancel;
mod client;
mod config;
mod conn;
mod error;
mod event;
#[cfg(feature = "kerberos")]
mod gssapi;
mod hosts;
#[cfg(feature = "kerberos")]
mod kerberos;
mod pool;
mod properties;
#[cfg_attr(not(feature = "kerberos"), allow(dead_code))]
mod sasl;
mod sender;
mod spool;
mod statistics;
mod stats;
mod sync;
#[cfg(feature = "tls")]
mod tls;
pub mod wire;

pub use batch_error::BatchError;
pub use builder::ClientBuilder;
pub use client::Client;
pub use config::{
    ClientType, Config, ConfigKey, Feature, HostSelector, Protocol, QueueFull, SpoolFsync, FLUME_MAX_FRAME_SIZE,
};
pub use error::{Error, ErrorKind, Result};
pub use event::{AsEvent, Event, EventView};
pub use hosts::{parse_host_list, HostPort};
pub use properties::{parse_properties, PropertiesError, Property};
pub use sender::{DeliveryCallback, DeliveryReport};
pub use statistics::{HostStats, LatencyStats, QueueStats, SpoolStats, Stats};
