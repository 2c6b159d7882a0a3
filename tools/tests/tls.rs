//! flume-send to flume-receive over TLS (feature `tls`), both as built, with
//! certificates made here with openssl: a CA, a server certificate naming
//! only `flume.test` (so the sender's --ssl-server-name is needed when it
//! connects to 127.0.0.1), a client certificate for mutual TLS, and a second
//! CA that signs nothing the receiver trusts.
#![cfg(feature = "tls")]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use common::*;

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
subjectAltName = DNS:flume.test
authorityKeyIdentifier = keyid
[client]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
";

/// Runs openssl in `dir`, panicking with its output if it fails (or is missing).
fn openssl(dir: &Path, args: &[&str]) {
    let program = std::env::var("OPENSSL").unwrap_or_else(|_| "openssl".into());
    let out = Command::new(&program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (scripts/install-deps.sh installs it): {e}"));
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The directory of the certificates, made once per test process.
fn certs() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = scratch("certs");
        fs::write(dir.join("openssl.cnf"), OPENSSL_CNF).unwrap();
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
        for (ca, cn) in [("ca", "Tools Test CA"), ("otherca", "Another CA")] {
            let (key, pem, subj) = (format!("{ca}.key"), format!("{ca}.pem"), format!("/CN={cn}"));
            let mut args = vec!["req", "-x509", "-new", "-config", "openssl.cnf", "-extensions", "ca"];
            args.extend(ec);
            args.extend(["-keyout", &key, "-out", &pem, "-days", "2", "-subj", &subj]);
            openssl(&dir, &args);
        }
        for (serial, (name, cn, ca, ext)) in [
            ("server", "flume.test", "ca", "server"),
            ("client", "flume-send", "ca", "client"),
            ("otherclient", "flume-send", "otherca", "client"),
        ]
        .into_iter()
        .enumerate()
        {
            let (key, csr, pem, subj) =
                (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"), format!("/CN={cn}"));
            let mut args = vec!["req", "-new", "-config", "openssl.cnf"];
            args.extend(ec);
            args.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
            openssl(&dir, &args);
            let (ca_pem, ca_key, serial) = (format!("{ca}.pem"), format!("{ca}.key"), (serial + 2).to_string());
            openssl(
                &dir,
                &[
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
                    "2",
                    "-extfile",
                    "openssl.cnf",
                    "-extensions",
                    ext,
                    "-out",
                    &pem,
                ],
            );
        }
        dir
    })
}

fn cert(name: &str) -> String {
    certs().join(name).to_str().unwrap().to_string()
}

/// A TLS flume-receive: --ssl-cert server.pem --ssl-key server.key, and ARGS.
fn tls_receiver(dir: &Path, name: &str, args: &[&str]) -> Receiver {
    let (pem, key) = (cert("server.pem"), cert("server.key"));
    let mut all = vec!["--ssl-cert", &pem, "--ssl-key", &key];
    all.extend(args);
    Receiver::start(dir, name, &all)
}

