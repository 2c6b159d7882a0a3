//! Replays fuzz inputs as a normal cargo test, through the same checks as the
//! fuzz targets (tests/common/fuzz_checks.rs): the checked-in seeds
//! (fuzz/seeds/<target>/) and every input a fuzzer found that crashed or broke
//! a check (fuzz/regressions/<target>/, copied there from fuzz/artifacts/ when
//! the bug was found; the name says what it was). So a fixed bug stays fixed
//! without cargo-fuzz or a nightly feature.

#[path = "common/fuzz_checks.rs"]
mod fuzz_checks;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

fn replay(dir: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(dir);
    let mut count = 0;
    let mut failures = Vec::new();
    for (target, check) in fuzz_checks::TARGETS {
        let Ok(entries) = std::fs::read_dir(root.join(target)) else { continue };
        let mut paths: Vec<_> = entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
        paths.sort();
        for path in paths {
            let data = std::fs::read(&path).unwrap();
            if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
                failures.push(format!("{}: {} bytes {:02x?}", path.display(), data.len(), &data[..data.len().min(64)]));
            }
            count += 1;
        }
    }
    assert!(failures.is_empty(), "inputs failing their fuzz checks:\n{}", failures.join("\n"));
    count
}

#[test]
fn the_seed_corpora_pass_the_fuzz_checks() {
    let n = replay("seeds");
    assert!(n >= 16, "only {n} seeds found under fuzz/seeds");
}

#[test]
fn every_input_the_fuzzers_found_passes_the_fuzz_checks() {
    replay("regressions");
}
