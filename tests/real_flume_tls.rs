//! TLS to a real Apache Flume 1.11.0 agent (`cargo test --features tls --test
//! real_flume_tls`): its Thrift source with `ssl = true` and a PKCS12 keystore
//! made by the test (openssl: a CA, and a server certificate for 127.0.0.1
//! signed by it), the client trusting that CA's PEM. What the agent took is
//! read back exactly from its Thrift sink's downstream (`flume-receive`).

#![cfg(feature = "tls")]

#[path = "common/flume_agent.rs"]
mod flume_agent;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use flume_agent::{AgentOptions, Downstream, FlumeAgent, SinkKind};
use flume_client::{Client, Config, EventView, Protocol};

const OPENSSL_CNF: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = flume-client real agent test
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
authorityKeyIdentifier = keyid
";

const PASSWORD: &str = "flume-test";

/// The test CA's PEM and the agent's keystore (PKCS12), made once.
fn certificates() -> &'static (PathBuf, PathBuf) {
    static CERTS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    CERTS.get_or_init(|| {
        let dir = flume_agent::scratch_dir().join("tls");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("openssl.cnf"), OPENSSL_CNF).unwrap();
        let openssl = |args: &[&str]| run(&dir, args);
        openssl(&[
            "req",
            "-x509",
            "-new",
            "-config",
            "openssl.cnf",
            "-extensions",
            "ca",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=flume-client test CA",
        ]);
        openssl(&[
            "req",
            "-new",
            "-config",
            "openssl.cnf",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "openssl.cnf",
            "-extensions",
            "server",
            "-out",
            "server.pem",
        ]);
        let pass = format!("pass:{PASSWORD}");
        openssl(&[
            "pkcs12",
            "-export",
            "-in",
            "server.pem",
            "-inkey",
            "server.key",
            "-certfile",
            "ca.pem",
            "-name",
            "server",
            "-out",
            "server.p12",
            "-passout",
            &pass,
        ]);
        (dir.join("ca.pem"), dir.join("server.p12"))
    })
}

fn run(dir: &Path, args: &[&str]) {
    let openssl = std::env::var("OPENSSL").unwrap_or_else(|_| "openssl".into());
    let out = Command::new(&openssl)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {openssl} (the TLS tests need openssl): {e}"));
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn exact_over_tls(protocol: Protocol) {
    let name = match protocol {
        Protocol::Compact => "tls-compact",
        Protocol::Binary => "tls-binary",
    };
    let (ca, keystore) = certificates();
    let downstream = Downstream::start(name, protocol);
    let mut options = AgentOptions::new(protocol, SinkKind::Thrift(downstream.port()));
    options.ssl = Some((keystore.clone(), PASSWORD.into()));
    options.sink_batch_size = 10;
    let agent = FlumeAgent::start(name, options);

    let mut config = Config::default();
    for (k, v) in [
        ("protocol", if protocol == Protocol::Compact { "compact" } else { "binary" }),
        ("ssl", "true"),
        ("truststore", ca.to_str().unwrap()),
        ("connect-timeout", "20000"),
        ("request-timeout", "30000"),
    ] {
        config.set(k, v).unwrap_or_else(|e| panic!("{k}={v}: {e}"));
    }
    // Binary by name: the certificate's DNS name is checked (compact: its IP).
    let host = if protocol == Protocol::Binary { "localhost" } else { "127.0.0.1" };
    let client = Client::new(&format!("{host}:{}", agent.port()), &config).unwrap();

    // Bodies of 0 bytes to 1 MB (a frame over many TLS records), binary;
    // headers with multi-byte UTF-8.
    let bodies: Vec<Vec<u8>> = [0usize, 1, 100, 16_385, 100_000, 1 << 20]
        .iter()
        .map(|&n| (0..n).map(|i| (i * 31 % 251) as u8).collect())
        .collect();
    let values: Vec<String> = (0..bodies.len()).map(|i| format!("{i}: ключ 键 😀")).collect();
    let headers: Vec<Vec<(&str, &str)>> =
        values.iter().map(|v| vec![("test", name), ("value", v.as_str()), ("ünï", "ç")]).collect();
    let header_bytes: Vec<Vec<(&[u8], &[u8])>> =
        headers.iter().map(|h| h.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())).collect()).collect();
    let events: Vec<EventView> = bodies.iter().zip(&header_bytes).map(|(b, h)| EventView::new(h, b)).collect();
    client.append(&events[0]).unwrap();
    // A pause long enough for TLS 1.3 session tickets to arrive: they must
    // not cost a reconnect.
    std::thread::sleep(Duration::from_millis(300));
    client.append_batch(&events[1..]).unwrap();

    let received = downstream.wait_for(Duration::from_secs(60), "every event", |r| r.len() >= events.len());
    assert_eq!(received.len(), events.len());
    for (i, (got, body)) in received.iter().zip(&bodies).enumerate() {
        assert_eq!(&got.body, body, "{name}: event {i}: body of {} bytes", body.len());
        let mut want: Vec<(String, String)> = headers[i].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        want.sort();
        assert_eq!(got.headers, want, "{name}: event {i}: headers");
    }
    let stats = client.stats_json().unwrap();
    assert!(stats.contains("\"connects\":1,"), "one TLS connection, the pause included: {stats}");
}

#[test]
fn tls_source_compact() {
    exact_over_tls(Protocol::Compact);
}

#[test]
fn tls_source_binary() {
    exact_over_tls(Protocol::Binary);
}
