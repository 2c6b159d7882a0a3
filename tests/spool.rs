//! The durable send queue (`queue.spool.dir`, docs/spool.md) against Apache
//! Thrift's Python server (tests/peers/python_server.py), which records each
//! call before answering it.
//!
//! - crash: child processes send numbered events through a spooled client
//!   while the receiver is up, down and restarting, and are killed with
//!   SIGKILL at random moments (seeded; `FLUME_SPOOL_SEED=N` repeats a run,
//!   `FLUME_SPOOL_KILLS=N` sets the number of kills, 50 by default); a last
//!   process on the same directory drains it. Every event whose `send`
//!   returned OK must have arrived; duplicates are counted and printed.
//! - the faults: disk full (RLIMIT_FSIZE in a child, and a full tmpfs where
//!   mounting works), a read-only directory, a directory locked by another
//!   process, a segment with a flipped byte and a cut tail, a full spool.
//!   Each gives its code and message, and what was accepted before is delivered.
//!
//! Its own `main` (harness = false): the test binary is also the child
//! process (`spool child ...`). `cargo test --test spool [NAME...]`.

#[path = "common/flume_agent.rs"]
mod flume_agent;
#[allow(dead_code)]
#[path = "common/peers.rs"]
mod peers;

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flume_client::{Client, Config, DeliveryCallback, DeliveryReport, ErrorKind, EventView};
use peers::{python_command, work_dir, PeerServer};

// ---------------------------------------------------------------- helpers

/// A small PRNG (xorshift64*), seeded, so a run can be repeated.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The body of event `id`: its number, then padding.
fn body(id: u64) -> Vec<u8> {
    let mut b = id.to_le_bytes().to_vec();
    b.extend_from_slice(b" a spooled event, padded to look like a log line of a service");
    b
}

fn id_of(body: &[u8]) -> u64 {
    u64::from_le_bytes(body[..8].try_into().expect("an id"))
}

fn send_id(client: &Client, id: u64) -> flume_client::Result<()> {
    let headers: [(&[u8], &[u8]); 1] = [(b"test", b"spool")];
    client.send(&EventView::new(&headers, &body(id)), id as usize)
}

/// A free loopback port, for receivers started and restarted on it.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Apache Thrift's Python server on `port` (compact protocol).
fn receiver(port: u16) -> PeerServer {
    static N: AtomicUsize = AtomicUsize::new(0);
    let label = format!("spool-python-{port}-{}", N.fetch_add(1, Ordering::Relaxed));
    PeerServer::spawn(label, |record| {
        let mut c = python_command("python_server.py");
        c.arg(port.to_string()).arg("compact").arg(record);
        c
    })
}

/// How many times each id arrived in `calls`.
fn arrivals(calls: &[peers::Call], into: &mut HashMap<u64, u32>) {
    for call in calls {
        for e in &call.events {
            *into.entry(id_of(&e.body)).or_default() += 1;
        }
    }
}

/// A fresh directory under cargo's target/tmp.
fn scratch(name: &str) -> PathBuf {
    let dir = work_dir().join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Reports collected by a delivery callback: (opaque, code) in order.
#[derive(Default)]
struct Reports(Mutex<Vec<(usize, u32)>>);

impl Reports {
    fn callback(self: &Arc<Self>) -> DeliveryCallback {
        let me = Arc::clone(self);
        DeliveryCallback(Arc::new(move |r: &DeliveryReport| {
            me.0.lock().unwrap().push((r.opaque, r.result.err().map_or(0, |e| e.kind().code())));
        }))
    }
    fn take(&self) -> Vec<(usize, u32)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// A spooled config: quick retries, no giving up (an outage must not turn
/// into failure reports), small timeouts so a dead receiver is noticed fast.
fn spool_config(dir: &Path, fsync: &str, extra: &[(&str, &str)]) -> Config {
    let mut c = Config::default();
    for (k, v) in [
        ("queue.spool.dir", dir.to_str().unwrap()),
        ("queue.spool.fsync", fsync),
        ("batch-size", "50"),
        ("linger-ms", "2"),
        ("retries", "1000000"),
        ("retry-backoff", "50"),
        ("event-timeout", "86400000"),
        ("connect-timeout", "300"),
        ("request-timeout", "2000"),
        ("close-timeout", "200"),
    ]
    .iter()
    .chain(extra)
    {
        c.set(k, v).unwrap_or_else(|e| panic!("{k}={v}: {e}"));
    }
    c
}

fn stats_field(json: &str, name: &str) -> u64 {
    let spool = &json[json.find("\"spool\":").expect("a spool object")..];
    let at = spool.find(&format!("\"{name}\":")).unwrap_or_else(|| panic!("no {name} in {spool}")) + name.len() + 3;
    spool[at..].split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
}

/// Runs this binary as a child: `spool child ARGS...`.
fn child(args: &[&str]) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.arg("child").args(args);
    c
}

/// Waits for the freed client's spool to be delivered by a new client: flush
/// until every replayed event is reported (at most `within`).
fn drain(client: &Client, within: Duration) {
    let deadline = Instant::now() + within;
    while client.flush(Duration::from_millis(500)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the spool did not drain within {within:?}: {}",
            client.stats_json().unwrap()
        );
    }
}

