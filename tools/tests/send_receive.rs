//! flume-send to flume-receive, both as built: whole files in order, JSON
//! lines, base64 bodies, Flume's client properties files as documented,
//! resuming after failures, exit statuses.

mod common;

use std::fs;

use common::*;

#[test]
fn a_hundred_thousand_lines_arrive_in_order_with_their_headers() {
    let dir = scratch("100k");
    let lines = lines(100_000);
    let file = dir.join("app.log");
    write_lines(&file, &lines);
    // avro-client's -R: a Java properties file of headers.
    let header_file = dir.join("headers.properties");
    fs::write(&header_file, "# every event\nhost = web-1\ntopic: clicks\ncity = M\\u00fcnchen\n").unwrap();
    let receiver = Receiver::start(&dir, "r", &[]);

    let port = receiver.port.to_string();
    let out = send(
        &[
            "-H",
            "127.0.0.1",
            "-p",
            &port,
            "-F",
            file.to_str().unwrap(),
            "-R",
            header_file.to_str().unwrap(),
            "--header",
            "topic=orders",
            "--batch-size",
            "500",
        ],
        None,
    );
    assert_code(&out, 0);
    assert!(stderr(&out).contains("100000 events"), "{}", stderr(&out));

    let events = receiver.events();
    assert_eq!(events.len(), lines.len());
    let expected = sorted(&[("host", "web-1"), ("topic", "orders"), ("city", "München")]);
    for (i, (event, line)) in events.iter().zip(&lines).enumerate() {
        assert_eq!(&event.body, line, "line {}", i + 1);
        let mut headers = event.headers.clone();
        headers.sort();
        assert_eq!(headers, expected, "line {}", i + 1);
    }
}

#[test]
fn stdin_crlf_and_a_last_line_without_newline() {
    let dir = scratch("stdin");
    let receiver = Receiver::start(&dir, "r", &["--protocol", "binary"]);
    let out = send(&["--hosts", &receiver.address(), "--protocol", "binary"], Some(b"one\r\ntwo\n\nthree"));
    assert_code(&out, 0);
    assert_eq!(bodies(&receiver.events()), ["one", "two", "", "three"]);
}

#[test]
fn json_lines_round_trip() {
    let dir = scratch("json");
    let input = concat!(
        r#"{"headers":{"host":"web-1","msg":"tab\there \"quoted\" \\ \u00e9 \ud83d\ude00"},"body":"first \u0000 line\nsecond"}"#,
        "\n",
        r#"{"body":"no headers"}"#,
        "\n",
        "\n", // blank: skipped
        r#"  { "headers" : { "topic" : "override" } , "body" : "" }  "#,
        "\n",
        r#"{"headers":{},"body":"😀 \/ slash"}"#,
        "\n",
    );
    let r1 = Receiver::start(&dir, "r1", &[]);
    let out = send(&["--hosts", &r1.address(), "--json", "--header", "topic=common"], Some(input.as_bytes()));
    assert_code(&out, 0);
    let first = r1.events();
    let got: Vec<(Vec<(String, String)>, String)> = first
        .iter()
        .map(|e| {
            let mut h = e.headers.clone();
            h.sort();
            (h, e.body.clone())
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                sorted(&[("host", "web-1"), ("msg", "tab\there \"quoted\" \\ é 😀"), ("topic", "common")]),
                "first \0 line\nsecond".to_string()
            ),
            (sorted(&[("topic", "common")]), "no headers".to_string()),
            (sorted(&[("topic", "override")]), String::new()),
            (sorted(&[("topic", "common")]), "😀 / slash".to_string()),
        ]
    );

    // What flume-receive writes, flume-send reads: a second hop changes nothing.
    let r2 = Receiver::start(&dir, "r2", &[]);
    let out = send(&["--hosts", &r2.address(), "--json", r1.output.to_str().unwrap()], None);
    assert_code(&out, 0);
    assert_eq!(r2.events(), first);
    assert_eq!(fs::read(&r2.output).unwrap(), fs::read(&r1.output).unwrap());
}

