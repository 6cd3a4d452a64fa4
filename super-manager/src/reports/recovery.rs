//! The recovery report: how often automatic recovery resolved a failure without a person,
//! and how much sooner, per action, per service and over everything.
//!
//! An incident counts when it opened in the period. It was **resolved by recovery** when it
//! resolved, at least one try of a recovery action succeeded (the agent's own tries of a
//! failed check, or an action a rule asked for), and nobody acknowledged it; every other
//! resolved incident was **resolved by hand** (a person acknowledged it, or no try
//! worked). Times to recover are the mean time from opening to resolution, of the resolved
//! incidents with a try and of those without. The share that never needed a person is
//! the incidents resolved by recovery over all incidents: the figure an automatic recovery
//! is judged by.

use std::collections::BTreeMap;

use strata_proto::v1::Event;

use crate::period::Period;

/// The recovery figures of one group of incidents.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recovered {
    /// Incidents opened in the period.
    pub incidents: u64,
    /// Of which had at least one try of an action.
    pub with_recovery: u64,
    /// Resolved, a try succeeded, nobody acknowledged.
    pub by_recovery: u64,
    /// Resolved otherwise.
    pub by_hand: u64,
    /// Still open.
    pub open: u64,
    /// Tries of actions, and of them the ones that failed.
    pub tries: u64,
    pub tries_failed: u64,
    /// Sums of open-to-resolved times (ms) and their counts: with a try, without.
    with_ms: (i64, u64),
    without_ms: (i64, u64),
}

impl Recovered {
    fn add(&mut self, e: &Event, actions: &[&strata_proto::v1::ActionRun]) {
        self.incidents += 1;
        self.tries += actions.len() as u64;
        self.tries_failed += actions.iter().filter(|a| !a.ok).count() as u64;
        let tried = !actions.is_empty();
        if tried {
            self.with_recovery += 1;
        }
        if e.resolved_ms <= 0 {
            self.open += 1;
            return;
        }
        let took = (e.resolved_ms - e.opened_ms).max(0);
        let slot = if tried {
            &mut self.with_ms
        } else {
            &mut self.without_ms
        };
        slot.0 += took;
        slot.1 += 1;
        if e.acknowledged_ms == 0 && actions.iter().any(|a| a.ok) {
            self.by_recovery += 1;
        } else {
            self.by_hand += 1;
        }
    }

    /// Mean seconds from opening to resolution of the resolved incidents with a try.
    pub fn mttr_with_recovery(&self) -> Option<f64> {
        mean_secs(self.with_ms)
    }

    /// The same, of those without any try.
    pub fn mttr_without_recovery(&self) -> Option<f64> {
        mean_secs(self.without_ms)
    }

    /// Incidents resolved by recovery over all incidents.
    pub fn without_person_ratio(&self) -> Option<f64> {
        (self.incidents > 0).then(|| self.by_recovery as f64 / self.incidents as f64)
    }
}

fn mean_secs((sum_ms, n): (i64, u64)) -> Option<f64> {
    (n > 0).then(|| sum_ms as f64 / 1000.0 / n as f64)
}

