//! The peers of `strata bench tsdb`, run here on the same dataset: VictoriaMetrics (its
//! import API, then flushed and merged) and Prometheus (promtool's block backfill from
//! OpenMetrics text). Each is found on PATH (Debian's `victoria-metrics` and `prometheus`
//! packages); a missing one is reported and skipped.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;

use strata_testkit::peer::Peer;

use crate::dataset::{self, Line};
use crate::measure::{cpu_seconds, dir_bytes, http, process_cpu, settle, which};

/// Figures of a peer.
#[derive(Debug, Serialize, Default, Clone)]
pub struct PeerFigures {
    pub bytes_per_sample: f64,
    pub ingest_samples_per_cpu_s: f64,
}

/// VictoriaMetrics (`bin`) with its data in `data`, listening on `addr`, keeping everything.
pub fn victoria_command(bin: &Path, data: &Path, addr: &str) -> Command {
    let mut c = Command::new(bin);
    c.arg(format!("-storageDataPath={}", data.display()))
        .arg(format!("-httpListenAddr={addr}"))
        .arg("-retentionPeriod=100y");
    c
}

/// Loads the dataset into VictoriaMetrics through `/api/v1/import`, flushed and merged.
pub fn victoria_metrics(dir: &Path, data: &Path, samples: u64) -> anyhow::Result<PeerFigures> {
    let bin = which("victoria-metrics", "victoria-metrics")?;
    std::fs::create_dir_all(dir)?;
    // VictoriaMetrics does not say which port 0 gave it: a free port is tried, and another
    // one should it be taken before VictoriaMetrics binds it
    let daemon = Peer::start_on_free_port(
        |addr| victoria_command(&bin, dir, addr),
        &dir.with_extension("log"),
        |addr| http(addr, "GET", "/health", b"").is_ok_and(|(s, _)| s == 200),
    )?;
    let (pid, addr) = (daemon.child.id(), daemon.addr.clone());
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
