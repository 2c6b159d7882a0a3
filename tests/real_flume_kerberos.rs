//! Against a real Apache Flume 1.11.0 agent with `kerberos = true` on its
//! Thrift source (feature `kerberos`; `cargo test --features kerberos --test
//! real_flume_kerberos`): the agent of scripts/flume-agent.sh with Hadoop's
//! authentication jars added (scripts/flume-kerberos-lib.sh,
//! tests/flume/kerberos-pom.xml; all from Maven Central), logged in from its
//! `agent-keytab` at the test KDC (tests/common/kdc.rs), its Thrift sink
//! forwarding to the bundled flume-receive, which shows exactly what the agent
//! took. Both protocols; a client the agent must refuse delivers nothing.
#![cfg(feature = "kerberos")]

#[path = "common/flume_agent.rs"]
mod flume_agent;
#[allow(dead_code)]
#[path = "common/kdc.rs"]
mod kdc;

use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use flume_agent::{repo_root, AgentOptions, Downstream, FlumeAgent, Received, SinkKind};
use flume_client::{Client, Config, ErrorKind, EventView, Protocol};
use kdc::{Kdc, CLIENT_PRINCIPAL, SERVER_PRINCIPAL};

/// Flume's jars and Hadoop's, in one directory the agent script runs from
/// (FLUME_LIB_DIR, set for this test process).
fn kerberos_lib_dir() -> &'static str {
    static DIR: OnceLock<String> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = Command::new(repo_root().join("scripts/flume-kerberos-lib.sh"))
            .output()
            .unwrap_or_else(|e| panic!("cannot run scripts/flume-kerberos-lib.sh: {e}"));
        assert!(
            out.status.success(),
            "scripts/flume-kerberos-lib.sh failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let dir = String::from_utf8(out.stdout).unwrap().trim().to_string();
        std::env::set_var("FLUME_LIB_DIR", &dir);
        dir
    })
}

fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Compact => "compact",
        Protocol::Binary => "binary",
    }
}

/// An agent with kerberos=true on its source, agent-principal
/// flume/localhost@FLUME.TEST, and its downstream.
fn secured_agent(protocol: Protocol) -> (FlumeAgent, Downstream) {
    let kdc = Kdc::get();
    kerberos_lib_dir();
    let downstream = Downstream::start(&format!("kerberos-{}", protocol_name(protocol)), protocol);
    let mut options = AgentOptions::new(protocol, SinkKind::Thrift(downstream.port()));
    options.sink_batch_size = 100;
    options.lines = vec![
        "a1.sources.r1.kerberos = true".into(),
        format!("a1.sources.r1.agent-principal = {SERVER_PRINCIPAL}"),
        format!("a1.sources.r1.agent-keytab = {}", kdc.server_keytab().display()),
    ];
    options.java_opts = vec![
        format!("-Djava.security.krb5.conf={}", kdc.krb5_conf.display()),
        // Hadoop 2.10's Kerberos utilities read the JDK's krb5 classes by reflection.
        "--add-opens=java.security.jgss/sun.security.krb5=ALL-UNNAMED".into(),
        "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED".into(),
    ];
    let agent = FlumeAgent::start(&format!("kerberos-{}", protocol_name(protocol)), options);
    (agent, downstream)
}

fn kerberos_config(protocol: Protocol) -> Config {
    let kdc = Kdc::get();
    let mut config = Config::default();
    for (key, value) in [
        ("protocol", protocol_name(protocol)),
        ("kerberos", "true"),
        ("client-principal", CLIENT_PRINCIPAL),
        ("client-keytab", kdc.client_keytab().to_str().unwrap()),
        ("server-principal", "flume/_HOST@FLUME.TEST"),
        ("connect-timeout", "10000"),
        ("request-timeout", "30000"),
        ("batch-size", "40"),
    ] {
        config.set(key, value).unwrap_or_else(|e| panic!("{key}={value}: {e}"));
    }
    config
}

fn exact_events(protocol: Protocol) {
    let label = format!("real flume, kerberos, {}", protocol_name(protocol));
    let (agent, downstream) = secured_agent(protocol);
    let client = Client::new(&format!("localhost:{}", agent.port()), &kerberos_config(protocol)).unwrap();
    let bodies: Vec<Vec<u8>> = (0..100).map(|i| format!("event {i} {}", "x".repeat(i * 37)).into_bytes()).collect();
    let headers: Vec<Vec<(String, String)>> = (0..100)
        .map(|i| vec![("n".to_string(), i.to_string()), ("realm".to_string(), "FLUME.TEST ✓".to_string())])
        .collect();
    let header_refs: Vec<Vec<(&[u8], &[u8])>> =
        headers.iter().map(|h| h.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())).collect()).collect();
    let events: Vec<EventView> = bodies.iter().zip(&header_refs).map(|(b, h)| EventView::new(h, b)).collect();
    client.append_batch(&events[..99]).unwrap_or_else(|e| panic!("{label}: {e}\n{}", agent.log()));
    client.append(&events[99]).unwrap_or_else(|e| panic!("{label}: {e}"));
    let received = downstream.wait_for(Duration::from_secs(60), "100 events", |e| e.len() >= 100);
    let expected: Vec<Received> = bodies
        .iter()
        .zip(&headers)
        .map(|(body, h)| {
            let mut headers = h.clone();
            headers.sort();
            Received { headers, body: body.clone() }
        })
        .collect();
    assert!(received == expected, "{label}: the events differ");

    // A client the agent cannot authenticate (a ticket for a principal whose
    // key the agent lacks) is refused, and delivers nothing.
    let wrong = {
        let mut c = kerberos_config(protocol);
        c.set("server-principal", "other/_HOST@FLUME.TEST").unwrap();
        c
    };
    let refused = Client::new(&format!("localhost:{}", agent.port()), &wrong).unwrap();
    let e = refused.append(&EventView::body(b"must not arrive")).unwrap_err();
    eprintln!("{label}, refused: {e}");
    assert_eq!(e.kind(), ErrorKind::Connect, "{e}");
    assert!(e.message().contains("the server refused the authentication (BAD)"), "{e}");
    // A plain client neither.
    let plain = Client::new(&format!("localhost:{}", agent.port()), &Config::default()).unwrap();
    let e = plain.append(&EventView::body(b"must not arrive either")).unwrap_err();
    eprintln!("{label}, plain client: {e}");
    assert!(e.message().contains("kerberos=true"), "{e}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(downstream.events().len(), 100, "{label}: nothing more arrived");
}

#[test]
fn real_flume_kerberos_compact() {
    exact_events(Protocol::Compact);
}

#[test]
fn real_flume_kerberos_binary() {
    exact_events(Protocol::Binary);
}