// ---------------------------------------------------------------- child processes

/// `child send DIR ADDR GENERATION LOG FSYNC`: sends ids GENERATION<<32 | n
/// for n = 0, 1, ... forever, appending each id whose send returned OK to
/// LOG (after send returned). `child drain DIR ADDR`: delivers what the
/// spool holds, prints the statistics, exits. `child hold DIR`: holds the
/// spool until stdin closes. `child fill DIR ADDR LIMIT`: with RLIMIT_FSIZE
/// LIMIT, sends until the spool cannot be written; prints the ids accepted.
fn child_main(args: &[String]) {
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_else(|| panic!("child: argument {i} missing"));
    match arg(0) {
        "send" => {
            let (dir, addr, generation, log) = (Path::new(arg(1)), arg(2), arg(3).parse::<u64>().unwrap(), arg(4));
            let config = spool_config(dir, arg(5), &[("queue.max-events", "500")]);
            // Events per millisecond: the receiver must keep up with the drain afterwards.
            let pace: u64 = arg(6).parse().unwrap();
            let client = Client::new(addr, &config).unwrap_or_else(|e| panic!("child: {e}"));
            let mut log = fs::OpenOptions::new().append(true).create(true).open(log).unwrap();
            for n in 0.. {
                let id = generation << 32 | n;
                match send_id(&client, id) {
                    Ok(()) => log.write_all(&id.to_le_bytes()).unwrap(),
                    Err(e) if e.kind() == ErrorKind::QueueFull => std::thread::sleep(Duration::from_millis(5)),
                    Err(e) => panic!("child: send: {e}"),
                }
                if n % pace == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        "drain" => {
            let client = Client::new(arg(2), &spool_config(Path::new(arg(1)), "never", &[])).unwrap();
            drain(&client, Duration::from_secs(120));
            println!("{}", client.stats_json().unwrap());
        }
        "hold" => {
            let _client = Client::new("127.0.0.1:1", &spool_config(Path::new(arg(1)), "never", &[])).unwrap();
            println!("READY");
            std::io::stdout().flush().unwrap();
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
        }
        "fill" => {
            let limit: u64 = arg(3).parse().unwrap();
            // SAFETY: plain libc calls on this single-purpose child process.
            unsafe {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN); // EFBIG instead of the signal
                let rl = libc::rlimit { rlim_cur: limit, rlim_max: limit };
                assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &rl), 0);
            }
            // Segments of 16 KiB fit under the limit; an event of 100 KiB needs
            // a segment of its own, which the limit refuses.
            let config = spool_config(Path::new(arg(1)), "always", &[("queue.spool.segment-bytes", "16384")]);
            let client = Client::new(arg(2), &config).unwrap();
            let mut accepted = Vec::new();
            for id in 0..300u64 {
                send_id(&client, id).unwrap();
                accepted.push(id);
            }
            let headers: [(&[u8], &[u8]); 1] = [(b"test", b"spool")];
            let mut big = body(1_000_000);
            big.resize(100 * 1024, b'x');
            let e = client.send(&EventView::new(&headers, &big), 0).expect_err("a segment over the file size limit");
            for id in 300..400u64 {
                send_id(&client, id).unwrap();
                accepted.push(id);
            }
            println!("ERROR {} {}", e.kind().code(), e.message());
            println!("ACCEPTED {}", accepted.iter().map(u64::to_string).collect::<Vec<_>>().join(","));
            println!("STATS {}", client.stats_json().unwrap());
        }
        other => panic!("child: unknown mode {other}"),
    }
}

// ---------------------------------------------------------------- tests

fn crash_seed() -> u64 {
    std::env::var("FLUME_SPOOL_SEED").map_or_else(
        |_| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1,
        |s| s.parse().expect("FLUME_SPOOL_SEED"),
    )
}

/// The crash test against Apache Thrift's Python server.
fn crash_with_sigkill_and_receiver_restarts() {
    let kills: u64 = std::env::var("FLUME_SPOOL_KILLS").map_or(50, |k| k.parse().expect("FLUME_SPOOL_KILLS"));
    let seed = crash_seed();
    println!("crash test: seed {seed} (FLUME_SPOOL_SEED={seed} repeats it), {kills} kills");
    let port = free_port();
    let server: RefCell<Option<PeerServer>> = RefCell::new(None);
    let arrived = RefCell::new(HashMap::new());
    let result = crash_run(
        "python",
        seed,
        kills,
        3,
        4,
        &format!("127.0.0.1:{port}"),
        || *server.borrow_mut() = Some(receiver(port)),
        || arrivals(&server.borrow_mut().take().expect("up").stop(), &mut arrived.borrow_mut()),
        || {
            if let Some(up) = server.borrow_mut().take() {
                arrivals(&up.stop(), &mut arrived.borrow_mut());
            }
            arrived.borrow().clone()
        },
    );
    println!("crash test: {result}");
}

