//! Metrics that leave their own baseline, and whether they move with a service's response
//! time: evidence for root cause beyond states and incidents.
//!
//! A host whose CPU runs at 90 % every day is not a suspect for running at 90 % now; one
//! that ran at 20 % for the hour before the window and at 90 % within it is. So each metric
//! is compared with its own recent past: the hour before the window is its baseline (mean
//! and standard deviation), and the window's mean is scored in standard deviations from it
//! (z). A shift counts from [`Z_MIN`]; one whose minute steps also move with the service's
//! response time (Pearson correlation of the minute steps) counts more.

use std::collections::BTreeMap;

use serde::Serialize;

/// Standard deviations from the baseline from which a metric has left it.
pub const Z_MIN: f64 = 3.0;

/// Baseline points needed to judge a shift.
const MIN_BASELINE_POINTS: usize = 5;

/// A metric of a host that left its baseline within the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shift {
    pub metric: String,
    /// The series' labels, `k=v,...`.
    pub labels: String,
    /// Mean before the window.
    pub baseline: f64,
    /// Standard deviation before the window.
    pub spread: f64,
    /// Mean within the window.
    pub now: f64,
    /// (now − baseline) / spread.
    pub z: f64,
    /// Correlation of its minute steps with the service's response time, when known.
    pub correlation: Option<f64>,
}

fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// How far the points from `from_ms` on are from those before it, or none when there is too
/// little of either or the metric did not leave its baseline.
pub fn shift(metric: &str, labels: &str, points: &[(i64, f64)], from_ms: i64) -> Option<Shift> {
    let finite = points.iter().filter(|p| p.1.is_finite());
    let (before, within): (Vec<&(i64, f64)>, Vec<_>) = finite.partition(|p| p.0 < from_ms);
    if before.len() < MIN_BASELINE_POINTS || within.is_empty() {
        return None;
    }
    let (baseline, spread) = mean_sd(&before.iter().map(|p| p.1).collect::<Vec<_>>());
    let (now, _) = mean_sd(&within.iter().map(|p| p.1).collect::<Vec<_>>());
    // a flat baseline still has noise of its own: at least 1 % of its level (or 0.001)
    let floor = (baseline.abs() * 0.01).max(1e-3);
    let z = (now - baseline) / spread.max(floor);
    (z.abs() >= Z_MIN).then(|| Shift {
        metric: metric.to_string(),
        labels: labels.to_string(),
        baseline,
        spread,
        now,
        z,
        correlation: None,
    })
}

/// Pearson correlation of `a` and `b` over the steps (of `step_ms`) both have, from
/// `from_ms` on; none with fewer than four common steps or no variation.
pub fn correlation(a: &[(i64, f64)], b: &[(i64, f64)], step_ms: i64, from_ms: i64) -> Option<f64> {
    let bucket = |pts: &[(i64, f64)]| -> BTreeMap<i64, f64> {
        let mut sums: BTreeMap<i64, (f64, u32)> = BTreeMap::new();
        for (t, v) in pts.iter().filter(|p| p.0 >= from_ms && p.1.is_finite()) {
            let e = sums.entry(t.div_euclid(step_ms)).or_default();
            e.0 += v;
            e.1 += 1;
        }
        sums.into_iter()
            .map(|(k, (s, n))| (k, s / f64::from(n)))
            .collect()
    };
    let (a, b) = (bucket(a), bucket(b));
    let pairs: Vec<(f64, f64)> = a
        .iter()
        .filter_map(|(k, x)| b.get(k).map(|y| (*x, *y)))
        .collect();
    if pairs.len() < 4 {
        return None;
    }
    let (mx, sx) = mean_sd(&pairs.iter().map(|p| p.0).collect::<Vec<_>>());
    let (my, sy) = mean_sd(&pairs.iter().map(|p| p.1).collect::<Vec<_>>());
    if sx == 0.0 || sy == 0.0 {
        return None;
    }
    let cov = pairs.iter().map(|(x, y)| (x - mx) * (y - my)).sum::<f64>() / pairs.len() as f64;
    Some(cov / (sx * sy))
}

/// What a shift adds to a host's score: up to 30 for its size, doubled at most when it moves
/// with the response time (a host down weighs 100, a critical incident 50 to 100).
pub fn score(s: &Shift) -> f64 {
    let size = 10.0 * (s.z.abs() / Z_MIN).min(3.0);
    size * (1.0 + s.correlation.unwrap_or(0.0).max(0.0))
}

/// The evidence line of a shift.
pub fn describe(s: &Shift) -> String {
    let labels = if s.labels.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", s.labels)
    };
    let mut text = format!(
        "{}{labels} at {:.3} against a baseline of {:.3} ± {:.3} (z {:.1})",
        s.metric, s.now, s.baseline, s.spread, s.z
    );
    if let Some(r) = s.correlation {
        text.push_str(&format!(", moving with the response time (r {r:.2})"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn a_metric_that_leaves_its_baseline_and_moves_with_the_response_time() {
        // an hour at 0.20 ± 0.01, then ten minutes climbing to 0.9
        let mut cpu: Vec<(i64, f64)> = (0..60)
            .map(|m| (m * MIN, 0.20 + if m % 2 == 0 { 0.01 } else { -0.01 }))
            .collect();
        cpu.extend((60..70).map(|m| (m * MIN, 0.2 + 0.07 * (m - 59) as f64)));
        let s = shift("host_cpu_usage_ratio", "cpu=total", &cpu, 60 * MIN).unwrap();
        assert!(
            (s.baseline - 0.20).abs() < 1e-9 && (s.spread - 0.01).abs() < 1e-9,
            "{s:?}"
        );
        assert!(s.z > 30.0, "{s:?}");
        // the response time climbs with it
        let rt: Vec<(i64, f64)> = (60..70)
            .map(|m| (m * MIN + 5, 40.0 + 30.0 * (m - 59) as f64))
            .collect();
        let r = correlation(&cpu, &rt, MIN, 60 * MIN).unwrap();
        assert!(r > 0.99, "{r}");
        let with = Shift {
            correlation: Some(r),
            ..s.clone()
        };
        assert!(score(&with) > score(&s) * 1.9 && score(&s) == 30.0);
        assert!(describe(&with).contains("(r 1.00)"), "{}", describe(&with));
        // a host busy as usual is no suspect; too little history says nothing
        let busy: Vec<(i64, f64)> = (0..70)
            .map(|m| (m * MIN, 0.9 + if m % 2 == 0 { 0.02 } else { -0.02 }))
            .collect();
        assert_eq!(shift("c", "", &busy, 60 * MIN), None);
        assert_eq!(
            shift("c", "", &cpu[56..], 60 * MIN),
            None,
            "four minutes of baseline"
        );
        // a flat series does not correlate
        assert_eq!(
            correlation(
                &busy[60..].iter().map(|p| (p.0, 1.0)).collect::<Vec<_>>(),
                &rt,
                MIN,
                0
            ),
            None
        );
    }
}
