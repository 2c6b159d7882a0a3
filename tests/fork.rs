//! A client inherited across fork(): in the child every call fails at once
//! with FLUME_ERR_INVALID_ARG, statistics (JSON and Prometheus) included, however busy the parent's
//! threads were with the client (and its locks) when it forked.

use std::ffi::CStr;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use flume_client_ffi::{
    flume_client, flume_client_append, flume_client_free, flume_client_new, flume_client_stats_json,
    flume_client_stats_prometheus, flume_config_free, flume_config_new, flume_config_set, flume_event,
    flume_last_error, flume_string_free, FLUME_ERR_INVALID_ARG,
};

const CHILDREN: usize = 60;
/// How long all the children together may take before the ones left are hung.
const CHILDREN_DEADLINE: Duration = Duration::from_secs(20);

/// The client pointer, shared with the parent's busy threads.
#[derive(Clone, Copy)]
struct Shared(*mut flume_client);
// SAFETY: a flume_client may be used by many threads at once.
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

/// In the child: the statistics call must fail with FLUME_ERR_INVALID_ARG
/// naming fork(), then the child exits. Exit status 0 when it did.
fn child(client: Shared) -> ! {
    // SAFETY: a valid client pointer; the strings returned are the library's.
    let code = unsafe {
        let json = flume_client_stats_json(client.0);
        let detail = CStr::from_ptr(flume_last_error()).to_string_lossy().into_owned();
        let event = flume_event { headers: ptr::null(), header_count: 0, body: ptr::null(), body_len: 0 };
        let append = flume_client_append(client.0, &event);
        let prometheus = flume_client_stats_prometheus(client.0);
        if !json.is_null() || !prometheus.is_null() {
            flume_string_free(json);
            flume_string_free(prometheus);
            1
        } else if !detail.starts_with("FLUME_ERR_INVALID_ARG") || !detail.contains("fork") {
            2
        } else if append != FLUME_ERR_INVALID_ARG {
            3
        } else {
            0
        }
    };
    // SAFETY: leaves at once, running no destructor of the parent's state.
    unsafe { libc::_exit(code) }
}

#[test]
fn statistics_in_forked_children_fail_with_invalid_arg_and_never_hang() {
    // SAFETY: plain calls of the C API with valid arguments.
    let client = unsafe {
        let conf = flume_config_new();
        for (key, value) in [("connect-timeout", "50"), ("request-timeout", "50"), ("maxConnections", "2")] {
            let (key, value) = (std::ffi::CString::new(key).unwrap(), std::ffi::CString::new(value).unwrap());
            assert_eq!(flume_config_set(conf, key.as_ptr(), value.as_ptr()), 0);
        }
        // Nothing listens on port 1: calls fail at once, through the hosts' and pools' locks.
        let client = flume_client_new(c"127.0.0.1:1,127.0.0.1:2".as_ptr(), conf);
        flume_config_free(conf);
        assert!(!client.is_null());
        Shared(client)
    };
    let stop = AtomicBool::new(false);
    let mut outcomes = Vec::new();
    std::thread::scope(|s| {
        // Busy threads hold the client's locks (statistics, host health, pools) at random moments.
        for t in 0..4 {
            let stop = &stop;
            s.spawn(move || {
                let client = client;
                while !stop.load(Ordering::Relaxed) {
                    // SAFETY: the client outlives the scope; strings are freed.
                    unsafe {
                        if t == 0 {
                            flume_string_free(flume_client_stats_json(client.0));
                        } else if t == 2 {
                            flume_string_free(flume_client_stats_prometheus(client.0));
                        } else {
                            let event =
                                flume_event { headers: ptr::null(), header_count: 0, body: ptr::null(), body_len: 0 };
                            flume_client_append(client.0, &event);
                        }
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_millis(50));
        let mut pids = Vec::new();
        for _ in 0..CHILDREN {
            // SAFETY: the child only calls the library (which must fail before
            // taking any lock) and _exit.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
            if pid == 0 {
                child(client);
            }
            pids.push(pid);
            std::thread::sleep(Duration::from_millis(2));
        }
        stop.store(true, Ordering::Relaxed);
        let deadline = Instant::now() + CHILDREN_DEADLINE;
        for pid in pids {
            let mut status = 0;
            let outcome = loop {
                // SAFETY: waits for our own child.
                let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
                if r == pid {
                    break if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { 100 + status };
                }
                if Instant::now() > deadline {
                    // SAFETY: our own hung child.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                        libc::waitpid(pid, &mut status, 0);
                    }
                    break -1;
                }
                std::thread::sleep(Duration::from_millis(5));
            };
            outcomes.push(outcome);
        }
    });
    // SAFETY: no thread uses the client any more.
    unsafe { flume_client_free(client.0) };
    let count = |code: i32| outcomes.iter().filter(|&&o| o == code).count();
    assert_eq!(
        count(0),
        CHILDREN,
        "of {CHILDREN} children: {} hung (killed after {CHILDREN_DEADLINE:?}), {} got statistics, {} a wrong message, \
         {} a wrong append code, {} died otherwise",
        count(-1),
        count(1),
        count(2),
        count(3),
        outcomes.iter().filter(|&&o| o >= 100).count()
    );
}
