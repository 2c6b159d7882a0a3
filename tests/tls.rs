//! TLS (feature `tls`; run with `cargo test --features tls --test tls`):
//! interop with real TLS Thrift servers and every way TLS can go wrong.
//!
//! Servers: Apache Thrift's Java library set up as Flume's Thrift source with
//! `ssl=true` (`TSSLTransportFactory` + `TThreadPoolServer` +
//! `TFastFramedTransport`, a JKS keystore made by `keytool`;
//! `peers/FlumeTlsTestServer.java`), and Thrift's Python `TSSLServerSocket`
//! (OpenSSL; `peers/python_tls_server.py`), both recording what they decode.
//! Certificates are made per test process with `openssl` and `keytool`: a CA,
//! a server certificate for localhost/127.0.0.1, one for another name, one
//! expired, one from another CA, client certificates for mutual TLS.
//!
//! Each failure must be `Connect` with a message naming its cause, and
//! nothing may reach a server in clear text.
#![cfg(feature = "tls")]

#[allow(dead_code)]
#[path = "common/peers.rs"]
mod peers;
#[path = "common/sample.rs"]
mod sample;

use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use flume_client::{Client, Config, Error, ErrorKind, Protocol};
use peers::{java_command, protocol_name, python_command, tool, work_dir, PeerKind, PeerServer};
use sample::{all_events, send, Sent, Shape};

const PASSWORD: &str = "changeit";
const INSTALL_HINT: &str = "the TLS tests' certificates need openssl and a JDK's keytool";

// ---------------------------------------------------------------------------
// Tools

/// Runs a command in `dir`, panicking with its output if it fails.
fn run(dir: &Path, program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e} ({INSTALL_HINT})"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------
// Certificates

/// Every certificate and key file of the tests, made once per test process.
struct Certs {
    dir: PathBuf,
}

impl Certs {
    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().expect("UTF-8 path").to_string()
    }
}

/// The server certificates a server can present.
#[derive(Clone, Copy, Debug)]
enum ServerCert {
    /// localhost and 127.0.0.1, signed by the CA.
    Good,
    /// wrong.example.com only, signed by the CA.
    WrongHost,
    /// localhost and 127.0.0.1, signed by the CA, expired a month ago.
    Expired,
    /// localhost and 127.0.0.1, signed by another CA.
    OtherCa,
}

impl ServerCert {
    fn name(self) -> &'static str {
        match self {
            ServerCert::Good => "server",
            ServerCert::WrongHost => "wronghost",
            ServerCert::Expired => "expired",
            ServerCert::OtherCa => "otherca-server",
        }
    }
}

const OPENSSL_CNF: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
authorityKeyIdentifier = keyid
[wronghost]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example.com
authorityKeyIdentifier = keyid
[client]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
";

fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(|| {
        let dir = work_dir().join("certs");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("openssl.cnf"), OPENSSL_CNF).unwrap();
        let openssl = tool("OPENSSL", "openssl");
        let keytool = tool("KEYTOOL", "keytool");
        let openssl = |args: &[&str]| run(&dir, &openssl, args);
        let keytool = |args: &[&str]| run(&dir, &keytool, args);
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

        // Two CAs.
        for (ca, cn) in [("ca", "Flume Test CA"), ("otherca", "Some Other CA")] {
            let mut args = vec!["req", "-x509", "-new", "-config", "openssl.cnf", "-extensions", "ca"];
            args.extend(ec);
            let (key, pem, subj) = (format!("{ca}.key"), format!("{ca}.pem"), format!("/CN={cn}"));
            args.extend(["-keyout", &key, "-out", &pem, "-days", "30", "-subj", &subj]);
            openssl(&args);
        }
        // Leaf certificates: (file name, CN, signing CA, extension section).
        let leaves = [
            ("server", "localhost", "ca", "server"),
            ("wronghost", "wrong.example.com", "ca", "wronghost"),
            ("otherca-server", "localhost", "otherca", "server"),
            ("client", "flume-client", "ca", "client"),
            ("otherca-client", "flume-client", "otherca", "client"),
        ];
        for (serial, (name, cn, ca, ext)) in leaves.iter().enumerate() {
            let (key, csr, pem, subj) =
                (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"), format!("/CN={cn}"));
            let mut args = vec!["req", "-new", "-config", "openssl.cnf"];
            args.extend(ec);
            args.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
            openssl(&args);
            let (ca_pem, ca_key, serial) = (format!("{ca}.pem"), format!("{ca}.key"), (serial + 2).to_string());
            openssl(&[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca_pem,
                "-CAkey",
                &ca_key,
                "-set_serial",
                &serial,
                "-days",
                "30",
                "-extfile",
                "openssl.cnf",
                "-extensions",
                ext,
                "-out",
                &pem,
            ]);
        }
        // The expired certificate: keytool can date a certificate in the past.
        let mut args = vec!["req", "-new", "-config", "openssl.cnf"];
        args.extend(ec);
        args.extend(["-keyout", "expired.key", "-out", "expired.csr", "-subj", "/CN=localhost"]);
        openssl(&args);
        let pass = format!("pass:{PASSWORD}");
        openssl(&[
            "pkcs12", "-export", "-in", "ca.pem", "-inkey", "ca.key", "-name", "ca", "-out", "ca.p12", "-passout",
            &pass,
        ]);
        keytool(&[
            "-gencert",
            "-alias",
            "ca",
            "-keystore",
            "ca.p12",
            "-storetype",
            "PKCS12",
            "-storepass",
            PASSWORD,
            "-infile",
            "expired.csr",
            "-outfile",
            "expired.pem",
            "-rfc",
            "-startdate",
            "-60d",
            "-validity",
            "30",
            "-ext",
            "SAN=dns:localhost,ip:127.0.0.1",
            "-ext",
            "EKU=serverAuth",
            "-ext",
            "KU=digitalSignature",
        ]);
        // JKS keystores for the Java server, as Flume's keystore setting wants.
        for server in ["server", "wronghost", "expired", "otherca-server"] {
            let (pem, key, p12, jks) =
                (format!("{server}.pem"), format!("{server}.key"), format!("{server}.p12"), format!("{server}.jks"));
            openssl(&[
                "pkcs12", "-export", "-in", &pem, "-inkey", &key, "-name", "server", "-out", &p12, "-passout", &pass,
            ]);
            keytool(&[
                "-importkeystore",
                "-noprompt",
                "-srckeystore",
                &p12,
                "-srcstoretype",
                "PKCS12",
                "-srcstorepass",
                PASSWORD,
                "-destkeystore",
                &jks,
                "-deststoretype",
                "JKS",
                "-deststorepass",
                PASSWORD,
            ]);
        }
        // Truststores: the CA in JKS (the Java server's client-auth truststore, and what a
        // Flume user would try to give this library) and in PKCS12.
        for (file, kind) in [("ca-truststore.jks", "JKS"), ("ca-truststore.p12", "PKCS12")] {
            keytool(&[
                "-importcert",
                "-noprompt",
                "-alias",
                "ca",
                "-file",
                "ca.pem",
                "-keystore",
                file,
                "-storetype",
                kind,
                "-storepass",
                PASSWORD,
            ]);
        }
        Certs { dir }
    })
}

// ---------------------------------------------------------------------------
// TLS servers

/// An event: body and headers (sorted, as the servers' records are).
/// Starts a TLS peer presenting `cert`, recording calls as the plain peers do.
/// Java options: `timeout=MS`, `clientauth` (require a client certificate
/// from the CA), `protocols=...`.
fn start_tls(kind: PeerKind, protocol: Protocol, cert: ServerCert, options: &[&str]) -> PeerServer {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let certs = certs();
    let label = format!("tls-{kind:?}-{}-{}-{n}", protocol_name(protocol), cert.name());
    PeerServer::spawn(label, |record| match kind {
        PeerKind::Java => {
            let mut c = java_command("FlumeTlsTestServer");
            c.arg("0").arg(protocol_name(protocol)).arg(record);
            c.arg(certs.path(&format!("{}.jks", cert.name()))).arg(PASSWORD);
            for option in options {
                if *option == "clientauth" {
                    c.arg(format!("clientauth={}", certs.path("ca-truststore.jks")));
                } else {
                    c.arg(option);
                }
            }
            c
        }
        PeerKind::Python => {
            let mut c = python_command("python_tls_server.py");
            c.arg("0").arg(protocol_name(protocol)).arg(record);
            c.arg(certs.path(&format!("{}.pem", cert.name()))).arg(certs.path(&format!("{}.key", cert.name())));
            if options.contains(&"clientauth") {
                c.arg(certs.path("ca.pem"));
            }
            c
        }
    })
}

