//! The services part of the REST API: the list with each service's health, one service
//! drilled down to its components and their resources (with their open incidents), and
//! validated, versioned changes.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Serialize;
use serde_json::json;
use strata_proto::names::{check_state_name, severity_name, state_name};
use strata_proto::v1::CheckStatus;

use crate::Shared;
use crate::api::ApiError;
use crate::overview::{EventJson, Overview};
use crate::services::health::{Health, ServiceHealth, check_health, evaluate, resource_health};
use crate::services::maintenance::stretches;
use crate::services::model::{ComponentDef, RollupKind, ServiceDef};
use crate::services::timeline::{SlaReport, report};
use crate::services::{Refused, Versioned, describe};

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

pub(crate) fn refused(r: Refused) -> ApiError {
    let status = match r {
        Refused::Invalid(_) => StatusCode::BAD_REQUEST,
        Refused::NotFound(_) => StatusCode::NOT_FOUND,
        Refused::InUse(_) => StatusCode::CONFLICT,
        Refused::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError {
        status,
        message: describe(&r).join("; "),
    }
}

/// Every service's health as last evaluated, or evaluated now if a definition changed since
/// (or nothing was evaluated yet).
fn healths(shared: &Shared) -> std::collections::BTreeMap<String, ServiceHealth> {
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

/// `GET /api/v1/services`.
pub async fn list(State(shared): State<Arc<Shared>>) -> Json<Vec<ServiceSummary>> {
    shared.metrics.http_requests.fetch_add(1, Ordering::Relaxed);
    let mut healths = healths(&shared);
    let list = shared
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
        .collect();
    Json(list)
}

/// `GET /api/v1/services/{name}`: the service, its components and their resources.
pub async fn detail(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> Result<Json<ServiceView>, ApiError> {
    shared.metrics.http_requests.fetch_add(1, Ordering::Relaxed);
    let Versioned {
        version,
        changed_ms,
        source,
        def,
    } = shared
        .services
        .get(&name)
        .ok_or_else(|| refused(Refused::NotFound(name.clone())))?;
    let h = healths(&shared)
        .remove(&name)
        .ok_or_else(|| refused(Refused::NotFound(name.clone())))?;
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
    let checks_by_id: std::collections::HashMap<(&str, &str), &CheckStatus> = checks
        .iter()
        .map(|c| ((c.resource_id.as_str(), c.name.as_str()), c))
        .collect();
    let by_id: std::collections::HashMap<&str, &strata_proto::v1::Resource> =
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
    Ok(Json(ServiceView {
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
    }))
}

/// `PUT /api/v1/services/{name}` with the definition as JSON.
pub async fn put(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    shared.metrics.http_requests.fetch_add(1, Ordering::Relaxed);
    let def: ServiceDef = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("service definition: {e}")))?;
    if def.name != name {
        return Err(ApiError::bad_request(format!(
            "name: '{}' differs from the path's '{name}'",
            def.name
        )));
    }
    let version = shared
        .services
        .put(def, "api", strata_proto::now_ms())
        .map_err(refused)?;
    Ok(Json(json!({ "name": name, "version": version })))
}

/// `DELETE /api/v1/services/{name}`.
pub async fn delete(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    shared.metrics.http_requests.fetch_add(1, Ordering::Relaxed);
    shared
        .services
        .delete(&name, "api", strata_proto::now_ms())
        .map_err(refused)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/services/{name}/versions`: every stored version, oldest first.
pub async fn versions(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> Result<Json<Vec<Versioned>>, ApiError> {
    shared.metrics.http_requests.fetch_add(1, Ordering::Relaxed);
    let v = shared.services.versions(&name).map_err(refused)?;
    if v.is_empty() {
        return Err(refused(Refused::NotFound(name)));
    }
    Ok(Json(v))
}

/// `GET /api/v1/services/{name}/sla?period=` (or `from_ms=&to_ms=`): availability, time down
/// (and in whole minutes), error budget and outages over the period (default: the SLO
/// window, or the last 30 days, ending now).
pub async fn sla(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<Json<SlaReport>, ApiError> {
    shared.metrics.http_requests.fetch_add(1, Ordering::Relaxed);
    let v = shared
        .services
        .get(&name)
        .ok_or_else(|| refused(Refused::NotFound(name.clone())))?;
    let window_ms = v
        .def
        .slo
        .as_ref()
        .map_or(30 * 86_400_000, |s| s.window.as_millis() as i64);
    let crate::period::Period { from_ms, to_ms } =
        crate::period::from_query(&q, strata_proto::now_ms(), window_ms)
            .map_err(ApiError::bad_request)?;
    let spans = shared
        .services
        .spans(&name, from_ms, to_ms)
        .map_err(refused)?;
    let objective = v.def.slo.as_ref().map(|s| s.objective);
    let planned = stretches(&v.def.maintenance, from_ms, to_ms);
    Ok(Json(report(
        &name,
        &spans,
        (from_ms, to_ms),
        objective,
        &planned,
    )))
}

/// The probes of the QoS store that `def`'s components select (now or ever: a probe gone
/// since still counts for the periods it ran).
pub fn probes_of(def: &ServiceDef, known: Vec<crate::qos::Probe>) -> Vec<crate::qos::Probe> {
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

/// `GET /api/v1/services/{name}/qos?period=&step_ms=` (or `from_ms=&to_ms=`): response-time
/// percentiles, mean phases and error rate of the service's probes, over the period and
/// step by step (default: the last hour, by minute).
pub async fn qos(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<Json<crate::qos::Qos>, ApiError> {
    shared.metrics.http_requests.fetch_add(1, Ordering::Relaxed);
    let v = shared
        .services
        .get(&name)
        .ok_or_else(|| refused(Refused::NotFound(name.clone())))?;
    let now = strata_proto::now_ms();
    let period = crate::period::from_query(&q, now, 3_600_000).map_err(ApiError::bad_request)?;
    let step_ms: i64 = match q.get("step_ms") {
        None => 0,
        Some(s) => s.parse().ok().filter(|s| *s >= 0).ok_or_else(|| {
            ApiError::bad_request(format!("step_ms: '{s}' is not a number of milliseconds"))
        })?,
    };
    let probes = probes_of(&v.def, shared.qos.probes());
    let shared2 = shared.clone();
    tokio::task::spawn_blocking(move || {
        shared2
            .qos
            .query(probes, period.from_ms, period.to_ms, step_ms, now)
    })
    .await
    .map_err(|e| ApiError::internal(format!("QoS query of {name}: {e}")))?
    .map(Json)
    .map_err(|e| ApiError::internal(format!("QoS query of {name}: {e}")))
}

/// `GET /api/v1/services/{name}/slo`: the objective, the error budget left over the SLO
/// window, and the burn rates of the multi-window alerts, with whether each fires.
pub async fn slo(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    shared.metrics.http_requests.fetch_add(1, Ordering::Relaxed);
    let v = shared
        .services
        .get(&name)
        .ok_or_else(|| refused(Refused::NotFound(name.clone())))?;
    let Some(slo) = v.def.slo.clone() else {
        return Err(ApiError::not_found(format!("service '{name}' has no slo")));
    };
    let now = strata_proto::now_ms();
    let from = now - slo.window.as_millis() as i64;
    let spans = shared.services.spans(&name, from, now).map_err(refused)?;
    let planned = stretches(&v.def.maintenance, from, now);
    let window = report(&name, &spans, (from, now), Some(slo.objective), &planned);
    let alerts = crate::slo_alerts(&shared, &v, now).unwrap_or_default();
    Ok(Json(json!({
        "service": name,
        "objective": slo.objective,
        "window_ms": slo.window.as_millis() as i64,
        "availability": window.availability,
        "error_budget_seconds": window.error_budget_seconds,
        "budget_remaining": window.budget_remaining,
        "alerts": alerts,
    })))
}
