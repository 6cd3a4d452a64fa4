//! Prometheus at its best on the bench's dataset, as its own experts would run it.
//!
//! Ingest: promtool's backfill (`tsdb create-blocks-from openmetrics`) fed one aligned
//! two-hour window at a time. Fed the whole file at once, promtool 2.42 reads the whole
//! input again for every two-hour block it writes, which overstates its CPU per sample
//! about sevenfold; one window per run is what a backfill of a long history should do.
//!
//! Bytes: a running Prometheus compacts the two-hour blocks promtool writes into longer ones
//! (three times longer at each level, up to a tenth of the retention), which shares one
//! index among more samples. The bench starts Prometheus on the backfilled blocks with a
//! retention of 100 years and waits for its first full compaction cycle, then counts the
//! bytes of its blocks. The newest block is never compacted (Prometheus leaves it for
//! backups), so a day of data ends as a few long blocks and one two-hour one.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use strata_testkit::peer::Peer;

use super::PeerFigures;
use crate::dataset::{self, Line};
use crate::measure::{cpu_seconds, dir_bytes, http, metric_value, which};

/// Prometheus's block length before compaction, and promtool's windows.
const WINDOW_MS: i64 = 2 * 3600 * 1000;

/// How long the bench waits for Prometheus's compaction at most.
const COMPACTION_WITHIN: Duration = Duration::from_secs(15 * 60);

/// What the backfill cost.
pub struct Backfill {
    /// promtool's CPU seconds over every window.
    pub cpu_s: f64,
    /// Two-hour windows fed, one promtool run each.
    pub windows: usize,
}

fn openmetrics_escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Backfills the dataset at `data` into Prometheus blocks in `dir` with promtool, one
/// aligned two-hour window per run (the input of each grouped by metric family, as
/// OpenMetrics requires); only promtool's CPU is counted, not the writing of its input.
pub fn backfill(dir: &Path, data: &Path) -> anyhow::Result<Backfill> {
    let promtool = which("promtool", "prometheus")?;
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let mut families: BTreeMap<String, Vec<Line>> = BTreeMap::new();
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    dataset::for_each(data, |line| {
        if let (Some(a), Some(b)) = (line.timestamps.first(), line.timestamps.last()) {
            (first, last) = (first.min(*a), last.max(*b));
        }
        let name = line.metric.get("__name__").cloned().unwrap_or_default();
        families.entry(name).or_default().push(line);
        Ok(())
    })?;
    anyhow::ensure!(
        first <= last,
        "the dataset {} holds no sample",
        data.display()
    );
    // each series' text once, its lines in family order
    let series: Vec<(String, &Line)> = families
        .iter()
        .flat_map(|(name, lines)| {
            lines.iter().map(move |line| {
                let labels: Vec<String> = line
                    .metric
                    .iter()
                    .filter(|(k, _)| k.as_str() != "__name__")
                    .map(|(k, v)| format!("{k}=\"{}\"", openmetrics_escape(v)))
                    .collect();
                (format!("{name}{{{}}}", labels.join(",")), line)
            })
        })
        .collect();
    let input = dir.with_extension("om");
    let (mut cpu_s, mut windows) = (0.0, 0);
    let (from, to) = (first.div_euclid(WINDOW_MS), last.div_euclid(WINDOW_MS));
    for window in from..=to {
        let (start, end) = (window * WINDOW_MS, (window + 1) * WINDOW_MS);
        let mut out = BufWriter::new(
            std::fs::File::create(&input).with_context(|| format!("create {}", input.display()))?,
        );
        let mut written = 0u64;
        for (text, line) in &series {
            let a = line.timestamps.partition_point(|t| *t < start);
            let b = line.timestamps.partition_point(|t| *t < end);
            for (v, t) in line.values[a..b].iter().zip(&line.timestamps[a..b]) {
                let (s, ms) = (t.div_euclid(1000), t.rem_euclid(1000));
                writeln!(out, "{text} {v} {s}.{ms:03}")?;
                written += 1;
            }
        }
        writeln!(out, "# EOF")?;
        out.flush()?;
        drop(out);
        if written == 0 {
            continue;
        }
        windows += 1;
        eprintln!(
            "prometheus: promtool backfills window {} of {} ({written} samples)",
            window - from + 1,
            to - from + 1
        );
        let cpu = cpu_seconds(true);
        let status = Command::new(&promtool)
            .args(["tsdb", "create-blocks-from", "openmetrics", "-q"])
            .arg(&input)
            .arg(dir)
            .stdout(Stdio::null())
            .status()
            .context("run promtool")?;
        anyhow::ensure!(
            status.success(),
            "promtool failed on window {window}: {status}"
        );
        cpu_s += cpu_seconds(true) - cpu;
    }
    let _ = std::fs::remove_file(&input);
    Ok(Backfill { cpu_s, windows })
}

