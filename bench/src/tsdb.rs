//! `strata bench tsdb`: Strata's store measured on a host-metrics dataset, with Prometheus
//! and VictoriaMetrics loading the identical samples in the same run.
//!
//! The dataset is generated from `strata sim`'s generators (or read with `--dataset`) in
//! VictoriaMetrics' JSON-lines import format: one line per series with its values and
//! timestamps. Every store gets exactly those samples.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use strata_tsdb::{Aggregation, Matcher, Tsdb, TsdbOptions};

use crate::dataset;
use crate::measure::{WorkDir, cpu_seconds, peak_rss, percentile};
use crate::peers::{self, PeerFigures};

/// Options of `strata bench tsdb`.
#[derive(Args, Debug)]
pub struct TsdbBench {
    /// Simulated hosts in the generated dataset (199 series each; 20 hosts give the
    /// 1,000-series query its series).
    #[arg(long, default_value_t = 20)]
    pub hosts: usize,
    /// Hours of simulated time (ending now).
    #[arg(long, default_value_t = 24)]
    pub hours: u64,
    /// Sample interval of the generated dataset.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Use this dataset (VictoriaMetrics JSON-lines import format) instead of generating one.
    #[arg(long)]
    pub dataset: Option<PathBuf>,
    /// Keep the stores and the dataset here (default: a temporary directory, removed after).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Range queries to time.
    #[arg(long, default_value_t = 20)]
    pub queries: usize,
    /// Measure Strata only.
    #[arg(long)]
    pub no_peers: bool,
    /// Print the figures as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Figures of Strata's store.
#[derive(Debug, Serialize, Default)]
pub struct StrataFigures {
    pub bytes_per_sample: f64,
    pub ingest_samples_per_s: f64,
    pub ingest_samples_per_cpu_s: f64,
    pub query_p50_ms: f64,
    pub query_p99_ms: f64,
    pub peak_rss_bytes: u64,
    /// Bytes per sample once minute rollups are built for the whole dataset (they are built
    /// for raw data older than `minute_rollup_after`, 14 days by default).
    pub bytes_per_sample_with_minute_rollups: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    samples: u64,
    series: u64,
    strata: StrataFigures,
    #[serde(skip_serializing_if = "Option::is_none")]
    prometheus: Option<PeerFigures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    victoriametrics: Option<PeerFigures>,
}

/// Runs `strata bench tsdb`.
pub fn run(args: TsdbBench) -> anyhow::Result<()> {
    let work = WorkDir::new(args.work_dir.as_deref())?;
    let dir = work.path().to_path_buf();
    let data_path = match &args.dataset {
        Some(p) => p.clone(),
        None => {
            let p = dir.join("dataset.jsonl");
            dataset::generate(&p, args.hosts, args.hours, args.interval)?;
            p
        }
    };
    let summary = dataset::summary(&data_path)?;
    let (series, samples) = (summary.series, summary.samples);
    anyhow::ensure!(
        samples > 0,
        "the dataset {} holds no sample",
        data_path.display()
    );
    eprintln!(
        "dataset: {series} series, {samples} samples ({})",
        data_path.display()
    );

    let strata = bench_strata(&dir.join("strata"), &data_path, &summary, args.queries)?;
    let (mut prometheus, mut victoriametrics) = (None, None);
    if !args.no_peers {
        victoriametrics = peers::victoria_metrics(&dir.join("vm"), &data_path, samples)
            .map_err(|e| eprintln!("victoriametrics: skipped: {e:#}"))
            .ok();
        prometheus = peers::prometheus::figures(&dir.join("prometheus"), &data_path, samples)
            .map_err(|e| eprintln!("prometheus: skipped: {e:#}"))
            .ok();
    }
    let report = Report {
        samples,
        series,
        strata,
        prometheus,
        victoriametrics,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

/// Writes every series of the dataset at `data` into `db` (without the labels of `skip`),
/// telling `each` the metric name of each series, then flushes.
pub fn load(
    db: &Tsdb,
    data: &Path,
    skip: &[&str],
    mut each: impl FnMut(&str),
) -> anyhow::Result<()> {
    dataset::for_each(data, |series| {
        let mut labels = series.metric;
        let name = labels.remove("__name__").unwrap_or_default();
        labels.retain(|k, _| !skip.contains(&k.as_str()));
        let id = db.series_id(&name, &labels)?;
        each(&name);
        let batch: Vec<(u64, i64, f64)> = series
            .timestamps
            .iter()
            .zip(&series.values)
            .map(|(t, v)| (id, *t, *v))
            .collect();
        db.write(&batch)?;
        Ok(())
    })?;
    db.flush()?;
    Ok(())
}

fn bench_strata(
    dir: &Path,
    data: &Path,
    summary: &dataset::Summary,
    queries: usize,
) -> anyhow::Result<StrataFigures> {
    let samples = summary.samples;
    let db = Tsdb::open(dir, TsdbOptions::keep_forever())?;
    eprintln!("strata: loading");
    let (wall, cpu) = (Instant::now(), cpu_seconds(false));
    let mut names = std::collections::BTreeMap::<String, u64>::new();
    load(&db, data, &[], |name| {
        *names.entry(name.to_string()).or_default() += 1
    })?;
    let (ingest_s, ingest_cpu) = (wall.elapsed().as_secs_f64(), cpu_seconds(false) - cpu);
    eprintln!("strata: compacting");
    db.compact()?;

    // The range query: the whole dataset's time span, 1-minute steps, over up to 1,000
    // series of the metric with the most series.
    let (name, _) = names.iter().max_by_key(|(_, n)| **n).context("no series")?;
    let selected = db.select_matching(&[Matcher::equal(strata_tsdb::matcher::NAME_LABEL, name)])?;
    let selected: Vec<_> = selected.into_iter().take(1000).collect();
    let (from, to) = (summary.from, summary.to);
    let mut latencies = Vec::with_capacity(queries);
    for _ in 0..queries {
        let t = Instant::now();
        for s in &selected {
            db.query_range(s.id, from, to, 60_000, Aggregation::Avg)?;
        }
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    let bytes = db.disk_bytes();
    eprintln!("strata: building minute rollups of the whole dataset");
    db.downsample(to + db.options().minute_rollup_after_ms + 60_000)?;
    db.compact()?;
    let with_minutes = db.disk_bytes();
    drop(db);
    eprintln!(
        "strata: range query over {} series of {name}",
        selected.len()
    );
    Ok(StrataFigures {
        bytes_per_sample: bytes as f64 / samples as f64,
        ingest_samples_per_s: samples as f64 / ingest_s,
        ingest_samples_per_cpu_s: samples as f64 / ingest_cpu.max(0.01),
        query_p50_ms: percentile(&latencies, 0.5),
        query_p99_ms: percentile(&latencies, 0.99),
        peak_rss_bytes: peak_rss("self"),
        bytes_per_sample_with_minute_rollups: with_minutes as f64 / samples as f64,
    })
}

fn print_table(r: &Report) {
    println!(
        "strata bench tsdb: {} series, {} samples",
        r.series, r.samples
    );
    println!(
        "{:<16} {:>16} {:>22}",
        "store", "bytes/sample", "ingest samples/CPU-s"
    );
    let s = &r.strata;
    println!(
        "{:<16} {:>16.3} {:>22.0}",
        "strata", s.bytes_per_sample, s.ingest_samples_per_cpu_s
    );
    for (name, peer) in [
        ("prometheus", &r.prometheus),
        ("victoriametrics", &r.victoriametrics),
    ] {
        match peer {
            Some(p) => println!(
                "{name:<16} {:>16.3} {:>22.0}",
                p.bytes_per_sample, p.ingest_samples_per_cpu_s
            ),
            None => println!("{name:<16} {:>16} {:>22}", "-", "-"),
        }
    }
    for (name, peer) in [
        ("prometheus", &r.prometheus),
        ("victoriametrics", &r.victoriametrics),
    ] {
        if let Some(p) = peer {
            println!("{name}: {}", p.how);
            if let Some(b) = p.bytes_per_sample_uncompacted {
                println!("{name}: {b:.3} bytes/sample before its own compaction");
            }
        }
    }
    println!(
        "strata: ingest {:.0} samples/s, range query p50 {:.1} ms p99 {:.1} ms, peak RSS {} MB",
        s.ingest_samples_per_s,
        s.query_p50_ms,
        s.query_p99_ms,
        s.peak_rss_bytes / 1_000_000
    );
    println!(
        "strata: {:.3} bytes/sample once minute rollups are built (for data {} days old)",
        s.bytes_per_sample_with_minute_rollups,
        strata_tsdb::TsdbOptions::default().minute_rollup_after_ms / 86_400_000
    );
}