#[test]
fn base64_bodies_carry_any_bytes() {
    let dir = scratch("base64");
    let bodies: Vec<Vec<u8>> = (0..300usize).map(|i| (0..i).map(|j| (j * 7 + i) as u8).collect()).collect();
    let mut input = String::new();
    for (i, body) in bodies.iter().enumerate() {
        let n = i.to_string();
        flume_tools::json::write_event(&mut input, [("n", n.as_str())], &flume_tools::base64::encode(body));
    }
    let r1 = Receiver::start(&dir, "r1", &["--base64"]);
    let out = send(&["--hosts", &r1.address(), "--json", "--base64", "--batch-size", "64"], Some(input.as_bytes()));
    assert_code(&out, 0);
    let events = r1.events();
    assert_eq!(events.len(), bodies.len());
    for (i, (event, body)) in events.iter().zip(&bodies).enumerate() {
        assert_eq!(&flume_tools::base64::decode(&event.body).unwrap(), body, "event {i}");
        assert_eq!(event.headers, [("n".to_string(), i.to_string())]);
    }
    // The receiver's output is the input, byte for byte.
    assert_eq!(fs::read_to_string(&r1.output).unwrap(), input);

    // Not base64: an input error naming the line, after the lines before it.
    let bad =
        format!("{}{}", input.lines().take(5).map(|l| format!("{l}\n")).collect::<String>(), "{\"body\":\"a$b=\"}\n");
    let r2 = Receiver::start(&dir, "r2", &["--base64"]);
    let out = send(&["--hosts", &r2.address(), "--json", "--base64"], Some(bad.as_bytes()));
    assert_code(&out, 2);
    assert!(stderr(&out).contains("stdin:6: body: '$' at offset 1 is not base64"), "{}", stderr(&out));
    assert_eq!(resume_point(&out), 5);
    assert_eq!(r2.events().len(), 5);
}

/// Flume's failover client example (Developer Guide, "Failover Client"), as
/// written there but with the comments on their own lines (a `#` after a value
/// is part of the value in a Java properties file). h1 refuses connections:
/// every call fails over to h2.
#[test]
fn flume_failover_properties_file_works_as_documented() {
    let dir = scratch("failover");
    let lines = lines(2_000);
    let file = dir.join("events.txt");
    write_lines(&file, &lines);
    let h2 = Receiver::start(&dir, "h2", &[]);
    let h3 = Receiver::start(&dir, "h3", &[]);
    let props = dir.join("client.properties");
    fs::write(
        &props,
        format!(
            "\
client.type = default_failover

# at least one is required, but 2 or more makes better sense
hosts = h1 h2 h3

hosts.h1 = 127.0.0.1:{}

hosts.h2 = 127.0.0.1:{}

hosts.h3 = 127.0.0.1:{}

# Must be >=0 (default: number of hosts specified, 3 in this case).
max-attempts = 3

# Must be >=1 (default: 100)
batch-size = 100

# Must be >=1000 (default: 20000)
connect-timeout = 20000

# Must be >=1000 (default: 20000)
request-timeout = 20000
",
            dead_port(),
            h2.port,
            h3.port
        ),
    )
    .unwrap();
    let out = send(&["-P", props.to_str().unwrap(), "-F", file.to_str().unwrap()], None);
    assert_code(&out, 0);
    assert_eq!(bodies(&h2.events()), lines);
    assert!(h3.events().is_empty());

    // The load-balancing example: round robin over two live hosts.
    let l1 = Receiver::start(&dir, "l1", &[]);
    let l2 = Receiver::start(&dir, "l2", &[]);
    let props = dir.join("lb.properties");
    fs::write(
        &props,
        format!(
            "\
client.type = default_loadbalance

# at least one is required, but 2 or more makes better sense
hosts = h1 h2

hosts.h1 = 127.0.0.1:{}
hosts.h2 = 127.0.0.1:{}

# Must be either true or false (default: false)
backoff = false

# Must be >=0 (default: 0, which effectively becomes 30000)
maxBackoff = 0

# The host selection strategy used when load-balancing among hosts
host-selector = round_robin

batch-size = 100
connect-timeout = 20000
request-timeout = 20000
",
            l1.port, l2.port
        ),
    )
    .unwrap();
    let out = send(&["-P", props.to_str().unwrap(), "-F", file.to_str().unwrap()], None);
    assert_code(&out, 0);
    let (a, b) = (bodies(&l1.events()), bodies(&l2.events()));
    assert_eq!(a.len(), 1000, "round robin: half the calls each");
    let mut all: Vec<String> = a.into_iter().chain(b).collect();
    let mut expected = lines.clone();
    all.sort();
    expected.sort();
    assert_eq!(all, expected);

    // The command line overrides the file: -H and -p instead of its hosts.
    let direct = Receiver::start(&dir, "direct", &[]);
    let port = direct.port.to_string();
    let out =
        send(&["-P", props.to_str().unwrap(), "-H", "127.0.0.1", "-p", &port, "--batch-size", "7"], Some(b"x\ny\n"));
    assert_code(&out, 0);
    assert_eq!(bodies(&direct.events()), ["x", "y"]);

    // The docs' trailing comments are part of the values: a config error.
    let bad = dir.join("bad.properties");
    fs::write(&bad, format!("hosts = h1\nhosts.h1 = 127.0.0.1:{}\nbatch-size = 100   # Must be >=1\n", direct.port))
        .unwrap();
    let out = send(&["-P", bad.to_str().unwrap()], Some(b"x\n"));
    assert_code(&out, 1);
    assert!(stderr(&out).contains("line 3: batch-size: '100   # Must be >=1'"), "{}", stderr(&out));
}

