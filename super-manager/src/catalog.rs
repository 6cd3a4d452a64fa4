//! The questions asked about business services, answered from the centre's own state: the
//! list with each service's health, one service drilled down to its components and their
//! resources (with their open incidents), its versions, its SLA over a period, its QoS and
//! its SLO's error budget and burn-rate alerts. The REST and gRPC adapters both answer with
//! these.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Serialize;
use strata_proto::names::{check_state_name, severity_name, state_name};
use strata_proto::v1::CheckStatus;
use strata_web::views::EventJson;

use crate::error::{Result, SuperManagerError};
use crate::overview::Overview;
use crate::period::{self, Period};
use crate::qos::{Probe, Qos};
use crate::services::health::{Health, ServiceHealth, check_health, evaluate, resource_health};
use crate::services::maintenance::stretches;
use crate::services::model::{ComponentDef, RollupKind, ServiceDef};
use crate::services::slo::{self, Alert};
use crate::services::timeline::{SlaReport, report};
use crate::services::{Refused, Versioned};
use crate::shared::Shared;

/// One service in the list.
#[derive(Debug, Serialize)]
pub struct ServiceSummary {
    pub name: String,
    pub description: String,
    pub version: u64,
    pub health: Health,
    pub reason: String,
    pub depends_on: Vec<String>,
    pub components: Vec<ComponentSummary>,
}

/// One component in the list.
#[derive(Debug, Serialize)]
pub struct ComponentSummary {
    pub name: String,
    pub health: Health,
    pub reason: String,
    pub resources: usize,
}

/// A resource of a drilled-down component.
#[derive(Debug, Serialize)]
pub struct ResourceView {
    pub id: String,
    pub region: String,
    pub host: String,
    pub state: &'static str,
    pub severity: &'static str,
    pub health: Health,
    pub owner: String,
    pub reason: String,
    pub last_poll_ms: i64,
    pub incidents: Vec<EventJson>,
}

/// A check of a drilled-down component.
#[derive(Debug, Serialize)]
pub struct CheckView {
    pub resource_id: String,
    pub name: String,
    pub kind: String,
    pub state: &'static str,
    pub health: Health,
    pub message: String,
    pub ts_ms: i64,
    pub duration_seconds: f64,
}

/// A drilled-down component.
#[derive(Debug, Serialize)]
pub struct ComponentView {
    #[serde(flatten)]
    pub def: ComponentDef,
    pub health: Health,
    pub reason: String,
    /// The checks it is made of (components with a `check` selector).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckView>,
    pub resources: Vec<ResourceView>,
}

/// A drilled-down service.
#[derive(Debug, Serialize)]
pub struct ServiceView {
    pub name: String,
    pub description: String,
    pub version: u64,
    pub changed_ms: i64,
    pub source: String,
    pub rollup: RollupKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub k: Option<usize>,
    pub depends_on: Vec<String>,
    pub health: Health,
    pub reason: String,
    pub components: Vec<ComponentView>,
}

/// The refusal of a question about service `name`, which does not exist.
fn unknown(name: &str) -> SuperManagerError {
    Refused::NotFound(name.to_string()).into()
}

/// Service `name`'s definition, or the refusal naming it.
fn service(shared: &Shared, name: &str) -> Result<Versioned> {
    shared.services.get(name).ok_or_else(|| unknown(name))
}

/// Every service's health as last evaluated, or evaluated now if a definition changed since
/// (or nothing was evaluated yet).
pub(crate) fn healths(shared: &Shared) -> BTreeMap<String, ServiceHealth> {
    let cached = shared
        .service_health
        .read()
        .expect("service health lock poisoned")
        .clone();
    let defs = shared.services.defs();
    let current = defs.len() == cached.len() && defs.iter().all(|d| cached.contains_key(&d.name));
    if current {
        return (*cached).clone();
    }
    let resources = Overview::all_resources_of(&shared.overview);
    let checks = shared
        .overview
        .read()
        .expect("overview lock poisoned")
        .all_checks();
    evaluate(&defs, &resources, &checks)
}

