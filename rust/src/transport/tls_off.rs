//! TLS in a build without the `tls` feature: the items of `tls.rs`, whose
//! types have no value. `Config::check_features` refuses every TLS key, so
//! no connection has a session and the stream's TLS branches compile away.

use std::net::TcpStream;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Instant;

use crate::address::HostPort;
use crate::config::Config;
use crate::error::Result;

/// No TLS settings exist in this build.
pub(crate) enum TlsSettings {}

impl TlsSettings {
    /// `None`: `Config::check_features`, which `Transport::new` calls first,
    /// refused `ssl=true` and every other TLS key in this build.
    pub(crate) fn from_config(_config: &Config) -> Result<Option<TlsSettings>> {
        Ok(None)
    }
}

/// No TLS session exists in this build.
pub(crate) enum Session {}

impl Session {
    pub(super) fn start(
        settings: &Arc<TlsSettings>,
        _socket: &TcpStream,
        _host: &HostPort,
        _peer: &str,
        _timeout: Duration,
        _deadline: Instant,
    ) -> Result<Session> {
        match **settings {}
    }

    pub(super) fn send_all(&mut self, _fd: RawFd, _peer: &str, _bytes: &[u8], _deadline: Instant) -> Result<()> {
        match *self {}
    }

    pub(super) fn receive_some(
        &mut self,
        _fd: RawFd,
        _peer: &str,
        _buf: &mut Vec<u8>,
        _deadline: Instant,
    ) -> Result<()> {
        match *self {}
    }

    pub(super) fn is_stale(&mut self, _fd: RawFd) -> bool {
        match *self {}
    }

    pub(super) fn close(&mut self, _fd: RawFd) {
        match *self {}
    }
}
