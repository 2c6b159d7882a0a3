//! Kerberos (feature `kerberos`; run with `cargo test --features kerberos
//! --test kerberos`): SASL GSSAPI against a real MIT KDC on loopback
//! (`common/kdc.rs`) and Apache Thrift's Java `TSaslServerTransport` set up
//! as Flume's Thrift source sets it up with `kerberos = true`
//! (`peers/FlumeKerberosTestServer.java`): exact events over both protocols,
//! inside TLS, on the asynchronous path, with failover and the pool; each
//! failure with its code, its message and nothing delivered; tickets that
//! expire under a long-lived client; and, under valgrind, no leak across
//! 1,000 authenticated connections.
#![cfg(feature = "kerberos")]

#[allow(dead_code)]
#[path = "common/kdc.rs"]
mod kdc;
#[allow(dead_code)]
#[path = "common/peers.rs"]
mod peers;
#[path = "common/sample.rs"]
mod sample;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use flume_client::{Client, Config, DeliveryCallback, DeliveryReport, Error, ErrorKind, EventView, Protocol};
use kdc::{Kdc, CLIENT_PRINCIPAL, SERVER_PRINCIPAL};
use peers::{java_command, protocol_name, work_dir, PeerKind, PeerServer};
use sample::{all_events, send, Sent, Shape};

// ---------------------------------------------------------------------------
// Servers and clients

/// Starts the Java Kerberos source on a free port, logged in as `principal`
/// from the source's keytab; `options` as FlumeKerberosTestServer takes them.
fn start_secure(protocol: Protocol, options: &[String]) -> PeerServer {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let kdc = Kdc::get();
    let label = format!("kerberos-{}-{}", protocol_name(protocol), NEXT.fetch_add(1, Ordering::Relaxed));
    PeerServer::spawn(label, |record| {
        let mut c = java_command("FlumeKerberosTestServer");
        c.arg("0").arg(protocol_name(protocol)).arg(record).arg(SERVER_PRINCIPAL).arg(kdc.server_keytab());
        c.args(options);
        c
    })
}

