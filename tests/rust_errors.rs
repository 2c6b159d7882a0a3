//! Errors as Rust users see them: `source()` is the operating system's error,
//! `Display` has no C code name and names an address once, `ErrorKind` tells
//! what a code means for delivery. The C library's messages stay as they were.

use std::error::Error as _;
use std::ffi::CStr;
use std::net::TcpListener;
use std::time::Duration;

use ::flume_client::{Client, Config, Delivery, ErrorKind, Event};
use flume_client_ffi::{
    flume_client_append, flume_client_free, flume_client_new, flume_config_free, flume_config_new, flume_config_set,
    flume_event, flume_last_error, FLUME_ERR_CONNECT, FLUME_OK,
};

/// An address on loopback where nothing listens: a port the kernel gave a
/// listener that is closed again, so connecting is refused (ECONNREFUSED).
fn refused_address() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);
    address
}

fn config() -> Config {
    let mut config = Config::default();
    config.connect_timeout = Duration::from_secs(5);
    config
}

#[test]
fn a_refused_connection_has_the_os_error_as_its_source() {
    let address = refused_address();
    let client = Client::new(&address, &config()).unwrap();
    let e = client.append(&Event::new("hello")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connect, "{e:?}");
    let source = e.source().unwrap_or_else(|| panic!("no source: {e:?}"));
    let os = source.downcast_ref::<std::io::Error>().unwrap_or_else(|| panic!("not an io::Error: {source:?}"));
    assert_eq!(os.kind(), std::io::ErrorKind::ConnectionRefused, "{os:?}");
    assert_eq!(os.raw_os_error(), Some(libc_econnrefused()), "{os:?}");
}

/// Linux's ECONNREFUSED (the test crate does not depend on libc).
fn libc_econnrefused() -> i32 {
    111
}

#[test]
fn display_has_no_code_name_and_says_the_address_once() {
    let address = refused_address();
    let client = Client::new(&address, &config()).unwrap();
    let e = client.append(&Event::new("hello")).unwrap_err();
    let shown = e.to_string();
    assert!(!shown.contains("FLUME_ERR_"), "{shown}");
    assert_eq!(shown.matches(&address).count(), 1, "{shown}");
    assert_eq!(shown, format!("connecting to {address}: Connection refused (os error 111)"));
    // message() is the C library's detail, unchanged.
    assert_eq!(e.message(), format!("{address}: connecting to {address}: Connection refused (os error 111)"));
}

#[test]
fn the_source_survives_failing_over_across_hosts() {
    let (a, b) = (refused_address(), refused_address());
    let client = Client::new(&format!("{a},{b}"), &config()).unwrap();
    let e = client.append(&Event::new("hello")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connect);
    let os = e.source().and_then(|s| s.downcast_ref::<std::io::Error>()).unwrap_or_else(|| panic!("{e:?}"));
    assert_eq!(os.kind(), std::io::ErrorKind::ConnectionRefused);
    let shown = e.to_string();
    assert_eq!(shown.matches(&a).count(), 1, "{shown}");
    assert_eq!(shown.matches(&b).count(), 1, "{shown}");
}

/// `?` into `Box<dyn Error>` keeps the chain: a reporter walking `source()`
/// reaches the OS error.
#[test]
fn the_chain_reaches_the_os_error_through_box_dyn_error() {
    fn send(address: &str) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let client = Client::new(address, &config())?;
        client.append(&Event::new("hello"))?;
        Ok(())
    }
    let e = send(&refused_address()).unwrap_err();
    let mut chain = vec![e.to_string()];
    let mut next = e.source();
    while let Some(cause) = next {
        chain.push(cause.to_string());
        next = cause.source();
    }
    assert_eq!(chain.len(), 2, "{chain:?}");
    assert_eq!(chain[1], "Connection refused (os error 111)");
}

#[test]
fn errors_without_an_underlying_error_have_no_source() {
    let Err(e) = Client::new("", &config()) else { panic!("an empty host list was accepted") };
    assert_eq!(e.kind(), ErrorKind::InvalidArg, "{e:?}");
    assert!(e.source().is_none(), "{e:?}");
    assert!(!e.to_string().contains("FLUME_ERR_"), "{e}");
}

/// The C library's message for the same failure: the code's name, then the
/// detail, as it always read.
#[test]
fn the_c_message_is_unchanged() {
    let address = refused_address();
    let hosts = std::ffi::CString::new(address.clone()).unwrap();
    unsafe {
        let conf = flume_config_new();
        assert_eq!(flume_config_set(conf, c"connect-timeout".as_ptr(), c"5000".as_ptr()), FLUME_OK);
        let client = flume_client_new(hosts.as_ptr(), conf);
        flume_config_free(conf);
        assert!(!client.is_null());
        let event = flume_event { headers: std::ptr::null(), header_count: 0, body: c"x".as_ptr().cast(), body_len: 1 };
        assert_eq!(flume_client_append(client, &event), FLUME_ERR_CONNECT);
        let message = CStr::from_ptr(flume_last_error()).to_str().unwrap().to_string();
        flume_client_free(client);
        assert_eq!(
            message,
            format!("FLUME_ERR_CONNECT: {address}: connecting to {address}: Connection refused (os error 111)")
        );
    }
}

#[test]
fn each_kind_says_what_it_means_for_delivery() {
    use Delivery::*;
    let expected = [
        (ErrorKind::InvalidArg, NotSent),
        (ErrorKind::Config, NotSent),
        (ErrorKind::TooLarge, NotSent),
        (ErrorKind::Connect, NotSent),
        (ErrorKind::Timeout, MaybeDelivered),
        (ErrorKind::Io, MaybeDelivered),
        (ErrorKind::Protocol, MaybeDelivered),
        (ErrorKind::Failed, Rejected),
        (ErrorKind::Server, Rejected),
        (ErrorKind::Internal, MaybeDelivered),
        (ErrorKind::QueueFull, NotSent),
        (ErrorKind::Closed, NotSent),
        (ErrorKind::Busy, NotSent),
        (ErrorKind::Spool, NotSent),
        (ErrorKind::Expired, NotSent),
    ];
    assert_eq!(expected.len(), ErrorKind::ALL.len());
    for (kind, delivery) in expected {
        assert_eq!(kind.delivery(), delivery, "{kind:?}");
        assert_eq!(kind.maybe_delivered(), delivery == MaybeDelivered, "{kind:?}");
    }
}

#[test]
fn an_unreadable_properties_file_has_the_os_error_as_its_source() {
    let missing = std::env::temp_dir().join(format!("flume-client-no-such-{}.properties", std::process::id()));
    let e = Config::default().load_properties_file(&missing).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArg, "{e:?}");
    let os = e.source().and_then(|s| s.downcast_ref::<std::io::Error>()).unwrap_or_else(|| panic!("{e:?}"));
    assert_eq!(os.kind(), std::io::ErrorKind::NotFound);
}
