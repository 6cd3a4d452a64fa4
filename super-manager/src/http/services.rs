//! The business services: `GET /api/v1/services` (each with its health), one service
//! drilled down (`GET /api/v1/services/{name}`), validated and versioned changes (`PUT`,
//! `DELETE`), its versions, its SLA, QoS and SLO. Root cause is [`super::rca`].

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Serialize;
use strata_web::ApiError;
use strata_web::auth::Caller;

use super::Answer;
use crate::catalog::{self, ServiceSummary, ServiceView, SloView};
use crate::error::SuperManagerError;
use crate::qos::Qos;
use crate::services::Versioned;
use crate::services::model::ServiceDef;
use crate::services::timeline::SlaReport;
use crate::shared::Shared;

/// `GET /api/v1/services`.
pub(super) async fn list(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
) -> Json<Vec<ServiceSummary>> {
    let mut list = catalog::list(&shared);
    list.retain(|s| super::scope::sees_service(&shared, &caller, &s.name));
    Json(list)
}

/// `GET /api/v1/services/{name}`: the service, its components and their resources.
pub(super) async fn detail(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> Answer<ServiceView> {
    Ok(Json(catalog::detail(&shared, &name)?))
}

/// The answer of a stored definition: its name and new version.
#[derive(Serialize)]
pub(super) struct StoredJson {
    name: String,
    version: u64,
}

/// `PUT /api/v1/services/{name}` with the definition as JSON.
pub(super) async fn put(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: Bytes,
) -> Answer<StoredJson> {
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
        .put(
            def,
            &caller.principal.name,
            &caller.address,
            strata_proto::now_ms(),
        )
        .map_err(SuperManagerError::from)?;
    Ok(Json(StoredJson { name, version }))
}

/// `DELETE /api/v1/services/{name}`.
pub(super) async fn delete(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    shared
        .services
        .delete(
            &name,
            &caller.principal.name,
            &caller.address,
            strata_proto::now_ms(),
        )
        .map_err(SuperManagerError::from)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/services/{name}/versions`: every stored version, oldest first.
pub(super) async fn versions(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> Answer<Vec<Versioned>> {
    Ok(Json(catalog::versions(&shared, &name)?))
}

/// `GET /api/v1/services/{name}/sla?period=` (or `from_ms=&to_ms=`): availability, time down
/// (and in whole minutes), error budget and outages over the period (default: the SLO
/// window, or the last 30 days, ending now).
pub(super) async fn sla(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer<SlaReport> {
    Ok(Json(catalog::sla(&shared, &name, &q)?))
}

/// `GET /api/v1/services/{name}/qos?period=&step_ms=` (or `from_ms=&to_ms=`): response-time
/// percentiles, mean phases and error rate of the service's probes, over the period and
/// step by step (default: the last hour, by minute).
pub(super) async fn qos(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer<Qos> {
    Ok(Json(catalog::qos(shared, &name, &q).await?))
}

/// `GET /api/v1/services/{name}/slo`: the objective, the error budget left over the SLO
/// window, and the burn rates of the multi-window alerts, with whether each fires.
pub(super) async fn slo(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> Answer<SloView> {
    Ok(Json(catalog::slo(&shared, &name)?))
}