/// The first receiver exits after 3,000 events; flume-send names the first
/// line not acknowledged; a second run with --skip sends exactly the rest.
#[test]
fn resume_after_the_receiver_went_away_sends_only_the_rest() {
    let dir = scratch("resume-exit");
    let lines = lines(10_000);
    let file = dir.join("events.txt");
    write_lines(&file, &lines);
    let mut first = Receiver::start(&dir, "first", &["--exit-after", "3000"]);
    let out = send(&["--hosts", &first.address(), "-F", file.to_str().unwrap(), "--batch-size", "100"], None);
    // The next call finds the connection closed (5) or the port closed (3).
    assert!(matches!(out.status.code(), Some(3) | Some(5)), "{}\n{}", out.status, stderr(&out));
    assert!(stderr(&out).contains("line 3001 ("), "{}", stderr(&out));
    let skip = resume_point(&out);
    assert_eq!(skip, 3000);
    assert!(first.wait_exit().success());
    assert!(first.log().contains("3000 events in 30 calls"), "{}", first.log());

    let second = Receiver::start(&dir, "second", &[]);
    let skip = skip.to_string();
    let out = send(&["--hosts", &second.address(), "-F", file.to_str().unwrap(), "--skip", &skip], None);
    assert_code(&out, 0);
    let mut all = bodies(&first.events());
    assert_eq!(all.len(), 3000);
    all.extend(bodies(&second.events()));
    assert_eq!(all, lines);
}

/// Every other call is answered FAILED: flume-send stops at each with 4, and
/// resuming until it succeeds delivers every line exactly once, in order.
#[test]
fn resume_after_rejected_calls_until_everything_is_delivered() {
    let dir = scratch("resume-failed");
    let lines = lines(1_000);
    let file = dir.join("events.txt");
    write_lines(&file, &lines);
    let mut receiver = Receiver::start(&dir, "r", &["--fail-ratio", "0.5"]);
    let mut skip = 0u64;
    let mut runs = 0;
    loop {
        runs += 1;
        assert!(runs < 20, "no progress");
        let s = skip.to_string();
        let out = send(
            &["--hosts", &receiver.address(), "-F", file.to_str().unwrap(), "--skip", &s, "--batch-size", "100"],
            None,
        );
        if out.status.code() == Some(0) {
            break;
        }
        assert_code(&out, 4);
        assert!(stderr(&out).contains("FLUME_ERR_FAILED"), "{}", stderr(&out));
        let next = resume_point(&out);
        assert_eq!(next, skip + 100, "one call accepted, the next rejected");
        assert!(stderr(&out).contains(&format!("line {} (", next + 1)), "{}", stderr(&out));
        skip = next;
    }
    assert_eq!(runs, 10);
    assert_eq!(bodies(&receiver.events()), lines);
    let (status, log) = receiver.stop();
    assert!(status.success(), "{status}");
    assert!(log.contains("SIGTERM: 1900 events in 19 calls on 10 connections; answered 10 OK, 9 FAILED"), "{log}");
    assert!(log.contains("1000 events written"), "{log}");
}

