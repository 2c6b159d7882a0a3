//! nullsink: the fastest possible Flume Thrift source, for the benchmark.
//!
//! Thread per connection. For each frame it reads the length, reads the
//! payload without decoding it, parses only the message header (protocol id,
//! method name, seqid; compact or strict binary, detected per frame) and writes
//! back an `OK` reply carrying the call's seqid and method name.
//!
//! Usage: nullsink [PORT] [--tls CERT KEY]   (default port 0: a free port)
//! Prints "PORT <n>" once listening; runs until killed. With --tls it serves
//! TLS (rustls, as a source with ssl=true) with the PEM certificate chain CERT
//! and its unencrypted PEM key KEY: the benchmark's TLS column.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use flume_client::unstable::{encode_reply, Method, Status};
use flume_client::Protocol;

/// (protocol, method, seqid) of a call's message header.
fn parse_header(p: &[u8]) -> Option<(Protocol, Method, i32)> {
    fn method(name: &[u8]) -> Option<Method> {
        match name {
            b"append" => Some(Method::Append),
            b"appendBatch" => Some(Method::AppendBatch),
            _ => None,
        }
    }
    match *p.first()? {
        0x82 => {
            // compact: 0x82, (type << 5) | version, varint seqid, varint name length, name
            let mut i = 2;
            let mut varint = || -> Option<u64> {
                let mut v = 0u64;
                for shift in (0..64).step_by(7) {
                    let b = *p.get(i)?;
                    i += 1;
                    v |= u64::from(b & 0x7f) << shift;
                    if b & 0x80 == 0 {
                        return Some(v);
                    }
                }
                None
            };
            let seqid = varint()? as u32 as i32;
            let len = varint()? as usize;
            Some((Protocol::Compact, method(p.get(i..i.checked_add(len)?)?)?, seqid))
        }
        0x80 => {
            // strict binary: 0x80 0x01 0x00 type, i32 name length, name, i32 seqid
            let len = u32::from_be_bytes(p.get(4..8)?.try_into().ok()?) as usize;
            let name = p.get(8..8 + len)?;
            let seqid = i32::from_be_bytes(p.get(8 + len..12 + len)?.try_into().ok()?);
            Some((Protocol::Binary, method(name)?, seqid))
        }
        _ => None,
    }
}

fn serve(mut stream: impl Read + Write) {
    let mut payload = Vec::new();
    let mut reply = Vec::with_capacity(64);
    loop {
        let mut len = [0u8; 4];
        if stream.read_exact(&mut len).is_err() {
            return;
        }
        let len = u32::from_be_bytes(len) as usize;
        if len > 64 << 20 {
            eprintln!("nullsink: frame of {len} bytes, closing");
            return;
        }
        if payload.len() < len {
            payload.resize(len, 0);
        }
        if stream.read_exact(&mut payload[..len]).is_err() {
            return;
        }
        let Some((protocol, method, seqid)) = parse_header(&payload[..len]) else {
            eprintln!("nullsink: not a Flume call, closing");
            return;
        };
        reply.clear();
        encode_reply(protocol, &mut reply, seqid, method, Status::Ok);
        if stream.write_all(&reply).is_err() {
            return;
        }
    }
}

/// The TLS server configuration of `--tls CERT KEY`.
fn tls_config(cert: &str, key: &str) -> Arc<rustls::ServerConfig> {
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(cert).expect("--tls CERT").collect::<Result<_, _>>().expect("--tls CERT");
    let key = PrivateKeyDer::from_pem_file(key).expect("--tls KEY: an unencrypted PEM key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("--tls CERT KEY");
    Arc::new(config)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tls = args.iter().position(|a| a == "--tls").map(|at| tls_config(&args[at + 1], &args[at + 2]));
    let port: u16 = args.first().filter(|a| *a != "--tls").map_or(0, |p| p.parse().expect("PORT"));
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    println!("PORT {}", listener.local_addr().expect("local_addr").port());
    for stream in listener.incoming().flatten() {
        let _ = stream.set_nodelay(true);
        let tls = tls.clone();
        std::thread::spawn(move || match tls {
            None => serve(stream),
            Some(config) => match rustls::ServerConnection::new(config) {
                Ok(connection) => serve(rustls::StreamOwned::new(connection, stream)),
                Err(e) => eprintln!("nullsink: TLS: {e}"),
            },
        });
    }
}
