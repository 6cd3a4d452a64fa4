//! Root cause: when a service is not ok, which hosts most likely are why, each with the
//! evidence that ranked it.
//!
//! Candidates are the hosts the service's components select, then those of the services it
//! depends on (transitively, each edge further away weighing less), and the hosts whose
//! checks make up its probe components. Evidence, from the centre's own state: a host down,
//! its open incidents (critical over warning), and how recently they opened within the
//! window — a cause starts before, or with, what it causes. A probe's failure is a symptom of
//! the service, not evidence against the host that runs the probe. Metric baselines are not
//! used yet.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use strata_proto::v1::{CheckStatus, Event, Resource, ResourceState, Severity};

use super::baseline::Shift;
use super::health::{Health, check_health};
use super::model::ServiceDef;

/// Weight of a cause found through one more dependency edge.
const PER_EDGE: f64 = 0.7;

/// A candidate cause.
#[derive(Debug, Clone, Serialize)]
pub struct Cause {
    pub resource_id: String,
    pub score: f64,
    /// How the service reaches it: `service/component` along dependencies.
    pub via: String,
    pub evidence: Vec<String>,
}

/// What the service shows.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub service: String,
    pub from_ms: i64,
    pub to_ms: i64,
    /// What is wrong with the service itself: failing probes, components not ok.
    pub symptoms: Vec<String>,
    /// Best first; hosts without evidence are left out.
    pub causes: Vec<Cause>,
}

/// The inputs: every definition, the merged resources, check results and incidents (open
/// ones and those resolved recently).
pub struct Inputs<'a> {
    pub defs: &'a [ServiceDef],
    pub resources: &'a [Resource],
    pub checks: &'a [CheckStatus],
    pub incidents: &'a [Event],
    /// Metrics of candidate hosts that left their baseline, by resource id.
    pub shifts: &'a BTreeMap<String, Vec<Shift>>,
}

fn score_resource(
    r: &Resource,
    incidents: &[&Event],
    from_ms: i64,
    to_ms: i64,
) -> (f64, Vec<String>) {
    let mut score = 0.0;
    let mut evidence = Vec::new();
    if r.state() == ResourceState::Down {
        score += 100.0;
        evidence.push(format!("down: {}", r.reason));
    }
    for e in incidents {
        let weight = match e.severity() {
            Severity::Critical => 50.0,
            Severity::Warning => 20.0,
            _ => 5.0,
        };
        // Incidents that opened within the window weigh more, the earliest most: a cause
        // comes first.
        let recency = if e.opened_ms >= from_ms && e.opened_ms <= to_ms {
            let span = (to_ms - from_ms).max(1) as f64;
            1.0 + (to_ms - e.opened_ms) as f64 / span
        } else {
            0.5
        };
        let resolved = e.resolved_ms > 0;
        let s = weight * recency * if resolved { 0.3 } else { 1.0 };
        score += s;
        evidence.push(format!(
            "{} {} incident{} opened at {}{}: {}",
            strata_proto::names::severity_name(e.severity()),
            e.rule,
            if resolved { " (resolved)" } else { "" },
            e.opened_ms,
            if e.opened_ms >= from_ms {
                ", within the window"
            } else {
                ""
            },
            e.message
        ));
    }
    (score, evidence)
}

/// Candidate causes by resource id: the weight of the path to each, and that path.
pub type Candidates = BTreeMap<String, (f64, String)>;

/// The hosts that may cause `service`'s state, each with the weight of the path to it and
/// that path (`service/component`); and the service's symptoms. None for an unknown service.
pub fn candidates(service: &str, inputs: &Inputs<'_>) -> Option<(Candidates, Vec<String>)> {
    let by_name: BTreeMap<&str, &ServiceDef> =
        inputs.defs.iter().map(|d| (d.name.as_str(), d)).collect();
    by_name.get(service)?;
    let mut symptoms = Vec::new();
    // (resource id) -> (best weight, via)
    let mut candidates: BTreeMap<String, (f64, String)> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    let mut frontier = vec![(service.to_string(), 1.0)];
    while let Some((name, weight)) = frontier.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let Some(def) = by_name.get(name.as_str()) else {
            continue;
        };
        for c in &def.components {
            let selector = c.selector();
            let via = format!("{name}/{}", c.name);
            let mut add = |id: &str| {
                let entry = candidates
                    .entry(id.to_string())
                    .or_insert((weight, via.clone()));
                if weight > entry.0 {
                    *entry = (weight, via.clone());
                }
            };
            if selector.of_checks() {
                for k in inputs
                    .checks
                    .iter()
                    .filter(|k| selector.selects_check(&k.resource_id, &k.name))
                {
                    if name == service && check_health(k) != Health::Ok {
                        symptoms.push(format!(
                            "{} {} on {}: {}",
                            k.kind, k.name, k.resource_id, k.message
                        ));
                    }
                    add(&k.resource_id);
                }
            } else {
                for r in inputs
                    .resources
                    .iter()
                    .filter(|r| selector.selects(&r.region, &r.host))
                {
                    add(&r.id);
                }
            }
        }
        for d in &def.depends_on {
            frontier.push((d.clone(), weight * PER_EDGE));
        }
    }
    Some((candidates, symptoms))
}

/// Kinds of checks that probe something else (the result is about the target, not the
/// host that runs the probe).
const PROBE_KINDS: &[&str] = &["http", "tcp", "dns", "smtp"];

/// Whether an incident is a probe's result: a symptom of what it probes, never evidence
/// against the prober.
fn probe_result(e: &Event) -> bool {
    e.rule.starts_with("check/")
        && e.labels
            .iter()
            .any(|l| l.name == "kind" && PROBE_KINDS.contains(&l.value.as_str()))
}