/// The same against a real Flume 1.11.0 agent with its file channel (killed
/// with SIGKILL too when it goes down), whose Thrift sink forwards to
/// `flume-receive`: every event acknowledged by the agent must come out.
fn crash_against_a_real_flume_agent_with_its_file_channel() {
    let kills: u64 =
        std::env::var("FLUME_SPOOL_AGENT_KILLS").map_or(12, |k| k.parse().expect("FLUME_SPOOL_AGENT_KILLS"));
    let seed = crash_seed();
    println!("crash test, real agent: seed {seed} (FLUME_SPOOL_SEED={seed} repeats it), {kills} kills");
    let downstream = flume_agent::Downstream::start("spool", flume_client::Protocol::Compact);
    let mut options = flume_agent::AgentOptions::new(
        flume_client::Protocol::Compact,
        flume_agent::SinkKind::Thrift(downstream.port()),
    );
    options.channel = flume_agent::ChannelKind::File;
    let agent = RefCell::new(flume_agent::FlumeAgent::start("spool-crash", options));
    let address = agent.borrow().address();
    let first = RefCell::new(true);
    let result = crash_run(
        "real agent",
        seed,
        kills,
        8,
        1,
        &address,
        || {
            if !std::mem::replace(&mut *first.borrow_mut(), false) {
                agent.borrow_mut().start_again();
            }
        },
        || agent.borrow_mut().kill(),
        || {
            // The agent forwards from its file channel on its own time: wait until nothing more comes.
            let mut last = (0, Instant::now());
            loop {
                let n = downstream.events().len();
                if n != last.0 {
                    last = (n, Instant::now());
                } else if last.1.elapsed() > Duration::from_secs(5) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            let mut arrived = HashMap::new();
            for e in downstream.events() {
                *arrived.entry(id_of(&e.body)).or_default() += 1;
            }
            arrived
        },
    );
    println!("crash test, real agent: {result}");
}

/// Runs `kills` children, each SIGKILLed at a random moment, while the
/// receiver goes `down` and `up` (each kill, with odds 1 in `toggle_odds`);
/// a last process drains the spool with the receiver up; then `arrived`
/// (which stops the receiver) gives how often each id arrived. Returns the summary line; panics if an
/// acknowledged event is missing.
#[allow(clippy::too_many_arguments)]
fn crash_run(
    what: &str,
    seed: u64,
    kills: u64,
    toggle_odds: u64,
    pace: u64,
    address: &str,
    up: impl Fn(),
    down: impl Fn(),
    arrived: impl FnOnce() -> HashMap<u64, u32>,
) -> String {
    let mut rng = Rng(seed);
    let dir = scratch(&format!("crash-spool-{}", what.replace(' ', "-")));
    let log = dir.parent().unwrap().join(format!("crash-accepted-{}.log", what.replace(' ', "-")));
    let _ = fs::remove_file(&log);
    up();
    let mut is_up = true;
    let (mut restarts, mut outages) = (0, 0);
    let began = Instant::now();
    for generation in 1..=kills {
        let mut process: Child = child(&[
            "send",
            dir.to_str().unwrap(),
            address,
            &generation.to_string(),
            log.to_str().unwrap(),
            "never",
            &pace.to_string(),
        ])
        .stdin(Stdio::null())
        .spawn()
        .expect("child");
        // Kill at a random moment; meanwhile the receiver may go down or come back.
        std::thread::sleep(Duration::from_millis(20 + rng.below(180)));
        // Random outages and restarts, and at least one of each.
        let forced = (generation == kills / 3 && is_up) || (generation == 2 * kills / 3 && !is_up);
        if forced || rng.below(toggle_odds) == 0 {
            if is_up {
                down();
                outages += 1;
            } else {
                up();
                restarts += 1;
            }
            is_up = !is_up;
            std::thread::sleep(Duration::from_millis(rng.below(100)));
        }
        // SAFETY: kill(2) of our own child, by its pid.
        unsafe { libc::kill(process.id() as libc::pid_t, libc::SIGKILL) };
        let status = process.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGKILL),
            "child {generation} ended before it was killed: {status}"
        );
    }
    if !is_up {
        up();
        restarts += 1;
    }
    let drained =
        child(&["drain", dir.to_str().unwrap(), address]).stderr(Stdio::inherit()).output().expect("drain child");
    assert!(drained.status.success(), "the draining process failed: {}", drained.status);
    let stats = String::from_utf8_lossy(&drained.stdout).trim().to_string();
    let arrived = arrived();

    let accepted: Vec<u64> =
        fs::read(&log).unwrap().chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect();
    let missing: Vec<u64> = accepted.iter().copied().filter(|id| !arrived.contains_key(id)).collect();
    let duplicates: u64 = arrived.values().map(|n| u64::from(*n - 1)).sum();
    let logged: std::collections::HashSet<u64> = accepted.iter().copied().collect();
    let unlogged = arrived.keys().filter(|id| !logged.contains(id)).count();
    assert!(accepted.len() > kills as usize, "too few events were accepted to mean anything: {}", accepted.len());
    assert!(
        missing.is_empty(),
        "{what}: {} of {} acknowledged events never arrived (seed {seed}), e.g. {:x?}; drain stats {stats}",
        missing.len(),
        accepted.len(),
        &missing[..missing.len().min(10)]
    );
    let spool = &stats[stats.find("\"spool\":").map_or(0, |i| i + 8)..];
    format!(
        "{kills} SIGKILLs, {outages} receiver outages, {restarts} restarts, {} events accepted, all arrived; \
         {duplicates} duplicates, {unlogged} arrived whose send's OK the killed process had no time to log; \
         {:.1} s; the draining process's spool: {spool}",
        accepted.len(),
        began.elapsed().as_secs_f64()
    )
}

