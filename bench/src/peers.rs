//! The peers of `strata bench tsdb`, run here on the same dataset: VictoriaMetrics (its
//! import API, then flushed and merged) and Prometheus (`prometheus`: promtool's backfill
//! window by window, then compacted by a running Prometheus). Each is found on PATH
//! (Debian's `victoria-metrics` and `prometheus` packages, installed when missing and
//! running as root); one that cannot run is reported and skipped.

pub mod prometheus;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde::Serialize;

use strata_testkit::peer::Peer;

use crate::dataset;
use crate::measure::{dir_bytes, http, process_cpu, settle, which};

/// Figures of a peer.
#[derive(Debug, Serialize, Default, Clone)]
pub struct PeerFigures {
    pub bytes_per_sample: f64,
    pub ingest_samples_per_cpu_s: f64,
    /// Bytes per sample before the peer's own compaction, where it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_per_sample_uncompacted: Option<f64>,
    /// How the peer was fed and measured.
    pub how: String,
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
        bytes_per_sample_uncompacted: None,
        how: "ingest: /api/v1/import, then /internal/force_flush; bytes: after \
              /internal/force_merge"
            .into(),
    })
}
