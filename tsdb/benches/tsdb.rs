//! `make bench`: ingest and range-query figures of the store on a host-metrics shaped dataset
//! (gauges with two decimals and counters), printed as a small table.
//!
//! Sizes: STRATA_BENCH_SERIES (default 2,000) series × STRATA_BENCH_POINTS (default 8,640,
//! 24 hours at 10 s). Ingest is timed up to a flush that cuts every chunk; size is measured
//! after a full compaction. Issue 3 adds `strata bench tsdb` with peers side by side.

use std::time::Instant;

use strata_tsdb::{Aggregation, Labels, Tsdb, TsdbOptions};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds used by this process so far (user + system), from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_comm = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name.
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident set size of this process (VmHWM), in bytes.
fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn main() {
    let series = env_usize("STRATA_BENCH_SERIES", 2_000);
    let points = env_usize("STRATA_BENCH_POINTS", 8_640);
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Tsdb::open(dir.path(), TsdbOptions::keep_forever()).expect("open");
    let ids: Vec<u64> = (0..series)
        .map(|s| {
            let mut labels = Labels::new();
            labels.insert("agent".into(), format!("host-{}", s / 20));
            labels.insert("cpu".into(), (s % 20).to_string());
            db.series_id("host_cpu_usage_ratio", &labels)
                .expect("series")
        })
        .collect();
    let start_ts = 1_700_000_000_000i64;
    let wall = Instant::now();
    let cpu0 = cpu_seconds();
    let mut batch = Vec::with_capacity(10_000);
    for p in 0..points {
        let ts = start_ts + p as i64 * 10_000;
        for (s, id) in ids.iter().enumerate() {
            let value = if s % 4 == 0 {
                (p * 1_000 + s) as f64
            } else {
                ((p as f64 / 60.0).sin() * 0.3 + 0.4 + (s % 7) as f64 * 0.01 * 100.0).round()
                    / 100.0
            };
            batch.push((*id, ts, value));
            if batch.len() == 10_000 {
                db.write(&batch).expect("write");
                batch.clear();
            }
        }
    }
    db.write(&batch).expect("write");
    db.flush().expect("flush");
    let ingest_s = wall.elapsed().as_secs_f64();
    let ingest_cpu = cpu_seconds() - cpu0;
    db.compact().expect("compact");
    let samples = (series * points) as f64;

    let mut latencies = Vec::new();
    let to = start_ts + points as i64 * 10_000;
    for id in ids.iter().step_by((series / 100).max(1)) {
        let t = Instant::now();
        let r = db
            .query_range(*id, start_ts, to, 60_000, Aggregation::Avg)
            .expect("query");
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(!r.is_empty());
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    let bytes = db.disk_bytes();
    drop(db);

    println!("tsdb bench: {series} series x {points} points = {samples} samples");
    println!("  ingest            {:>12.0} samples/s", samples / ingest_s);
    println!(
        "  ingest per CPU-s  {:>12.0} samples",
        samples / ingest_cpu.max(1e-9)
    );
    println!(
        "  bytes per sample  {:>12.2} (after compaction, index included)",
        bytes as f64 / samples
    );
    println!("  peak RSS          {:>12} bytes", peak_rss());
    println!(
        "  range query 1m avg over {points} points: p50 {:.2} ms, p99 {:.2} ms",
        pct(0.5),
        pct(0.99)
    );
}