/// A config authenticating as the test client from its keytab.
fn kerberos_config(protocol: Protocol) -> Config {
    let kdc = Kdc::get();
    let mut config = Config::default();
    config.set("protocol", protocol_name(protocol)).unwrap();
    config.set("kerberos", "true").unwrap();
    config.set("client-principal", CLIENT_PRINCIPAL).unwrap();
    config.set("client-keytab", kdc.client_keytab().to_str().unwrap()).unwrap();
    config.set("server-principal", "flume/_HOST@FLUME.TEST").unwrap();
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

/// The address clients use: the name, so that `_HOST` becomes "localhost".
fn address(server: &PeerServer) -> String {
    format!("localhost:{}", server.port())
}

/// Events with headers and bodies of assorted sizes (up to 70 KB).
fn sample(count: usize, seed: u64) -> Vec<Sent> {
    sample::sample(
        count,
        seed,
        &Shape { large: 70_000, small_max: 2000, key_prefix: "realm-", keys: 10, value: "FLUME.TEST ✓" },
    )
}

/// The number in the client's statistics after `"key":`.
fn stat(client: &Client, key: &str) -> u64 {
    let json = client.stats_json().unwrap();
    let pattern = format!("\"{key}\":");
    let at = json.find(&pattern).unwrap_or_else(|| panic!("{key} in {json}")) + pattern.len();
    json[at..].split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
}

/// A failure with `kind` whose message holds each of `words`.
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

/// The server recorded nothing, a while after the failure.
fn nothing_delivered(server: &mut PeerServer) {
    std::thread::sleep(Duration::from_millis(200));
    let calls = server.calls(0);
    assert!(calls.is_empty(), "the server received {calls:?}");
}

// ---------------------------------------------------------------------------
// Exact events

/// `truststore`: with TLS, the PEM file the client trusts.
fn exact_events(protocol: Protocol, options: &[String], truststore: Option<&str>) {
    let label = format!("kerberos/{}", protocol_name(protocol));
    let mut server = start_secure(protocol, options);
    let mut config = with(kerberos_config(protocol), &[("batch-size", "25")]);
    if let Some(truststore) = truststore {
        config = with(config, &[("ssl", "true"), ("truststore", truststore)]);
    }
    let client = Client::new(&address(&server), &config).unwrap();
    let first = sample(60, 1);
    send(&client, &first).unwrap_or_else(|e| panic!("{label}: {e}"));
    let second = sample(7, 2);
    send(&client, &second).unwrap_or_else(|e| panic!("{label}: {e}"));
    client.append(&EventView::body(b"one by append")).unwrap();
    let calls = server.calls(68);
    let shape: Vec<(&str, usize)> = calls.iter().map(|c| (c.method.as_str(), c.events.len())).collect();
    assert_eq!(
        shape,
        [("appendBatch", 25), ("appendBatch", 25), ("appendBatch", 10), ("appendBatch", 7), ("append", 1)],
        "{label}"
    );
    let mut expected: Vec<_> = first.into_iter().chain(second).collect();
    expected.push((b"one by append".to_vec(), Vec::new()));
    assert!(all_events(&calls) == expected, "{label}: events differ");
    assert_eq!(stat(&client, "connects"), 1, "{label}: one authenticated connection for every call");
}

#[test]
fn java_sasl_server_compact() {
    exact_events(Protocol::Compact, &[], None);
}

#[test]
fn java_sasl_server_binary() {
    exact_events(Protocol::Binary, &[], None);
}

/// TLS files for the Kerberos-inside-TLS test: a JKS keystore for the Java
/// server (self-signed for localhost) and its certificate in PEM for the client.
#[cfg(feature = "tls")]
struct TlsFiles {
    keystore: String,
    ca_pem: String,
}

#[cfg(feature = "tls")]
fn tls_files() -> &'static TlsFiles {
    static FILES: OnceLock<TlsFiles> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = work_dir().join("kerberos-tls");
        std::fs::create_dir_all(&dir).unwrap();
        let keystore = dir.join("server.jks").to_str().unwrap().to_string();
        let ca_pem = dir.join("ca.pem").to_str().unwrap().to_string();
        let keytool = peers::tool("KEYTOOL", "keytool");
        let ca_store = dir.join("ca.jks").to_str().unwrap().to_string();
        let csr = dir.join("server.csr").to_str().unwrap().to_string();
        let cert = dir.join("server-cert.pem").to_str().unwrap().to_string();
        let store = |path: &str| ["-keystore".to_string(), path.to_string(), "-storepass".into(), "changeit".into()];
        let steps: Vec<Vec<String>> = vec![
            // A CA, and a server key pair for localhost whose certificate the CA signs.
            vec![
                "-genkeypair",
                "-alias",
                "ca",
                "-keyalg",
                "EC",
                "-groupname",
                "secp256r1",
                "-dname",
                "CN=Kerberos Test CA",
                "-ext",
                "BC:c=ca:true",
                "-ext",
                "KU:c=keyCertSign",
                "-validity",
                "30",
                "-storetype",
                "JKS",
                "-keypass",
                "changeit",
            ]
            .into_iter()
            .map(String::from)
            .chain(store(&ca_store))
            .collect(),
            vec!["-exportcert", "-rfc", "-alias", "ca", "-file", &ca_pem]
                .into_iter()
                .map(String::from)
                .chain(store(&ca_store))
                .collect(),
            vec![
                "-genkeypair",
                "-alias",
                "server",
                "-keyalg",
                "EC",
                "-groupname",
                "secp256r1",
                "-dname",
                "CN=localhost",
                "-validity",
                "30",
                "-storetype",
                "JKS",
                "-keypass",
                "changeit",
            ]
            .into_iter()
            .map(String::from)
            .chain(store(&keystore))
            .collect(),
            vec!["-certreq", "-alias", "server", "-file", &csr]
                .into_iter()
                .map(String::from)
                .chain(store(&keystore))
                .collect(),
            vec![
                "-gencert",
                "-alias",
                "ca",
                "-infile",
                &csr,
                "-outfile",
                &cert,
                "-rfc",
                "-validity",
                "30",
                "-ext",
                "SAN=dns:localhost,ip:127.0.0.1",
                "-ext",
                "EKU=serverAuth",
                "-ext",
                "KU=digitalSignature",
            ]
            .into_iter()
            .map(String::from)
            .chain(store(&ca_store))
            .collect(),
            vec!["-importcert", "-noprompt", "-alias", "ca", "-file", &ca_pem]
                .into_iter()
                .map(String::from)
                .chain(store(&keystore))
                .collect(),
            vec!["-importcert", "-noprompt", "-alias", "server", "-file", &cert]
                .into_iter()
                .map(String::from)
                .chain(store(&keystore))
                .collect(),
        ];
        for args in steps {
            let out = Command::new(&keytool).args(&args).output().unwrap_or_else(|e| panic!("keytool: {e}"));
            assert!(out.status.success(), "keytool {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        TlsFiles { keystore, ca_pem }
    })
}