/// Prometheus serving the blocks in `data`, its configuration and log in `work`, keeping
/// everything for 100 years.
pub fn server(data: &Path, work: &Path) -> anyhow::Result<Peer> {
    let bin = which("prometheus", "prometheus")?;
    let config = work.join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 1m\n")
        .with_context(|| format!("write {}", config.display()))?;
    Peer::start_on_free_port(
        |addr| {
            let mut c = Command::new(&bin);
            c.arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.tsdb.path={}", data.display()))
                .arg("--storage.tsdb.retention.time=100y")
                .arg(format!("--web.listen-address={addr}"));
            c
        },
        &work.join("prometheus.log"),
        |addr| http(addr, "GET", "/-/ready", b"").is_ok_and(|(s, _)| s == 200),
    )
    .context("start Prometheus")
}

/// Bytes of the finished blocks in `data` (directories with a `meta.json`), and how many.
fn block_bytes(data: &Path) -> (u64, usize) {
    let blocks: Vec<_> = std::fs::read_dir(data)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_none() && p.join("meta.json").is_file())
                .collect()
        })
        .unwrap_or_default();
    (blocks.iter().map(|b| dir_bytes(b)).sum(), blocks.len())
}

/// Lets a running Prometheus compact the blocks in `data`: waits for its first compaction
/// cycle to end (a second one triggered; one runs every minute) and the blocks to stay as
/// they are for a further cycle. Returns the blocks' bytes and count, before and after.
fn compact(data: &Path, work: &Path) -> anyhow::Result<((u64, usize), (u64, usize))> {
    let before = block_bytes(data);
    let prometheus = server(data, work)?;
    eprintln!(
        "prometheus: compacting {} two-hour blocks (a cycle a minute)",
        before.1
    );
    let started = Instant::now();
    let read = |name: &str| -> Option<f64> {
        let (_, text) = http(&prometheus.addr, "GET", "/metrics", b"").ok()?;
        metric_value(&text, name)
    };
    let mut settled_at: Option<(f64, usize)> = None;
    loop {
        anyhow::ensure!(
            started.elapsed() < COMPACTION_WITHIN,
            "Prometheus had not compacted its blocks after {COMPACTION_WITHIN:?}"
        );
        std::thread::sleep(Duration::from_secs(5));
        let triggered = read("prometheus_tsdb_compactions_triggered_total").unwrap_or(0.0);
        let failed = read("prometheus_tsdb_compactions_failed_total").unwrap_or(0.0);
        anyhow::ensure!(
            failed == 0.0,
            "Prometheus's compaction failed (see its log)"
        );
        if triggered < 2.0 {
            continue;
        }
        let blocks = block_bytes(data).1;
        match settled_at {
            // a further cycle ran and left the blocks as they were
            Some((cycle, count)) if triggered > cycle && blocks == count => break,
            Some((_, count)) if blocks == count => {}
            _ => settled_at = Some((triggered, blocks)),
        }
    }
    let after = block_bytes(data);
    eprintln!(
        "prometheus: {} blocks compacted into {} in {:.0} s",
        before.1,
        after.1,
        started.elapsed().as_secs_f64()
    );
    drop(prometheus);
    Ok((before, after))
}

/// Prometheus's figures on the dataset at `data` (`samples` samples), its blocks in `dir`.
pub fn figures(dir: &Path, data: &Path, samples: u64) -> anyhow::Result<PeerFigures> {
    let fed = backfill(dir, data)?;
    let work = dir.with_extension("server");
    std::fs::create_dir_all(&work).with_context(|| format!("create {}", work.display()))?;
    let ((before, blocks_before), (after, blocks_after)) = compact(dir, &work)?;
    Ok(PeerFigures {
        bytes_per_sample: after as f64 / samples as f64,
        ingest_samples_per_cpu_s: samples as f64 / fed.cpu_s.max(0.01),
        bytes_per_sample_uncompacted: Some(before as f64 / samples as f64),
        how: format!(
            "ingest: promtool, one run per aligned 2-hour window ({} runs); bytes: the \
             blocks after a running Prometheus compacted them ({blocks_before} blocks of 2 \
             hours into {blocks_after})",
            fed.windows
        ),
    })
}
