//! Every fuzz target for a bounded time on stable, as `make test` runs it: the kept inputs
//! (`fuzz/corpus/<target>/`, `fuzz/regressions/<target>/`), the targets' seeds, then random
//! mutations, each run within a time and a memory bound. A failing input is written to
//! `fuzz/regressions/<target>/` (commit it with the fix), a hang ends the process after
//! writing its input there.
//!
//! Each target gets `STRATA_FUZZ_RUNS` mutations (default 50,000) within
//! `STRATA_FUZZ_SECONDS` (default 3): with the seed fixed (`STRATA_FUZZ_SEED`, default 1)
//! the inputs are the same from run to run, so CI replays what passed here, and a slower
//! machine runs a prefix of it. Raise both to search further; `STRATA_FUZZ_ONLY` names one
//! target.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use strata_tests::fuzz::{Bounds, TARGETS, explore, fnv};

/// Counts the bytes allocated now and the most since the last look, so that one input's
/// memory can be bounded.
struct Counting;

static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the layout is passed on unchanged to the system allocator
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = NOW.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        NOW.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: ptr was allocated by `alloc` above with this layout
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Most memory one run of a target may hold at once.
const MEMORY_BOUND: usize = 256 << 20;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files kept for `target` under `fuzz/<kind>/<target>/`.
fn kept(kind: &str, target: &str) -> Vec<Vec<u8>> {
    let dir = fuzz_dir().join(kind).join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn every_target_survives_its_inputs_and_random_mutations() {
    let seconds: f64 = env("STRATA_FUZZ_SECONDS", 3.0);
    let runs: u64 = env("STRATA_FUZZ_RUNS", 50_000);
    let seed: u64 = env("STRATA_FUZZ_SEED", 1);
    let only = std::env::var("STRATA_FUZZ_ONLY").ok();
    let bounds = Bounds {
        time: Duration::from_secs_f64(seconds),
        runs,
        // a debug build, two cores shared with other tests: generous, yet far below a hang
        per_input: Duration::from_secs(5),
        hang: Duration::from_secs(30),
        max_len: 8192,
        seed,
        hang_dir: Some(fuzz_dir().join("regressions")),
    };
    // a caught panic's message would be printed for every failing mutant
    std::panic::set_hook(Box::new(|_| {}));
    let mut failed = Vec::new();
    let mut ran = 0;
    for target in TARGETS {
        if only.as_deref().is_some_and(|o| o != target.name) {
            continue;
        }
        ran += 1;
        let mut inputs = kept("corpus", target.name);
        let regressions = kept("regressions", target.name);
        inputs.extend(regressions.iter().cloned());
        PEAK.store(NOW.load(Ordering::Relaxed), Ordering::Relaxed);
        let mut base = NOW.load(Ordering::Relaxed);
        let outcome = explore(target, &inputs, &bounds, || {
            let (peak, now) = (PEAK.load(Ordering::Relaxed), NOW.load(Ordering::Relaxed));
            let over = peak.saturating_sub(base);
            base = now;
            PEAK.store(now, Ordering::Relaxed);
            (over > MEMORY_BOUND).then(|| format!("held {} MB at once", over >> 20))
        });
        println!(
            "{:<18} {:>7} runs ({} kept inputs, {} regressions), slowest {:?}, {} failures",
            target.name,
            outcome.executions,
            inputs.len() - regressions.len(),
            regressions.len(),
            outcome.slowest,
            outcome.failures.len()
        );
        for failure in outcome.failures {
            let dir = fuzz_dir().join("regressions").join(target.name);
            let name = format!("crash-{:016x}", fnv(&failure.input));
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(dir.join(&name), &failure.input);
            failed.push(format!(
                "{}: {} (input kept in fuzz/regressions/{}/{name})",
                target.name, failure.why, target.name
            ));
        }
    }
    let _ = std::panic::take_hook();
    assert!(ran > 0, "STRATA_FUZZ_ONLY names no target");
    assert!(
        failed.is_empty(),
        "fuzz targets failed:\n{}",
        failed.join("\n")
    );
}
