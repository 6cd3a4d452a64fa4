//! Quality of service per probe, kept for a year and more: response-time percentiles with
//! their phase breakdown and error rates.
//!
//! Regions send every probe run up their stream ([`ProbeRun`]); the centre holds no samples,
//! so it rolls the runs up as they arrive into per-minute and per-hour [`Rollup`]s of each
//! probe (a resource's check), in its own store (`data_dir/qos`). A run is recorded once:
//! its raw record (kept [`Retention::raw_days`]) is the proof it was counted, so the copy a
//! replica sends, or a stream replayed after a restart, adds nothing. Minute rollups are
//! kept [`Retention::minute_days`], hour rollups [`Retention::hour_days`] (400 by default:
//! a year-on-year comparison needs more than 365). A service's QoS merges the rollups of the
//! probes its components select ([`crate::services`]).

pub mod rollup;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use prost::Message;
use serde::Serialize;
use strata_proto::v1::ProbeRun;
use strata_tsdb::{Journal, TableOp, TsdbError};

pub use rollup::{Rollup, Summary};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// How long each resolution is kept, in days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Retention {
    /// Raw runs, the proof against counting one twice (default 8).
    pub raw_days: i64,
    /// Minute rollups (default 35).
    pub minute_days: i64,
    /// Hour rollups (default 400).
    pub hour_days: i64,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            raw_days: 8,
            minute_days: 35,
            hour_days: 400,
        }
    }
}

/// One probe: a check of a resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Probe {
    pub resource_id: String,
    pub check: String,
}

/// The resolution a query was answered from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    Minute,
    Hour,
}

/// One step of a QoS series.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub t_ms: i64,
    #[serde(flatten)]
    pub summary: Summary,
}

/// The QoS of a set of probes over a period.
#[derive(Debug, Clone, Serialize)]
pub struct Qos {
    pub from_ms: i64,
    pub to_ms: i64,
    pub step_ms: i64,
    pub resolution: Resolution,
    pub probes: Vec<Probe>,
    /// The whole period.
    pub summary: Summary,
    /// Step by step (steps with no run are left out).
    pub points: Vec<Point>,
}

fn series(p: &Probe) -> String {
    format!("{}\0{}", p.resource_id, p.check)
}

fn key(kind: char, series: &str, at_ms: i64) -> Vec<u8> {
    format!("{kind}/{series}\0{:016x}", at_ms.max(0)).into_bytes()
}

fn time_of(key: &[u8]) -> Option<i64> {
    let hex = key.rsplit(|b| *b == 0).next()?;
    i64::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
}

/// The QoS store of the super-manager.
#[derive(Debug)]
pub struct QosStore {
    store: Journal,
    retention: Retention,
    /// Every probe ever recorded (and not trimmed away).
    probes: Mutex<BTreeSet<Probe>>,
}

impl QosStore {
    /// Opens the store (a table-only journal) and loads its probe index.
    pub fn open(store: Journal, retention: Retention) -> Result<Self, TsdbError> {
        let mut probes = BTreeSet::new();
        for (k, _) in store.scan(b"s/")? {
            let k = String::from_utf8_lossy(&k[2..]).into_owned();
            if let Some((resource_id, check)) = k.split_once('\0') {
                probes.insert(Probe {
                    resource_id: resource_id.into(),
                    check: check.into(),
                });
            }
        }
        Ok(Self {
            store,
            retention,
            probes: Mutex::new(probes),
        })
    }

    /// Every probe known.
    pub fn probes(&self) -> Vec<Probe> {
        self.probes
            .lock()
            .expect("qos lock poisoned")
            .iter()
            .cloned()
            .collect()
    }

    /// Records `run` into its minute and hour rollups, unless it was recorded before;
    /// returns whether it was new.
    pub fn record(&self, run: &ProbeRun) -> Result<bool, TsdbError> {
        let probe = Probe {
            resource_id: run.resource_id.clone(),
            check: run.check.clone(),
        };
        let s = series(&probe);
        let raw = key('r', &s, run.ts_ms);
        // one writer at a time: the check and the read-modify-write of the rollups
        let mut probes = self.probes.lock().expect("qos lock poisoned");
        if self.store.get(&raw)?.is_some() {
            return Ok(false);
        }
        let phases: BTreeMap<String, f64> =
            run.phases.iter().map(|(k, v)| (k.clone(), *v)).collect();
        let minute = key('m', &s, run.ts_ms - run.ts_ms.rem_euclid(MINUTE_MS));
        let hour = key('h', &s, run.ts_ms - run.ts_ms.rem_euclid(HOUR_MS));
        let mut values = Vec::with_capacity(2);
        for k in [&minute, &hour] {
            let mut r = match self.store.get(k)? {
                Some(bytes) => Rollup::decode(bytes.as_slice()).unwrap_or_default(),
                None => Rollup::default(),
            };
            r.add(run.success, &phases);
            values.push(r.encode_to_vec());
        }
        let index = format!("s/{s}").into_bytes();
        let run_bytes = run.encode_to_vec();
        self.store.write_table(&[
            TableOp::Put(&raw, &run_bytes),
            TableOp::Put(&minute, &values[0]),
            TableOp::Put(&hour, &values[1]),
            TableOp::Put(&index, b""),
        ])?;
        probes.insert(probe);
        Ok(true)
    }