#[test]
fn exit_statuses_say_what_failed() {
    let dir = scratch("exit");
    let receiver = Receiver::start(&dir, "r", &[]);
    let host = receiver.address();

    for args in [
        &["--bogus"][..],
        &["-H", "127.0.0.1"],
        &["-p", "0", "-H", "x"],
        &["--hosts", &host, "--base64"],
        &["--hosts", &host, "--batch-size", "0"],
        &["--hosts", &host, "--config", "no-such-key=1"],
        &["--hosts", &host, "--config", "client.type=default"],
        &["--hosts", "nonsense"],
        &[],
    ] {
        let out = send(args, Some(b"x\n"));
        assert_code(&out, 1);
        assert!(stderr(&out).contains("--help"), "{args:?}: {}", stderr(&out));
    }

    let missing = dir.join("missing.txt");
    let out = send(&["--hosts", &host, "-F", missing.to_str().unwrap()], None);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("cannot open"), "{}", stderr(&out));

    let out = send(
        &["--hosts", &host, "--json"],
        Some(b"{\"body\":\"a\"}\n{\"body\":\"b\"}\n{\"body\":\"c\"\n{\"body\":\"d\"}\n"),
    );
    assert_code(&out, 2);
    assert!(stderr(&out).contains("stdin:3: not an event: column 12: expected"), "{}", stderr(&out));
    assert_eq!(resume_point(&out), 2);

    for (len, message) in
        [(90, "stdin:2: the event needs a frame of"), (200, "stdin:2: a line longer than max-frame-size")]
    {
        let input = format!("ok\n{}\nnot sent\n", "x".repeat(len));
        let out = send(&["--hosts", &host, "--config", "max-frame-size=100"], Some(input.as_bytes()));
        assert_code(&out, 2);
        assert!(stderr(&out).contains(message), "{}", stderr(&out));
        assert_eq!(resume_point(&out), 1);
    }

    let port = dead_port().to_string();
    let out = send(&["-H", "127.0.0.1", "-p", &port, "--connect-timeout", "2000"], Some(b"x\n"));
    assert_code(&out, 3);
    assert!(stderr(&out).contains("FLUME_ERR_CONNECT"), "{}", stderr(&out));
    assert!(stderr(&out).contains("line 1 (stdin:1) was not acknowledged"), "{}", stderr(&out));
    assert_eq!(resume_point(&out), 0);

    let slow = Receiver::start(&dir, "slow", &["--delay-ms", "1000"]);
    let out = send(&["--hosts", &slow.address(), "--request-timeout", "100"], Some(b"x\ny\n"));
    assert_code(&out, 5);
    assert!(stderr(&out).contains("lines 1 to 2 may have been delivered"), "{}", stderr(&out));

    let error = Receiver::start(&dir, "error", &["--reply", "error"]);
    let out = send(&["--hosts", &error.address()], Some(b"x\n"));
    assert_code(&out, 4);

    // Success: the summary, and nothing with --quiet.
    let out = send(&["--hosts", &host], Some(b"a\nb\n"));
    assert_code(&out, 0);
    assert!(stderr(&out).contains("2 events (2 B) acknowledged"), "{}", stderr(&out));
    let out = send(&["--hosts", &host, "-q"], Some(b"a\n"));
    assert_code(&out, 0);
    assert_eq!(stderr(&out), "");
}

