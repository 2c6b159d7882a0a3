//! Connecting to a name with several addresses (Happy Eyeballs, RFC 8305):
//! when the first address never answers (its SYNs are dropped), the others
//! are tried within the same `connect-timeout`.
//!
//! The name is a real one, resolved by the system's resolver: any name under
//! `.localhost` resolves to ::1 and 127.0.0.1 through glibc's `myhostname`
//! module (Debian's libnss-myhostname, which scripts/install-deps.sh installs;
//! RFC 6761 reserves `.localhost` for loopback). `FLUME_TEST_DUAL_STACK_NAME`
//! names another name to use. The first address is blackholed by a listener
//! whose accept queue is full (Linux then drops SYNs, so a connect hangs), and
//! Apache Thrift's Python server listens on the second.

#[allow(dead_code)] // the interop and TLS tests use parts of it that these do not
#[path = "common/peers.rs"]
mod peers;

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use flume_client::{Client, Config, ErrorKind, EventView, Protocol};
use peers::{PeerKind, PeerServer};

const DEFAULT_NAME: &str = "flume-client-test.localhost";

/// The name and its addresses in the resolver's order; fails loudly unless
/// it gives an IPv6 loopback address first and an IPv4 one after it.
fn dual_stack_name(port: u16) -> (String, Vec<SocketAddr>) {
    let name = std::env::var("FLUME_TEST_DUAL_STACK_NAME").unwrap_or_else(|_| DEFAULT_NAME.to_string());
    let addrs: Vec<SocketAddr> = (name.as_str(), port)
        .to_socket_addrs()
        .unwrap_or_else(|e| {
            panic!("{name} does not resolve ({e}): install libnss-myhostname (scripts/install-deps.sh) so that *.localhost resolves to ::1 and 127.0.0.1")
        })
        .collect();
    let first_v6 = addrs.first().is_some_and(|a| a.ip().is_loopback() && a.is_ipv6());
    let then_v4 = addrs.iter().any(|a| a.ip().is_loopback() && a.is_ipv4());
    assert!(
        first_v6 && then_v4,
        "{name} resolves to {addrs:?}: this test needs [::1] first and 127.0.0.1 after it (libnss-myhostname \
         with glibc's default address order), or FLUME_TEST_DUAL_STACK_NAME naming such a name"
    );
    (name, addrs)
}

/// A listener on `addr` whose accept queue is full, so that connecting to it
/// hangs; checked with a raw connect. Keep it (and the queued streams) alive.
fn blackhole(addr: SocketAddr) -> (TcpListener, Vec<TcpStream>) {
    let listener = TcpListener::bind(addr).unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"));
    let addr = listener.local_addr().unwrap();
    // Backlog 0: the accept queue holds one connection; Linux drops the SYNs that come while it is full.
    assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
    let probe = Duration::from_millis(200);
    let queued: Vec<TcpStream> = (0..3).filter_map(|_| TcpStream::connect_timeout(&addr, probe).ok()).collect();
    match TcpStream::connect_timeout(&addr, probe) {
        Err(e) if e.kind() == io::ErrorKind::TimedOut || e.kind() == io::ErrorKind::WouldBlock => {}
        other => panic!("a raw connect to the full listener on {addr} did not hang ({other:?}): this test cannot blackhole an address on this kernel"),
    }
    (listener, queued)
}

fn config(connect_timeout_ms: u32) -> Config {
    let mut config = Config::default();
    config.set("connect-timeout", &connect_timeout_ms.to_string()).unwrap();
    config.set("request-timeout", "10000").unwrap();
    config
}

#[test]
fn a_name_whose_first_address_never_answers_connects_to_the_next_within_connect_timeout() {
    let mut server = PeerServer::start(PeerKind::Python, Protocol::Compact);
    let port = server.port();
    let (name, addrs) = dual_stack_name(port);
    let _hole = blackhole(addrs[0]);

    let connect_timeout = Duration::from_millis(4000);
    let client = Client::new(&format!("{name}:{port}"), &config(4000)).unwrap();
    let bodies: Vec<Vec<u8>> = (0..20).map(|i| format!("event {i}").into_bytes()).collect();
    let events: Vec<EventView> = bodies.iter().map(|b| EventView::new(&[], b)).collect();
    let start = Instant::now();
    let result = client.append_batch(&events);
    let elapsed = start.elapsed();
    assert_eq!(result, Ok(()), "{name}:{port} ({addrs:?}, first blackholed) after {elapsed:?}");
    // Without Happy Eyeballs the whole connect-timeout goes to the first address, then the call fails.
    assert!(elapsed < connect_timeout, "took {elapsed:?}, connect-timeout is {connect_timeout:?}");
    let received: Vec<Vec<u8>> =
        server.calls(events.len()).into_iter().flat_map(|c| c.events).map(|e| e.body).collect();
    assert_eq!(received, bodies);

    // The connection made goes on serving calls (it is the one to the second address).
    client.append(&events[0]).unwrap();
    assert_eq!(server.calls(events.len() + 1).iter().map(|c| c.events.len()).sum::<usize>(), events.len() + 1);
}

#[test]
fn a_name_whose_every_address_never_answers_fails_at_connect_timeout_naming_each() {
    // Both addresses blackholed on one port: find a port free on both loopbacks.
    let (name, holes) = (0..20)
        .find_map(|_| {
            let first = blackhole("[::1]:0".parse().unwrap());
            let port = first.0.local_addr().unwrap().port();
            let (name, addrs) = dual_stack_name(port);
            let v4 = *addrs.iter().find(|a| a.is_ipv4()).unwrap();
            TcpListener::bind(v4).ok().map(drop)?;
            Some((name, [first, blackhole(v4)]))
        })
        .expect("no port free on both ::1 and 127.0.0.1");
    let port = holes[0].0.local_addr().unwrap().port();

    let connect_timeout = Duration::from_millis(1000);
    let client = Client::new(&format!("{name}:{port}"), &config(1000)).unwrap();
    let start = Instant::now();
    let e = client.append(&EventView::new(&[], b"x")).unwrap_err();
    let elapsed = start.elapsed();
    assert_eq!(e.kind(), ErrorKind::Connect, "{e}");
    assert!(elapsed >= connect_timeout && elapsed < connect_timeout + Duration::from_millis(900), "{elapsed:?}: {e}");
    for addr in [format!("[::1]:{port}"), format!("127.0.0.1:{port}")] {
        assert!(e.message().contains(&format!("connecting to {addr}: no answer within connect-timeout")), "{e}");
    }
}

#[test]
fn a_refused_first_address_moves_to_the_next_at_once() {
    let mut server = PeerServer::start(PeerKind::Python, Protocol::Compact);
    let port = server.port();
    let (name, _) = dual_stack_name(port);
    // Nothing listens on [::1]:port (refused at once, unless another process took that port).
    if TcpListener::bind(("::1", port)).is_err() {
        panic!("[::1]:{port} is taken by another process: rerun");
    }
    let client = Client::new(&format!("{name}:{port}"), &config(4000)).unwrap();
    let start = Instant::now();
    client.append(&EventView::new(&[], b"after a refusal")).unwrap();
    // A refusal does not wait for the attempt delay to run out.
    assert!(start.elapsed() < Duration::from_millis(4000), "{:?}", start.elapsed());
    assert_eq!(server.calls(1)[0].events[0].body, b"after a refusal");
}
