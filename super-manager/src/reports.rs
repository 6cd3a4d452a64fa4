//! Reports over a period: availability, performance, failure, operations, audit,
//! comparison and capacity.
//!
//! Every report is a [`Table`] (columns and rows), so that every kind downloads as CSV the
//! same way. The kinds, with the parameters each reads beside `period` (or
//! `from_ms`/`to_ms`, see [`crate::period`]):
//! - `availability` (`service`): per service, from the health timeline: availability,
//!   time down, degraded and unknown, minutes lost, error budget left.
//! - `performance` (`service`): per service (or per probe of one service) from the QoS
//!   rollups: runs, error rate, response-time percentiles and mean phases.
//! - `failure` (`service`): per resource, from the incidents: incidents, critical, still
//!   open, time impaired, MTTR, MTBF; and a total row.
//! - `operations`: per day: incidents opened and resolved, service health changes and
//!   definition changes.
//! - `audit`: every change made through the API, login and recovery action: who, from
//!   where, what, the outcome; `who=`, `action=`, `subject=` keep the rows containing them.
//! - `comparison` (`resources` or `service`, `metric`, `label.<name>`): per resource, the
//!   metric's min, avg, p95, max and last, read from the regions.
//! - `capacity` (`resources` or `service`, `limit`): per resource, CPU, memory, filesystem
//!   and network forecasts (Holt-Winters with a daily or weekly season where it predicts
//!   better than the line, with both errors) and when they reach the limit.
//! - `recovery` (`service`): per action, per service and over all, the incidents resolved
//!   by automatic recovery and by hand, tries, times to recover with and without a try,
//!   and the share that never needed a person.

mod capacity;
pub mod deliver;
pub mod failure;
pub mod recovery;
mod regions;
pub mod schedule;
pub mod seasonal;
pub mod table;
pub mod trend;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::catalog::probes_of;
use crate::error::{Result, SuperManagerError};
use crate::overview::Overview;
use crate::period::Period;
use crate::services::maintenance::stretches;
use crate::services::timeline::report;
use crate::shared::Shared;

pub use table::Table;

/// The report kinds, as the API names them.
pub use crate::config::reports::REPORT_KINDS as KINDS;

const DAY_MS: i64 = 86_400_000;

fn secs(v: f64) -> Value {
    json!((v * 1000.0).round() / 1000.0)
}

fn opt(v: Option<f64>) -> Value {
    v.map_or(Value::Null, secs)
}

/// The report `kind` as the parameters `q` ask (see the module's documentation).
pub async fn table(shared: Arc<Shared>, kind: &str, q: &HashMap<String, String>) -> Result<Table> {
    let now = strata_proto::now_ms();
    let period =
        crate::period::from_query(q, now, 30 * DAY_MS).map_err(SuperManagerError::BadRequest)?;
    if let Some(name) = q.get("service")
        && shared.services.get(name).is_none()
    {
        return Err(SuperManagerError::BadRequest(format!(
            "service: no service '{name}'"
        )));
    }
    let service = q.get("service").map(String::as_str);
    let table = match kind {
        "availability" => availability(&shared, service, period)?,
        "performance" => {
            let shared = shared.clone();
            let service = service.map(String::from);
            tokio::task::spawn_blocking(move || {
                performance(&shared, service.as_deref(), period, now)
            })
            .await
            .map_err(|e| SuperManagerError::Internal(format!("performance report: {e}")))??
        }
        "failure" => failures(&shared, service, period),
        "operations" => operations(&shared, period)?,
        "audit" => audit(&shared, q, period)?,
        "comparison" => regions::comparison(&shared, q, period).await?,
        "capacity" => capacity::capacity(&shared, q, period, now).await?,
        "recovery" => recoveries(&shared, service, period),
        other => {
            return Err(SuperManagerError::NotFound(format!(
                "no report '{other}': the kinds are {}",
                KINDS.join(", ")
            )));
        }
    };
    Ok(table)
}

fn store_error(e: impl std::fmt::Display) -> SuperManagerError {
    SuperManagerError::Internal(format!("reading the super-manager's store: {e}"))
}

fn availability(shared: &Shared, service: Option<&str>, period: Period) -> Result<Table> {
    let mut t = Table::new(
        "availability",
        period,
        &[
            "service",
            "objective",
            "availability",
            "down_seconds",
            "degraded_seconds",
            "unknown_seconds",
            "maintenance_seconds",
            "lost_minutes",
            "budget_remaining",
            "outages",
        ],
    );
    for v in shared.services.all() {
        if service.is_some_and(|s| s != v.def.name) {
            continue;
        }
        let spans = shared
            .services
            .spans(&v.def.name, period.from_ms, period.to_ms)
            .map_err(|e| store_error(format!("{e:?}")))?;
        let r = report(
            &v.def.name,
            &spans,
            (period.from_ms, period.to_ms),
            v.def.slo.as_ref().map(|s| s.objective),
            &stretches(&v.def.maintenance, period.from_ms, period.to_ms),
        );
        t.push([
            ("service", json!(r.service)),
            ("objective", json!(r.objective)),
            ("availability", json!(r.availability)),
            ("down_seconds", secs(r.down_seconds)),
            ("degraded_seconds", secs(r.degraded_seconds)),
            ("unknown_seconds", secs(r.unknown_seconds)),
            ("maintenance_seconds", secs(r.maintenance_seconds)),
            ("lost_minutes", json!(r.lost_minutes)),
            ("budget_remaining", json!(r.budget_remaining)),
            ("outages", json!(r.outages.len())),
        ]);
    }
    Ok(t)
}