// ---------------------------------------------------------------------------
// Clients and events

/// A TLS config trusting the test CA.
fn tls_config(protocol: Protocol) -> Config {
    let mut config = Config::default();
    config.set("protocol", protocol_name(protocol)).unwrap();
    config.set("ssl", "true").unwrap();
    config.set("truststore", &certs().path("ca.pem")).unwrap();
    config.connect_timeout = Duration::from_secs(10);
    config.request_timeout = Duration::from_secs(20);
    config
}

fn with(mut config: Config, settings: &[(&str, &str)]) -> Config {
    for (key, value) in settings {
        config.set(key, value).unwrap_or_else(|e| panic!("{key}={value}: {e}"));
    }
    config
}

/// Events with a few headers and bodies of assorted sizes (up to 40 KB, so
/// frames span several TLS records).
fn sample(count: usize, seed: u64) -> Vec<Sent> {
    sample::sample(
        count,
        seed,
        &Shape { large: 40_000, small_max: 3000, key_prefix: "κλειδί-", keys: 100, value: "värde ✓" },
    )
}

/// Connections the client made, from its statistics.
fn connects(client: &Client) -> u64 {
    let json = client.stats_json().unwrap();
    let at = json.find("\"connects\":").expect("connects in stats") + "\"connects\":".len();
    json[at..].split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
}

/// The error of a call that must fail with `kind`, its message containing each of `words`.
fn expect_failure(label: &str, result: Result<(), Error>, kind: ErrorKind, words: &[&str]) -> Error {
    let e = match result {
        Ok(()) => panic!("{label}: succeeded, expected {kind:?}"),
        Err(e) => e,
    };
    eprintln!("{label}: {e}");
    assert_eq!(e.kind(), kind, "{label}: {e}");
    for word in words {
        assert!(e.message().contains(word), "{label}: message lacks {word:?}: {e}");
    }
    e
}

// ---------------------------------------------------------------------------
// Interop: events arrive exact

/// Two batches (the second after a pause long enough for TLS 1.3 session
/// tickets to arrive) on one connection, events exact.
fn exact_events(kind: PeerKind, protocol: Protocol, address_host: &str) {
    let label = format!("{kind:?}/{}", protocol_name(protocol));
    let mut server = start_tls(kind, protocol, ServerCert::Good, &[]);
    let config = with(tls_config(protocol), &[("batch-size", "25")]);
    let address = format!("{address_host}:{}", server.port());
    let client = Client::new(&address, &config).unwrap();
    let first = sample(60, 1);
    send(&client, &first).unwrap_or_else(|e| panic!("{label}: {e}"));
    std::thread::sleep(Duration::from_millis(300));
    let second = sample(7, 2);
    send(&client, &second).unwrap_or_else(|e| panic!("{label}: {e}"));
    let calls = server.calls(67);
    let shape: Vec<usize> = calls.iter().map(|c| c.events.len()).collect();
    assert_eq!(shape, [25, 25, 10, 7], "{label}: calls");
    assert!(calls.iter().all(|c| c.method == "appendBatch"));
    let expected: Vec<_> = first.into_iter().chain(second).collect();
    assert!(all_events(&calls) == expected, "{label}: events differ");
    assert_eq!(connects(&client), 1, "{label}: a session ticket or pause must not cost a reconnect");
}

/// `queue.max-in-flight`: the sender's calls pipelined through one TLS
/// session, whose records carry several replies at once: events exact and in
/// order, every report OK and in send order.
#[test]
fn pipelined_calls_through_one_tls_session() {
    use flume_client::{DeliveryCallback, DeliveryReport};
    use std::sync::{Arc, Mutex};
    let mut server = start_tls(PeerKind::Python, Protocol::Compact, ServerCert::Good, &[]);
    let reports: Arc<Mutex<Vec<(usize, bool)>>> = Arc::default();
    let seen = Arc::clone(&reports);
    let settings = [("batch-size", "5"), ("queue.max-in-flight", "4"), ("linger-ms", "0")];
    let mut config = with(tls_config(Protocol::Compact), &settings);
    config.delivery_callback = Some(DeliveryCallback(Arc::new(move |r: &DeliveryReport| {
        seen.lock().unwrap().push((r.opaque, r.result.is_ok()));
    })));
    let client = Client::new(&format!("127.0.0.1:{}", server.port()), &config).unwrap();
    let events = sample(200, 3);
    for (i, (body, headers)) in events.iter().enumerate() {
        let headers: Vec<(&[u8], &[u8])> = headers.iter().map(|(k, v)| (k.as_slice(), v.as_slice())).collect();
        client.send(&flume_client::EventView::new(&headers, body), i).unwrap();
    }
    client.flush(Duration::from_secs(60)).unwrap();
    assert_eq!(connects(&client), 1, "one TLS session carried the calls");
    drop(client);
    assert_eq!(*reports.lock().unwrap(), (0..200).map(|i| (i, true)).collect::<Vec<_>>());
    assert!(all_events(&server.calls(200)) == events, "events differ");
}