#[cfg(feature = "tls")]
#[test]
fn kerberos_inside_tls() {
    let tls = tls_files();
    exact_events(Protocol::Compact, &[format!("ssl={}:changeit", tls.keystore)], Some(&tls.ca_pem));
}

/// A build with Kerberos but without TLS says so for ssl=true.
#[cfg(not(feature = "tls"))]
#[test]
fn kerberos_inside_tls_needs_the_tls_feature() {
    let e = kerberos_config(Protocol::Compact).set("ssl", "true").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.message().contains("TLS is not available in this build"), "{e}");
}

// ---------------------------------------------------------------------------
// The asynchronous path, failover, the pool

#[test]
fn asynchronous_sending_over_kerberos() {
    let mut server = start_secure(Protocol::Compact, &[]);
    type Reports = Vec<(usize, Option<ErrorKind>)>;
    let reports: Arc<Mutex<Reports>> = Arc::default();
    let mut config = with(kerberos_config(Protocol::Compact), &[("batch-size", "50")]);
    let sink = reports.clone();
    config.delivery_callback = Some(DeliveryCallback(Arc::new(move |r: &DeliveryReport| {
        sink.lock().unwrap().push((r.opaque, r.result.err().map(|e| e.kind())));
    })));
    let client = Client::new(&address(&server), &config).unwrap();
    let events = sample(500, 3);
    for (i, (body, headers)) in events.iter().enumerate() {
        let h: Vec<(&[u8], &[u8])> = headers.iter().map(|(k, v)| (k.as_slice(), v.as_slice())).collect();
        client.send(&EventView::new(&h, body), i).unwrap();
    }
    client.flush(Duration::from_secs(30)).unwrap();
    let reports = reports.lock().unwrap().clone();
    assert_eq!(reports.len(), 500);
    assert!(reports.iter().enumerate().all(|(i, r)| *r == (i, None)), "reports in order, all OK");
    assert!(all_events(&server.calls(500)) == events);
}

#[test]
fn failover_to_a_kerberos_source() {
    // The first host refuses connections (a port nobody listens on).
    let dead = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = start_secure(Protocol::Compact, &[]);
    let config = with(kerberos_config(Protocol::Compact), &[("client.type", "default_failover")]);
    let client = Client::new(&format!("localhost:{dead},{}", address(&server)), &config).unwrap();
    let events = sample(30, 4);
    send(&client, &events).unwrap();
    send(&client, &events[..5]).unwrap();
    let calls = server.calls(35);
    let expected: Vec<_> = events.iter().cloned().chain(events[..5].iter().cloned()).collect();
    assert!(all_events(&calls) == expected);
}