/// A client freed with events unsent leaves them on disk (no FLUME_ERR_CLOSED
/// reports); the next client on the directory sends them, oldest first, and
/// reports each with opaque 0.
fn free_leaves_events_on_disk_and_the_next_client_replays_them_in_order() {
    let dir = scratch("replay");
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let reports = Arc::new(Reports::default());
    let mut config = spool_config(&dir, "interval", &[("queue.max-events", "10")]);
    config.delivery_callback = Some(reports.callback());
    {
        let client = Client::new(&address, &config).unwrap();
        for id in 1..=1000 {
            send_id(&client, id).unwrap(); // 10 in memory, the rest on disk only
        }
        assert!(client.flush(Duration::from_millis(300)).is_err(), "nothing listens: the flush must time out");
        let stats = client.stats_json().unwrap();
        assert_eq!(stats_field(&stats, "events"), 1000, "{stats}");
    }
    assert_eq!(reports.take(), vec![], "free with a spool reports nothing: the events stay on disk");
    let server = receiver(port);
    let client = Client::new(&address, &config).unwrap();
    drain(&client, Duration::from_secs(60));
    let stats = client.stats_json().unwrap();
    let calls = server.stop();
    let order: Vec<u64> = calls.iter().flat_map(|c| c.events.iter().map(|e| id_of(&e.body))).collect();
    assert_eq!(order, (1..=1000).collect::<Vec<_>>(), "each once, oldest first");
    let got = reports.take();
    assert_eq!(got.len(), 1000);
    assert!(got.iter().all(|&(opaque, code)| opaque == 0 && code == 0), "replayed: opaque 0, OK");
    assert_eq!(stats_field(&stats, "replayed"), 1000, "{stats}");
    assert_eq!(stats_field(&stats, "events"), 0, "{stats}");
    drop(client);
    let segments = fs::read_dir(&dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_str().unwrap().ends_with(".seg"))
        .count();
    assert_eq!(segments, 1, "acknowledged segments are deleted; the last one stays");
    println!(
        "replay: 1000 events left by a freed client delivered by the next, in order, reports with opaque 0; {stats}"
    );
}

/// New events sent while a new client is still replaying an old one's queue
/// beyond the memory bounds wait behind them on disk, and all arrive, in order.
fn new_events_during_a_replay_queue_behind_it_on_disk() {
    let dir = scratch("replay-and-send");
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let config = spool_config(&dir, "never", &[("queue.max-events", "100")]);
    {
        let client = Client::new(&address, &config).unwrap();
        for id in 1..=1000 {
            send_id(&client, id).unwrap();
        }
    }
    let server = receiver(port);
    let client = Client::new(&address, &config).unwrap();
    for id in 1001..=2000 {
        send_id(&client, id).unwrap();
    }
    drain(&client, Duration::from_secs(60));
    let stats = client.stats_json().unwrap();
    let order: Vec<u64> = server.stop().iter().flat_map(|c| c.events.iter().map(|e| id_of(&e.body))).collect();
    assert_eq!(order, (1..=2000).collect::<Vec<_>>(), "the replayed first, then the new, each once: {stats}");
    println!("replay and send: 1000 replayed, then 1000 sent meanwhile, in order");
}