// Exact events through Java's TLS stack as Flume's TLS source uses it are
// tests/real_flume_tls.rs's, against a real agent (also after a pause, and by
// name).

#[test]
fn python_tls_server_compact() {
    exact_events(PeerKind::Python, Protocol::Compact, "127.0.0.1");
}

#[test]
fn python_tls_server_binary() {
    // By name: the certificate's DNS name is checked (and the IP SAN above).
    exact_events(PeerKind::Python, Protocol::Binary, "localhost");
}

/// A Flume on an older JDK may offer only TLS 1.2.
#[test]
fn java_tls12_only_server() {
    let mut server = start_tls(PeerKind::Java, Protocol::Compact, ServerCert::Good, &["protocols=TLSv1.2"]);
    let client = Client::new(&server.address(), &tls_config(Protocol::Compact)).unwrap();
    let events = sample(30, 3);
    send(&client, &events).unwrap();
    assert!(all_events(&server.calls(30)) == events);
}

/// Flume's TLS source closes a connection idle for its client timeout
/// (120 s; 500 ms here). The client notices before sending and reconnects:
/// no call fails, no event is lost or doubled.
#[test]
fn idle_connection_closed_by_the_server_costs_no_event() {
    let mut server = start_tls(PeerKind::Java, Protocol::Compact, ServerCert::Good, &["timeout=500"]);
    let client = Client::new(&server.address(), &tls_config(Protocol::Compact)).unwrap();
    let mut sent = Vec::new();
    for round in 0..3 {
        let events = sample(5, 10 + round);
        send(&client, &events).unwrap_or_else(|e| panic!("round {round}: {e}"));
        sent.extend(events);
        std::thread::sleep(Duration::from_millis(1500));
    }
    assert!(all_events(&server.calls(15)) == sent);
    assert_eq!(connects(&client), 3, "one connection per round: each was closed while idle");
}

// ---------------------------------------------------------------------------
// Mutual TLS

#[test]
fn mutual_tls_with_a_server_that_requires_a_client_certificate() {
    let mut server = start_tls(PeerKind::Java, Protocol::Compact, ServerCert::Good, &["clientauth"]);
    let c = certs();
    let events = sample(10, 4);

    // Without a client certificate: refused, nothing delivered.
    let client = Client::new(&server.address(), &tls_config(Protocol::Compact)).unwrap();
    expect_failure("no client cert", send(&client, &events), ErrorKind::Connect, &["client certificate"]);

    // A client certificate from a CA the server does not trust.
    let config = with(
        tls_config(Protocol::Compact),
        &[("ssl-client-cert", &c.path("otherca-client.pem")), ("ssl-client-key", &c.path("otherca-client.key"))],
    );
    let client = Client::new(&server.address(), &config).unwrap();
    expect_failure("client cert of another CA", send(&client, &events), ErrorKind::Connect, &["client certificate"]);

    // The right one.
    let config = with(
        tls_config(Protocol::Compact),
        &[("ssl-client-cert", &c.path("client.pem")), ("ssl-client-key", &c.path("client.key"))],
    );
    let client = Client::new(&server.address(), &config).unwrap();
    send(&client, &events).unwrap();
    assert!(all_events(&server.calls(10)) == events, "only the authenticated client's events arrive");
}

