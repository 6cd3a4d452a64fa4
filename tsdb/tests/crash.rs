//! Kill -9 during ingest, repeatedly: after each reopen every acknowledged sample is there
//! with its value, and nothing stored is corrupt.
//!
//! The writer is this same test binary re-run with `STRATA_TSDB_CRASH_DIR` set, so that the
//! test needs no helper program; without that variable `writer_child` does nothing.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use strata_tsdb::{Labels, Tsdb, TsdbOptions};

const SERIES: u64 = 20;
const STEP: i64 = 10_000;
const POINTS_PER_WRITE: i64 = 10;

fn options() -> TsdbOptions {
    // A small head, so that kills also land during cuts into chunks.
    TsdbOptions {
        max_head_points: 1_500,
        min_chunk_points: 1,
        ..TsdbOptions::keep_forever()
    }
}

fn value(series: u64, ts: i64) -> f64 {
    ((ts / STEP) as f64 * 0.25 + series as f64).sin()
}

fn open(dir: &str) -> (Tsdb, Vec<u64>) {
    let db = Tsdb::open(dir, options()).expect("open store");
    let ids = (0..SERIES)
        .map(|s| {
            let mut labels = Labels::new();
            labels.insert("series".into(), s.to_string());
            db.series_id("crash_test_value", &labels).expect("series")
        })
        .collect();
    (db, ids)
}

#[test]
fn writer_child() {
    let Ok(dir) = std::env::var("STRATA_TSDB_CRASH_DIR") else {
        return;
    };
    let mut ts: i64 = std::env::var("STRATA_TSDB_CRASH_START")
        .unwrap()
        .parse()
        .unwrap();
    let (db, ids) = open(&dir);
    let stdout = std::io::stdout();
    loop {
        let mut batch = Vec::new();
        for p in 0..POINTS_PER_WRITE {
            for (s, id) in ids.iter().enumerate() {
                let t = ts + p * STEP;
                batch.push((*id, t, value(s as u64, t)));
            }
        }
        db.write(&batch).expect("write");
        ts += POINTS_PER_WRITE * STEP;
        let mut out = stdout.lock();
        writeln!(out, "acked {}", ts - STEP).unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn acknowledged_samples_survive_repeated_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap().to_string();
    let mut acked: i64 = -STEP; // last acknowledged timestamp
    for round in 0..6 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "writer_child", "--nocapture", "--test-threads=1"])
            .env("STRATA_TSDB_CRASH_DIR", &path)
            .env("STRATA_TSDB_CRASH_START", (acked + STEP).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let wanted_acks = 5 + round * 13;
        let mut seen = 0;
        for line in lines {
            let line = line.unwrap();
            if let Some(ts) = line.strip_prefix("acked ") {
                acked = ts.parse().unwrap();
                seen += 1;
                if seen == wanted_acks {
                    break;
                }
            }
        }
        assert_eq!(
            seen, wanted_acks,
            "the writer stopped early in round {round}"
        );
        child.kill().unwrap(); // SIGKILL, mid-write
        child.wait().unwrap();

        let (db, ids) = open(&path);
        for (s, id) in ids.iter().enumerate() {
            let points = db.range(*id, 0, i64::MAX).unwrap();
            let expected = (acked / STEP + 1) as usize;
            assert!(
                points.len() >= expected,
                "round {round}, series {s}: {} points stored, {expected} acknowledged",
                points.len()
            );
            for (i, (ts, v)) in points.iter().enumerate() {
                assert_eq!(
                    *ts,
                    i as i64 * STEP,
                    "round {round}, series {s}: a gap or a stray timestamp"
                );
                assert_eq!(
                    v.to_bits(),
                    value(s as u64, *ts).to_bits(),
                    "round {round}, series {s} at {ts}"
                );
            }
        }
    }
}