#[test]
fn pool_of_kerberos_connections() {
    let mut server = start_secure(Protocol::Binary, &[]);
    let config = with(kerberos_config(Protocol::Binary), &[("maxConnections", "4"), ("batch-size", "10")]);
    let client = Arc::new(Client::new(&address(&server), &config).unwrap());
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let client = client.clone();
            std::thread::spawn(move || {
                for round in 0..10 {
                    send(&client, &sample(10, t * 100 + round)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let calls = server.calls(800);
    let mut got = all_events(&calls);
    let mut expected: Vec<Sent> = (0..8u64).flat_map(|t| (0..10).flat_map(move |r| sample(10, t * 100 + r))).collect();
    got.sort();
    expected.sort();
    assert!(got == expected, "every event exactly once");
    let connects = stat(&client, "connects");
    assert!((2..=4).contains(&connects), "8 threads share at most maxConnections=4 connections: {connects}");
}

// ---------------------------------------------------------------------------
// Credentials: ticket cache, expiry

#[test]
fn tickets_expiring_under_a_long_lived_client_are_renewed_from_the_keytab() {
    let kdc = Kdc::get();
    // Tickets of this principal live 5 s; the source drops connections idle 1 s.
    let keytab = kdc.principal_with_keytab("shortlived@FLUME.TEST", "-maxlife 5s +requires_preauth");
    let mut server = start_secure(Protocol::Compact, &["timeout=1000".to_string()]);
    let config = with(
        kerberos_config(Protocol::Compact),
        &[("client-principal", "shortlived@FLUME.TEST"), ("client-keytab", keytab.to_str().unwrap())],
    );
    let client = Client::new(&address(&server), &config).unwrap();
    // Eight calls 1.5 s apart: 12 s, more than two ticket lifetimes.
    let started = Instant::now();
    let mut sent = 0;
    for round in 0..8 {
        if round > 0 {
            std::thread::sleep(Duration::from_millis(1500));
        }
        send(&client, &sample(3, sent as u64)).unwrap_or_else(|e| panic!("after {:?}: {e}", started.elapsed()));
        sent += 3;
    }
    assert!(started.elapsed() > Duration::from_secs(10));
    server.calls(sent);
    let connects = stat(&client, "connects");
    assert!(connects >= 6, "every call after an idle close reconnects and authenticates again: {connects}");
    // More than two initial tickets: the client asked the KDC again after each expiry.
    let log = kdc.log();
    let issued =
        log.lines().filter(|l| l.contains("AS_REQ") && l.contains("ISSUE") && l.contains("shortlived@")).count();
    assert!(issued >= 2, "the client got new tickets from the keytab after they expired: {issued} issued");
}

/// The ticket cache of a keytab's principal, made with kinit, its
/// lifetime given (kinit -l).
fn ticket_cache(name: &str, lifetime: &str) -> String {
    let kdc = Kdc::get();
    let ccache = format!("FILE:{}", kdc.path(&format!("{name}.ccache")).display());
    kdc.kinit(&kdc.client_keytab(), CLIENT_PRINCIPAL, &ccache, lifetime);
    ccache
}

/// `flume-send` with the kerberos feature, built once per test process
/// (`cargo build -p flume-tools --features kerberos --bins`, this cargo and
/// target directory).
fn flume_send_binary() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(&cargo)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["build", "--quiet", "-p", "flume-tools", "--features", "kerberos", "--bins"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {cargo}: {e}"));
        assert!(out.status.success(), "cargo build -p flume-tools: {}", String::from_utf8_lossy(&out.stderr));
        // target/tmp's parent is the target directory.
        let exe = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().join("debug").join("flume-send");
        assert!(exe.is_file(), "{} was not built", exe.display());
        // A copy of its own, so that a later build of the tools without the feature cannot replace it.
        let own = work_dir().join("flume-send-kerberos");
        std::fs::copy(&exe, &own).unwrap();
        own
    })
}

/// Runs `flume-send` with the Kerberos ticket cache `ccache`, its stdin the lines to send.
fn flume_send(args: &[&str], ccache: &str, stdin: &str) -> std::process::Output {
    let exe = flume_send_binary();
    let mut child = Command::new(exe)
        .args(args)
        .env("KRB5CCNAME", ccache)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn flume_send_with_a_properties_file_and_the_ticket_cache() {
    let kdc = Kdc::get();
    let ccache = ticket_cache("flume-send", "1h");
    let mut server = start_secure(Protocol::Compact, &[]);
    let props = kdc.path("flume-send.properties");
    std::fs::write(
        &props,
        format!(
            "hosts = h1\nhosts.h1 = localhost:{}\nkerberos = true\nserver-principal = flume/_HOST@FLUME.TEST\n",
            server.port()
        ),
    )
    .unwrap();
    let out = flume_send(&["-q", "-P", props.to_str().unwrap()], &ccache, "first line\nsecond line\n");
    assert!(out.status.success(), "flume-send: {}", String::from_utf8_lossy(&out.stderr));
    let calls = server.calls(2);
    let bodies: Vec<&[u8]> = calls.iter().flat_map(|c| &c.events).map(|e| e.body.as_slice()).collect();
    assert_eq!(bodies, [&b"first line"[..], b"second line"]);

    // The same with --config, and an empty cache: exit 3 (connect), the kinit hint.
    let empty = format!("FILE:{}", kdc.path("empty.ccache").display());
    let out = flume_send(
        &[
            "-q",
            "--hosts",
            &address(&server),
            "--config",
            "kerberos=true",
            "--config",
            "server-principal=flume/_HOST@FLUME.TEST",
        ],
        &empty,
        "third line\n",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "flume-send: {stderr}");
    assert!(stderr.contains("kinit"), "{stderr}");
    nothing_more(&mut server, 2);
}

/// The server holds exactly `count` events, a while later.
fn nothing_more(server: &mut PeerServer, count: usize) {
    std::thread::sleep(Duration::from_millis(200));
    let n: usize = server.calls(count).iter().map(|c| c.events.len()).sum();
    assert_eq!(n, count, "the server received more");
}

// ---------------------------------------------------------------------------
// Failures: each is Connect (or Config), says what to check, delivers nothing

/// One source for every failure test (a JVM start each would be most of
/// their time): no call may ever reach it. It exits with the test process
/// (its stdin closes).
fn failures_server() -> &'static Mutex<PeerServer> {
    static SERVER: OnceLock<Mutex<PeerServer>> = OnceLock::new();
    SERVER.get_or_init(|| Mutex::new(start_secure(Protocol::Compact, &[])))
}

fn connect_failure(label: &str, config: &Config, words: &[&str]) {
    let address = address(&failures_server().lock().unwrap_or_else(|p| p.into_inner()));
    let client = Client::new(&address, config).unwrap_or_else(|e| panic!("{label}: {e}"));
    expect_failure(label, send(&client, &sample(3, 9)), ErrorKind::Connect, words);
    nothing_delivered(&mut failures_server().lock().unwrap_or_else(|p| p.into_inner()));
}

#[test]
fn unknown_client_principal() {
    let kdc = Kdc::get();
    let keytab = kdc.principal_with_keytab("ghost@FLUME.TEST", "");
    kdc.kadmin(kdc::REALM, "delprinc -force ghost@FLUME.TEST");
    let config = with(
        kerberos_config(Protocol::Compact),
        &[("client-principal", "ghost@FLUME.TEST"), ("client-keytab", keytab.to_str().unwrap())],
    );
    connect_failure("unknown client", &config, &["not found in Kerberos database", "check client-principal"]);
}

#[test]
fn unknown_server_principal() {
    let config = with(kerberos_config(Protocol::Compact), &[("server-principal", "flume/nohost.example@FLUME.TEST")]);
    connect_failure(
        "unknown server",
        &config,
        &["flume/nohost.example@FLUME.TEST", "not found in Kerberos database", "check server-principal"],
    );
}

#[test]
fn keytab_with_an_old_key() {
    let kdc = Kdc::get();
    let keytab = kdc.principal_with_keytab("rotated@FLUME.TEST", "+requires_preauth");
    kdc.kadmin(kdc::REALM, "cpw -randkey rotated@FLUME.TEST");
    let config = with(
        kerberos_config(Protocol::Compact),
        &[("client-principal", "rotated@FLUME.TEST"), ("client-keytab", keytab.to_str().unwrap())],
    );
    connect_failure("old keytab", &config, &["check client-keytab", keytab.to_str().unwrap()]);
}

#[test]
fn keytab_of_another_principal() {
    let kdc = Kdc::get();
    let config = with(
        kerberos_config(Protocol::Compact),
        &[("client-principal", "someone-else@FLUME.TEST"), ("client-keytab", kdc.client_keytab().to_str().unwrap())],
    );
    connect_failure("keytab without the principal", &config, &["check client-keytab"]);
}

#[test]
fn clock_skew_with_the_kdc() {
    let kdc = Kdc::get();
    let config = with(
        kerberos_config(Protocol::Compact),
        &[("client-principal", "skewed@SKEW.TEST"), ("client-keytab", kdc.path("skewed.keytab").to_str().unwrap())],
    );
    connect_failure("clock skew", &config, &["Clock skew too great", "synchronise them"]);
}

#[test]
fn kdc_unreachable() {
    let kdc = Kdc::get();
    let keytab = kdc.offline_keytab("app@DOWN.TEST");
    let config = with(
        kerberos_config(Protocol::Compact),
        &[("client-principal", "app@DOWN.TEST"), ("client-keytab", keytab.to_str().unwrap())],
    );
    connect_failure("KDC unreachable", &config, &["DOWN.TEST", "the KDC is unreachable"]);
}

#[test]
fn no_ticket_in_the_cache() {
    let _ = Kdc::get(); // KRB5CCNAME names an empty ticket cache
    let mut config = kerberos_config(Protocol::Compact);
    config.client_keytab = None;
    config.client_principal = None;
    connect_failure("no ticket", &config, &["run kinit"]);
}

#[test]
fn server_refuses_with_bad_and_its_reason() {
    // A principal the KDC knows but the source has no key for: the source
    // cannot read the ticket and answers BAD.
    let config = with(kerberos_config(Protocol::Compact), &[("server-principal", "other/_HOST@FLUME.TEST")]);
    connect_failure("server refuses", &config, &["the server refused the authentication (BAD)", "GSS initiate failed"]);
}

/// Flume's plain source (Thrift's TThreadedSelectorServer) reads START's
/// first four bytes as a 16 MB frame length and waits for the rest: the
/// negotiation ends at connect-timeout, naming kerberos=true.
#[test]
fn kerberos_client_to_a_plain_source() {
    let _ = Kdc::get();
    let mut server = PeerServer::start(PeerKind::Java, Protocol::Compact);
    let mut config = kerberos_config(Protocol::Compact);
    config.connect_timeout = Duration::from_millis(1500);
    let client = Client::new(&address(&server), &config).unwrap();
    expect_failure(
        "kerberos client, plain source",
        send(&client, &sample(3, 5)),
        ErrorKind::Connect,
        &["Kerberos", "connect-timeout (1500 ms)", "does the source have kerberos=true", "nothing was delivered"],
    );
    nothing_delivered(&mut server);
}

/// Python's plain Thrift server closes at once: the message says a source
/// without kerberos=true does that.
#[test]
fn kerberos_client_to_a_plain_source_that_closes() {
    let _ = Kdc::get();
    let mut server = PeerServer::start(PeerKind::Python, Protocol::Compact);
    let client = Client::new(&address(&server), &kerberos_config(Protocol::Compact)).unwrap();
    let started = Instant::now();
    let result = send(&client, &sample(3, 5));
    let e = result.as_ref().unwrap_err();
    eprintln!("python plain source: {e} after {:?}", started.elapsed());
    assert_eq!(e.kind(), ErrorKind::Connect, "{e}");
    assert!(e.message().contains("kerberos=true"), "{e}");
    nothing_delivered(&mut server);
}

/// Apache Thrift's Java SASL server reads a plain call's first byte as a
/// status, finds none and closes the connection without a word: to the
/// client that looks like a server dying after the call, so it is `Io`
/// (delivery unknown) whose message names kerberos=true. The server decoded
/// no call.
#[test]
fn plain_client_to_a_kerberos_source() {
    let mut server = start_secure(Protocol::Compact, &[]);
    let client = Client::new(&address(&server), &Config::default()).unwrap();
    expect_failure(
        "plain client, kerberos source",
        send(&client, &sample(3, 6)),
        ErrorKind::Io,
        &["closed by the server after 0 bytes of the reply", "if it has kerberos=true, set kerberos=true"],
    );
    nothing_delivered(&mut server);
}

/// A SASL refusal (BAD or ERROR), as Thrift servers that answer one send it,
/// is recognised by a plain client: `Connect` with the server's reason.
#[test]
fn plain_client_answered_with_a_sasl_error() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut stream, _) = listener.accept().unwrap();
        let mut header = [0u8; 5];
        stream.read_exact(&mut header).unwrap();
        let reason = format!("Invalid status {}", header[0]);
        let mut answer = vec![4u8];
        answer.extend_from_slice(&(reason.len() as u32).to_be_bytes());
        answer.extend_from_slice(reason.as_bytes());
        stream.write_all(&answer).unwrap();
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
    });
    let client = Client::new(&format!("127.0.0.1:{port}"), &Config::default()).unwrap();
    expect_failure(
        "plain client, SASL ERROR",
        send(&client, &sample(3, 6)),
        ErrorKind::Connect,
        &["SASL negotiation message (ERROR \"Invalid status 0\")", "set kerberos=true", "nothing was delivered"],
    );
    drop(client);
    server.join().unwrap();
}

