//! The synchronous client: validates events, splits batches into calls, sends
//! each call on its connection and maps the reply to a result.
//!
//! Delivery: a call answered `OK` was accepted by the source. A call that failed
//! with `Timeout`, `Io`, `Protocol` or `Internal` may or may not have been
//! accepted; the connection is then dropped and the next call reconnects. After
//! `Failed` or `Server` the server rejected the call and the connection is kept.

use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use crate::config::Config;
use crate::conn::Connection;
use crate::error::{err, Result};
use crate::event::EventView;
use crate::hosts::{parse_host_list, HostPort};
use crate::wire::{batch_call_size, decode_reply, encode_call, event_size, Method};

/// A client of one Flume Thrift source (the first host of the list that
/// accepts a connection). Safe to share between threads: calls take turns on
/// its connection.
pub struct Client {
    hosts: Vec<HostPort>,
    config: Config,
    session: Mutex<Session>,
}

/// The connection and the buffers reused by every call.
#[derive(Default)]
struct Session {
    connection: Option<Connection>,
    seqid: i32,
    request: Vec<u8>,
    reply: Vec<u8>,
}

impl Client {
    /// A client of the hosts in `hosts` (see `hosts::parse_host_list`). Does not
    /// connect: that happens on the first call.
    pub fn new(hosts: &str, config: &Config) -> Result<Client> {
        Ok(Client {
            hosts: parse_host_list(hosts)?,
            config: config.clone(),
            session: Mutex::new(Session::default()),
        })
    }

    /// The client's settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Sends one event with `append` and waits for the answer.
    pub fn append<E: EventView>(&self, event: &E) -> Result<()> {
        let events = std::slice::from_ref(event);
        self.validate(Method::Append, events)?;
        self.lock().call(&self.hosts, &self.config, Method::Append, events)
    }

    /// Sends `events` with `appendBatch`, in calls of at most `batch-size`
    /// events and `max-frame-size` bytes, in order, stopping at the first
    /// failure. Every event is validated before anything is sent. `delivered`
    /// receives the number of leading events the server acknowledged, also on
    /// failure.
    pub fn append_batch<E: EventView>(&self, events: &[E], delivered: &mut usize) -> Result<()> {
        *delivered = 0;
        self.validate(Method::AppendBatch, events)?;
        let mut session = self.lock();
        let mut rest = events;
        while !rest.is_empty() {
            let count = self.next_call_len(rest);
            session.call(&self.hosts, &self.config, Method::AppendBatch, &rest[..count])?;
            *delivered += count;
            rest = &rest[count..];
        }
        Ok(())
    }

    /// Checks that every header is UTF-8 (Flume would silently corrupt it) and
    /// that every event fits alone in a frame.
    fn validate<E: EventView>(&self, method: Method, events: &[E]) -> Result<()> {
        for (index, event) in events.iter().enumerate() {
            for h in 0..event.header_count() {
                let (key, value) = event.header(h);
                if let Err(e) = std::str::from_utf8(key) {
                    return Err(err!(InvalidArg, "event {index}: header {h} key is not UTF-8: {e}"));
                }
                if let Err(e) = std::str::from_utf8(value) {
                    return Err(err!(InvalidArg, "event {index}: header {h} value is not UTF-8: {e}"));
                }
            }
            let size = batch_call_size(self.config.protocol, method, 1, event_size(self.config.protocol, event));
            if size > self.config.max_frame_size {
                return Err(err!(
                    TooLarge,
                    "event {index} needs a frame of {size} bytes, more than max-frame-size ({})",
                    self.config.max_frame_size
                ));
            }
        }
        Ok(())
    }

    /// How many of the leading `events` fit in one `appendBatch` call (at least one).
    fn next_call_len<E: EventView>(&self, events: &[E]) -> usize {
        let protocol = self.config.protocol;
        let mut events_size = 0usize;
        for (i, event) in events.iter().enumerate().take(self.config.batch_size) {
            events_size = events_size.saturating_add(event_size(protocol, event));
            if i > 0 && batch_call_size(protocol, Method::AppendBatch, i + 1, events_size) > self.config.max_frame_size {
                return i;
            }
        }
        events.len().min(self.config.batch_size)
    }

    fn lock(&self) -> MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(|poisoned| {
            // A panic interrupted a call: its connection may be mid-frame.
            let mut session = poisoned.into_inner();
            session.connection = None;
            session
        })
    }
}

impl Session {
    /// One call: connect if needed, encode, send, read and decode the reply.
    /// Drops the connection after any error that leaves delivery unknown.
    fn call<E: EventView>(&mut self, hosts: &[HostPort], config: &Config, method: Method, events: &[E]) -> Result<()> {
        if self.connection.is_none() {
            self.connection = Some(connect(hosts, config)?);
            self.seqid = 0;
        }
        let connection = self.connection.as_mut().expect("connected above");
        self.seqid = self.seqid.wrapping_add(1);
        self.request.clear();
        encode_call(config.protocol, &mut self.request, self.seqid, method, events);
        let deadline = Instant::now() + config.request_timeout;
        let result = connection
            .round_trip(&self.request, &mut self.reply, deadline)
            .and_then(|payload| decode_reply(config.protocol, payload, self.seqid, method));
        if let Err(e) = &result {
            if e.kind().maybe_delivered() {
                self.connection = None;
            }
        }
        result
    }
}

/// Connects to the first host that accepts, each tried for `connect-timeout`.
fn connect(hosts: &[HostPort], config: &Config) -> Result<Connection> {
    let mut errors = Vec::new();
    for host in hosts {
        match Connection::open(host, config.connect_timeout) {
            Ok(connection) => return Ok(connection),
            Err(e) => errors.push(e.message().to_string()),
        }
    }
    Err(err!(Connect, "no connection could be made: {}", errors.join("; ")))
}
