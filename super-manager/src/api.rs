//! The REST API under /api/v1, the console page at /, and the super-manager's own health
//! and metrics.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::json;
use strata_proto::telemetry::Exposition;
use strata_proto::v1::super_manager_server::SuperManagerServer;
use tonic::Code;

use crate::overview::{EventJson, RegionJson, ResourceJson};
use crate::{Shared, history, service_api};

/// An API error: an HTTP status and a message, answered as `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    pub(crate) fn from_status(status: tonic::Status, doing: &str) -> Self {
        let code = match status.code() {
            Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::BAD_GATEWAY,
        };
        Self {
            status: code,
            message: format!("{doing}: {}", status.message()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

/// The HTTP router of the super-manager: the REST API, the console, and the gRPC service.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(crate::console::index))
        .route("/assets/{*path}", get(crate::console::asset))
        .route("/api/v1/stream", get(crate::console::stream))
        .route("/api/v1/console", get(crate::console::scope))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/v1/overview", get(overview))
        .route("/api/v1/resources", get(resources))
        .route("/api/v1/events", get(events))
        .route("/api/v1/events/ack", post(crate::ack::acknowledge))
        .route(
            "/api/v1/regions/{region}/rules",
            get(crate::region_api::get_rules).put(crate::region_api::put_rules),
        )
        .route(
            "/api/v1/regions/{region}/notifications",
            get(crate::region_api::notifications),
        )
        .route(
            "/api/v1/regions/{region}/agents",
            get(crate::region_api::agents),
        )
        .route(
            "/api/v1/regions/{region}/notify",
            get(crate::region_api::get_notify)
                .put(crate::region_api::put_notify)
                .delete(crate::region_api::delete_notify),
        )
        .route("/api/v1/resources/{id}/metrics", get(metrics_by_id))
        .route(
            "/api/v1/resources/{region}/{host}/metrics",
            get(metrics_by_parts),
        )
        .route(
            "/api/v1/resources/{region}/{host}/snapshot",
            get(crate::drill::snapshot),
        )
        .route(
            "/api/v1/resources/{region}/{host}/events",
            get(crate::drill::events),
        )
        .route(
            "/api/v1/resources/{region}/{host}/config",
            axum::routing::put(crate::drill::configure),
        )
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/placement", get(crate::placement::placement))
        .route("/api/v1/services", get(service_api::list))
        .route(
            "/api/v1/services/{name}",
            get(service_api::detail)
                .put(service_api::put)
                .delete(service_api::delete),
        )
        .route(
            "/api/v1/services/{name}/versions",
            get(service_api::versions),
        )
        .route("/api/v1/services/{name}/sla", get(service_api::sla))
        .route("/api/v1/services/{name}/rca", get(crate::rca_api::rca))
        .route("/api/v1/services/{name}/qos", get(service_api::qos))
        .route("/api/v1/services/{name}/slo", get(service_api::slo))
        .route(
            "/api/v1/reports/{kind}",
            get(crate::reports::report_handler),
        )
        // gRPC on the same address (HTTP/2 without TLS, as the other roles serve it)
        .route_service(
            "/strata.v1.SuperManager/{*rpc}",
            SuperManagerServer::new(crate::grpc::Grpc::new(shared.clone())),
        )
        .fallback(not_found)
        .with_state(shared)
}

async fn openapi() -> Json<&'static serde_json::Value> {
    static DOC: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    Json(DOC.get_or_init(crate::openapi::document))
}

async fn not_found() -> ApiError {
    ApiError::not_found(
        "no such endpoint; see /api/v1/overview, /api/v1/resources, /api/v1/events, /api/v1/services",
    )
}

async fn healthz(State(shared): State<Arc<Shared>>) -> Json<serde_json::Value> {
    let regions = shared
        .overview
        .read()
        .expect("overview lock poisoned")
        .region_names()
        .len();
    Json(json!({ "status": "ok", "regions": regions }))
}

async fn metrics(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let m = &shared.metrics;
    let regions = shared
        .overview
        .read()
        .expect("overview lock poisoned")
        .region_names()
        .len();
    let count = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed) as f64;
    let mut e = Exposition::new();
    e.build_info("super_manager", env!("CARGO_PKG_VERSION"));
    e.single(
        "strata_super_manager_regions",
        "gauge",
        "Regions known.",
        regions as f64,
    );
    e.single(
        "strata_super_manager_region_updates_total",
        "counter",
        "Region updates applied.",
        count(&m.updates_applied),
    );
    e.single(
        "strata_super_manager_region_streams_opened_total",
        "counter",
        "Region streams opened (a reconnect opens one more).",
        count(&m.streams_opened),
    );
    e.single(
        "strata_super_manager_probe_runs_recorded_total",
        "counter",
        "Probe runs recorded into the QoS rollups (copies not counted).",
        count(&m.probe_runs_recorded),
    );
    e.single(
        "strata_super_manager_http_requests_total",
        "counter",
        "API requests answered.",
        count(&m.http_requests),
    );
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        e.finish(),
    )
}

#[derive(Serialize)]
pub(crate) struct OverviewJson {
    regions: Vec<RegionJson>,
    generated_at_ms: i64,
}

async fn overview(State(shared): State<Arc<Shared>>) -> Json<OverviewJson> {
    shared.metrics.http_requests.fetch_add(1, Ordering::Relaxed);
    Json(overview_json(&shared))
}

/// The overview of every region, now.
pub(crate) fn overview_json(shared: &Shared) -> OverviewJson {
    // One region at a time, so that region streams applying updates wait for one region's
    // count at most.
    let names = shared
        .overview
        .read()
        .expect("overview lock poisoned")
        .region_names();
    let regions = names
        .iter()
        .filter_map(|name| {
            shared
                .overview
                .read()
                .expect("overview lock poisoned")
                .region_json(name)
        })
        .collect();
    OverviewJson {
        regions,
        generated_at_ms: strata_proto::now_ms(),
    }
}

pub(crate) fn known_region(shared: &Shared, region: Option<&String>) -> Result<(), ApiError> {
    match region {
        Some(r)
            if !shared
                .overview
                .read()
                .expect("overview lock poisoned")
                .region_names()
                .contains(r) =>
        {
            Err(ApiError::not_found(format!("unknown region '{r}'")))
        }
        _ => Ok(()),
    }
}

async fn resources(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<ResourceJson>>, ApiError> {
    shared.metrics.http_requests.fetch_add(1, Ordering::Relaxed);
    let region = q.get("region");
    known_region(&shared, region)?;
    let list = shared
        .overview
        .read()
        .expect("overview lock poisoned")
        .resources_json(region.map(String::as_str));
    Ok(Json(list))
}

async fn events(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<EventJson>>, ApiError> {
    shared.metrics.http_requests.fetch_add(1, Ordering::Relaxed);
    let region = q.get("region");
    known_region(&shared, region)?;
    let resolved = match q.get("include").map(String::as_str) {
        None | Some("open") => false,
        Some("resolved") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "include: '{other}' is not 'open' or 'resolved'"
            )));
        }
    };
    let list = shared
        .overview
        .read()
        .expect("overview lock poisoned")
        .events_json(region.map(String::as_str), resolved);
    Ok(Json(list))
}

async fn metrics_by_id(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    shared.metrics.http_requests.fetch_add(1, Ordering::Relaxed);
    history::fetch(&shared, id, q).await
}

async fn metrics_by_parts(
    State(shared): State<Arc<Shared>>,
    Path((region, host)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    shared.metrics.http_requests.fetch_add(1, Ordering::Relaxed);
    history::fetch(&shared, format!("{region}/{host}"), q).await
}
