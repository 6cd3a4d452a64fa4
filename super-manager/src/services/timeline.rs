//! Each service's health over time, and the SLA report computed from it.
//!
//! The super-manager evaluates every service's health continuously and stores each change
//! (`t/<service>/<time>` in the services store), so that availability over any period is the
//! time spent down, from the record, not a sample of it. A period the super-manager did not
//! see (it was stopped) is counted as unknown: neither available nor lost.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;
use strata_tsdb::TableOp;

use super::health::Health;
use super::{Refused, Services};

/// A stretch of time in one health.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Span {
    pub from_ms: i64,
    pub to_ms: i64,
    pub health: Health,
}

/// Availability of a service over a period, against its objective.
#[derive(Debug, Clone, Serialize)]
pub struct SlaReport {
    pub service: String,
    pub from_ms: i64,
    pub to_ms: i64,
    /// The objective (none when the service has no SLO).
    pub objective: Option<f64>,
    /// Time the service's health was known, in seconds.
    pub measured_seconds: f64,
    /// Time down (unavailable), in seconds.
    pub down_seconds: f64,
    /// Time degraded (available, but not well), in seconds.
    pub degraded_seconds: f64,
    /// Time unknown (not measured), in seconds.
    pub unknown_seconds: f64,
    /// Time in planned maintenance (in none of the above), in seconds.
    pub maintenance_seconds: f64,
    /// The down time in whole minutes, rounded.
    pub lost_minutes: i64,
    /// 1 − down / measured.
    pub availability: f64,
    /// Down time the objective allows over the measured time, in seconds.
    pub error_budget_seconds: Option<f64>,
    /// What is left of it (negative when overspent), as a share of the budget.
    pub budget_remaining: Option<f64>,
    /// Every stretch down.
    pub outages: Vec<Span>,
}

/// The key of `service`'s health from `at_ms` on.
pub(super) fn key(service: &str, at_ms: i64) -> Vec<u8> {
    format!("t/{service}/{:016x}", at_ms.max(0)).into_bytes()
}

/// The service and time of a timeline key.
pub(super) fn parse_key(key: &[u8]) -> Option<(String, i64)> {
    let key = std::str::from_utf8(key).ok()?.strip_prefix("t/")?;
    let (service, hex) = key.rsplit_once('/')?;
    Some((service.to_string(), i64::from_str_radix(hex, 16).ok()?))
}

fn parse_health(s: &[u8]) -> Health {
    match s {
        b"ok" => Health::Ok,
        b"degraded" => Health::Degraded,
        b"down" => Health::Down,
        _ => Health::Unknown,
    }
}

/// The last recorded health of each service.
#[derive(Debug, Default)]
pub struct Last(Mutex<HashMap<String, Health>>);

impl Services {
    /// Records that `service` is `health` at `at_ms`, if that changed; returns whether it did.
    pub fn record_health(
        &self,
        service: &str,
        health: Health,
        at_ms: i64,
    ) -> Result<bool, Refused> {
        let mut last = self.last.0.lock().expect("timeline lock poisoned");
        if !last.contains_key(service) {
            // the last record before a restart
            if let Some((_, h)) = self
                .store
                .scan(format!("t/{service}/").as_bytes())
                .map_err(|e| Refused::Store(e.to_string()))?
                .last()
            {
                last.insert(service.to_string(), parse_health(h));
            }
        }
        if last.get(service) == Some(&health) {
            return Ok(false);
        }
        self.journal_health(
            service,
            at_ms,
            health.name(),
            &[TableOp::Put(&key(service, at_ms), health.name().as_bytes())],
        )?;
        last.insert(service.to_string(), health);
        Ok(true)
    }

    /// Forgets the last health of `services` (another centre recorded theirs): it is read
    /// again from the timeline when next recorded here.
    pub(super) fn forget_last(&self, services: &[String]) {
        if services.is_empty() {
            return;
        }
        let mut last = self.last.0.lock().expect("timeline lock poisoned");
        for s in services {
            last.remove(s);
        }
    }

    /// The health of `service` over `[from_ms, to_ms)`, as spans (unknown before its first
    /// record).
    pub fn spans(&self, service: &str, from_ms: i64, to_ms: i64) -> Result<Vec<Span>, Refused> {
        let rows = self
            .store
            .scan(format!("t/{service}/").as_bytes())
            .map_err(|e| Refused::Store(e.to_string()))?;
        let points: Vec<(i64, Health)> = rows
            .iter()
            .filter_map(|(k, v)| {
                let k = String::from_utf8_lossy(k);
                let hex = k.rsplit('/').next()?;
                Some((i64::from_str_radix(hex, 16).ok()?, parse_health(v)))
            })
            .collect();
        let mut spans = Vec::new();
        let mut at = from_ms;
        let mut health = points
            .iter()
            .take_while(|(t, _)| *t <= from_ms)
            .last()
            .map_or(Health::Unknown, |(_, h)| *h);
        for (t, h) in points.iter().filter(|(t, _)| *t > from_ms && *t < to_ms) {
            if *h != health {
                spans.push(Span {
                    from_ms: at,
                    to_ms: *t,
                    health,
                });
                at = *t;
                health = *h;
            }
        }
        if at < to_ms {
            spans.push(Span {
                from_ms: at,
                to_ms,
                health,
            });
        }
        Ok(spans)
    }
}