/// The next segment is made ahead under a name no reader takes (`N.next`);
/// one left by a killed client is deleted by the next client, never sent, and
/// a freed client leaves none.
fn a_segment_made_ahead_is_never_read_and_none_is_left() {
    let dir = scratch("ahead");
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let config = spool_config(&dir, "never", &[]);
    let names = |dir: &Path| -> Vec<String> {
        let mut v: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        v.sort();
        v
    };
    let segment;
    {
        let client = Client::new(&address, &config).unwrap();
        for id in 1..=5 {
            send_id(&client, id).unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while !names(&dir).iter().any(|n| n.ends_with(".next")) {
            assert!(Instant::now() < deadline, "no segment made ahead: {:?}", names(&dir));
            std::thread::sleep(Duration::from_millis(10));
        }
        segment = names(&dir).into_iter().find(|n| n.ends_with(".seg")).unwrap();
    }
    assert!(!names(&dir).iter().any(|n| n.ends_with(".next")), "a freed client leaves none: {:?}", names(&dir));
    // What a client killed while it made one ahead leaves: here even with records in it.
    let left = dir.join(format!("{:020}.next", 7));
    fs::copy(dir.join(&segment), &left).unwrap();
    let server = receiver(port);
    let client = Client::new(&address, &config).unwrap();
    drain(&client, Duration::from_secs(60));
    let stats = client.stats_json().unwrap();
    assert!(!left.exists(), "deleted at open");
    let mut arrived = HashMap::new();
    arrivals(&server.stop(), &mut arrived);
    let mut ids: Vec<u64> = arrived.keys().copied().collect();
    ids.sort();
    assert_eq!(ids, [1, 2, 3, 4, 5], "{stats}");
    assert_eq!(stats_field(&stats, "replayed"), 5, "{stats}");
    println!("ahead: the segment made ahead is never read; one left behind is deleted; none left by free");
}

/// A second client on a directory in use gets FLUME_ERR_CONFIG naming the holder's pid.
fn a_locked_directory_names_the_process_holding_it() {
    let dir = scratch("locked");
    let mut holder =
        child(&["hold", dir.to_str().unwrap()]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(holder.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "READY");
    let config = spool_config(&dir, "never", &[]);
    let e = Client::new("127.0.0.1:1", &config).expect_err("the directory is locked");
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    assert!(e.message().contains(&format!("process {}", holder.id())), "{e}");
    println!("locked: {e}");
    drop(holder.stdin.take());
    holder.wait().unwrap();
    let first = Client::new("127.0.0.1:1", &config).expect("free again once the holder exited");
    let e = Client::new("127.0.0.1:1", &config).expect_err("one client per directory, in one process too");
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.message().contains(&format!("process {} (this process", std::process::id())), "{e}");
    drop(first);
}

/// A flipped byte in a record in the middle and a cut last record: both
/// skipped with a count and a message; every other event is delivered.
fn flipped_and_cut_bytes_are_skipped_and_counted() {
    let dir = scratch("corrupt");
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let config = spool_config(&dir, "never", &[]);
    {
        let client = Client::new(&address, &config).unwrap();
        for id in 1..=100 {
            send_id(&client, id).unwrap();
        }
    }
    let segment = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "seg") && fs::metadata(p).unwrap().len() > 16)
        .expect("a segment with records");
    let mut bytes = fs::read(&segment).unwrap();
    let record = (bytes.len() - 16) / 100; // all records have the same size
    bytes[16 + 49 * record + 30] ^= 0x10; // inside the 50th event's payload
    bytes.truncate(bytes.len() - 7); // the 100th loses its last bytes
    fs::write(&segment, &bytes).unwrap();

    let reports = Arc::new(Reports::default());
    let mut config = config;
    config.delivery_callback = Some(reports.callback());
    let server = receiver(port);
    let client = Client::new(&address, &config).unwrap();
    drain(&client, Duration::from_secs(60));
    let stats = client.stats_json().unwrap();
    let mut arrived = HashMap::new();
    arrivals(&server.stop(), &mut arrived);
    let mut ids: Vec<u64> = arrived.keys().copied().collect();
    ids.sort();
    let expected: Vec<u64> = (1..=99).filter(|id| *id != 50).collect();
    assert_eq!(ids, expected, "every intact event, once");
    assert!(arrived.values().all(|n| *n == 1));
    assert_eq!(stats_field(&stats, "corrupt_records"), 1, "{stats}");
    assert_eq!(stats_field(&stats, "torn_records"), 1, "{stats}");
    assert_eq!(stats_field(&stats, "replayed"), 98, "{stats}");
    assert!(stats.contains("torn record at its end"), "the last problem is described: {stats}");
    assert_eq!(reports.take().len(), 98);
    println!("corrupt: a flipped byte and a cut tail skipped and counted, 98 of 100 delivered; {stats}");
}

/// The value of the sample `name` (no labels) in a Prometheus text.
fn prometheus_value(text: &str, name: &str) -> u64 {
    let line = text
        .lines()
        .find(|l| l.split(' ').next() == Some(name))
        .unwrap_or_else(|| panic!("no sample {name} in:\n{text}"));
    line[name.len() + 1..].parse().unwrap_or_else(|e| panic!("{line}: {e}"))
}