#[test]
fn mutual_tls_with_python() {
    let mut server = start_tls(PeerKind::Python, Protocol::Binary, ServerCert::Good, &["clientauth"]);
    let c = certs();
    let events = sample(10, 5);
    let client = Client::new(&server.address(), &tls_config(Protocol::Binary)).unwrap();
    expect_failure("no client cert", send(&client, &events), ErrorKind::Connect, &["client certificate"]);
    let config = with(
        tls_config(Protocol::Binary),
        &[("ssl-client-cert", &c.path("client.pem")), ("ssl-client-key", &c.path("client.key"))],
    );
    let client = Client::new(&server.address(), &config).unwrap();
    send(&client, &events).unwrap();
    assert!(all_events(&server.calls(10)) == events);
}

// ---------------------------------------------------------------------------
// Verification failures: Connect, the cause named, nothing delivered

#[test]
fn server_certificate_from_an_untrusted_ca() {
    let mut server = start_tls(PeerKind::Java, Protocol::Compact, ServerCert::OtherCa, &[]);
    let events = sample(3, 6);
    let client = Client::new(&server.address(), &tls_config(Protocol::Compact)).unwrap();
    let e = expect_failure(
        "other CA",
        send(&client, &events),
        ErrorKind::Connect,
        &["not signed by a CA in the truststore", "ca.pem"],
    );
    // Rust users get rustls' own error as the cause (this crate has no rustls to downcast to: its Debug).
    let source = std::error::Error::source(&e).expect("the TLS error as the source");
    assert_eq!(format!("{source:?}"), "InvalidCertificate(UnknownIssuer)");
    // Not verifying the name still verifies the chain.
    let config = with(tls_config(Protocol::Compact), &[("ssl-verify-hostname", "false")]);
    let client = Client::new(&server.address(), &config).unwrap();
    expect_failure("other CA, no hostname check", send(&client, &events), ErrorKind::Connect, &["not signed by a CA"]);
    // No truststore: the system's CA store, which does not hold the test CA either.
    let config = with(Config::default(), &[("ssl", "true")]);
    let client = Client::new(&server.address(), &config).unwrap();
    expect_failure("system store", send(&client, &events), ErrorKind::Connect, &["system's CA store"]);
    assert!(server.calls(0).is_empty(), "nothing may be delivered");
}

#[test]
fn expired_server_certificate() {
    let mut server = start_tls(PeerKind::Java, Protocol::Compact, ServerCert::Expired, &[]);
    let client = Client::new(&server.address(), &tls_config(Protocol::Compact)).unwrap();
    expect_failure("expired", send(&client, &sample(3, 7)), ErrorKind::Connect, &["expired"]);
    assert!(server.calls(0).is_empty());
}

#[test]
fn server_certificate_for_another_name() {
    let mut server = start_tls(PeerKind::Java, Protocol::Compact, ServerCert::WrongHost, &[]);
    let events = sample(4, 8);
    let client = Client::new(&server.address(), &tls_config(Protocol::Compact)).unwrap();
    expect_failure(
        "wrong host",
        send(&client, &events),
        ErrorKind::Connect,
        &["not valid for", "127.0.0.1", "wrong.example.com", "ssl-server-name"],
    );
    assert!(server.calls(0).is_empty());
    // Naming the server as its certificate does.
    let config = with(tls_config(Protocol::Compact), &[("ssl-server-name", "wrong.example.com")]);
    send(&Client::new(&server.address(), &config).unwrap(), &events).unwrap();
    // Or checking the chain only.
    let config = with(tls_config(Protocol::Compact), &[("ssl-verify-hostname", "false")]);
    send(&Client::new(&server.address(), &config).unwrap(), &events).unwrap();
    assert_eq!(all_events(&server.calls(8)).len(), 8);
}

// ---------------------------------------------------------------------------
// Mixing TLS and plain text

/// A listener that records every byte its one connection sends, answering nothing.
fn recording_listener() -> (String, mpsc::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut received = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stream.read(&mut buf) {
            if n == 0 {
                break;
            }
            received.extend_from_slice(&buf[..n]);
        }
        let _ = tx.send(received);
    });
    (address, rx)
}