/// Ranks the causes of `service`'s state over `[from_ms, to_ms]`.
pub fn analyse(service: &str, inputs: &Inputs<'_>, from_ms: i64, to_ms: i64) -> Option<Analysis> {
    let (candidates, symptoms) = candidates(service, inputs)?;
    let resources: BTreeMap<&str, &Resource> = inputs
        .resources
        .iter()
        .map(|r| (r.id.as_str(), r))
        .collect();
    let mut causes: Vec<Cause> = candidates
        .into_iter()
        .filter_map(|(id, (weight, via))| {
            let r = resources.get(id.as_str())?;
            let incidents: Vec<&Event> = inputs
                .incidents
                .iter()
                .filter(|e| e.resource_id == id && (e.resolved_ms == 0 || e.resolved_ms >= from_ms))
                .filter(|e| !probe_result(e))
                .collect();
            let (mut score, mut evidence) = score_resource(r, &incidents, from_ms, to_ms);
            for shift in inputs.shifts.get(&id).into_iter().flatten() {
                score += super::baseline::score(shift);
                evidence.push(super::baseline::describe(shift));
            }
            (score > 0.0).then_some(Cause {
                resource_id: id,
                score: score * weight,
                via,
                evidence,
            })
        })
        .collect();
    causes.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.resource_id.cmp(&b.resource_id))
    });
    Some(Analysis {
        service: service.to_string(),
        from_ms,
        to_ms,
        symptoms,
        causes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::model::parse_file;
    use strata_proto::v1::CheckState;

    fn host(id: &str, state: ResourceState) -> Resource {
        let (region, host) = id.split_once('/').unwrap();
        Resource {
            id: id.into(),
            region: region.into(),
            host: host.into(),
            state: state as i32,
            reason: "agent does not answer".into(),
            ..Default::default()
        }
    }

    fn incident(id: &str, rule: &str, severity: Severity, opened_ms: i64) -> Event {
        Event {
            id: format!("{id}/{rule}/{opened_ms}"),
            resource_id: id.into(),
            rule: rule.into(),
            severity: severity as i32,
            opened_ms,
            ..Default::default()
        }
    }

    #[test]
    fn the_host_down_within_the_window_comes_first_and_the_prober_is_not_blamed() {
        let defs = parse_file(
            r#"
            [[services]]
            name = "db"
            [[services.components]]
            name = "primary"
            host = "db-1"
            [[services]]
            name = "shop"
            depends_on = ["db"]
            [[services.components]]
            name = "front"
            check = "shop-http"
            [[services.components]]
            name = "app"
            host = "~app-.*"
            "#,
        )
        .unwrap();
        use ResourceState::{Down, Up};
        let resources = vec![
            host("w/prober", Up),
            host("w/app-1", Down),
            host("w/app-2", Up),
            host("w/db-1", Up),
        ];
        let checks = vec![CheckStatus {
            resource_id: "w/prober".into(),
            name: "shop-http".into(),
            kind: "http".into(),
            state: CheckState::Critical as i32,
            message: "connection refused".into(),
            ..Default::default()
        }];
        let incidents = vec![
            incident("w/app-1", "reachable", Severity::Critical, 9_000),
            // an old warning on app-2, from long before
            incident("w/app-2", "cpu", Severity::Warning, 1_000),
            // a critical incident on the database the shop depends on, opened later
            incident("w/db-1", "memory", Severity::Critical, 9_500),
            // the probe's own result, an incident of the prober's: a symptom, not evidence
            Event {
                labels: vec![strata_proto::labels::label("kind", "http")],
                ..incident("w/prober", "check/shop-http", Severity::Critical, 9_100)
            },
        ];
        let no_shifts = BTreeMap::new();
        let inputs = Inputs {
            defs: &defs,
            resources: &resources,
            checks: &checks,
            incidents: &incidents,
            shifts: &no_shifts,
        };
        let a = analyse("shop", &inputs, 5_000, 10_000).unwrap();
        let order: Vec<&str> = a.causes.iter().map(|c| c.resource_id.as_str()).collect();
        assert_eq!(order, vec!["w/app-1", "w/db-1", "w/app-2"], "{a:?}");
        assert_eq!(a.causes[0].via, "shop/app");
        assert_eq!(a.causes[1].via, "db/primary");
        assert!(a.causes[0].evidence[0].starts_with("down"), "{a:?}");
        assert!(
            !order.contains(&"w/prober"),
            "the probe's host has no evidence of its own"
        );
        assert_eq!(
            a.symptoms,
            vec!["http shop-http on w/prober: connection refused"]
        );
        assert!(analyse("nowhere", &inputs, 0, 1).is_none());

        // app-2's CPU left its baseline within the window, moving with the response time:
        // it ranks above the database's incident (one edge away), still below app-1 (down)
        let shift = Shift {
            metric: "host_cpu_usage_ratio".into(),
            labels: "cpu=total".into(),
            baseline: 0.2,
            spread: 0.01,
            now: 0.9,
            z: 70.0,
            correlation: Some(0.95),
        };
        let shifts: BTreeMap<String, Vec<Shift>> = [("w/app-2".to_string(), vec![shift])].into();
        let inputs = Inputs {
            shifts: &shifts,
            ..inputs
        };
        let a = analyse("shop", &inputs, 5_000, 10_000).unwrap();
        let order: Vec<&str> = a.causes.iter().map(|c| c.resource_id.as_str()).collect();
        assert_eq!(order, vec!["w/app-1", "w/app-2", "w/db-1"], "{a:?}");
        assert!(
            a.causes[1]
                .evidence
                .iter()
                .any(|e| e.contains("moving with the response time"))
        );
    }
}