/// The report's groups: per action (incidents with a try of it), per service (incidents of
/// its resources, by id in `services`), and `all`.
pub fn recovery(
    incidents: &[Event],
    services: &BTreeMap<String, Vec<String>>,
    period: Period,
) -> Vec<(&'static str, String, Recovered)> {
    let mut actions: BTreeMap<String, Recovered> = BTreeMap::new();
    let mut by_service: BTreeMap<String, Recovered> = BTreeMap::new();
    let mut all = Recovered::default();
    for e in incidents
        .iter()
        .filter(|e| e.opened_ms >= period.from_ms && e.opened_ms < period.to_ms)
    {
        let runs: Vec<_> = e.actions.iter().collect();
        all.add(e, &runs);
        let mut names: Vec<&str> = runs.iter().map(|a| a.action.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            let own: Vec<_> = runs.iter().copied().filter(|a| a.action == name).collect();
            actions.entry(name.to_string()).or_default().add(e, &own);
        }
        for (service, ids) in services {
            if ids.iter().any(|id| id == &e.resource_id) {
                by_service.entry(service.clone()).or_default().add(e, &runs);
            }
        }
    }
    actions
        .into_iter()
        .map(|(n, r)| ("action", n, r))
        .chain(by_service.into_iter().map(|(n, r)| ("service", n, r)))
        .chain(std::iter::once(("all", "all".to_string(), all)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_proto::v1::ActionRun;

    fn incident(id: &str, opened: i64, resolved: i64, ack: i64, tries: &[(&str, bool)]) -> Event {
        Event {
            resource_id: id.into(),
            rule: "check:web".into(),
            opened_ms: opened,
            resolved_ms: resolved,
            acknowledged_ms: ack,
            actions: tries
                .iter()
                .enumerate()
                .map(|(i, (name, ok))| ActionRun {
                    action: name.to_string(),
                    started_ms: opened + i as i64,
                    finished_ms: opened + i as i64 + 1,
                    ok: *ok,
                    output: String::new(),
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn incidents_are_told_apart_by_who_resolved_them() {
        let period = Period {
            from_ms: 1_000,
            to_ms: 1_000_000,
        };
        let incidents = [
            // a failed try then a good one: recovered in 20 s
            incident(
                "eu/web-1",
                10_000,
                30_000,
                0,
                &[("restart-web", false), ("restart-web", true)],
            ),
            // recovered at once, 4 s
            incident("eu/web-2", 50_000, 54_000, 0, &[("restart-web", true)]),
            // tries failed, a person stepped in: by hand, 100 s
            incident(
                "eu/web-1",
                100_000,
                200_000,
                150_000,
                &[("restart-web", false)],
            ),
            // no action at all: by hand, 60 s
            incident("eu/db-1", 300_000, 360_000, 0, &[]),
            // still open
            incident("eu/db-1", 400_000, 0, 0, &[("restart-db", false)]),
            // opened before the period: left out
            incident("eu/web-1", 500, 2_000, 0, &[("restart-web", true)]),
        ];
        let mut services = BTreeMap::new();
        services.insert(
            "shop".to_string(),
            vec!["eu/web-1".to_string(), "eu/web-2".to_string()],
        );
        let rows = recovery(&incidents, &services, period);
        let names: Vec<(&str, &str)> = rows.iter().map(|(g, n, _)| (*g, n.as_str())).collect();
        assert_eq!(
            names,
            [
                ("action", "restart-db"),
                ("action", "restart-web"),
                ("service", "shop"),
                ("all", "all")
            ]
        );
        let all = &rows[3].2;
        assert_eq!(
            (
                all.incidents,
                all.with_recovery,
                all.by_recovery,
                all.by_hand,
                all.open
            ),
            (5, 4, 2, 2, 1)
        );
        assert_eq!((all.tries, all.tries_failed), (5, 3));
        // with a try: (20 + 4 + 100) / 3 s; without: 60 s
        assert!((all.mttr_with_recovery().unwrap() - 124.0 / 3.0).abs() < 1e-9);
        assert_eq!(all.mttr_without_recovery(), Some(60.0));
        assert_eq!(all.without_person_ratio(), Some(0.4));
        let web = &rows[1].2;
        assert_eq!((web.incidents, web.by_recovery, web.by_hand), (3, 2, 1));
        let shop = &rows[2].2;
        assert_eq!((shop.incidents, shop.by_recovery), (3, 2));
        assert_eq!(shop.mttr_without_recovery(), None);
        let db = &rows[0].2;
        assert_eq!(
            (db.incidents, db.open, db.without_person_ratio()),
            (1, 1, Some(0.0))
        );
    }
}
