//! The failure report: incidents per resource, time lost, MTTR and MTBF over a period.

use std::collections::BTreeMap;

use strata_proto::v1::{Event, Severity};

use crate::period::Period;

/// Failures of one resource (or of all, in the total row) over a period.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Failures {
    /// Incidents opened in the period.
    pub incidents: u64,
    /// Of which critical.
    pub critical: u64,
    /// Incidents still open at the end of the period.
    pub open: u64,
    /// Time with at least one incident open, in seconds (overlaps counted once).
    pub impaired_seconds: f64,
    /// Mean time to repair: the mean duration of the incidents resolved in the period.
    pub mttr_seconds: Option<f64>,
    /// Mean time between failures: time without an incident / incidents opened.
    pub mtbf_seconds: Option<f64>,
}

/// Merges overlapping `[from, to)` stretches and sums their length.
fn covered(mut spans: Vec<(i64, i64)>) -> i64 {
    spans.sort_unstable();
    let mut total = 0;
    let mut current: Option<(i64, i64)> = None;
    for (a, b) in spans {
        match current {
            Some((ca, cb)) if a <= cb => current = Some((ca, cb.max(b))),
            Some((ca, cb)) => {
                total += cb - ca;
                current = Some((a, b));
            }
            None => current = Some((a, b)),
        }
    }
    total + current.map_or(0, |(a, b)| b - a)
}

/// The failures of each resource of `scope` (by id) that had an incident in `period`, and
/// the total over the whole scope.
pub fn failures(
    incidents: &[Event],
    scope: &[String],
    period: Period,
) -> (BTreeMap<String, Failures>, Failures) {
    let len_ms = (period.to_ms - period.from_ms).max(0);
    let mut by_resource: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
    for e in incidents {
        let end = if e.resolved_ms > 0 {
            e.resolved_ms
        } else {
            i64::MAX
        };
        let touches = e.opened_ms < period.to_ms && end > period.from_ms;
        if touches && scope.iter().any(|s| s == &e.resource_id) {
            by_resource.entry(&e.resource_id).or_default().push(e);
        }
    }
    let mut rows = BTreeMap::new();
    let mut total = Failures::default();
    let (mut repairs, mut repair_ms) = (0u64, 0i64);
    let mut up_ms = len_ms * scope.len() as i64;
    for (id, events) in by_resource {
        let mut f = Failures::default();
        let mut spans = Vec::new();
        let (mut n_repairs, mut sum_repair) = (0u64, 0i64);
        for e in events {
            let opened_in = e.opened_ms >= period.from_ms;
            if opened_in {
                f.incidents += 1;
                if e.severity() == Severity::Critical {
                    f.critical += 1;
                }
            }
            let resolved_in = e.resolved_ms > 0 && e.resolved_ms < period.to_ms;
            if resolved_in {
                n_repairs += 1;
                sum_repair += e.resolved_ms - e.opened_ms;
            } else {
                f.open += 1;
            }
            let end = if resolved_in {
                e.resolved_ms
            } else {
                period.to_ms
            };
            spans.push((e.opened_ms.max(period.from_ms), end));
        }
        let impaired_ms = covered(spans);
        f.impaired_seconds = impaired_ms as f64 / 1e3;
        f.mttr_seconds = (n_repairs > 0).then(|| sum_repair as f64 / n_repairs as f64 / 1e3);
        f.mtbf_seconds =
            (f.incidents > 0).then(|| (len_ms - impaired_ms) as f64 / f.incidents as f64 / 1e3);
        total.incidents += f.incidents;
        total.critical += f.critical;
        total.open += f.open;
        total.impaired_seconds += f.impaired_seconds;
        repairs += n_repairs;
        repair_ms += sum_repair;
        up_ms -= impaired_ms;
        rows.insert(id.to_string(), f);
    }
    total.mttr_seconds = (repairs > 0).then(|| repair_ms as f64 / repairs as f64 / 1e3);
    total.mtbf_seconds =
        (total.incidents > 0).then(|| up_ms.max(0) as f64 / total.incidents as f64 / 1e3);
    (rows, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(resource: &str, opened_ms: i64, resolved_ms: i64, severity: Severity) -> Event {
        Event {
            id: format!("{resource}/r/{opened_ms}"),
            resource_id: resource.into(),
            rule: "r".into(),
            severity: severity as i32,
            opened_ms,
            resolved_ms,
            ..Default::default()
        }
    }

    #[test]
    fn repair_and_between_failure_times_are_exact() {
        // a 1000 s period; a has three incidents, two overlapping, b one still open
        let (t0, s) = (1_000_000, 1000);
        let period = Period {
            from_ms: t0,
            to_ms: t0 + 1000 * s,
        };
        let events = vec![
            incident("eu/a", t0 + 100 * s, t0 + 200 * s, Severity::Critical),
            incident("eu/a", t0 + 150 * s, t0 + 250 * s, Severity::Warning),
            incident("eu/a", t0 + 600 * s, t0 + 700 * s, Severity::Critical),
            incident("eu/b", t0 + 900 * s, 0, Severity::Critical),
            // before the period: not counted
            incident("eu/b", t0 - 50 * s, t0 - 10 * s, Severity::Critical),
            // out of scope
            incident("us/c", t0 + 100 * s, t0 + 200 * s, Severity::Critical),
        ];
        let scope: Vec<String> = ["eu/a", "eu/b", "eu/d"].map(String::from).into();
        let (rows, total) = failures(&events, &scope, period);
        assert_eq!(rows.len(), 2);
        let a = &rows["eu/a"];
        assert_eq!((a.incidents, a.critical, a.open), (3, 2, 0));
        assert_eq!(
            a.impaired_seconds, 250.0,
            "100..250 and 600..700, overlaps once"
        );
        assert_eq!(a.mttr_seconds, Some(100.0));
        assert_eq!(a.mtbf_seconds, Some(250.0), "(1000 - 250) / 3");
        let b = &rows["eu/b"];
        assert_eq!((b.incidents, b.open, b.impaired_seconds), (1, 1, 100.0));
        assert_eq!((b.mttr_seconds, b.mtbf_seconds), (None, Some(900.0)));
        assert_eq!((total.incidents, total.critical, total.open), (4, 3, 1));
        assert_eq!(total.mttr_seconds, Some(100.0));
        // three resources × 1000 s, 350 s impaired, 4 failures
        assert_eq!(total.mtbf_seconds, Some(662.5));
    }
}
