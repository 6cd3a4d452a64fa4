//! Health of services, from the health of the resources their components select.
//!
//! A resource is down when its agent does not answer, degraded while it has an incident
//! (warning or critical), unknown while its sub-manager is unreachable; a check is down when
//! critical, degraded when warning (an HTTP probe slower than its `warn_after`), unknown when
//! unknown or unreachable. A component is down when every resource (or check) it selects is
//! down, degraded when some are down or degraded, unknown when it selects none (or some are
//! unknown), ok otherwise. A service rolls its components up
//! by its rule, then is at least degraded while a service it depends on is not ok.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Serialize;
use strata_proto::v1::{CheckState, CheckStatus, Resource, ResourceState, Severity};

use strata_proto::resource::region_of;

use super::model::{RollupKind, Selector, ServiceDef};

/// Health of a resource, component or service; ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Ok,
    Unknown,
    Degraded,
    Down,
}

impl Health {
    /// Its lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Unknown => "unknown",
            Health::Degraded => "degraded",
            Health::Down => "down",
        }
    }
}

/// The health of one resource.
pub fn resource_health(r: &Resource) -> Health {
    match r.state() {
        ResourceState::Down => Health::Down,
        ResourceState::Up => match r.severity() {
            Severity::Warning | Severity::Critical => Health::Degraded,
            _ => Health::Ok,
        },
        _ => Health::Unknown,
    }
}

/// A resource as the evaluation sees it: whether the member reporting it is healthy (when
/// not, its health is unknown), and its record.
pub type Seen<'a> = (bool, &'a Resource);

fn seen_health((healthy, r): Seen<'_>) -> Health {
    if healthy {
        resource_health(r)
    } else {
        Health::Unknown
    }
}

/// The health of one check's latest result.
pub fn check_health(c: &CheckStatus) -> Health {
    match c.state() {
        CheckState::Ok => Health::Ok,
        CheckState::Warning => Health::Degraded,
        CheckState::Critical => Health::Down,
        CheckState::Unknown => Health::Unknown,
    }
}

/// A component's health and why.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentHealth {
    pub name: String,
    pub health: Health,
    pub reason: String,
    /// Ids of the resources it selects (or whose checks it selects).
    pub resources: Vec<String>,
    /// The checks it selects, as `(resource id, check name)`.
    pub checks: Vec<(String, String)>,
}

/// A service's health and why.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceHealth {
    pub name: String,
    pub health: Health,
    pub reason: String,
    pub components: Vec<ComponentHealth>,
}

/// The health of a component whose selected parts (`what`s) have `healths`.
fn component(healths: &[Health], what: &str) -> (Health, String) {
    let count = |h: Health| healths.iter().filter(|x| **x == h).count();
    let (down, degraded, unknown) = (
        count(Health::Down),
        count(Health::Degraded),
        count(Health::Unknown),
    );
    let n = healths.len();
    if n == 0 {
        (Health::Unknown, format!("selects no {what}"))
    } else if down == n {
        (Health::Down, format!("all {n} {what}s down"))
    } else if down + degraded > 0 {
        (
            Health::Degraded,
            format!("{down} of {n} {what}s down, {degraded} degraded"),
        )
    } else if unknown > 0 {
        (Health::Unknown, format!("{unknown} of {n} {what}s unknown"))
    } else {
        (Health::Ok, String::new())
    }
}

/// Rolls `components` up by the service's rule.
fn rollup(def: &ServiceDef, components: &[ComponentHealth]) -> (Health, String) {
    let worst = components
        .iter()
        .max_by_key(|c| c.health)
        .map_or(Health::Unknown, |c| c.health);
    let not_ok: Vec<String> = components
        .iter()
        .filter(|c| c.health != Health::Ok)
        .map(|c| format!("{} {}", c.name, c.health.name()))
        .collect();
    let health = match def.rollup {
        RollupKind::Worst => worst,
        RollupKind::KOfN => {
            let k = def.k.unwrap_or(components.len());
            let ok = components.iter().filter(|c| c.health == Health::Ok).count();
            let up = components
                .iter()
                .filter(|c| matches!(c.health, Health::Ok | Health::Degraded))
                .count();
            if ok >= k {
                Health::Ok
            } else if up < k {
                Health::Down
            } else {
                Health::Degraded
            }
        }
        RollupKind::Weighted => {
            let total: f64 = def.components.iter().map(|c| c.weight).sum();
            let score: f64 = def
                .components
                .iter()
                .zip(components)
                .map(|(d, c)| {
                    d.weight
                        * match c.health {
                            Health::Ok => 1.0,
                            Health::Degraded | Health::Unknown => 0.5,
                            Health::Down => 0.0,
                        }
                })
                .sum::<f64>()
                / total.max(f64::MIN_POSITIVE);
            if score < def.down_below {
                Health::Down
            } else if score < def.degraded_below {
                Health::Degraded
            } else {
                Health::Ok
            }
        }
    };
    (health, not_ok.join(", "))
}