#[test]
fn events_arrive_over_tls_checked_against_the_truststore_and_server_name() {
    let dir = scratch("tls");
    let receiver = tls_receiver(&dir, "r", &[]);
    assert!(receiver.log().contains("(Compact, TLS)"), "{}", receiver.log());
    let port = receiver.port.to_string();
    let ca = cert("ca.pem");
    let input: String = (1..=500).map(|i| format!("event {i} é\n")).collect();
    let out = send(
        &["-H", "127.0.0.1", "-p", &port, "--ssl", "--truststore", &ca, "--ssl-server-name", "flume.test"],
        Some(input.as_bytes()),
    );
    assert_code(&out, 0);
    let bodies = bodies(&receiver.events());
    assert_eq!(bodies, input.lines().collect::<Vec<_>>());

    // The certificate names flume.test, not 127.0.0.1: without --ssl-server-name
    // the sender refuses it, before sending anything.
    let out = send(&["-H", "127.0.0.1", "-p", &port, "--ssl", "--truststore", &ca], Some(b"never\n"));
    assert_code(&out, 3);
    assert!(stderr(&out).contains("not valid for the server's name"), "{}", stderr(&out));
    // A truststore without the server's CA.
    let other = cert("otherca.pem");
    let out = send(
        &["-H", "127.0.0.1", "-p", &port, "--ssl", "--truststore", &other, "--ssl-server-name", "flume.test"],
        Some(b"never\n"),
    );
    assert_code(&out, 3);
    assert!(stderr(&out).contains("not signed by a CA in the truststore"), "{}", stderr(&out));
    // Plain text to a TLS receiver: nothing is taken as an event, and the
    // sender is told to use TLS.
    let out = send(&["-H", "127.0.0.1", "-p", &port, "--connect-timeout", "3000"], Some(b"never\n"));
    assert_code(&out, 3);
    assert!(stderr(&out).contains("set ssl=true (nothing was delivered)"), "{}", stderr(&out));
    // TLS to a plain receiver: it says what it saw.
    let plain = Receiver::start(&dir, "plain", &[]);
    let plain_port = plain.port.to_string();
    let out = send(
        &["-H", "127.0.0.1", "-p", &plain_port, "--ssl", "--truststore", &ca, "--ssl-server-name", "flume.test"],
        Some(b"never\n"),
    );
    assert_code(&out, 3);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !plain.log().contains("began a TLS handshake") {
        assert!(std::time::Instant::now() < deadline, "{}", plain.log());
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(plain.events().is_empty());
    // TLS options without --ssl are refused, not ignored.
    let out = send(&["-H", "127.0.0.1", "-p", &port, "--truststore", &ca], Some(b"never\n"));
    assert_code(&out, 1);
    assert!(stderr(&out).contains("ssl"), "{}", stderr(&out));
    assert_eq!(receiver.events().len(), 500, "{}", receiver.log());
}

#[test]
fn mutual_tls_needs_a_client_certificate_from_the_trusted_ca() {
    let dir = scratch("mtls");
    let ca = cert("ca.pem");
    let receiver = tls_receiver(&dir, "r", &["--ssl-client-ca", &ca]);
    assert!(receiver.log().contains("TLS with client certificates"), "{}", receiver.log());
    let port = receiver.port.to_string();
    let base = ["-H", "127.0.0.1", "-p", &port, "--ssl", "--truststore", &ca, "--ssl-server-name", "flume.test"];
    let with = |cert_name: &str, key_name: &str| {
        let (c, k) = (cert(cert_name), cert(key_name));
        let mut args: Vec<String> = base.iter().map(|s| s.to_string()).collect();
        args.extend(["--ssl-client-cert".into(), c, "--ssl-client-key".into(), k]);
        args
    };

    let out = send(&base, Some(b"no certificate\n"));
    assert_code(&out, 3);
    assert!(stderr(&out).contains("client certificate"), "{}", stderr(&out));
    let args = with("otherclient.pem", "otherclient.key");
    let out = send(&args.iter().map(String::as_str).collect::<Vec<_>>(), Some(b"untrusted certificate\n"));
    assert_code(&out, 3);
    assert!(stderr(&out).contains("rejected the client certificate"), "{}", stderr(&out));
    // A key that is not the certificate's.
    let args = with("client.pem", "otherclient.key");
    let out = send(&args.iter().map(String::as_str).collect::<Vec<_>>(), Some(b"wrong key\n"));
    assert_code(&out, 1);
    assert!(receiver.events().is_empty());

    let args = with("client.pem", "client.key");
    let out = send(&args.iter().map(String::as_str).collect::<Vec<_>>(), Some(b"one\ntwo\n"));
    assert_code(&out, 0);
    assert_eq!(bodies(&receiver.events()), ["one", "two"]);
}

#[test]
fn receiver_tls_options_are_checked_before_listening() {
    for tool in [SEND, RECEIVE] {
        let out = Command::new(tool).arg("--version").output().unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).ends_with(" (with TLS)\n"), "{tool}: {}", stderr(&out));
    }
    let (pem, key, ca) = (cert("server.pem"), cert("server.key"), cert("ca.pem"));
    let missing = certs().join("missing.pem").to_str().unwrap().to_string();
    for (args, message) in [
        (vec!["--ssl-cert", &pem], "--ssl-cert and --ssl-key go together"),
        (vec!["--ssl-key", &key], "--ssl-cert and --ssl-key go together"),
        (vec!["--ssl-client-ca", &ca], "--ssl-client-ca is for TLS"),
        (vec!["--ssl-cert", &missing, "--ssl-key", &key], "missing.pem: cannot read PEM certificates"),
        (vec!["--ssl-cert", &key, "--ssl-key", &key], "no PEM certificate"),
        (vec!["--ssl-cert", &pem, "--ssl-key", &pem], "not an unencrypted PEM private key"),
        (vec!["--ssl-cert", &pem, "--ssl-key", &cert("client.key")], "is the key the certificate's?"),
    ] {
        let out = Command::new(RECEIVE).args(["--port", "0"]).args(&args).stdin(Stdio::null()).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
    }
}
