//! The stable runner: a target's seeds and kept inputs, then random mutations of them for
//! a bounded time, each run caught if it panics and timed; a watchdog ends the process
//! (keeping the input) when one run hangs past its bound, since a hung parser cannot be
//! interrupted from outside its thread.
//!
//! Without coverage feedback this finds less than libFuzzer does in the same time; it is
//! what `make test` can run on stable in seconds, and it replays everything libFuzzer
//! kept.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Target;

/// How long and how hard to explore a target.
#[derive(Debug, Clone)]
pub struct Bounds {
    /// Time for the random mutations, after every given input ran once.
    pub time: Duration,
    /// Most random mutations run (with the same seed, the same inputs in the same order:
    /// a run that passed on a machine passes again wherever it gets as far or less).
    pub runs: u64,
    /// Longest one run may take before it counts as a failure.
    pub per_input: Duration,
    /// Longest one run may take before the watchdog ends the process (a hang).
    pub hang: Duration,
    /// Longest input made by mutation, in bytes.
    pub max_len: usize,
    /// Seed of the mutations, so that a run can be repeated.
    pub seed: u64,
    /// Where an input that hung is written before the process ends.
    pub hang_dir: Option<PathBuf>,
}

/// An input a target failed on.
#[derive(Debug, Clone)]
pub struct Failure {
    pub input: Vec<u8>,
    pub why: String,
}

/// What a run of [`explore`] did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Runs of the target, given inputs included.
    pub executions: u64,
    pub failures: Vec<Failure>,
    /// The slowest run.
    pub slowest: Duration,
}

/// xorshift64*: small, fast, and repeatable from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Bytes that parsers of text treat specially, inserted by mutation.
const TOKENS: &[&[u8]] = &[
    b"\n",
    b" ",
    b"\t",
    b"\r\n",
    b"{",
    b"}",
    b"=",
    b"\"",
    b",",
    b":",
    b"-",
    b".",
    b"#",
    b"[",
    b"]",
    b"0",
    b"-1",
    b"NaN",
    b"+Inf",
    b"1e308",
    b"18446744073709551616",
    b"9223372036854775807",
    b"\\",
    b"\xff",
    b"\0",
    b"%",
    b"%zz",
    b"(",
    b")",
    b"0x",
];

/// One input changed by one to four random edits, at most `max_len` bytes long.
fn mutate(rng: &mut Rng, pool: &[Vec<u8>], max_len: usize) -> Vec<u8> {
    let mut data = pool[rng.below(pool.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let len = data.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = rng.next() as u8;
            }
            2 => {
                let i = rng.below(len + 1);
                data.insert(i, rng.next() as u8);
            }
            3 if len > 0 => {
                let (a, n) = (rng.below(len), 1 + rng.below(16));
                data.drain(a..(a + n).min(len));
            }
            4 if len > 0 => {
                let (a, n) = (rng.below(len), 1 + rng.below(64));
                let piece = data[a..(a + n).min(len)].to_vec();
                let at = rng.below(data.len() + 1);
                data.splice(at..at, piece);
            }
            5 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                let at = rng.below(len + 1);
                data.splice(at..at, token.iter().copied());
            }
            6 => {
                let other = &pool[rng.below(pool.len())];
                let from = rng.below(other.len() + 1);
                let at = rng.below(len + 1);
                data.truncate(at);
                data.extend_from_slice(&other[from..]);
            }
            _ => data.truncate(rng.below(len + 1)),
        }
    }
    data.truncate(max_len);
    data
}

/// Runs `target` on every input of `inputs`, then on random mutations of them (and of its
/// seeds) until `bounds.time` has passed. `check` is asked after each run whether it went
/// past a bound of the caller's (memory); its answer makes the run a failure.
pub fn explore(
    target: &Target,
    inputs: &[Vec<u8>],
    bounds: &Bounds,
    mut check: impl FnMut() -> Option<String>,
) -> Outcome {
    let mut pool: Vec<Vec<u8>> = inputs.to_vec();
    pool.extend((target.seeds)());
    if pool.is_empty() {
        pool.push(Vec::new());
    }
    let watchdog = Watchdog::start(target.name, bounds.hang, bounds.hang_dir.clone());
    let mut outcome = Outcome::default();
    let mut once = |data: &[u8], outcome: &mut Outcome| {
        watchdog.enter(data);
        let started = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| (target.run)(data)));
        let took = started.elapsed();
        watchdog.leave();
        outcome.executions += 1;
        outcome.slowest = outcome.slowest.max(took);
        let why = match result {
            Err(panic) => Some(format!("panicked: {}", panic_text(&panic))),
            Ok(()) if took > bounds.per_input => Some(format!("took {took:?}")),
            Ok(()) => check(),
        };
        if let Some(why) = why {
            outcome.failures.push(Failure {
                input: data.to_vec(),
                why,
            });
        }
    };
    for data in pool.clone() {
        once(&data, &mut outcome);
    }
    let mut rng = Rng(bounds.seed | 1);
    let (started, mut mutated) = (Instant::now(), 0);
    while mutated < bounds.runs && started.elapsed() < bounds.time && outcome.failures.len() < 10 {
        mutated += 1;
        let data = mutate(&mut rng, &pool, bounds.max_len);
        once(&data, &mut outcome);
        // keep a few mutants as parents, so that edits add up over the run
        if rng.below(64) == 0 && pool.len() < 4096 {
            pool.push(data);
        }
    }
    watchdog.stop();
    outcome
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(not a string)".into())
}