    /// The QoS of `probes` over `[from_ms, to_ms)` in steps of `step_ms` (0: one step per
    /// minute or hour, whichever answers). Minute rollups answer while they are kept and
    /// the step is under an hour; hour rollups otherwise.
    pub fn query(
        &self,
        probes: Vec<Probe>,
        from_ms: i64,
        to_ms: i64,
        step_ms: i64,
        now_ms: i64,
    ) -> Result<Qos, TsdbError> {
        let minutes_kept_from = now_ms - self.retention.minute_days * DAY_MS;
        let resolution = if (step_ms == 0 || step_ms < HOUR_MS) && from_ms >= minutes_kept_from {
            Resolution::Minute
        } else {
            Resolution::Hour
        };
        let (kind, unit) = match resolution {
            Resolution::Minute => ('m', MINUTE_MS),
            Resolution::Hour => ('h', HOUR_MS),
        };
        let step = if step_ms <= 0 {
            unit
        } else {
            // whole units, so that no rollup straddles two steps
            (step_ms + unit - 1) / unit * unit
        };
        let first = from_ms - from_ms.rem_euclid(unit);
        let mut steps: BTreeMap<i64, Rollup> = BTreeMap::new();
        let mut total = Rollup::default();
        for p in &probes {
            let s = series(p);
            for (k, v) in self
                .store
                .scan_range(&key(kind, &s, first), &key(kind, &s, to_ms))?
            {
                let (Some(t), Ok(r)) = (time_of(&k), Rollup::decode(v.as_slice())) else {
                    continue;
                };
                let at = first + (t - first).div_euclid(step) * step;
                steps.entry(at).or_default().merge(&r);
                total.merge(&r);
            }
        }
        Ok(Qos {
            from_ms,
            to_ms,
            step_ms: step,
            resolution,
            probes,
            summary: total.summary(),
            points: steps
                .into_iter()
                .map(|(t_ms, r)| Point {
                    t_ms,
                    summary: r.summary(),
                })
                .collect(),
        })
    }

    /// Deletes what is past its retention; returns how many probes were trimmed.
    pub fn trim(&self, now_ms: i64) -> Result<usize, TsdbError> {
        let probes = self.probes();
        for p in &probes {
            let s = series(p);
            for (kind, days) in [
                ('r', self.retention.raw_days),
                ('m', self.retention.minute_days),
                ('h', self.retention.hour_days),
            ] {
                self.store
                    .delete_range(&key(kind, &s, 0), &key(kind, &s, now_ms - days * DAY_MS))?;
            }
        }
        Ok(probes.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(host: &str, ts_ms: i64, success: bool, total: f64) -> ProbeRun {
        ProbeRun {
            resource_id: format!("eu/{host}"),
            check: "shop".into(),
            ts_ms,
            success,
            phases: [
                ("total".to_string(), total),
                ("connect".to_string(), total / 2.0),
            ]
            .into_iter()
            .collect(),
        }
    }

    fn probe(host: &str) -> Probe {
        Probe {
            resource_id: format!("eu/{host}"),
            check: "shop".into(),
        }
    }

    #[test]
    fn runs_roll_up_by_minute_and_hour_once_each_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let now = 10 * DAY_MS;
        {
            let q = QosStore::open(Journal::open(dir.path(), 1).unwrap(), Retention::default())
                .unwrap();
            // two hosts, every 10 s for 2 minutes; host b fails its last 3 runs
            for i in 0..12 {
                let t = now - 3_600_000 + i * 10_000;
                assert!(q.record(&run("a", t, true, 0.100)).unwrap());
                assert!(q.record(&run("b", t, i < 9, 0.300)).unwrap());
            }
            assert!(
                !q.record(&run("a", now - 3_600_000, true, 9.0)).unwrap(),
                "a copy (a replica's, a replay's) is not counted again"
            );
        }
        let q =
            QosStore::open(Journal::open(dir.path(), 1).unwrap(), Retention::default()).unwrap();
        assert_eq!(q.probes(), vec![probe("a"), probe("b")]);
        let from = now - 3_600_000;
        let got = q.query(q.probes(), from, from + 120_000, 0, now).unwrap();
        assert_eq!(got.resolution, Resolution::Minute);
        assert_eq!(got.points.len(), 2);
        assert_eq!((got.summary.runs, got.summary.failures), (24, 3));
        assert_eq!(
            (got.points[0].summary.runs, got.points[1].summary.failures),
            (12, 3)
        );
        let p50 = got.summary.p50_ms.unwrap();
        assert!((p50 - 100.0).abs() <= 1.0, "{p50}");
        let p99 = got.summary.p99_ms.unwrap();
        assert!((p99 - 300.0).abs() <= 3.0, "{p99}");
        assert!((got.summary.phases_ms["connect"] - 100.0).abs() < 1e-6);
        // one host only
        let a = q
            .query(vec![probe("a")], from, from + 120_000, 0, now)
            .unwrap();
        assert_eq!((a.summary.runs, a.summary.failures), (12, 0));
        // an hourly view of the same
        let h = q.query(q.probes(), from, now, HOUR_MS, now).unwrap();
        assert_eq!(h.resolution, Resolution::Hour);
        assert_eq!((h.points.len(), h.summary.runs), (1, 24));
        // past the minutes' retention the hours answer, and past every retention nothing
        q.trim(now + 36 * DAY_MS).unwrap();
        let later = now + 36 * DAY_MS;
        let m = q.query(q.probes(), from, from + 120_000, 0, later).unwrap();
        assert_eq!((m.resolution, m.summary.runs), (Resolution::Hour, 24));
        q.trim(now + 401 * DAY_MS).unwrap();
        let gone = q
            .query(q.probes(), from, now, 0, now + 401 * DAY_MS)
            .unwrap();
        assert_eq!(gone.summary.runs, 0);
    }
}