/// Every service with its health and its components'.
pub fn list(shared: &Shared) -> Vec<ServiceSummary> {
    let mut healths = healths(shared);
    shared
        .services
        .all()
        .into_iter()
        .filter_map(|v| {
            let h = healths.remove(&v.def.name)?;
            Some(ServiceSummary {
                name: v.def.name,
                description: v.def.description,
                version: v.version,
                health: h.health,
                reason: h.reason,
                depends_on: v.def.depends_on,
                components: h
                    .components
                    .into_iter()
                    .map(|c| ComponentSummary {
                        name: c.name,
                        health: c.health,
                        reason: c.reason,
                        resources: c.resources.len(),
                    })
                    .collect(),
            })
        })
        .collect()
}

/// Service `name` drilled down: its components, their checks and resources (with their open
/// incidents).
pub fn detail(shared: &Shared, name: &str) -> Result<ServiceView> {
    let Versioned {
        version,
        changed_ms,
        source,
        def,
        ..
    } = service(shared, name)?;
    let h = healths(shared).remove(name).ok_or_else(|| unknown(name))?;
    let overview = shared.overview.read().expect("overview lock poisoned");
    let wanted: Vec<&str> = h
        .components
        .iter()
        .flat_map(|c| c.resources.iter().map(String::as_str))
        .collect();
    let resources = overview.resources_by_id(&wanted);
    let wanted_checks: Vec<(&str, &str)> = h
        .components
        .iter()
        .flat_map(|c| c.checks.iter().map(|(r, n)| (r.as_str(), n.as_str())))
        .collect();
    let checks = overview.checks_of(&wanted_checks);
    let checks_by_id: HashMap<(&str, &str), &CheckStatus> = checks
        .iter()
        .map(|c| ((c.resource_id.as_str(), c.name.as_str()), c))
        .collect();
    let by_id: HashMap<&str, &strata_proto::v1::Resource> =
        resources.iter().map(|r| (r.id.as_str(), r)).collect();
    let components = def
        .components
        .iter()
        .cloned()
        .zip(h.components)
        .map(|(cdef, ch)| ComponentView {
            def: cdef,
            health: ch.health,
            reason: ch.reason,
            checks: ch
                .checks
                .iter()
                .filter_map(|(r, n)| checks_by_id.get(&(r.as_str(), n.as_str())))
                .map(|c| CheckView {
                    resource_id: c.resource_id.clone(),
                    name: c.name.clone(),
                    kind: c.kind.clone(),
                    state: check_state_name(c.state()),
                    health: check_health(c),
                    message: c.message.clone(),
                    ts_ms: c.ts_ms,
                    duration_seconds: c.duration_seconds,
                })
                .collect(),
            resources: ch
                .resources
                .iter()
                .filter_map(|id| by_id.get(id.as_str()))
                .map(|r| ResourceView {
                    id: r.id.clone(),
                    region: r.region.clone(),
                    host: r.host.clone(),
                    state: state_name(r.state()),
                    severity: severity_name(r.severity()),
                    health: resource_health(r),
                    owner: r.owner.clone(),
                    reason: r.reason.clone(),
                    last_poll_ms: r.last_poll_ms,
                    incidents: overview.incidents_of(&r.id),
                })
                .collect(),
        })
        .collect();
    Ok(ServiceView {
        name: def.name,
        description: def.description,
        version,
        changed_ms,
        source,
        rollup: def.rollup,
        k: def.k,
        depends_on: def.depends_on,
        health: h.health,
        reason: h.reason,
        components,
    })
}

/// Every stored version of service `name`, oldest first.
pub fn versions(shared: &Shared, name: &str) -> Result<Vec<Versioned>> {
    let v = shared.services.versions(name)?;
    if v.is_empty() {
        return Err(unknown(name));
    }
    Ok(v)
}

/// Service `name`'s availability, time down (and in whole minutes), error budget and
/// outages over the period `q` names (`period`, or `from_ms`/`to_ms`; default: the SLO
/// window, or the last 30 days, ending now).
pub fn sla(shared: &Shared, name: &str, q: &HashMap<String, String>) -> Result<SlaReport> {
    let v = service(shared, name)?;
    let window_ms = v
        .def
        .slo
        .as_ref()
        .map_or(30 * 86_400_000, |s| s.window.as_millis() as i64);
    let Period { from_ms, to_ms } = period::from_query(q, strata_proto::now_ms(), window_ms)
        .map_err(SuperManagerError::BadRequest)?;
    let spans = shared.services.spans(name, from_ms, to_ms)?;
    let objective = v.def.slo.as_ref().map(|s| s.objective);
    let planned = stretches(&v.def.maintenance, from_ms, to_ms);
    Ok(report(name, &spans, (from_ms, to_ms), objective, &planned))
}

