//! The peers of `strata bench tsdb`, run here on the same dataset: VictoriaMetrics (its
//! import API, then flushed and merged) and Prometheus (promtool's block backfill from
//! OpenMetrics text). Each is found on PATH (Debian's `victoria-metrics` and `prometheus`
//! packages); a missing one is reported and skipped.

use std::collections::BTreeMap;
use std::io::{BufWriter, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::dataset::{self, Line};
use super::{PeerFigures, cpu_seconds, dir_bytes};

fn which(binary: &str, package: &str) -> anyhow::Result<PathBuf> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(binary))
                .find(|p| p.is_file())
        })
        .with_context(|| format!("{binary} is not installed (apt-get install {package})"))
}

/// CPU seconds used by process `pid` so far.
fn process_cpu(pid: u32) -> f64 {
    super::proc_cpu_seconds(&pid.to_string(), false)
}

/// A child process killed on drop.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A minimal blocking HTTP/1.1 request; returns the status and body.
fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> anyhow::Result<(u16, String)> {
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

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Waits until `check` holds, polling every 200 ms, for at most `within`.
fn wait_until(what: &str, within: Duration, mut check: impl FnMut() -> bool) -> anyhow::Result<()> {
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
fn settle(within: Duration, mut measure: impl FnMut() -> f64) {
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

/// Loads the dataset into VictoriaMetrics through `/api/v1/import`, flushed and merged.
pub fn victoria_metrics(dir: &Path, data: &Path, samples: u64) -> anyhow::Result<PeerFigures> {
    let bin = which("victoria-metrics", "victoria-metrics")?;
    std::fs::create_dir_all(dir)?;
    let addr = format!("127.0.0.1:{}", free_port()?);
    let log = std::fs::File::create(dir.with_extension("log"))?;
    let child = Command::new(bin)
        .arg(format!("-storageDataPath={}", dir.display()))
        .arg(format!("-httpListenAddr={addr}"))
        .arg("-retentionPeriod=100y")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("start victoria-metrics")?;
    let daemon = Daemon(child);
    let pid = daemon.0.id();
    wait_until(
        "victoria-metrics to answer /health",
        Duration::from_secs(30),
        || http(&addr, "GET", "/health", b"").is_ok_and(|(s, _)| s == 200),
    )?;
    eprintln!("victoriametrics: importing");
    let cpu = process_cpu(pid);
    let mut body = Vec::with_capacity(8 << 20);
    let send = |body: &mut Vec<u8>| -> anyhow::Result<()> {
        let (status, answer) = http(&addr, "POST", "/api/v1/import", body)?;
        anyhow::ensure!(
            status == 204 || status == 200,
            "import answered {status}: {answer}"
        );
        body.clear();
        Ok(())
    };
    dataset::for_each(data, |line| {
        serde_json::to_writer(&mut body, &line)?;
        body.push(b'\n');
        if body.len() >= 8 << 20 {
            send(&mut body)?;
        }
        Ok(())
    })?;
    if !body.is_empty() {
        send(&mut body)?;
    }
    http(&addr, "GET", "/internal/force_flush", b"")?;
    settle(Duration::from_secs(120), || process_cpu(pid));
    let ingest_cpu = process_cpu(pid) - cpu;
    eprintln!("victoriametrics: merging");
    http(&addr, "GET", "/internal/force_merge", b"")?;
    settle(Duration::from_secs(300), || dir_bytes(dir) as f64);
    let bytes = dir_bytes(dir);
    drop(daemon);
    Ok(PeerFigures {
        bytes_per_sample: bytes as f64 / samples as f64,
        ingest_samples_per_cpu_s: samples as f64 / ingest_cpu.max(0.01),
    })
}

fn openmetrics_escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Backfills the dataset into Prometheus blocks with `promtool tsdb create-blocks-from
/// openmetrics` (the input grouped by metric family, as OpenMetrics requires).
pub fn prometheus(dir: &Path, data: &Path, samples: u64) -> anyhow::Result<PeerFigures> {
    let promtool = which("promtool", "prometheus")?;
    std::fs::create_dir_all(dir)?;
    let input = dir.with_extension("om");
    let mut families: BTreeMap<String, Vec<Line>> = BTreeMap::new();
    dataset::for_each(data, |line| {
        let name = line.metric.get("__name__").cloned().unwrap_or_default();
        families.entry(name).or_default().push(line);
        Ok(())
    })?;
    let mut out = BufWriter::new(std::fs::File::create(&input)?);
    for (name, lines) in &families {
        for line in lines {
            let labels: Vec<String> = line
                .metric
                .iter()
                .filter(|(k, _)| k.as_str() != "__name__")
                .map(|(k, v)| format!("{k}=\"{}\"", openmetrics_escape(v)))
                .collect();
            let series = format!("{name}{{{}}}", labels.join(","));
            for (v, t) in line.values.iter().zip(&line.timestamps) {
                writeln!(
                    out,
                    "{series} {v} {}.{:03}",
                    t.div_euclid(1000),
                    t.rem_euclid(1000)
                )?;
            }
        }
    }
    writeln!(out, "# EOF")?;
    out.flush()?;
    drop(families);
    eprintln!("prometheus: backfilling blocks with promtool");
    let cpu = cpu_seconds(true);
    let status = Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics", "-q"])
        .arg(&input)
        .arg(dir)
        .stdout(Stdio::null())
        .status()
        .context("run promtool")?;
    anyhow::ensure!(status.success(), "promtool failed: {status}");
    let ingest_cpu = cpu_seconds(true) - cpu;
    let _ = std::fs::remove_file(&input);
    Ok(PeerFigures {
        bytes_per_sample: dir_bytes(dir) as f64 / samples as f64,
        ingest_samples_per_cpu_s: samples as f64 / ingest_cpu.max(0.01),
    })
}
