//! Helpers for running peers and measuring processes: finding a binary, a child killed on
//! drop, a minimal HTTP client, free ports, waiting, and /proc readings of a process.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub fn which(binary: &str, package: &str) -> anyhow::Result<PathBuf> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(binary))
                .find(|p| p.is_file())
        })
        .with_context(|| format!("{binary} is not installed (apt-get install {package})"))
}

/// Strata's binary `name` beside this one, or on PATH.
pub fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let sibling = std::env::current_exe()?.with_file_name(name);
    if sibling.is_file() {
        return Ok(sibling);
    }
    which(name, "strata (cargo build --bins)")
}

/// CPU seconds used by process `pid` so far.
pub fn process_cpu(pid: u32) -> f64 {
    super::proc_cpu_seconds(&pid.to_string(), false)
}

/// A child process killed on drop.
pub struct Daemon(pub Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A minimal blocking HTTP/1.1 request; returns the status and body.
pub fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> anyhow::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr).with_context(|| format!("connect {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(300)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Waits until `check` holds, polling every 200 ms, for at most `within`.
pub fn wait_until(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("timed out after {within:?} waiting for {what}")
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

/// Peak resident set size (VmHWM) of process `proc` (a pid or "self"), in bytes.
pub fn peak_rss(proc: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{proc}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
