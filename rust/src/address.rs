//! Host addresses: parsing host lists (`host:port` entries separated by
//! commas and/or spaces, where a host is a name, an IPv4 address or a
//! bracketed IPv6 address). No I/O: names are resolved when connecting.

use std::fmt;
use std::net::IpAddr;

use crate::error::{err, Result};

/// One `host:port` entry of a host list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPort {
    /// A name or an IP address, without brackets.
    pub host: String,
    /// 1 to 65535.
    pub port: u16,
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Parses a host list such as `"h1:4141, 10.0.0.2:4141 [::1]:4141"`.
/// Fails with `InvalidArg` naming the first bad entry.
pub fn parse_host_list(list: &str) -> Result<Vec<HostPort>> {
    let hosts = list
        .split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|entry| !entry.is_empty())
        .map(parse_host_port)
        .collect::<Result<Vec<_>>>()?;
    if hosts.is_empty() {
        return Err(err!(InvalidArg, "host list '{list}' names no host (expected host:port)"));
    }
    Ok(hosts)
}

/// Parses one `host:port` or `[ipv6]:port`.
pub fn parse_host_port(entry: &str) -> Result<HostPort> {
    let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
        let (host, port) =
            rest.split_once("]:").ok_or_else(|| err!(InvalidArg, "host '{entry}': expected [ipv6-address]:port"))?;
        if !matches!(host.parse::<IpAddr>(), Ok(IpAddr::V6(_))) {
            return Err(err!(InvalidArg, "host '{entry}': '{host}' is not an IPv6 address"));
        }
        (host, port)
    } else {
        let (host, port) =
            entry.rsplit_once(':').ok_or_else(|| err!(InvalidArg, "host '{entry}': expected host:port"))?;
        if host.contains(':') {
            return Err(err!(InvalidArg, "host '{entry}': an IPv6 address must be bracketed, as in [::1]:4141"));
        }
        let valid_name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
        if host.is_empty() || !host.chars().all(valid_name) {
            return Err(err!(InvalidArg, "host '{entry}': '{host}' is not a host name or IPv4 address"));
        }
        (host, port)
    };
    let port = match port.parse::<u16>() {
        Ok(p) if p != 0 && port.bytes().all(|b| b.is_ascii_digit()) => p,
        _ => return Err(err!(InvalidArg, "host '{entry}': port '{port}' is not a number from 1 to 65535")),
    };
    Ok(HostPort { host: host.to_string(), port })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn hp(host: &str, port: u16) -> HostPort {
        HostPort { host: host.into(), port }
    }

    #[test]
    fn names_ipv4_and_bracketed_ipv6_separated_by_commas_and_spaces() {
        assert_eq!(
            parse_host_list(" agent-1.example:4141,10.0.0.2:41414  [::1]:4141 ,[fe80::1%2]:1").unwrap_err().kind(),
            ErrorKind::InvalidArg
        );
        assert_eq!(
            parse_host_list(" agent-1.example:4141,10.0.0.2:41414  [::1]:4141 ,").unwrap(),
            vec![hp("agent-1.example", 4141), hp("10.0.0.2", 41414), hp("::1", 4141)]
        );
        assert_eq!(hp("::1", 1).to_string(), "[::1]:1");
    }

    #[test]
    fn malformed_entries_are_invalid_arg_naming_the_entry() {
        for bad in [
            "",
            " , ",
            "host",
            "host:",
            ":4141",
            "host:0",
            "host:65536",
            "host:+1",
            "host:12x",
            "::1:4141",
            "[::1]4141",
            "[10.0.0.1]:4141",
            "[::1:4141",
            "h/x:1",
            "héllo:1",
        ] {
            let e = parse_host_list(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArg, "{bad:?}");
            assert!(e.message().contains(bad.trim_matches([' ', ','])), "{bad:?}: {e}");
        }
    }
}