/// The SLA report of `spans` of `service` over `[from_ms, to_ms)` against `objective`,
/// the time in `maintenance` (merged, ordered stretches) left out.
pub fn report(
    service: &str,
    spans: &[Span],
    (from_ms, to_ms): (i64, i64),
    objective: Option<f64>,
    maintenance: &[(i64, i64)],
) -> SlaReport {
    let seconds = |h: Health| -> f64 {
        spans
            .iter()
            .filter(|s| s.health == h)
            .map(|s| {
                let planned = super::maintenance::overlap(maintenance, s.from_ms, s.to_ms);
                (s.to_ms - s.from_ms - planned) as f64 / 1e3
            })
            .sum::<f64>()
            + 0.0 // an empty sum is -0.0
    };
    let maintenance_seconds =
        super::maintenance::overlap(maintenance, from_ms, to_ms) as f64 / 1e3 + 0.0;
    let (ok, down, degraded, unknown) = (
        seconds(Health::Ok),
        seconds(Health::Down),
        seconds(Health::Degraded),
        seconds(Health::Unknown),
    );
    let measured = ok + down + degraded;
    let availability = if measured > 0.0 {
        1.0 - down / measured
    } else {
        1.0
    };
    let budget = objective.map(|o| (1.0 - o) * measured);
    SlaReport {
        service: service.to_string(),
        from_ms,
        to_ms,
        objective,
        measured_seconds: measured,
        down_seconds: down,
        degraded_seconds: degraded,
        unknown_seconds: unknown,
        maintenance_seconds,
        lost_minutes: (down / 60.0).round() as i64,
        availability,
        error_budget_seconds: budget,
        budget_remaining: budget.map(|b| if b > 0.0 { (b - down) / b } else { 0.0 }),
        outages: spans
            .iter()
            .filter(|s| s.health == Health::Down)
            .cloned()
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_tsdb::Journal;

    #[test]
    fn changes_are_recorded_once_and_the_report_counts_the_time_down() {
        let dir = tempfile::tempdir().unwrap();
        let s = Services::open(Journal::open(dir.path(), 1).unwrap()).unwrap();
        let m = 60_000;
        assert!(s.record_health("shop", Health::Ok, 0).unwrap());
        assert!(
            !s.record_health("shop", Health::Ok, m).unwrap(),
            "unchanged"
        );
        s.record_health("shop", Health::Degraded, 10 * m).unwrap();
        s.record_health("shop", Health::Down, 11 * m).unwrap();
        s.record_health("shop", Health::Ok, 14 * m).unwrap();
        let spans = s.spans("shop", 5 * m, 65 * m).unwrap();
        assert_eq!(
            spans
                .iter()
                .map(|x| (x.from_ms / m, x.to_ms / m, x.health))
                .collect::<Vec<_>>(),
            vec![
                (5, 10, Health::Ok),
                (10, 11, Health::Degraded),
                (11, 14, Health::Down),
                (14, 65, Health::Ok)
            ]
        );
        let r = report("shop", &spans, (5 * m, 65 * m), Some(0.99), &[]);
        assert_eq!(
            (r.lost_minutes, r.down_seconds, r.degraded_seconds),
            (3, 180.0, 60.0)
        );
        assert!((r.availability - 0.95).abs() < 1e-9);
        assert!(
            (r.error_budget_seconds.unwrap() - 36.0).abs() < 1e-9,
            "1 % of an hour"
        );
        assert!(r.budget_remaining.unwrap() < 0.0, "overspent");
        assert_eq!(r.outages.len(), 1);
        // a maintenance window over the outage's first two minutes leaves one lost
        let planned = report(
            "shop",
            &spans,
            (5 * m, 65 * m),
            Some(0.99),
            &[(11 * m, 13 * m)],
        );
        assert_eq!(
            (planned.lost_minutes, planned.maintenance_seconds),
            (1, 120.0)
        );
        assert!((planned.measured_seconds - 58.0 * 60.0).abs() < 1e-9);
        let before = s.spans("shop", -10 * m, 0).unwrap();
        assert_eq!(before[0].health, Health::Unknown, "nothing recorded yet");
        // A reopened store knows the last health: recording it again changes nothing.
        drop(s);
        let s = Services::open(Journal::open(dir.path(), 1).unwrap()).unwrap();
        assert!(!s.record_health("shop", Health::Ok, 70 * m).unwrap());
    }
}
