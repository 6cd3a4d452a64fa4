//! Every parser Strata feeds with input from outside the process, as a fuzz target.
//!
//! Strata reads text and bytes it does not control all day long: /proc and /sys, log lines,
//! plugin output, probed servers' answers, exposition text, remote-write bodies, PromQL and
//! TOML from operators and the API. Each of those parsers is a [`Target`] here: a function
//! of arbitrary bytes that must return (an error is fine) without panicking, hanging or
//! eating memory. The same targets run two ways:
//!
//! - coverage-guided, under libFuzzer, from `fuzz/` (outside the workspace, nightly:
//!   `cargo +nightly fuzz run <target>`), whose corpus is `fuzz/corpus/<target>/`;
//! - for a bounded time on stable, in `make test` (`cargo test -p strata-tests --test
//!   fuzz`, `tests/tests/fuzz.rs`): every
//!   seed, every kept input of `fuzz/corpus/` and `fuzz/regressions/`, then random
//!   mutations of them ([`explore`]), each input within a time and a memory bound.
//!
//! An input that made a target fail is kept in `fuzz/regressions/<target>/`, so that it is
//! run again by every later test run.

mod explore;
mod targets;

pub use explore::{Bounds, Failure, Outcome, explore, fnv};
pub use targets::{TARGETS, Target, target};

/// Runs target `name` on `data` (the fuzz binaries' entry); panics on an unknown name.
pub fn run(name: &str, data: &[u8]) {
    let t = target(name).unwrap_or_else(|| panic!("no fuzz target {name}"));
    (t.run)(data)
}
