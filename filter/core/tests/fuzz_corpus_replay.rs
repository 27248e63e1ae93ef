//! Replays every file of `fuzz/corpus/<target>/` and `fuzz/artifacts/<target>/` through the
//! very functions the cargo-fuzz targets call (`fuzz/src/targets.rs`, included below), on
//! stable, in the normal test run. A seed or saved crash that panics fails this test.
// Test code: a panic here fails a test, not an Envoy worker.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

#[path = "../fuzz/src/targets.rs"]
#[allow(dead_code)]
mod targets;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    out.sort();
    out
}

#[test]
fn fuzz_corpus_and_artifacts_replay_without_panics() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    // Keep the output of the panics themselves readable: one line per failing input.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let start = Instant::now();
    let mut failures = Vec::new();
    let mut seeds_per_target = Vec::new();
    for target in targets::TARGETS {
        let seeds = files(&fuzz.join("corpus").join(target));
        seeds_per_target.push((target, seeds.len()));
        let artifacts = files(&fuzz.join("artifacts").join(target));
        for path in seeds.iter().chain(&artifacts) {
            let data = std::fs::read(path).unwrap();
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| assert!(targets::run(target, &data)))) {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("{target}: {}: {message}", path.display()));
            }
        }
    }
    std::panic::set_hook(hook);
    assert!(failures.is_empty(), "fuzz inputs that panic:\n{}", failures.join("\n"));
    for (target, n) in seeds_per_target {
        assert!(n >= 10, "the seed corpus of {target} has only {n} files");
    }
    eprintln!("replayed the fuzz corpus in {:?}", start.elapsed());
}