/// A TLS client to a server that never answers the handshake: `Connect`
/// within connect-timeout, and all the server saw is one ClientHello record.
#[test]
fn tls_client_to_a_silent_plain_server() {
    let (address, received) = recording_listener();
    let mut config = tls_config(Protocol::Compact);
    config.connect_timeout = Duration::from_millis(500);
    let client = Client::new(&address, &config).unwrap();
    let start = Instant::now();
    expect_failure(
        "silent server",
        send(&client, &sample(3, 9)),
        ErrorKind::Connect,
        &["TLS handshake", "connect-timeout"],
    );
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(450) && took < Duration::from_secs(3), "took {took:?}");
    drop(client);
    let bytes = received.recv_timeout(Duration::from_secs(10)).unwrap();
    // One handshake record (0x16) holding one ClientHello (0x01), and nothing after it.
    assert!(
        bytes.len() > 9 && bytes[0] == 0x16 && bytes[1] == 0x03 && bytes[5] == 0x01,
        "{:02x?}",
        &bytes[..bytes.len().min(16)]
    );
    let record_len = u16::from_be_bytes([bytes[3], bytes[4]]) as usize;
    assert!(
        bytes.len() == 5 + record_len,
        "bytes after the ClientHello: {:02x?}",
        &bytes[(5 + record_len).min(bytes.len())..]
    );
}

/// A TLS client to Flume's plain Thrift source (the Java plain peer): it
/// reads the ClientHello as a huge frame length and closes. `Connect`, and
/// no call recorded.
#[test]
fn tls_client_to_a_plain_thrift_server() {
    let mut server = PeerServer::start(PeerKind::Java, Protocol::Compact);
    let client = Client::new(&server.address(), &tls_config(Protocol::Compact)).unwrap();
    expect_failure(
        "plain server",
        send(&client, &sample(3, 10)),
        ErrorKind::Connect,
        &["TLS handshake", "closed the connection", "plain-text source"],
    );
    assert!(server.calls(0).is_empty());
}

/// A plain client to a TLS source. Java's TLS server (Flume's) answers with a
/// TLS alert, which the client recognises: `Connect`, "set ssl=true".
/// OpenSSL's resets the connection without a word: `Io` (delivery unknown to
/// the client), the message suggesting ssl=true. Neither decodes a call.
#[test]
fn plain_client_to_tls_servers() {
    let mut java = start_tls(PeerKind::Java, Protocol::Compact, ServerCert::Good, &[]);
    let mut python = start_tls(PeerKind::Python, Protocol::Compact, ServerCert::Good, &[]);
    let config = with(Config::default(), &[("request-timeout", "5000")]);
    for (label, server) in [("java", &java), ("python", &python)] {
        for events in [sample(1, 11), sample(40, 12)] {
            let e = send(&Client::new(&server.address(), &config).unwrap(), &events).unwrap_err();
            if label == "java" {
                assert_eq!(e.kind(), ErrorKind::Connect, "{label}: {e}");
                assert!(e.message().contains("answered with a TLS record"), "{label}: {e}");
            } else {
                assert_eq!(e.kind(), ErrorKind::Io, "{label}: {e}");
                assert!(e.message().contains("if the source has ssl=true, set ssl=true here too"), "{label}: {e}");
            }
        }
    }
    assert!(java.calls(0).is_empty() && python.calls(0).is_empty());
}

/// A TLS server that answers a plain client's call with a TLS alert record:
/// the client recognises TLS and says so (`Connect`: nothing was delivered).
#[test]
fn plain_client_answered_with_a_tls_alert() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut header = [0u8; 4];
        stream.read_exact(&mut header).unwrap();
        // A fatal protocol_version alert, as a TLS 1.2 record.
        std::io::Write::write_all(&mut stream, &[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46]).unwrap();
        std::thread::sleep(Duration::from_millis(200));
    });
    let config = with(Config::default(), &[("request-timeout", "5000")]);
    expect_failure(
        "alert",
        send(&Client::new(&address, &config).unwrap(), &sample(1, 13)),
        ErrorKind::Connect,
        &["answered with a TLS record", "set ssl=true"],
    );
    server.join().unwrap();
}

// ---------------------------------------------------------------------------
// Settings checked early: FLUME_ERR_CONFIG

fn set_error(key: &str, value: &str, words: &[&str]) {
    let mut config = Config::default();
    let e = config.set(key, value).expect_err(key);
    assert_eq!(e.kind(), ErrorKind::Config, "{key}: {e}");
    for word in words {
        assert!(e.message().contains(word), "{key}={value}: message lacks {word:?}: {e}");
    }
}