#[test]
fn negotiation_ends_within_connect_timeout() {
    // A listener that accepts and never answers.
    let _ = Kdc::get();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut config = kerberos_config(Protocol::Compact);
    config.connect_timeout = Duration::from_millis(700);
    let client = Client::new(&format!("localhost:{port}"), &config).unwrap();
    let started = Instant::now();
    expect_failure("silent server", send(&client, &sample(1, 7)), ErrorKind::Connect, &["connect-timeout (700 ms)"]);
    let took = started.elapsed();
    assert!(took < Duration::from_millis(3000), "took {took:?}");
    drop(listener);
}

#[test]
fn inconsistent_keys_are_config_errors_when_the_client_is_made() {
    let kdc = Kdc::get();
    let keytab = kdc.client_keytab();
    let keytab = keytab.to_str().unwrap();
    for (label, settings, words) in [
        ("no server principal", &[("kerberos", "true")][..], &["needs server-principal"][..]),
        (
            "keytab without principal",
            &[("kerberos", "true"), ("server-principal", "flume/_HOST@FLUME.TEST"), ("client-keytab", keytab)][..],
            &["client-keytab needs client-principal"][..],
        ),
        ("keys without kerberos", &[("server-principal", "flume/_HOST@FLUME.TEST")][..], &["kerberos is not true"][..]),
    ] {
        let config = with(Config::default(), settings);
        match Client::new("localhost:1", &config) {
            Ok(_) => panic!("{label}: made a client"),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Config, "{label}: {e}");
                for w in words {
                    assert!(e.message().contains(w), "{label}: {e}");
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Leaks

/// The child half of the leak test: 1,000 authenticated connections (a
/// client per connection, each sending one event; four threads at once, so
/// credentials are also shared between threads), run under valgrind by
/// the parent with the server's port in FLUME_KERBEROS_LEAK_PORT.
fn leak_child(port: &str) {
    // The parent's KDC (KRB5_CONFIG is inherited): no Kdc::get() here.
    let keytab = std::env::var("FLUME_KERBEROS_LEAK_KEYTAB").unwrap();
    let config = with(
        Config::default(),
        &[
            ("kerberos", "true"),
            ("client-principal", CLIENT_PRINCIPAL),
            ("client-keytab", &keytab),
            // By address and principal: no name lookup (a thread and NSS under valgrind) per connection.
            ("server-principal", SERVER_PRINCIPAL),
        ],
    );
    // Four threads, so that waits for the server overlap (valgrind runs one thread at a time).
    std::thread::scope(|scope| {
        for t in 0..4 {
            let config = &config;
            scope.spawn(move || {
                for i in (t..1000).step_by(4) {
                    let client = Client::new(&format!("127.0.0.1:{port}"), config).unwrap();
                    let body = format!("leak {i}");
                    client.append(&EventView::body(body.as_bytes())).unwrap_or_else(|e| panic!("connection {i}: {e}"));
                }
            });
        }
    });
}

#[test]
fn valgrind_no_leak_across_a_thousand_connections() {
    if let Ok(port) = std::env::var("FLUME_KERBEROS_LEAK_PORT") {
        return leak_child(&port);
    }
    let kdc = Kdc::get();
    let mut server = start_secure(Protocol::Compact, &[]);
    let exe = std::env::current_exe().unwrap();
    let log = work_dir().join("valgrind-kerberos.log");
    let started = Instant::now();
    let out = Command::new(peers::tool("VALGRIND", "valgrind"))
        .args([
            "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect",
            "--error-exitcode=99",
            // Leaks only: without undefined-value tracking it runs twice as
            // fast (the C tests' valgrind runs check that).
            "--undef-value-errors=no",
        ])
        .arg(format!("--log-file={}", log.display()))
        .arg(&exe)
        .args(["--exact", "valgrind_no_leak_across_a_thousand_connections", "--test-threads=1"])
        .env("FLUME_KERBEROS_LEAK_PORT", server.port().to_string())
        .env("FLUME_KERBEROS_LEAK_KEYTAB", kdc.client_keytab())
        .output()
        .unwrap_or_else(|e| panic!("cannot run valgrind: {e} (apt-get install valgrind)"));
    let report = std::fs::read_to_string(&log).unwrap_or_default();
    let summary: Vec<&str> = report
        .lines()
        .filter(|l| l.contains("definitely lost") || l.contains("indirectly lost") || l.contains("ERROR SUMMARY"))
        .collect();
    eprintln!("valgrind, 1000 Kerberos connections in {:?}:\n{}", started.elapsed(), summary.join("\n"));
    assert!(
        out.status.success(),
        "valgrind found leaks or errors ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        &report[report.len().saturating_sub(6000)..]
    );
    assert_eq!(server.calls(1000).len(), 1000, "each connection delivered its event");
}

/// A machine without MIT's GSSAPI library (here: flume-send told to load one
/// that does not exist): the client is not made, the message names the
/// package to install, flume-send exits 1 (a setting cannot be used).
#[test]
fn missing_gssapi_library_names_the_package() {
    let kdc = Kdc::get();
    let out = Command::new(flume_send_binary())
        .args(["-q", "--hosts", "localhost:1", "--config", "kerberos=true", "--config"])
        .arg("server-principal=flume/_HOST@FLUME.TEST")
        .env("FLUME_CLIENT_GSSAPI_LIBRARY", kdc.path("no-such-libgssapi_krb5.so.2"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("without GSSAPI: {stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for words in ["cannot load", "no-such-libgssapi_krb5.so.2", "libgssapi-krb5-2 on Debian"] {
        assert!(stderr.contains(words), "lacks {words:?}: {stderr}");
    }
}
