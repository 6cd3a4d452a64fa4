//! Waiting on a condition with a deadline, never a fixed sleep; and running async code from
//! a synchronous test.

use std::time::{Duration, Instant};

/// Runs `f` to completion on a runtime of its own (tests are synchronous).
pub fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(f)
}

/// Polls `check` every 200 ms until it returns Ok or `within` passes; panics with `what`
/// and the last observation on timeout.
pub fn wait_for<T>(what: &str, within: Duration, check: impl FnMut() -> Result<T, String>) -> T {
    try_wait_for(what, within, check).unwrap_or_else(|e| panic!("{e}"))
}

/// As [`wait_for`], returning the timeout as an error (for benches, which report it).
pub fn try_wait_for<T>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> Result<T, String> {
    let deadline = Instant::now() + within;
    let mut last = String::from("never checked");
    while Instant::now() < deadline {
        match check() {
            Ok(v) => return Ok(v),
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!(
        "timed out after {within:?} waiting for {what}; last: {last}"
    ))
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    strata_proto::now_ms()
}