/// A file that cannot be read: `Config`, with the operating system's error as its source.
#[test]
fn an_unreadable_tls_file_has_the_os_error_as_its_source() {
    let missing = std::env::temp_dir().join(format!("flume-client-no-such-file-{}.pem", std::process::id()));
    for key in ["truststore", "ssl-client-cert", "ssl-client-key"] {
        let mut config = Config::default();
        let e = config.set(key, missing.to_str().unwrap()).expect_err(key);
        assert_eq!(e.kind(), ErrorKind::Config, "{key}: {e}");
        assert!(e.message().starts_with(&format!("{key}: cannot read {}", missing.display())), "{e}");
        let os = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<std::io::Error>());
        assert_eq!(os.map(|os| os.kind()), Some(std::io::ErrorKind::NotFound), "{key}: {e:?}");
    }
    // A file that was read but is not what the key wants has no OS error behind it.
    let e = Config::default().set("truststore", &certs().path("ca-truststore.jks")).expect_err("JKS");
    assert!(std::error::Error::source(&e).is_none(), "{e:?}");
}

#[test]
fn java_keystores_are_refused_with_the_keytool_command() {
    let c = certs();
    set_error("truststore", &c.path("ca-truststore.jks"), &["Java KeyStore (JKS)", "keytool -exportcert -rfc"]);
    set_error("truststore", &c.path("ca-truststore.p12"), &["PKCS#12", "keytool -exportcert -rfc"]);
    set_error("truststore-type", "JKS", &["PEM"]);
    set_error("truststore-password", PASSWORD, &["needs no password"]);
    set_error("ssl-client-cert", &c.path("server.jks"), &["keytool -importkeystore"]);
    set_error("ssl-client-key", &c.path("ca.pem"), &["no PEM private key"]);
    set_error("truststore", &c.path("client.key"), &["no PEM certificate"]);
}

#[test]
fn inconsistent_tls_settings_fail_when_the_client_is_made() {
    let c = certs();
    let config = with(
        tls_config(Protocol::Compact),
        &[("ssl-client-cert", &c.path("client.pem")), ("ssl-client-key", &c.path("server.key"))],
    );
    let e = Client::new("127.0.0.1:1", &config).expect_err("mismatched key");
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.message().contains("not the certificate's key"), "{e}");

    let config = with(tls_config(Protocol::Compact), &[("ssl-client-cert", &c.path("client.pem"))]);
    let e = Client::new("127.0.0.1:1", &config).expect_err("cert without key");
    assert!(e.message().contains("without ssl-client-key"), "{e}");

    let mut config = tls_config(Protocol::Compact);
    config.set("ssl", "false").unwrap();
    let e = Client::new("127.0.0.1:1", &config).expect_err("truststore without ssl");
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.message().contains("truststore is set but ssl is not true"), "{e}");
}

/// Starts the Python TLS server presenting the good server certificate followed
/// by `copies` copies of the CA's, a certificate chain of about `copies` × 0.42 KB (DER).
fn start_python_with_long_chain(copies: usize) -> PeerServer {
    let c = certs();
    let chain = c.dir.join(format!("long-chain-{copies}.pem"));
    let mut text = fs::read_to_string(c.path("server.pem")).unwrap();
    let ca = fs::read_to_string(c.path("ca.pem")).unwrap();
    for _ in 0..copies {
        text.push_str(&ca);
    }
    fs::write(&chain, text).unwrap();
    PeerServer::spawn(format!("tls-python-long-chain-{copies}"), |record| {
        let mut command = python_command("python_tls_server.py");
        command.arg("0").arg("compact").arg(record).arg(&chain).arg(c.path("server.key"));
        command
    })
}

#[test]
fn a_certificate_chain_larger_than_the_handshake_limit_is_named_as_such() {
    // About 85 KB and 1.1 MB: both above rustls' 64 KiB handshake message limit.
    for copies in [200, 2600] {
        let mut server = start_python_with_long_chain(copies);
        let client = Client::new(&server.address(), &tls_config(Protocol::Compact)).unwrap();
        let e = expect_failure(
            &format!("a chain of {copies} CA copies"),
            send(&client, &sample(2, 40)),
            ErrorKind::Connect,
            &["certificate chain", "too large", "65535 bytes"],
        );
        assert!(!e.message().contains("plain-text"), "{e}");
        assert!(server.calls(0).is_empty());
    }
}
