//! A client for [Apache Flume](https://flume.apache.org/)'s Thrift source:
//! send events to a Flume agent with real timeouts, exact delivery counts,
//! failover and load balancing over several agents, an asynchronous send
//! queue with one delivery report per event, and an optional durable queue
//! on disk.
//!
//! Depending on it builds an rlib and nothing else: no C library, no build
//! script. Its run-time dependencies are std and libc; TLS and Kerberos are
//! features (see [Features](#features)).
//!
//! # Sending events
//!
//! A [`Client`] is made by [`Client::builder`] (or [`Client::new`] with a
//! [`Config`]); it connects when the first event goes out. [`Client::append`]
//! and [`Client::append_batch`] send and wait for the agent's answer;
//! [`Client::send`] queues an event and returns at once, and the client's
//! sender thread reports its outcome to the delivery callback.
//!
//! ```no_run
//! use std::time::Duration;
//! use flume_client::{Client, Event};
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let client = Client::builder()
//!         .host("agent1:4141")
//!         .host("agent2:4141") // failover: tried in order
//!         .request_timeout(Duration::from_secs(5))
//!         .build()?;
//!
//!     // One event, acknowledged when append returns Ok.
//!     client.append(&Event::new("hello").with_header("host", "web-1"))?;
//!
//!     // A batch, sent in calls of at most batch-size events.
//!     let events: Vec<Event> = (0..1000).map(|i| Event::new(format!("event {i}"))).collect();
//!     if let Err(e) = client.append_batch(&events) {
//!         // The first e.delivered() events were acknowledged: resume after them.
//!         eprintln!("{e}; {} acknowledged", e.delivered());
//!     }
//!     Ok(())
//! }
//! ```
//!
//! # Asynchronous sending
//!
//! [`Client::send`] copies the event into a bounded queue (`queue.max-events`,
//! `queue.max-bytes`) and returns; batches go out in the background, with
//! retries, and every event accepted by `send` gets exactly one
//! [`DeliveryReport`], carrying the `opaque` value given to `send`.
//! [`Client::flush`] waits for the reports of everything sent before it;
//! dropping the client flushes for at most `close-timeout` and reports the
//! rest as failed. The client is `Send + Sync`: share it by reference or in an
//! `Arc`.
//!
//! ```no_run
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//! use flume_client::{Client, Event};
//!
//! # fn main() -> Result<(), flume_client::Error> {
//! let failed = Arc::new(Mutex::new(Vec::new()));
//! let sink = Arc::clone(&failed);
//! let client = Client::builder()
//!     .host("agent1:4141")
//!     .on_delivery(move |report| {
//!         if let Err(e) = report.result {
//!             sink.lock().unwrap().push((report.opaque, e.kind()));
//!         }
//!     })
//!     .build()?;
//! std::thread::scope(|scope| {
//!     for thread in 0..4 {
//!         let client = &client;
//!         scope.spawn(move || {
//!             for i in 0..100 {
//!                 let event = Event::new(format!("{thread}/{i}"));
//!                 // Fails with QueueFull when the queue has no room.
//!                 client.send(&event, thread * 100 + i).expect("queued");
//!             }
//!         });
//!     }
//! });
//! client.flush(Duration::from_secs(30))?;
//! println!("{} events failed", failed.lock().unwrap().len());
//! # Ok(())
//! # }
//! ```
//!
//! # Events
//!
//! [`Event`] owns its body and headers and is made from `&str`, `String`,
//! `Vec<u8>` or `&[u8]`, with headers from pairs, maps or any iterator;
//! [`EventView`] borrows slices of the caller's memory, sent without copying.
//! Every method taking events takes anything implementing [`AsEvent`]:
//! `&[Event]`, `&[&Event]`, `&[EventView]`, or a type of your own.
//!
//! ```
//! use std::collections::HashMap;
//! use flume_client::{AsEvent, Event};
//!
//! let labels: HashMap<String, String> = HashMap::from([("region".into(), "eu".into()), ("tier".into(), "web".into())]);
//! let events: Vec<Event> =
//!     (0..3).map(|i| Event::new(format!("line {i}")).with_headers(&labels).with_header("n", i.to_string())).collect();
//! assert_eq!(events[2].header_count(), 3);
//! ```
//!
//! # Settings
//!
//! Settings have Flume's key names and defaults (README "Configuration"):
//! typed methods of [`ClientBuilder`], fields of [`Config`], or keys from a
//! Flume client properties file ([`ClientBuilder::properties_file`],
//! [`Config::load_properties_file`]). Every value is checked where the client
//! is made, with the rules of the key: a client never loops, waits forever or
//! fails every call because of a setting. `Duration::MAX` means "no limit"
//! wherever a timeout is taken.
//!
//! ```
//! use flume_client::{Client, ErrorKind};
//!
//! let e = Client::builder().host("agent1:4141").batch_size(0).build().unwrap_err();
//! assert_eq!(e.kind(), ErrorKind::Config);
//! let e = Client::builder().host("agent1:0").build().unwrap_err();
//! assert_eq!(e.kind(), ErrorKind::InvalidArg);
//! ```
//!
//! # Errors and delivery
//!
//! Every failure is an [`Error`] with an [`ErrorKind`], the result code of the
//! C API. A kind says what happened to the events: never sent (`InvalidArg`,
//! `Config`, `TooLarge`, `Connect`, `Busy`, `QueueFull`, `Expired`...),
//! rejected by the agent (`Failed`, `Server`), or maybe delivered (`Timeout`,
//! `Io`, `Protocol`, `Internal`: [`ErrorKind::maybe_delivered`]). A call
//! answered OK was accepted by the agent's channel.
//!
//! # Statistics
//!
//! [`Client::stats`] gives typed [`Stats`] (events and calls acknowledged,
//! failures by kind, latency, the queue, each host, the spool);
//! [`Client::stats_json`] the same as JSON and [`Client::stats_prometheus`]
//! in the Prometheus text format.
//!
//! # Features
//!
//! - `tls`: TLS to Flume's SSL Thrift source (rustls with ring, no OpenSSL):
//!   the `ssl`, `truststore`, `ssl-*` settings and the `tls*` methods of
//!   [`ClientBuilder`]. Without it those settings are refused with a clear
//!   `Config` error.
//! - `kerberos`: Kerberos (SASL GSSAPI) to Flume's secured Thrift source,
//!   with MIT's `libgssapi_krb5.so.2` loaded at run time: the `kerberos`,
//!   `client-principal`, `client-keytab`, `server-principal` settings and the
//!   Kerberos methods of [`ClientBuilder`].
//!
//! Items that need a feature say so in their documentation ("Available with
//! the `tls` feature").
//!
//! The C API (`include/flume_client.h`) is the crate `flume-client-ffi`, a
//! thin layer over this one at the root of the repository.
//!
//! # Layers
//!
//! Inside the crate, layers point down: a module uses only modules on lower lines, or to its
//! right on its own line, and no two modules use each other.
//!
//! ```text
//! C boundary  flume-client-ffi (src/ at the root)   pointers, panics, last error
//! facade      builder  client                       Client: append, append_batch, send, flush, stats
//! async       sender  spool                         queue and sender thread; durable queue on disk
//! core        core                                  validate, split into calls, failover, retries of a call
//! hosts       hosts  pool  stats  statistics        host order and backoff; connections per host; counters
//! transport   transport  kerberos  sasl  gssapi     TCP, Stream (plain or TLS); SASL GSSAPI
//! settings    config                                key values (config::tls, config::kerberos: their files)
//! encoding    event  wire  properties               Event, EventView; Thrift frames (owns Protocol, AsEvent)
//! base        batch_error  cancel  address  report  sync  clock  error
//! ```
//!
//! A call travels one way, down and back up (the core maps the reply to an
//! `Error`, whose kind is the C result code):
//!
//! ```text
//! C call -> validate -> encode -> send -> read -> decode -> result
//! ffi       core        wire      transport       wire      core
//! ```
//!
//! The C boundary checks pointers and calls the `Client`; the core validates
//! the events and splits them into calls, each encoded by `wire` into a reused
//! buffer, sent and answered on a pooled connection of a host `hosts` chose,
//! under a deadline; `wire` decodes the reply and the core maps it to a
//! result. `send` takes the same path from the sender thread.