/// The probes of the QoS store that `def`'s components select (now or ever: a probe gone
/// since still counts for the periods it ran).
pub fn probes_of(def: &ServiceDef, known: Vec<Probe>) -> Vec<Probe> {
    let selectors: Vec<_> = def
        .components
        .iter()
        .map(ComponentDef::selector)
        .filter(|s| s.of_checks())
        .collect();
    known
        .into_iter()
        .filter(|p| {
            selectors
                .iter()
                .any(|s| s.selects_check(&p.resource_id, &p.check))
        })
        .collect()
}

/// Response-time percentiles, mean phases and error rate of service `name`'s probes, over
/// the period `q` names and step by step (`step_ms`; default: the last hour, by minute).
pub async fn qos(shared: Arc<Shared>, name: &str, q: &HashMap<String, String>) -> Result<Qos> {
    let v = service(&shared, name)?;
    let now = strata_proto::now_ms();
    let period = period::from_query(q, now, 3_600_000).map_err(SuperManagerError::BadRequest)?;
    let step_ms: i64 = match q.get("step_ms") {
        None => 0,
        Some(s) => s.parse().ok().filter(|s| *s >= 0).ok_or_else(|| {
            SuperManagerError::BadRequest(format!("step_ms: '{s}' is not a number of milliseconds"))
        })?,
    };
    let probes = probes_of(&v.def, shared.qos.probes());
    let failed = |e: &dyn std::fmt::Display| {
        SuperManagerError::Internal(format!("QoS query of {name}: {e}"))
    };
    tokio::task::spawn_blocking(move || {
        shared
            .qos
            .query(probes, period.from_ms, period.to_ms, step_ms, now)
    })
    .await
    .map_err(|e| failed(&e))?
    .map_err(|e| failed(&e))
}

/// A service's SLO: the objective, the error budget left over its window, and the burn
/// rates of the multi-window alerts, with whether each fires (fields in alphabetical order,
/// as the JSON map it once was wrote them).
#[derive(Debug, Serialize)]
pub struct SloView {
    pub alerts: Vec<Alert>,
    pub availability: f64,
    pub budget_remaining: Option<f64>,
    pub error_budget_seconds: Option<f64>,
    pub objective: f64,
    pub service: String,
    pub window_ms: i64,
}

/// Service `name`'s SLO now (NotFound when it has none).
pub fn slo(shared: &Shared, name: &str) -> Result<SloView> {
    let v = service(shared, name)?;
    let Some(slo) = v.def.slo.clone() else {
        return Err(SuperManagerError::NotFound(format!(
            "service '{name}' has no slo"
        )));
    };
    let now = strata_proto::now_ms();
    let from = now - slo.window.as_millis() as i64;
    let spans = shared.services.spans(name, from, now)?;
    let planned = stretches(&v.def.maintenance, from, now);
    let window = report(name, &spans, (from, now), Some(slo.objective), &planned);
    Ok(SloView {
        alerts: slo_alerts(shared, &v, now).unwrap_or_default(),
        availability: window.availability,
        budget_remaining: window.budget_remaining,
        error_budget_seconds: window.error_budget_seconds,
        objective: slo.objective,
        service: name.to_string(),
        window_ms: slo.window.as_millis() as i64,
    })
}

/// The burn-rate alerts of service `v` at `now` (none when it has no SLO or its health
/// cannot be read).
pub fn slo_alerts(shared: &Shared, v: &Versioned, now: i64) -> Option<Vec<Alert>> {
    let slo = v.def.slo.as_ref()?;
    let from = now - slo::LONGEST_MS;
    let spans = shared.services.spans(&v.def.name, from, now).ok()?;
    let planned = stretches(&v.def.maintenance, from, now);
    Some(slo::alerts(&spans, now, slo.objective, &planned))
}