/// Ends the process when one run of a target lasts past the hang bound, after writing the
/// input it was given where it can be replayed.
struct Watchdog {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Shared {
    /// Milliseconds since `epoch` when the current run began (0: none running).
    began_ms: AtomicU64,
    epoch: Instant,
    input: Mutex<Vec<u8>>,
    done: AtomicBool,
}

impl Watchdog {
    fn start(name: &'static str, hang: Duration, dir: Option<PathBuf>) -> Self {
        let shared = Arc::new(Shared {
            began_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            input: Mutex::new(Vec::new()),
            done: AtomicBool::new(false),
        });
        let watched = shared.clone();
        let thread = std::thread::spawn(move || {
            while !watched.done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
                let began = watched.began_ms.load(Ordering::Relaxed);
                let now = watched.epoch.elapsed().as_millis() as u64;
                if began == 0 || now.saturating_sub(began) < hang.as_millis() as u64 {
                    continue;
                }
                let input = watched.input.lock().map(|i| i.clone()).unwrap_or_default();
                let kept = dir.as_ref().and_then(|d| {
                    let path = d.join(name).join(format!("hang-{:016x}", fnv(&input)));
                    std::fs::create_dir_all(path.parent()?).ok()?;
                    std::fs::write(&path, &input).ok()?;
                    Some(path)
                });
                eprintln!(
                    "fuzz target {name} hung for more than {hang:?} on an input of {} bytes{}",
                    input.len(),
                    kept.map_or(String::new(), |p| format!(", kept in {}", p.display()))
                );
                std::process::abort();
            }
        });
        Watchdog {
            shared,
            thread: Some(thread),
        }
    }

    fn enter(&self, data: &[u8]) {
        if let Ok(mut input) = self.shared.input.lock() {
            input.clear();
            input.extend_from_slice(data);
        }
        let now = self.shared.epoch.elapsed().as_millis() as u64;
        self.shared.began_ms.store(now.max(1), Ordering::Relaxed);
    }

    fn leave(&self) {
        self.shared.began_ms.store(0, Ordering::Relaxed);
    }

    fn stop(mut self) {
        self.shared.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// FNV-1a of `bytes`: the name of a kept input.
pub fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_are_repeatable_from_the_seed_and_bounded_in_length() {
        let pool = vec![b"cpu 1 2 3\n".to_vec(), b"{a=\"b\"} 1".to_vec()];
        let (mut a, mut b) = (Rng(7), Rng(7));
        for _ in 0..1000 {
            let (x, y) = (mutate(&mut a, &pool, 64), mutate(&mut b, &pool, 64));
            assert_eq!(x, y);
            assert!(x.len() <= 64);
        }
    }

    #[test]
    fn a_panicking_target_is_reported_with_its_input() {
        let target = Target {
            name: "panics_on_x",
            run: |d| assert!(!d.contains(&b'x'), "an x"),
            seeds: || vec![b"abc".to_vec(), b"x".to_vec()],
            samples: Vec::new,
        };
        let bounds = Bounds {
            time: Duration::from_millis(50),
            runs: 10_000,
            per_input: Duration::from_secs(1),
            hang: Duration::from_secs(10),
            max_len: 16,
            seed: 1,
            hang_dir: None,
        };
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let outcome = explore(&target, &[], &bounds, || None);
        std::panic::set_hook(prev);
        assert!(outcome.executions >= 2);
        let first = outcome.failures.first().expect("the seed x fails");
        assert_eq!(first.input, b"x");
        assert!(first.why.contains("an x"), "{}", first.why);
    }
}
