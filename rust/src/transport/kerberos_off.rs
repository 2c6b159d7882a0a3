//! Kerberos in a build without the `kerberos` feature: the items of
//! `crate::kerberos` the transport uses, whose settings have no value.
//! `Config::check_features` refuses every Kerberos key, so no
//! connection negotiates.

use std::time::Duration;

use crate::clock::Instant;

use crate::address::HostPort;
use crate::config::Config;
use crate::error::Result;

/// The connection as a negotiation would see it (see `crate::kerberos::Channel`).
/// The stream implements it in every build; only the negotiation, absent
/// here, would call it.
#[allow(dead_code)]
pub(crate) trait Channel {
    /// Sends all of `bytes`.
    fn send(&mut self, bytes: &[u8], deadline: Instant) -> Result<()>;
    /// Appends at least one received byte to `buf`.
    fn receive_some(&mut self, buf: &mut Vec<u8>, deadline: Instant) -> Result<()>;
}

/// No Kerberos settings exist in this build.
pub(crate) enum KerberosSettings {}

impl KerberosSettings {
    /// `None`: `Config::check_features`, which `Transport::new` calls first,
    /// refused `kerberos=true` and every other Kerberos key in this build.
    pub(crate) fn from_config(_config: &Config) -> Result<Option<KerberosSettings>> {
        Ok(None)
    }

    pub(crate) fn authenticate(
        &self,
        _stream: &mut dyn Channel,
        _host: &HostPort,
        _timeout: Duration,
        _deadline: Instant,
    ) -> Result<()> {
        match *self {}
    }
}
