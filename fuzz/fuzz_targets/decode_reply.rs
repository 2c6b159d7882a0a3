//! The client's reply decoder (`flume_client::unstable::decode_reply`), in both protocols, for both methods.
//!
//! The input format and the checks are in tests/common/fuzz_checks.rs, shared
//! with tests/fuzz_regressions.rs (which replays the seeds and every input
//! found in fuzz/regressions/decode_reply/). libFuzzer and ASan add: no crash, no
//! hang, no out-of-bounds access, no huge allocation (scripts/fuzz.sh's limits).
#![no_main]

#[path = "../../tests/common/fuzz_checks.rs"]
mod fuzz_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::decode_reply_input(data));