/// `stats_prometheus` carries every figure of the JSON's spool object, with
/// its type: after a replay with a corrupt record and a torn tail, and with
/// `always` (one fsync per event), each counter has a value to compare.
/// Without a spool there is no spool family.
fn the_prometheus_text_has_the_spool_figures_of_the_json() {
    let dir = scratch("prometheus");
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let config = spool_config(&dir, "always", &[]);
    {
        let client = Client::new(&address, &config).unwrap();
        for id in 1..=30 {
            send_id(&client, id).unwrap();
        }
    }
    let segment = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "seg") && fs::metadata(p).unwrap().len() > 16)
        .expect("a segment with records");
    let mut bytes = fs::read(&segment).unwrap();
    let record = (bytes.len() - 16) / 30;
    bytes[16 + 9 * record + 30] ^= 0x10; // the 10th event's payload
    bytes.truncate(bytes.len() - 5); // the 30th is cut
    fs::write(&segment, &bytes).unwrap();

    let server = receiver(port);
    let client = Client::new(&address, &config).unwrap();
    for id in 31..=40 {
        send_id(&client, id).unwrap();
    }
    drain(&client, Duration::from_secs(60));
    let json = client.stats_json().unwrap();
    let text = client.stats_prometheus().unwrap();
    server.stop();
    let pairs = [
        ("events", "flume_client_spool_events", "gauge"),
        ("bytes", "flume_client_spool_bytes", "gauge"),
        ("segments", "flume_client_spool_segments", "gauge"),
        ("replay_pending", "flume_client_spool_replay_pending", "gauge"),
        ("spooled_events", "flume_client_spool_spooled_events_total", "counter"),
        ("spooled_bytes", "flume_client_spool_spooled_bytes_total", "counter"),
        ("replayed", "flume_client_spool_replayed_total", "counter"),
        ("torn_records", "flume_client_spool_torn_records_total", "counter"),
        ("corrupt_records", "flume_client_spool_corrupt_records_total", "counter"),
        ("write_errors", "flume_client_spool_write_errors_total", "counter"),
        ("fsyncs", "flume_client_spool_fsyncs_total", "counter"),
        ("sync_errors", "flume_client_spool_sync_errors_total", "counter"),
        ("segments_created", "flume_client_spool_segments_created_total", "counter"),
        ("segments_deleted", "flume_client_spool_segments_deleted_total", "counter"),
    ];
    for (field, name, kind) in pairs {
        assert_eq!(prometheus_value(&text, name), stats_field(&json, field), "{name} vs {field}:\n{text}\n{json}");
        assert!(text.contains(&format!("# TYPE {name} {kind}\n")), "{name} is a {kind}:\n{text}");
        assert!(text.contains(&format!("# HELP {name} ")), "{name} has its help:\n{text}");
    }
    // Values that show the figures are the real ones, not zeros on both sides.
    assert_eq!(prometheus_value(&text, "flume_client_spool_replayed_total"), 28, "{text}");
    assert_eq!(prometheus_value(&text, "flume_client_spool_corrupt_records_total"), 1, "{text}");
    assert_eq!(prometheus_value(&text, "flume_client_spool_torn_records_total"), 1, "{text}");
    assert_eq!(prometheus_value(&text, "flume_client_spool_spooled_events_total"), 10, "{text}");
    assert!(prometheus_value(&text, "flume_client_spool_fsyncs_total") >= 10, "{text}");
    let info = format!("flume_client_spool_info{{dir=\"{}\",fsync=\"always\"}} 1\n", dir.display());
    assert!(text.contains(&info), "{info} in:\n{text}");
    drop(client);

    let plain = Client::new(&address, &Config::default()).unwrap();
    let text = plain.stats_prometheus().unwrap();
    assert!(text.contains("flume_client_queue_events") && !text.contains("flume_client_spool"), "{text}");
    println!("prometheus: the spool's 14 figures as in the JSON, with their types; none without a spool");
}

/// A replayed event the new client cannot send (larger than its
/// max-frame-size) is dropped and counted, never retried forever; the others go.
fn a_replayed_event_too_large_for_the_new_settings_is_dropped_and_counted() {
    let dir = scratch("unsendable");
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    {
        let client = Client::new(&address, &spool_config(&dir, "never", &[])).unwrap();
        send_id(&client, 1).unwrap();
        let headers: [(&[u8], &[u8]); 1] = [(b"big", b"yes")];
        let mut big = body(2);
        big.resize(5000, b'x');
        client.send(&EventView::new(&headers, &big), 2).unwrap();
        send_id(&client, 3).unwrap();
    }
    let server = receiver(port);
    let client = Client::new(&address, &spool_config(&dir, "never", &[("max-frame-size", "1000")])).unwrap();
    drain(&client, Duration::from_secs(60));
    let stats = client.stats_json().unwrap();
    let mut arrived = HashMap::new();
    arrivals(&server.stop(), &mut arrived);
    let mut ids: Vec<u64> = arrived.keys().copied().collect();
    ids.sort();
    assert_eq!(ids, [1, 3], "{stats}");
    assert_eq!(stats_field(&stats, "corrupt_records"), 1, "{stats}");
    assert!(stats.contains("larger than max-frame-size"), "{stats}");
    assert_eq!(stats_field(&stats, "events"), 0, "nothing stuck: {stats}");
    println!("unsendable: a replayed event over the new max-frame-size dropped and counted, the others delivered");
}