/// The health of every service of `defs` over `resources` and the latest results of
/// `checks`, dependencies taken into account.
pub fn evaluate(
    defs: &[ServiceDef],
    resources: &[Resource],
    checks: &[CheckStatus],
) -> BTreeMap<String, ServiceHealth> {
    let seen: Vec<Seen<'_>> = resources.iter().map(|r| (true, r)).collect();
    Evaluator::default().run(0, defs, &seen, checks)
}

/// Evaluates services again and again, keeping which resources (or checks) each component
/// selects while the definitions (their `generation`) and the set of resources and checks
/// stay the same: matching every selector against every host is the costly part, and that
/// set changes far less often than the hosts' states.
#[derive(Debug, Default)]
pub struct Evaluator {
    key: Option<(u64, u64)>,
    /// Per service, per component: indices into the resources or the checks.
    selections: Vec<Vec<Vec<usize>>>,
}

fn fingerprint(generation: u64, resources: &[Seen<'_>], checks: &[CheckStatus]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    generation.hash(&mut h);
    resources.len().hash(&mut h);
    for (_, r) in resources {
        r.id.hash(&mut h);
    }
    checks.len().hash(&mut h);
    for c in checks {
        c.resource_id.hash(&mut h);
        c.name.hash(&mut h);
    }
    h.finish()
}

impl Evaluator {
    /// The health of every service of `defs` (of definition generation `generation`).
    pub fn run(
        &mut self,
        generation: u64,
        defs: &[ServiceDef],
        resources: &[Seen<'_>],
        checks: &[CheckStatus],
    ) -> BTreeMap<String, ServiceHealth> {
        let key = fingerprint(generation, resources, checks);
        self.run_shaped((generation, key), defs, resources, checks)
    }

    /// [`Evaluator::run`] with the caller's own `key` of the definitions and of the set of
    /// resources and checks (in the same order), instead of hashing every id: the overview
    /// counts its changes of shape ([`crate::overview::Overview::shape`]).
    pub fn run_shaped(
        &mut self,
        key: (u64, u64),
        defs: &[ServiceDef],
        resources: &[Seen<'_>],
        checks: &[CheckStatus],
    ) -> BTreeMap<String, ServiceHealth> {
        if self.key != Some(key) || self.selections.len() != defs.len() {
            // each selector tests each region once and the hosts of its regions only: a full
            // scan per component was 600 million tests at 1,000 regions of 1,000 hosts
            let resource_runs = runs(resources, |r| r.1.region.as_str());
            let check_runs = runs(checks, |c| region_of(&c.resource_id));
            self.selections = defs
                .iter()
                .map(|def| {
                    def.components
                        .iter()
                        .map(|c| {
                            let selector = c.selector();
                            if selector.of_checks() {
                                pick(&check_runs, &selector, |i| {
                                    selector.selects_check(&checks[i].resource_id, &checks[i].name)
                                })
                            } else {
                                pick(&resource_runs, &selector, |i| {
                                    selector.selects(&resources[i].1.region, &resources[i].1.host)
                                })
                            }
                        })
                        .collect()
                })
                .collect();
            self.key = Some(key);
        }
        evaluate_selected(defs, &self.selections, resources, checks)
    }
}

/// The runs of consecutive `items` of one region: (region, index range).
fn runs<'a, T>(items: &'a [T], region: impl Fn(&'a T) -> &'a str) -> Vec<(&'a str, Range<usize>)> {
    let mut out: Vec<(&str, Range<usize>)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let r = region(item);
        match out.last_mut() {
            Some((last, range)) if *last == r => range.end = i + 1,
            _ => out.push((r, i..i + 1)),
        }
    }
    out
}

/// The indices, in order, of the runs whose region `selector` may select that `selects`.
fn pick(
    runs: &[(&str, Range<usize>)],
    selector: &Selector,
    selects: impl Fn(usize) -> bool,
) -> Vec<usize> {
    runs.iter()
        .filter(|(region, _)| selector.may_select_region(region))
        .flat_map(|(_, range)| range.clone())
        .filter(|&i| selects(i))
        .collect()
}

fn evaluate_selected(
    defs: &[ServiceDef],
    selections: &[Vec<Vec<usize>>],
    resources: &[Seen<'_>],
    checks: &[CheckStatus],
) -> BTreeMap<String, ServiceHealth> {
    let mut own: BTreeMap<&str, ServiceHealth> = BTreeMap::new();
    for (def, selected_by_component) in defs.iter().zip(selections) {
        let components: Vec<ComponentHealth> = def
            .components
            .iter()
            .zip(selected_by_component)
            .map(|(c, picked)| {
                if c.check.is_some() {
                    let selected: Vec<&CheckStatus> = picked.iter().map(|&i| &checks[i]).collect();
                    let healths: Vec<Health> = selected.iter().map(|k| check_health(k)).collect();
                    let (health, reason) = component(&healths, "check");
                    let mut resources: Vec<String> =
                        selected.iter().map(|k| k.resource_id.clone()).collect();
                    resources.dedup();
                    ComponentHealth {
                        name: c.name.clone(),
                        health,
                        reason,
                        resources,
                        checks: selected
                            .iter()
                            .map(|k| (k.resource_id.clone(), k.name.clone()))
                            .collect(),
                    }
                } else {
                    let selected: Vec<Seen<'_>> = picked.iter().map(|&i| resources[i]).collect();
                    let healths: Vec<Health> = selected.iter().map(|&r| seen_health(r)).collect();
                    let (health, reason) = component(&healths, "resource");
                    ComponentHealth {
                        name: c.name.clone(),
                        health,
                        reason,
                        resources: selected.iter().map(|(_, r)| r.id.clone()).collect(),
                        checks: Vec::new(),
                    }
                }
            })
            .collect();
        let (health, reason) = rollup(def, &components);
        own.insert(
            &def.name,
            ServiceHealth {
                name: def.name.clone(),
                health,
                reason,
                components,
            },
        );
    }
    // Dependencies, in an order where each comes after what it depends on (no cycles: the
    // definitions were validated).
    let by_name: BTreeMap<&str, &ServiceDef> = defs.iter().map(|d| (d.name.as_str(), d)).collect();
    let mut done: BTreeMap<String, ServiceHealth> = BTreeMap::new();
    fn settle(
        name: &str,
        by_name: &BTreeMap<&str, &ServiceDef>,
        own: &BTreeMap<&str, ServiceHealth>,
        done: &mut BTreeMap<String, ServiceHealth>,
        depth: usize,
    ) -> Health {
        if let Some(h) = done.get(name) {
            return h.health;
        }
        let Some(mut h) = own.get(name).cloned() else {
            return Health::Unknown;
        };
        if depth < by_name.len() {
            for d in by_name
                .get(name)
                .map(|s| s.depends_on.as_slice())
                .unwrap_or(&[])
            {
                let dh = settle(d, by_name, own, done, depth + 1);
                if dh > Health::Ok && h.health < Health::Degraded {
                    h.health = Health::Degraded;
                }
                if dh > Health::Ok {
                    if !h.reason.is_empty() {
                        h.reason.push_str(", ");
                    }
                    h.reason
                        .push_str(&format!("depends on {d} ({})", dh.name()));
                }
            }
        }
        let health = h.health;
        done.insert(name.to_string(), h);
        health
    }
    for name in by_name.keys() {
        settle(name, &by_name, &own, &mut done, 0);
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::model::parse_file;
    use strata_proto::ResourceId;

    fn r(region: &str, host: &str, state: ResourceState, severity: Severity) -> Resource {
        Resource {
            id: ResourceId::new(region, host).to_string(),
            region: region.into(),
            host: host.into(),
            state: state as i32,
            severity: severity as i32,
            ..Default::default()
        }
    }

    #[test]
    fn a_selector_tests_each_run_of_a_region_and_keeps_the_order() {
        let items = ["a", "a", "b", "a", "c"];
        let got = runs(&items, |s| s);
        assert_eq!(
            got,
            vec![("a", 0..2), ("b", 2..3), ("a", 3..4), ("c", 4..5)]
        );
        let defs = parse_file(
            "[[services]]\nname = 's'\n[[services.components]]\nname = 'x'\nregion = '~a|c'\n",
        )
        .unwrap();
        let selector = defs[0].components[0].selector();
        assert_eq!(pick(&got, &selector, |i| i != 1), vec![0, 3, 4]);
    }

    #[test]
    fn components_roll_up_by_rule_and_dependencies_propagate() {
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
            rollup = "k-of-n"
            k = 1
            [[services.components]]
            name = "web-west"
            region = "west"
            [[services.components]]
            name = "web-east"
            region = "east"

            [[services]]
            name = "batch"
            rollup = "weighted"
            [[services.components]]
            name = "workers"
            host = "~w-.*"
            weight = 3
            [[services.components]]
            name = "queue"
            host = "q-1"
            "#,
        )
        .unwrap();
        use ResourceState::{Down, Up};
        use Severity::{Critical, Ok};
        let mut resources = vec![
            r("core", "db-1", Up, Ok),
            r("west", "web-1", Down, Critical),
            r("east", "web-2", Up, Ok),
            r("core", "w-1", Up, Ok),
            r("core", "q-1", Down, Critical),
        ];
        let h = evaluate(&defs, &resources, &[]);
        assert_eq!(h["db"].health, Health::Ok);
        assert_eq!(
            h["shop"].health,
            Health::Ok,
            "one of two web components suffices"
        );
        assert_eq!(h["shop"].components[0].health, Health::Down);
        assert_eq!(
            h["batch"].health,
            Health::Degraded,
            "score 0.75 is below 0.9"
        );
        resources[0] = r("core", "db-1", Down, Critical);
        let h = evaluate(&defs, &resources, &[]);
        assert_eq!(h["db"].health, Health::Down);
        assert_eq!(h["shop"].health, Health::Degraded);
        assert!(
            h["shop"].reason.contains("depends on db (down)"),
            "{}",
            h["shop"].reason
        );
        resources[2] = r("east", "web-2", Up, Critical);
        let h = evaluate(&defs, &resources, &[]);
        assert_eq!(
            h["shop"].health,
            Health::Degraded,
            "no web component is ok, one is up"
        );
        resources[2] = r("east", "web-2", Down, Critical);
        let h = evaluate(&defs, &resources, &[]);
        assert_eq!(h["shop"].health, Health::Down, "no web component is up");
        assert_eq!(evaluate(&defs, &[], &[])["db"].health, Health::Unknown);
        // A kept evaluator gives the same answers, selections reused while hosts stay.
        let mut e = Evaluator::default();
        let seen = |rs: &[Resource]| -> Vec<(bool, Resource)> {
            rs.iter().map(|r| (true, r.clone())).collect()
        };
        let run = |e: &mut Evaluator, rs: &[(bool, Resource)]| {
            let refs: Vec<Seen<'_>> = rs.iter().map(|(h, r)| (*h, r)).collect();
            e.run(1, &defs, &refs, &[])
        };
        let first = run(&mut e, &seen(&resources));
        resources[2] = r("east", "web-2", Up, Ok);
        let second = run(&mut e, &seen(&resources));
        assert_eq!(first["shop"].health, Health::Down);
        assert_eq!(
            second["shop"].health,
            Health::Degraded,
            "the new state is seen"
        );
        resources.push(r("core", "db-1", Up, Ok));
        let third = run(&mut e, &seen(&resources));
        assert_eq!(
            third["db"].components[0].resources.len(),
            2,
            "a new host is selected"
        );
        // a host whose sub-manager is unreachable is unknown, whatever it last said
        let mut unreachable = seen(&resources);
        unreachable.iter_mut().for_each(|(h, _)| *h = false);
        assert_eq!(run(&mut e, &unreachable)["db"].health, Health::Unknown);
    }

    #[test]
    fn a_component_of_probes_follows_their_states() {
        let defs = parse_file(
            "[[services]]\nname = 'shop'\n[[services.components]]\nname = 'front'\n\
             check = 'shop-http'\nregion = 'west'\n",
        )
        .unwrap();
        let probe = |host: &str, state: CheckState| CheckStatus {
            resource_id: format!("west/{host}"),
            name: "shop-http".into(),
            state: state as i32,
            ..Default::default()
        };
        let other = CheckStatus {
            name: "disk".into(),
            ..probe("a", CheckState::Critical)
        };
        let run = |checks: &[CheckStatus]| evaluate(&defs, &[], checks)["shop"].clone();
        let h = run(&[
            probe("a", CheckState::Ok),
            probe("b", CheckState::Ok),
            other.clone(),
        ]);
        assert_eq!(h.health, Health::Ok, "another check is not selected");
        assert_eq!(h.components[0].checks.len(), 2);
        let h = run(&[probe("a", CheckState::Warning), probe("b", CheckState::Ok)]);
        assert_eq!(h.health, Health::Degraded);
        let h = run(&[
            probe("a", CheckState::Critical),
            probe("b", CheckState::Critical),
        ]);
        assert_eq!(
            (h.health, h.components[0].reason.as_str()),
            (Health::Down, "all 2 checks down")
        );
        assert_eq!(run(&[]).health, Health::Unknown);
    }
}