#[test]
fn help_has_examples_and_exit_statuses() {
    for tool in [SEND, RECEIVE] {
        let out = std::process::Command::new(tool).arg("--help").output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("usage:") && text.contains("examples:") && text.contains("exit status:"), "{text}");
    }
    let out = std::process::Command::new(RECEIVE).arg("--fail-ratio").arg("2").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn receive_text_format_and_counts_on_sigint() {
    let dir = scratch("text");
    let output = dir.join("out.txt");
    let port_file = dir.join("port");
    let child = std::process::Command::new(RECEIVE)
        .args(["--port", "0", "--port-file", port_file.to_str().unwrap(), "--output", output.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !port_file.exists() {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let port = fs::read_to_string(&port_file).unwrap().trim().to_string();
    let out = send(&["-H", "localhost", "-p", &port, "--header", "k=v"], Some(b"hello\nsay \"hi\"\n"));
    assert_code(&out, 0);
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let done = child.wait_with_output().unwrap();
    assert!(done.status.success(), "{}", done.status);
    let log = String::from_utf8_lossy(&done.stderr);
    assert!(log.contains("SIGINT: 2 events in 1 call on 1 connection; answered 1 OK"), "{log}");
    assert_eq!(fs::read_to_string(&output).unwrap(), "[k=v] hello\n[k=v] say \\\"hi\\\"\n");
}

/// max-frame-size bounds the decoded event, not the JSON line: a 12.5 MB body
/// is a 16.7 MB line in base64, and what flume-receive --format json --base64
/// wrote, flume-send --json --base64 reads back.
#[test]
fn bodies_near_max_frame_size_round_trip_in_base64_and_escaped_json() {
    let dir = scratch("large");
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let body: Vec<u8> = (0..12_500_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let mut input = String::new();
    flume_tools::json::write_event(&mut input, [("n", "1")], &flume_tools::base64::encode(&body));
    assert!(input.len() > flume_client::FLUME_MAX_FRAME_SIZE, "the line must be longer than a frame");
    let file = dir.join("in.jsonl");
    fs::write(&file, &input).unwrap();

    let r1 = Receiver::start(&dir, "r1", &["--base64"]);
    let out = send(&["--hosts", &r1.address(), "--json", "--base64", file.to_str().unwrap()], None);
    assert_code(&out, 0);
    assert_eq!(fs::read_to_string(&r1.output).unwrap(), input);
    // And back: the receiver's output as flume-send's input.
    let r2 = Receiver::start(&dir, "r2", &["--base64"]);
    let out = send(&["--hosts", &r2.address(), "--json", "--base64", r1.output.to_str().unwrap()], None);
    assert_code(&out, 0);
    let events = r2.events();
    assert_eq!(events.len(), 1);
    assert!(flume_tools::base64::decode(&events[0].body).unwrap() == body, "the body came back changed");

    // Plain JSON: 3 MB of control characters, each a 6-byte \u0001 escape.
    let controls = "\u{1}".repeat(3_000_000);
    let mut escaped = String::new();
    flume_tools::json::write_event(&mut escaped, [("n", "2")], &controls);
    assert!(escaped.len() > flume_client::FLUME_MAX_FRAME_SIZE);
    let r3 = Receiver::start(&dir, "r3", &[]);
    let out = send(&["--hosts", &r3.address(), "--json"], Some(escaped.as_bytes()));
    assert_code(&out, 0);
    assert!(r3.events()[0].body == controls);

    // A JSON line no event could come from is still refused before it is
    // all in memory, with the limit.
    let huge = format!("{{\"body\":\"{}\"}}\n", "QUFB".repeat(250_000));
    let out = send(
        &["--hosts", &r3.address(), "--json", "--base64", "--config", "max-frame-size=100000"],
        Some(huge.as_bytes()),
    );
    assert_code(&out, 2);
    assert!(
        stderr(&out)
            .contains("stdin:1: a JSON line longer than 865536 bytes (8 times max-frame-size, 100000, plus 65536)"),
        "{}",
        stderr(&out)
    );
    // Under it, the decoded event is what is checked.
    let big = format!("{{\"body\":\"{}\"}}\n", "QUFB".repeat(100_000));
    let out = send(
        &["--hosts", &r3.address(), "--json", "--base64", "--config", "max-frame-size=100000"],
        Some(big.as_bytes()),
    );
    assert_code(&out, 2);
    assert!(stderr(&out).contains("more than max-frame-size (100000)"), "{}", stderr(&out));
}
