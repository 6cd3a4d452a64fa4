//! Query functions over stored points.
//!
//! Over time: raw points are grouped into steps `[from + k*step, from + (k+1)*step)` and each
//! step is reported at its start with one value (avg, min, max, sum, count, last, a quantile,
//! or the increase or per-second rate of a counter). Across series: series are grouped by a
//! set of labels and combined per timestamp (sum, avg, min, max, count).

use std::collections::BTreeMap;

use crate::Labels;

/// How points within one step are combined.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Aggregation {
    #[default]
    Avg,
    Min,
    Max,
    Sum,
    Count,
    Last,
    /// The counter's increase over the step; a decrease is a reset (counting from zero).
    Increase,
    /// The increase per second.
    Rate,
    /// The φ-quantile (0 ≤ φ ≤ 1) of the step's values, interpolated linearly.
    Quantile(f64),
}

/// The φ-quantile of `values`, interpolated between neighbours (NaN for no value or φ
/// outside 0..=1).
pub fn quantile(phi: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || !(0.0..=1.0).contains(&phi) {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let rank = phi * (values.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    let weight = rank - lo as f64;
    values[lo] * (1.0 - weight) + values[hi] * weight
}

/// Increase of a counter across `points` (time order), starting from `base` (the point
/// before them, if any): each decrease counts as a reset to zero.
fn increase(base: Option<f64>, points: &[(i64, f64)]) -> f64 {
    let mut prev = base;
    let mut total = 0.0;
    for &(_, v) in points {
        if let Some(p) = prev {
            total += if v >= p { v - p } else { v };
        }
        prev = Some(v);
    }
    total
}

fn combine(agg: Aggregation, base: Option<f64>, points: &[(i64, f64)], step: i64) -> f64 {
    let values = || points.iter().map(|p| p.1);
    match agg {
        Aggregation::Avg => values().sum::<f64>() / points.len() as f64,
        Aggregation::Min => values().fold(f64::INFINITY, f64::min),
        Aggregation::Max => values().fold(f64::NEG_INFINITY, f64::max),
        Aggregation::Sum => values().sum(),
        Aggregation::Count => points.len() as f64,
        Aggregation::Last => points[points.len() - 1].1,
        Aggregation::Increase => increase(base, points),
        Aggregation::Rate => increase(base, points) / (step as f64 / 1000.0),
        Aggregation::Quantile(phi) => quantile(phi, &mut values().collect::<Vec<_>>()),
    }
}

/// Aggregates time-ordered `raw` points into steps starting at `from`. With `step <= 0`
/// the raw points are returned, except for `Increase` and `Rate`, which then give each
/// point's increase (or rate) since the one before it.
pub fn aggregate(
    raw: &[(i64, f64)],
    from: i64,
    step: i64,
    aggregation: Aggregation,
) -> Vec<(i64, f64)> {
    if step <= 0 {
        return match aggregation {
            Aggregation::Increase | Aggregation::Rate => raw
                .windows(2)
                .map(|w| {
                    let inc = increase(Some(w[0].1), &w[1..]);
                    let v = if aggregation == Aggregation::Rate {
                        inc / ((w[1].0 - w[0].0).max(1) as f64 / 1000.0)
                    } else {
                        inc
                    };
                    (w[1].0, v)
                })
                .collect(),
            _ => raw.to_vec(),
        };
    }
    let mut out = Vec::new();
    let mut start = 0;
    while start < raw.len() {
        let bucket = from + (raw[start].0 - from).div_euclid(step) * step;
        let mut end = start + 1;
        while end < raw.len() && raw[end].0 < bucket + step {
            end += 1;
        }
        let base = start.checked_sub(1).map(|i| raw[i].1);
        out.push((bucket, combine(aggregation, base, &raw[start..end], step)));
        start = end;
    }
    out
}

/// How series are combined across a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesAggregation {
    Sum,
    Avg,
    Min,
    Max,
    Count,
}

/// Sum, min, max and count of the values at one timestamp of a group.
type Running = (f64, f64, f64, u64);

/// Groups series by the values of the `by` labels and combines each group's points that
/// share a timestamp. Returns each group's labels (only the `by` labels) and points.
pub fn aggregate_series(
    series: &[(Labels, Vec<(i64, f64)>)],
    by: &[String],
    op: SeriesAggregation,
) -> Vec<(Labels, Vec<(i64, f64)>)> {
    let mut groups: BTreeMap<Labels, BTreeMap<i64, Running>> = BTreeMap::new();
    for (labels, points) in series {
        let key: Labels = by
            .iter()
            .filter_map(|l| labels.get(l).map(|v| (l.clone(), v.clone())))
            .collect();
        let group = groups.entry(key).or_default();
        for &(ts, v) in points {
            let e = group
                .entry(ts)
                .or_insert((0.0, f64::INFINITY, f64::NEG_INFINITY, 0));
            e.0 += v;
            e.1 = e.1.min(v);
            e.2 = e.2.max(v);
            e.3 += 1;
        }
    }
    groups
        .into_iter()
        .map(|(labels, points)| {
            let points = points
                .into_iter()
                .map(|(ts, (sum, min, max, count))| {
                    let v = match op {
                        SeriesAggregation::Sum => sum,
                        SeriesAggregation::Avg => sum / count as f64,
                        SeriesAggregation::Min => min,
                        SeriesAggregation::Max => max,
                        SeriesAggregation::Count => count as f64,
                    };
                    (ts, v)
                })
                .collect();
            (labels, points)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RAW: [(i64, f64); 5] = [(0, 1.0), (5, 3.0), (10, 10.0), (19, 20.0), (31, 7.0)];

    #[test]
    fn each_aggregation_per_bucket() {
        let a = |agg| aggregate(&RAW, 0, 10, agg);
        assert_eq!(a(Aggregation::Avg), vec![(0, 2.0), (10, 15.0), (30, 7.0)]);
        assert_eq!(a(Aggregation::Min), vec![(0, 1.0), (10, 10.0), (30, 7.0)]);
        assert_eq!(a(Aggregation::Max), vec![(0, 3.0), (10, 20.0), (30, 7.0)]);
        assert_eq!(a(Aggregation::Last), vec![(0, 3.0), (10, 20.0), (30, 7.0)]);
        assert_eq!(a(Aggregation::Sum), vec![(0, 4.0), (10, 30.0), (30, 7.0)]);
        assert_eq!(a(Aggregation::Count), vec![(0, 2.0), (10, 2.0), (30, 1.0)]);
        assert_eq!(
            a(Aggregation::Quantile(0.5)),
            vec![(0, 2.0), (10, 15.0), (30, 7.0)]
        );
    }

    #[test]
    fn zero_step_is_raw_and_buckets_align_to_from() {
        assert_eq!(aggregate(&RAW, 0, 0, Aggregation::Avg), RAW.to_vec());
        assert_eq!(
            aggregate(&RAW, 5, 10, Aggregation::Last),
            vec![(-5, 1.0), (5, 10.0), (15, 20.0), (25, 7.0)]
        );
    }

    #[test]
    fn counters_handle_resets_and_rates_are_per_second() {
        // 0 → 100 → 150, reset, 30 → 90: the increase is 100 + 50 + 30 + 60 = 240.
        let c = [
            (0, 0.0),
            (10_000, 100.0),
            (20_000, 150.0),
            (30_000, 30.0),
            (40_000, 90.0),
        ];
        assert_eq!(
            aggregate(&c, 0, 50_000, Aggregation::Increase),
            vec![(0, 240.0)]
        );
        // Per 20 s step, each step counts from the point before it.
        assert_eq!(
            aggregate(&c, 0, 20_000, Aggregation::Increase),
            vec![(0, 100.0), (20_000, 80.0), (40_000, 60.0)]
        );
        assert_eq!(aggregate(&c, 0, 20_000, Aggregation::Rate)[0], (0, 5.0));
        let raw_rate = aggregate(&c, 0, 0, Aggregation::Rate);
        assert_eq!(
            raw_rate,
            vec![(10_000, 10.0), (20_000, 5.0), (30_000, 3.0), (40_000, 6.0)]
        );
    }

    #[test]
    fn quantiles_interpolate() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(0.0, &mut v), 1.0);
        assert_eq!(quantile(1.0, &mut v), 4.0);
        assert_eq!(quantile(0.5, &mut v), 2.5);
        assert!(quantile(1.5, &mut v).is_nan());
        assert!(quantile(0.5, &mut []).is_nan());
    }

    #[test]
    fn series_group_by_labels() {
        let l = |host: &str, cpu: &str| -> Labels {
            [("host", host), ("cpu", cpu)]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let series = vec![
            (l("a", "0"), vec![(0, 1.0), (10, 2.0)]),
            (l("a", "1"), vec![(0, 3.0), (10, 4.0)]),
            (l("b", "0"), vec![(0, 5.0)]),
        ];
        let by_host = aggregate_series(&series, &["host".into()], SeriesAggregation::Sum);
        assert_eq!(by_host.len(), 2);
        assert_eq!(by_host[0].1, vec![(0, 4.0), (10, 6.0)]);
        assert_eq!(by_host[0].0.get("host").map(String::as_str), Some("a"));
        assert!(!by_host[0].0.contains_key("cpu"));
        let all = aggregate_series(&series, &[], SeriesAggregation::Max);
        assert_eq!(all, vec![(Labels::new(), vec![(0, 5.0), (10, 4.0)])]);
        let count = aggregate_series(&series, &[], SeriesAggregation::Count);
        assert_eq!(count[0].1, vec![(0, 3.0), (10, 2.0)]);
    }

    proptest! {
        /// Per step: min ≤ avg ≤ max, counts add up to the points, sums agree, and the
        /// increase of a never-decreasing counter over one step is last minus first.
        #[test]
        fn step_aggregations_agree_with_each_other(
            gaps in proptest::collection::vec(1i64..5_000, 1..200),
            values in proptest::collection::vec(-1e6f64..1e6, 200),
            step in 1i64..20_000,
        ) {
            let mut ts = 0;
            let raw: Vec<(i64, f64)> = gaps.iter().zip(&values).map(|(g, v)| { ts += g; (ts, *v) }).collect();
            let get = |agg| aggregate(&raw, 0, step, agg);
            let (avg, min, max, count, sum) = (get(Aggregation::Avg), get(Aggregation::Min), get(Aggregation::Max), get(Aggregation::Count), get(Aggregation::Sum));
            prop_assert_eq!(count.iter().map(|p| p.1).sum::<f64>() as usize, raw.len());
            for i in 0..avg.len() {
                prop_assert!(min[i].1 <= avg[i].1 + 1e-6 && avg[i].1 <= max[i].1 + 1e-6);
                prop_assert!((sum[i].1 - avg[i].1 * count[i].1).abs() <= 1e-6 * sum[i].1.abs().max(1.0));
            }
            let mut c = 0.0;
            let counter: Vec<(i64, f64)> = raw.iter().map(|&(t, v)| { c += v.abs(); (t, c) }).collect();
            let total: f64 = aggregate(&counter, 0, i64::MAX / 4, Aggregation::Increase).iter().map(|p| p.1).sum();
            let expected = counter[counter.len() - 1].1 - counter[0].1;
            prop_assert!((total - expected).abs() <= 1e-6 * expected.max(1.0));
        }
    }
}