/// Disk full by RLIMIT_FSIZE (in a child): `send` fails with FLUME_ERR_SPOOL
/// and a message naming the cause; every event accepted before is delivered.
fn a_file_size_limit_fails_send_with_the_spool_code_and_loses_nothing() {
    let dir = scratch("fsize");
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let out = child(&["fill", dir.to_str().unwrap(), &address, "65536"]).stderr(Stdio::inherit()).output().unwrap();
    assert!(out.status.success(), "fill child: {}", out.status);
    let text = String::from_utf8(out.stdout).unwrap();
    let line = |tag: &str| {
        text.lines().find_map(|l| l.strip_prefix(tag)).unwrap_or_else(|| panic!("no {tag} in {text}")).to_string()
    };
    let error = line("ERROR ");
    assert!(error.starts_with("14 "), "FLUME_ERR_SPOOL: {error}");
    assert!(error.contains("File too large") && error.contains("the event was not accepted"), "{error}");
    let accepted: Vec<u64> = line("ACCEPTED ").split(',').map(|s| s.parse().unwrap()).collect();
    assert_eq!(accepted, (0..400).collect::<Vec<_>>(), "accepted before and after the refused one");
    let server = receiver(port);
    let client = Client::new(&address, &spool_config(&dir, "never", &[])).unwrap();
    drain(&client, Duration::from_secs(60));
    let stats = client.stats_json().unwrap();
    let mut arrived = HashMap::new();
    arrivals(&server.stop(), &mut arrived);
    assert!(accepted.iter().all(|id| arrived.contains_key(id)), "every accepted event arrived");
    assert!(!arrived.contains_key(&1_000_000), "the refused event was not sent");
    assert_eq!(stats_field(&stats, "torn_records"), 0, "failed writes were cut off: {stats}");
    println!("file size limit: {error}; all {} accepted before delivered", accepted.len());
}

/// A full file system (a 256 KiB tmpfs): `send` fails with FLUME_ERR_SPOOL
/// "No space left on device"; a client cannot even start on it; once there
/// is room, everything accepted is delivered.
fn a_full_tmpfs_fails_send_with_the_spool_code_and_loses_nothing() {
    let dir = scratch("tmpfs");
    let mount = Command::new("mount").args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"]).arg(&dir).status();
    if !mount.is_ok_and(|s| s.success()) {
        // Not root, or no mount(8): the RLIMIT_FSIZE case still covers disk full,
        // but only if the run says it knows.
        assert!(
            std::env::var("FLUME_SPOOL_NO_MOUNT").is_ok_and(|v| v == "1"),
            "cannot mount a tmpfs here (needs root): set FLUME_SPOOL_NO_MOUNT=1 to rely on the RLIMIT_FSIZE case alone"
        );
        println!("tmpfs: NOT RUN (FLUME_SPOOL_NO_MOUNT=1): disk full is covered by the RLIMIT_FSIZE case only");
        return;
    }
    let unmount = || Command::new("umount").arg(&dir).status().map(|s| assert!(s.success()));
    let spool = dir.join("spool");
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    // Small segments: the first few fit, a later one finds no room.
    let config = spool_config(&spool, "never", &[("queue.spool.segment-bytes", "65536")]);
    let mut accepted = 0u64;
    let error = {
        let client = Client::new(&address, &config).unwrap();
        loop {
            match send_id(&client, accepted) {
                Ok(()) => accepted += 1,
                Err(e) => break e,
            }
        }
    };
    assert_eq!(error.kind(), ErrorKind::Spool, "{error}");
    assert!(error.message().contains("No space left on device"), "{error}");
    let e = Client::new(&address, &config).expect_err("no room for a new segment");
    assert_eq!(e.kind(), ErrorKind::Spool, "{e}");
    let grown = Command::new("mount").args(["-o", "remount,size=4m"]).arg(&dir).status().unwrap();
    assert!(grown.success());
    let server = receiver(port);
    let client = Client::new(&address, &config).unwrap();
    drain(&client, Duration::from_secs(60));
    drop(client);
    let mut arrived = HashMap::new();
    arrivals(&server.stop(), &mut arrived);
    unmount().unwrap();
    assert!((0..accepted).all(|id| arrived.contains_key(&id)), "every accepted event arrived");
    println!("tmpfs: {error}; a new client: {e}; all {accepted} accepted before delivered once there was room");
}

