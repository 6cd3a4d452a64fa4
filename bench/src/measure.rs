//! What the benches read of a process and of the disk: CPU seconds, peak memory, bytes
//! stored, percentiles; and the few helpers every bench uses to start and ask its peers.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
pub use strata_testkit::metric_value;

/// Where a bench keeps its stores and logs: the directory given (kept), or a temporary one
/// (removed at the end).
pub enum WorkDir {
    Kept(PathBuf),
    Temp(tempfile::TempDir),
}

impl WorkDir {
    /// `given`, created if need be, or a new temporary directory.
    pub fn new(given: Option<&Path>) -> anyhow::Result<Self> {
        Ok(match given {
            Some(d) => {
                std::fs::create_dir_all(d).with_context(|| format!("create {}", d.display()))?;
                WorkDir::Kept(d.to_path_buf())
            }
            None => WorkDir::Temp(tempfile::tempdir().context("create a temporary directory")?),
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        match self {
            WorkDir::Kept(d) => d,
            WorkDir::Temp(t) => t.path(),
        }
    }
}

/// CPU seconds in `/proc/<proc>/stat` (`proc` is a pid or "self"): the process's own, or
/// (`children`) those of its waited-for children.
pub fn proc_cpu_seconds(proc: &str, children: bool) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{proc}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let (a, b) = if children { (13, 14) } else { (11, 12) };
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(a) + ticks(b)) / 100.0
}

/// CPU seconds used by this process (`children`: by its waited-for children).
pub fn cpu_seconds(children: bool) -> f64 {
    proc_cpu_seconds("self", children)
}

/// CPU seconds used by process `pid` so far.
pub fn process_cpu(pid: u32) -> f64 {
    proc_cpu_seconds(&pid.to_string(), false)
}

/// A `kB` field of `/proc/<proc>/status` (`proc` is a pid or "self"), in bytes.
fn status_bytes(proc: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{proc}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Peak resident set size (VmHWM) of process `proc` (a pid or "self"), in bytes.
pub fn peak_rss(proc: &str) -> u64 {
    status_bytes(proc, "VmHWM:")
}

/// Resident memory (VmRSS) of process `proc` (a pid or "self") now, in bytes.
pub fn rss(proc: &str) -> u64 {
    status_bytes(proc, "VmRSS:")
}

/// Bytes of every file under `path`.
pub fn dir_bytes(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_bytes(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// The `q` quantile of sorted values (NaN for none).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Waits until `measure` stops changing for three seconds (at most `within`).
pub fn settle(within: Duration, mut measure: impl FnMut() -> f64) {
    let deadline = Instant::now() + within;
    let mut last = measure();
    let mut stable_since = Instant::now();
    while Instant::now() < deadline && stable_since.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(500));
        let now = measure();
        if (now - last).abs() > 0.02 * last.abs().max(0.05) {
            stable_since = Instant::now();
        }
        last = now;
    }
}

/// A peer's binary on PATH, installed from Debian's `package` first when it is missing and
/// this runs as root with apt-get (as `make test` installs its peers); otherwise the error
/// names the command to run.
pub fn which(binary: &str, package: &str) -> anyhow::Result<PathBuf> {
    if let Some(found) = strata_testkit::binary::which(binary) {
        return Ok(found);
    }
    let command = format!("sudo apt-get install -y {package}");
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(str::to_owned)
        })
        .and_then(|uids| uids.split_whitespace().nth(1).map(|e| e == "0"))
        .unwrap_or(false);
    let apt = strata_testkit::binary::which("apt-get");
    anyhow::ensure!(
        root && apt.is_some(),
        "{binary} is not installed: run {command}"
    );
    eprintln!("installing {package} (for {binary})");
    let install = |update: bool| {
        let mut c = std::process::Command::new("apt-get");
        if update {
            c.arg("update").arg("-qq");
        } else {
            c.args(["install", "-y", "-qq", package]);
        }
        c.env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    // the package lists of a fresh machine may be empty or stale: updated once if need be
    anyhow::ensure!(
        install(false) || (install(true) && install(false)),
        "installing {package} failed: run {command}"
    );
    strata_testkit::binary::which(binary)
        .with_context(|| format!("{package} is installed but {binary} is not on PATH"))
}

/// The median of values and their smallest and largest: one figure of several rounds and
/// how far the rounds spread.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    /// The spread of `values` (NaN for none; a NaN value sorts last).
    pub fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let mut v: Vec<f64> = values.into_iter().collect();
        v.sort_by(f64::total_cmp);
        Spread {
            median: percentile(&v, 0.5),
            min: v.first().copied().unwrap_or(f64::NAN),
            max: v.last().copied().unwrap_or(f64::NAN),
        }
    }
}

/// One blocking HTTP/1.1 request (answers may take up to five minutes); the status and
/// body.
pub fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> anyhow::Result<(u16, String)> {
    strata_testkit::http_request_within(addr, method, path, body, Duration::from_secs(300))
        .map_err(anyhow::Error::msg)
}

/// Waits until `check` holds, polling every 200 ms, for at most `within`.
pub fn wait_until(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    strata_testkit::try_wait_for(what, within, || {
        if check() {
            Ok(())
        } else {
            Err("not yet".into())
        }
    })
    .map_err(anyhow::Error::msg)
}
