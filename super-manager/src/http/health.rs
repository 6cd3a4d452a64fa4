//! The super-manager's own health (`GET /healthz`) and metrics (`GET /metrics`, Prometheus
//! text).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use strata_proto::telemetry::Exposition;

use crate::shared::Shared;

/// The answer of `/healthz` (fields in alphabetical order, as its JSON map wrote them).
#[derive(Serialize)]
pub(super) struct HealthJson {
    /// The other centres the brokers list, and those followed live (caught up).
    centres_known: usize,
    centres_live: usize,
    /// Whether this centre records the services' health timeline for all.
    records_timeline: bool,
    regions: usize,
    status: &'static str,
}

fn regions(shared: &Shared) -> usize {
    shared
        .overview
        .read()
        .expect("overview lock poisoned")
        .region_names()
        .len()
}

pub(super) async fn healthz(State(shared): State<Arc<Shared>>) -> Json<HealthJson> {
    Json(HealthJson {
        centres_known: shared.centres.known().len(),
        centres_live: shared.centres.live().len(),
        records_timeline: shared.centres.records_timeline(),
        regions: regions(&shared),
        status: "ok",
    })
}

pub(super) async fn metrics(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let m = &shared.metrics;
    let count = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
    let mut e = Exposition::new();
    e.build_info("super_manager", env!("CARGO_PKG_VERSION"));
    e.single(
        "strata_super_manager_regions",
        "gauge",
        "Regions known.",
        regions(&shared) as f64,
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
        "strata_super_manager_promql_pushdowns_total",
        "counter",
        "PromQL aggregations pushed down to the regions.",
        count(&m.promql_pushdowns),
    );
    e.single(
        "strata_super_manager_promql_raw_selects_total",
        "counter",
        "PromQL selectors whose raw samples were read from the regions.",
        count(&m.promql_raw_selects),
    );
    e.single(
        "strata_super_manager_reports_sent_total",
        "counter",
        "Scheduled reports sent to all their receivers.",
        count(&m.reports_sent),
    );
    e.single(
        "strata_super_manager_reports_failed_total",
        "counter",
        "Scheduled reports given up after reports.max_attempts tries.",
        count(&m.reports_failed),
    );
    let c = &shared.centres;
    e.single(
        "strata_super_manager_centres_live",
        "gauge",
        "Other centres whose journal is followed live (caught up).",
        c.live().len() as f64,
    );
    e.single(
        "strata_super_manager_records_timeline",
        "gauge",
        "1 when this centre records the services' health timeline for all.",
        if c.records_timeline() { 1.0 } else { 0.0 },
    );
    e.single(
        "strata_super_manager_centre_changes_applied_total",
        "counter",
        "Changes applied from other centres' journals.",
        count(&c.changes_applied),
    );
    e.single(
        "strata_super_manager_centre_snapshots_received_total",
        "counter",
        "Snapshots received from other centres (a cursor that could not be resumed).",
        count(&c.snapshots_received),
    );
    e.single(
        "strata_super_manager_centre_streams_served_total",
        "counter",
        "Journal streams opened by other centres.",
        count(&c.streams_served),
    );
    e.single(
        "strata_super_manager_http_requests_total",
        "counter",
        "API requests answered.",
        count(&m.http_requests),
    );
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        e.finish() + &shared.transport.render_metrics("strata_super_manager"),
    )
}