#![warn(missing_docs)]

mod address;
mod batch_error;
mod builder;
mod cancel;
mod client;
mod clock;
mod config;
mod core;
mod error;
mod event;
#[cfg(feature = "kerberos")]
mod gssapi;
mod hosts;
#[cfg(feature = "kerberos")]
mod kerberos;
mod pool;
mod properties;
mod report;
#[cfg_attr(not(feature = "kerberos"), allow(dead_code))]
mod sasl;
mod sender;
mod spool;
mod statistics;
mod stats;
mod sync;
mod transport;
mod wire;

pub use address::{parse_host_list, HostPort};
pub use batch_error::BatchError;
pub use builder::ClientBuilder;
pub use client::Client;
pub use config::{ClientType, Config, ConfigKey, Feature, HostSelector, QueueFull, SpoolFsync, FLUME_MAX_FRAME_SIZE};
pub use error::{Delivery, Error, ErrorKind, Result};
pub use event::{AsEvent, Event, EventView};
pub use properties::{parse_properties, PropertiesError, Property};
pub use report::{DeliveryCallback, DeliveryReport};
pub use statistics::{HostStats, LatencyStats, QueueStats, SpoolStats, Stats};

/// Internals for the crate's own tools and tests: **not part of the API**.
///
/// `flume-tools` (`flume-send`, `flume-receive`), the integration tests, the
/// fuzz targets and the benchmarks need the Thrift wire format of Flume's
/// source: the receiver's side (`decode_call`, `encode_reply`, `frame_len`),
/// and the sizes and encoders the client uses (`batch_call_size`,
/// `event_size`, `encode_call`, ...). They are re-exported here, and only
/// here, so that the crate's public surface stays the client API.
///
/// Hidden from the documentation and not covered by semantic versioning: any
/// item may change or go in any release. Programs should use `Client` and
/// the types beside it.
#[doc(hidden)]
pub mod unstable {
    pub use crate::wire::{
        batch_call_size, decode_call, decode_reply, decode_reply_to_call, encode_call, encode_call_spliced,
        encode_reply, event_size, frame_len, segments, Call, CallLimits, HeaderSink, Method, ReceivedEvent, Request,
        Splice, Status, FRAME_HEADER_LEN, SPLICED_BODY_MIN,
    };
}
pub use wire::Protocol;