const PHASES: [&str; 5] = ["resolve", "connect", "tls", "processing", "transfer"];

fn performance(shared: &Shared, service: Option<&str>, period: Period, now: i64) -> Result<Table> {
    let mut columns = vec!["service", "probe", "probes", "runs", "error_rate", "p50_ms"];
    columns.extend(["p90_ms", "p99_ms"]);
    let phase_cols: Vec<String> = PHASES.iter().map(|p| format!("{p}_ms")).collect();
    columns.extend(phase_cols.iter().map(String::as_str));
    let mut t = Table::new("performance", period, &columns);
    let known = shared.qos.probes();
    for v in shared.services.all() {
        if service.is_some_and(|s| s != v.def.name) {
            continue;
        }
        let probes = probes_of(&v.def, known.clone());
        // one row per probe when a single service is asked about, then its total
        let mut groups: Vec<(String, Vec<crate::qos::Probe>)> = Vec::new();
        if service.is_some() {
            for p in &probes {
                groups.push((format!("{}/{}", p.resource_id, p.check), vec![p.clone()]));
            }
        }
        groups.push((String::new(), probes));
        for (label, probes) in groups {
            let n = probes.len();
            let qos = shared
                .qos
                .query(
                    probes,
                    period.from_ms,
                    period.to_ms,
                    period.to_ms - period.from_ms,
                    now,
                )
                .map_err(store_error)?;
            let s = qos.summary;
            let mut row: serde_json::Map<String, Value> = [
                ("service", json!(v.def.name)),
                (
                    "probe",
                    if label.is_empty() {
                        json!("all")
                    } else {
                        json!(label)
                    },
                ),
                ("probes", json!(n)),
                ("runs", json!(s.runs)),
                ("error_rate", json!(s.error_rate)),
                ("p50_ms", json!(s.p50_ms)),
                ("p90_ms", json!(s.p90_ms)),
                ("p99_ms", json!(s.p99_ms)),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            for (phase, col) in PHASES.iter().zip(&phase_cols) {
                row.insert(col.clone(), json!(s.phases_ms.get(*phase)));
            }
            t.rows.push(row);
        }
    }
    Ok(t)
}

/// The ids of the resources `service` is made of (its hosts and its probes' hosts), or of
/// every resource known.
fn scope(shared: &Shared, service: Option<&str>) -> Vec<String> {
    let mut ids = BTreeSet::new();
    match service {
        Some(name) => {
            let health = shared
                .service_health
                .read()
                .expect("service health lock poisoned")
                .clone();
            if let Some(h) = health.get(name) {
                for c in &h.components {
                    ids.extend(c.resources.iter().cloned());
                    ids.extend(c.checks.iter().map(|(r, _)| r.clone()));
                }
            }
        }
        None => {
            ids.extend(
                Overview::all_resources_of(&shared.overview)
                    .into_iter()
                    .map(|r| r.id),
            );
        }
    }
    ids.into_iter().collect()
}

fn failures(shared: &Shared, service: Option<&str>, period: Period) -> Table {
    let scope = scope(shared, service);
    let incidents = shared
        .overview
        .read()
        .expect("overview lock poisoned")
        .incident_events(period.from_ms);
    let (rows, total) = failure::failures(&incidents, &scope, period);
    let mut t = Table::new(
        "failure",
        period,
        &[
            "resource",
            "incidents",
            "critical",
            "open",
            "impaired_seconds",
            "mttr_seconds",
            "mtbf_seconds",
        ],
    );
    let all = ("all".to_string(), total);
    for (id, f) in rows.into_iter().chain(std::iter::once(all)) {
        t.push([
            ("resource", json!(id)),
            ("incidents", json!(f.incidents)),
            ("critical", json!(f.critical)),
            ("open", json!(f.open)),
            ("impaired_seconds", secs(f.impaired_seconds)),
            ("mttr_seconds", opt(f.mttr_seconds)),
            ("mtbf_seconds", opt(f.mtbf_seconds)),
        ]);
    }
    t
}

fn recoveries(shared: &Shared, service: Option<&str>, period: Period) -> Table {
    let incidents = shared
        .overview
        .read()
        .expect("overview lock poisoned")
        .incident_events(period.from_ms);
    let names: Vec<String> = match service {
        Some(s) => vec![s.to_string()],
        None => shared
            .service_health
            .read()
            .expect("service health lock poisoned")
            .keys()
            .cloned()
            .collect(),
    };
    let services: BTreeMap<String, Vec<String>> = names
        .into_iter()
        .map(|n| {
            let ids = scope(shared, Some(&n));
            (n, ids)
        })
        .collect();
    let mut t = Table::new(
        "recovery",
        period,
        &[
            "group",
            "name",
            "incidents",
            "with_recovery",
            "resolved_by_recovery",
            "resolved_by_hand",
            "open",
            "tries",
            "tries_failed",
            "mttr_with_recovery_seconds",
            "mttr_without_recovery_seconds",
            "without_person_ratio",
        ],
    );
    for (group, name, r) in recovery::recovery(&incidents, &services, period) {
        // with a service asked for, its row and nothing of other resources
        if service.is_some() && group != "service" {
            continue;
        }
        t.push([
            ("group", json!(group)),
            ("name", json!(name)),
            ("incidents", json!(r.incidents)),
            ("with_recovery", json!(r.with_recovery)),
            ("resolved_by_recovery", json!(r.by_recovery)),
            ("resolved_by_hand", json!(r.by_hand)),
            ("open", json!(r.open)),
            ("tries", json!(r.tries)),
            ("tries_failed", json!(r.tries_failed)),
            ("mttr_with_recovery_seconds", opt(r.mttr_with_recovery())),
            (
                "mttr_without_recovery_seconds",
                opt(r.mttr_without_recovery()),
            ),
            (
                "without_person_ratio",
                r.without_person_ratio().map_or(Value::Null, |v| json!(v)),
            ),
        ]);
    }
    t
}

fn day_of(ms: i64) -> String {
    let (y, m, d) = crate::period::civil_from_days(ms.div_euclid(DAY_MS));
    format!("{y:04}-{m:02}-{d:02}")
}

fn operations(shared: &Shared, period: Period) -> Result<Table> {
    #[derive(Default)]
    struct Day {
        opened: u64,
        resolved: u64,
        health_changes: u64,
        definition_changes: u64,
    }
    let mut days: BTreeMap<String, Day> = BTreeMap::new();
    let mut d = period.from_ms.div_euclid(DAY_MS) * DAY_MS;
    while d < period.to_ms {
        days.insert(day_of(d), Day::default());
        d += DAY_MS;
    }
    let within = |t: i64| (period.from_ms..period.to_ms).contains(&t);
    let incidents = shared
        .overview
        .read()
        .expect("overview lock poisoned")
        .incident_events(period.from_ms);
    for e in &incidents {
        if within(e.opened_ms) {
            days.entry(day_of(e.opened_ms)).or_default().opened += 1;
        }
        if e.resolved_ms > 0 && within(e.resolved_ms) {
            days.entry(day_of(e.resolved_ms)).or_default().resolved += 1;
        }
    }
    for v in shared.services.all() {
        let spans = shared
            .services
            .spans(&v.def.name, period.from_ms, period.to_ms)
            .map_err(|e| store_error(format!("{e:?}")))?;
        for s in spans.iter().skip(1) {
            days.entry(day_of(s.from_ms)).or_default().health_changes += 1;
        }
    }
    let changes = shared
        .services
        .audit(period.from_ms, period.to_ms)
        .map_err(|e| store_error(format!("{e:?}")))?;
    for a in changes {
        days.entry(day_of(a.at_ms)).or_default().definition_changes += 1;
    }
    let mut t = Table::new(
        "operations",
        period,
        &[
            "day",
            "incidents_opened",
            "incidents_resolved",
            "service_health_changes",
            "definition_changes",
        ],
    );
    for (day, d) in days {
        t.push([
            ("day", json!(day)),
            ("incidents_opened", json!(d.opened)),
            ("incidents_resolved", json!(d.resolved)),
            ("service_health_changes", json!(d.health_changes)),
            ("definition_changes", json!(d.definition_changes)),
        ]);
    }
    Ok(t)
}

/// The audit log over `period`, kept to the rows whose `who`, `action` and `subject` contain
/// what `q` gives for them (each optional).
fn audit(shared: &Shared, q: &HashMap<String, String>, period: Period) -> Result<Table> {
    let wants = |field: &str, value: &str| q.get(field).is_none_or(|w| value.contains(w.as_str()));
    let mut t = Table::new(
        "audit",
        period,
        &[
            "at_ms", "who", "address", "action", "subject", "outcome", "detail",
        ],
    );
    for a in shared
        .services
        .audit(period.from_ms, period.to_ms)
        .map_err(|e| store_error(format!("{e:?}")))?
        .into_iter()
        .filter(|a| {
            wants("who", &a.who) && wants("action", &a.action) && wants("subject", &a.subject)
        })
    {
        t.push([
            ("at_ms", json!(a.at_ms)),
            ("who", json!(a.who)),
            ("address", json!(a.address)),
            ("action", json!(a.action)),
            ("subject", json!(a.subject)),
            ("outcome", json!(a.outcome)),
            ("detail", json!(a.detail)),
        ]);
    }
    Ok(t)
}