/// A read-only spool directory: the client cannot be made (FLUME_ERR_SPOOL,
/// naming the cause); once writable again, nothing spooled before is lost.
fn a_read_only_directory_is_refused_and_keeps_its_events() {
    let dir = scratch("readonly");
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let config = spool_config(&dir, "never", &[]);
    {
        let client = Client::new(&address, &config).unwrap();
        for id in 1..=50 {
            send_id(&client, id).unwrap();
        }
    }
    // As root, permissions do not stop writes: a read-only bind mount does.
    let root = unsafe { libc::geteuid() } == 0;
    let dir_str = dir.to_str().unwrap();
    if root {
        let bind = Command::new("mount").args(["--bind", dir_str, dir_str]).status().unwrap();
        assert!(bind.success(), "mount --bind");
        let ro = Command::new("mount").args(["-o", "remount,bind,ro", dir_str]).status().unwrap();
        assert!(ro.success(), "remount read-only");
    } else {
        fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o555)).unwrap();
        for e in fs::read_dir(&dir).unwrap() {
            fs::set_permissions(e.unwrap().path(), std::os::unix::fs::PermissionsExt::from_mode(0o444)).unwrap();
        }
    }
    let e = Client::new(&address, &config).expect_err("a read-only directory");
    if root {
        assert!(Command::new("umount").arg(dir_str).status().unwrap().success());
    } else {
        fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        for e in fs::read_dir(&dir).unwrap() {
            fs::set_permissions(e.unwrap().path(), std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        }
    }
    assert_eq!(e.kind(), ErrorKind::Spool, "{e}");
    assert!(e.message().contains("Read-only file system") || e.message().contains("Permission denied"), "{e}");
    let server = receiver(port);
    let client = Client::new(&address, &config).unwrap();
    drain(&client, Duration::from_secs(60));
    let mut arrived = HashMap::new();
    arrivals(&server.stop(), &mut arrived);
    assert!((1..=50).all(|id| arrived.contains_key(&id)));
    println!("read-only: {e}; all 50 delivered once writable");
}

/// `queue.spool.max-bytes` reached: FLUME_ERR_QUEUE_FULL saying so (fail), or after the block timeout (block).
fn a_full_spool_fails_or_blocks_with_queue_full() {
    let dir = scratch("full");
    let config = spool_config(&dir, "never", &[("queue.spool.max-bytes", "8192")]);
    let client = Client::new("127.0.0.1:1", &config).unwrap();
    let mut accepted = 0;
    let e = loop {
        match send_id(&client, accepted) {
            Ok(()) => accepted += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(e.kind(), ErrorKind::QueueFull, "{e}");
    assert!(e.message().contains("queue.spool.max-bytes 8192"), "{e}");
    assert!((50..=80).contains(&accepted), "{accepted} events of ~120 bytes in 8 KiB");
    drop(client);
    let blocking = spool_config(
        &dir,
        "never",
        &[("queue.spool.max-bytes", "8192"), ("queue.full", "block"), ("queue.block-timeout", "200")],
    );
    let client = Client::new("127.0.0.1:1", &blocking).unwrap();
    let started = Instant::now();
    let e = send_id(&client, 9999).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::QueueFull);
    assert!(started.elapsed() >= Duration::from_millis(200), "blocked for the timeout: {:?}", started.elapsed());
    println!("full: {e}");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("child") {
        child_main(&args[1..]);
        return;
    }
    let tests: &[(&str, fn())] = &[
        (
            "free_leaves_events_on_disk_and_the_next_client_replays_them_in_order",
            free_leaves_events_on_disk_and_the_next_client_replays_them_in_order,
        ),
        ("new_events_during_a_replay_queue_behind_it_on_disk", new_events_during_a_replay_queue_behind_it_on_disk),
        ("a_segment_made_ahead_is_never_read_and_none_is_left", a_segment_made_ahead_is_never_read_and_none_is_left),
        ("a_locked_directory_names_the_process_holding_it", a_locked_directory_names_the_process_holding_it),
        ("flipped_and_cut_bytes_are_skipped_and_counted", flipped_and_cut_bytes_are_skipped_and_counted),
        (
            "the_prometheus_text_has_the_spool_figures_of_the_json",
            the_prometheus_text_has_the_spool_figures_of_the_json,
        ),
        (
            "a_replayed_event_too_large_for_the_new_settings_is_dropped_and_counted",
            a_replayed_event_too_large_for_the_new_settings_is_dropped_and_counted,
        ),
        (
            "a_file_size_limit_fails_send_with_the_spool_code_and_loses_nothing",
            a_file_size_limit_fails_send_with_the_spool_code_and_loses_nothing,
        ),
        (
            "a_full_tmpfs_fails_send_with_the_spool_code_and_loses_nothing",
            a_full_tmpfs_fails_send_with_the_spool_code_and_loses_nothing,
        ),
        (
            "a_read_only_directory_is_refused_and_keeps_its_events",
            a_read_only_directory_is_refused_and_keeps_its_events,
        ),
        ("a_full_spool_fails_or_blocks_with_queue_full", a_full_spool_fails_or_blocks_with_queue_full),
        ("crash_with_sigkill_and_receiver_restarts", crash_with_sigkill_and_receiver_restarts),
        (
            "crash_against_a_real_flume_agent_with_its_file_channel",
            crash_against_a_real_flume_agent_with_its_file_channel,
        ),
    ];
    // Options cargo passes to test binaries (--nocapture, ...) are ignored; other words select tests.
    let selected: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let mut ran = 0;
    for (name, test) in tests {
        if !selected.is_empty() && !selected.iter().any(|s| name.contains(s.as_str())) {
            continue;
        }
        let started = Instant::now();
        println!("test {name} ...");
        test();
        println!("test {name} ... ok ({:.1} s)", started.elapsed().as_secs_f64());
        ran += 1;
    }
    assert!(ran > 0, "no test matches {selected:?}");
    println!("spool: {ran} tests passed");
}
