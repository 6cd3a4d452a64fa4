//! A rollup of probe runs: counts, error count, per-phase sums, and a sketch of the total
//! durations from which any percentile can be read after merging.
//!
//! Percentiles cannot be averaged, so each rollup keeps the durations as counts in
//! logarithmic buckets (each [`GAMMA`] times wider than the one before, as in DDSketch):
//! merging rollups adds counts, and a percentile read from the merge is within 1% of the
//! true value, however many minutes, probes or hosts were merged.

use std::collections::BTreeMap;

use serde::Serialize;

/// Ratio between successive bucket bounds: a percentile is read within (γ−1)/(γ+1) ≈ 1%.
pub const GAMMA: f64 = 1.02;

/// Durations below this (in seconds) count in the lowest bucket.
const MIN_SECONDS: f64 = 1e-6;

/// The runs of one or more probes over a stretch of time, mergeable.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Rollup {
    #[prost(uint64, tag = "1")]
    pub runs: u64,
    #[prost(uint64, tag = "2")]
    pub failures: u64,
    /// Sum of each phase's durations, in seconds.
    #[prost(btree_map = "string, double", tag = "3")]
    pub phase_sum: BTreeMap<String, f64>,
    /// How many runs timed each phase.
    #[prost(btree_map = "string, uint64", tag = "4")]
    pub phase_runs: BTreeMap<String, u64>,
    /// Sketch of the total durations: bucket index → runs.
    #[prost(btree_map = "sint32, uint64", tag = "5")]
    pub buckets: BTreeMap<i32, u64>,
}

fn bucket(seconds: f64) -> i32 {
    (seconds.max(MIN_SECONDS).ln() / GAMMA.ln()).ceil() as i32
}

/// The value a bucket stands for: the middle of its bounds (γ^(i−1), γ^i].
fn bucket_value(i: i32) -> f64 {
    2.0 * GAMMA.powi(i) / (GAMMA + 1.0)
}

/// What a stretch of probe runs amounts to, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub runs: u64,
    pub failures: u64,
    /// failures / runs (0 with no run).
    pub error_rate: f64,
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// The mean of each phase, in milliseconds (resolve, connect, tls, processing, ...).
    pub phases_ms: BTreeMap<String, f64>,
}

impl Rollup {
    /// Adds one run: whether it succeeded and its phases in seconds (`total` is sketched;
    /// without it, the sum of the other phases is).
    pub fn add(&mut self, success: bool, phases: &BTreeMap<String, f64>) {
        self.runs += 1;
        if !success {
            self.failures += 1;
        }
        for (phase, seconds) in phases {
            *self.phase_sum.entry(phase.clone()).or_default() += seconds;
            *self.phase_runs.entry(phase.clone()).or_default() += 1;
        }
        let total = phases
            .get("total")
            .copied()
            .or_else(|| (!phases.is_empty()).then(|| phases.values().sum()));
        if let Some(total) = total {
            *self.buckets.entry(bucket(total)).or_default() += 1;
        }
    }

    /// Adds everything of `other`.
    pub fn merge(&mut self, other: &Rollup) {
        self.runs += other.runs;
        self.failures += other.failures;
        for (p, s) in &other.phase_sum {
            *self.phase_sum.entry(p.clone()).or_default() += s;
        }
        for (p, n) in &other.phase_runs {
            *self.phase_runs.entry(p.clone()).or_default() += n;
        }
        for (b, n) in &other.buckets {
            *self.buckets.entry(*b).or_default() += n;
        }
    }

    /// The `q` quantile (0..=1) of the total durations, in seconds.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n: u64 = self.buckets.values().sum();
        if n == 0 {
            return None;
        }
        // the rank of the q-quantile, 1-based, as nearest-rank
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (b, count) in &self.buckets {
            seen += count;
            if seen >= rank {
                return Some(bucket_value(*b));
            }
        }
        self.buckets.keys().last().map(|b| bucket_value(*b))
    }

    /// Percentiles, error rate and mean phases.
    pub fn summary(&self) -> Summary {
        let ms = |q| self.quantile(q).map(|s| round3(s * 1e3));
        Summary {
            runs: self.runs,
            failures: self.failures,
            error_rate: if self.runs == 0 {
                0.0
            } else {
                self.failures as f64 / self.runs as f64
            },
            p50_ms: ms(0.5),
            p90_ms: ms(0.9),
            p99_ms: ms(0.99),
            phases_ms: self
                .phase_sum
                .iter()
                .filter_map(|(p, s)| {
                    let n = *self.phase_runs.get(p)?;
                    (n > 0).then(|| (p.clone(), round3(s / n as f64 * 1e3)))
                })
                .collect(),
        }
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phases(total: f64, connect: f64) -> BTreeMap<String, f64> {
        [
            ("total".to_string(), total),
            ("connect".to_string(), connect),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn percentiles_of_merged_rollups_are_within_one_percent() {
        // 1..=1000 ms, spread over ten rollups as ten minutes would be
        let mut parts = vec![Rollup::default(); 10];
        for ms in 1..=1000u32 {
            let s = f64::from(ms) / 1e3;
            parts[ms as usize % 10].add(ms % 100 != 0, &phases(s, s / 4.0));
        }
        let mut all = Rollup::default();
        for p in &parts {
            all.merge(p);
        }
        let sum = all.summary();
        assert_eq!((sum.runs, sum.failures), (1000, 10));
        assert!((sum.error_rate - 0.01).abs() < 1e-12);
        for (got, want) in [
            (sum.p50_ms, 500.0),
            (sum.p90_ms, 900.0),
            (sum.p99_ms, 990.0),
        ] {
            let got = got.unwrap();
            assert!((got - want).abs() / want <= 0.0101, "{got} vs {want}");
        }
        // mean connect = mean(total)/4 = 500.5/4 ms
        assert!(
            (sum.phases_ms["connect"] - 125.125).abs() < 1e-6,
            "{:?}",
            sum.phases_ms
        );
    }

    #[test]
    fn a_rollup_survives_encoding_and_an_empty_one_has_no_percentile() {
        use prost::Message;
        let mut r = Rollup::default();
        r.add(true, &phases(0.25, 0.01));
        r.add(false, &BTreeMap::new());
        let back = Rollup::decode(r.encode_to_vec().as_slice()).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.runs, 2);
        assert_eq!(
            back.buckets.values().sum::<u64>(),
            1,
            "a run with no timing is not sketched"
        );
        assert_eq!(Rollup::default().summary().p99_ms, None);
        assert_eq!(Rollup::default().summary().error_rate, 0.0);
    }
}
