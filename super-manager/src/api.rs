//! The REST API under /api/v1, the console page at /, and the super-manager's own health
//! and metrics.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::json;
use strata_proto::labels::to_map;
use strata_proto::telemetry::Exposition;
use strata_proto::v1::{Aggregation, LabelMatcher, MatchOp, QueryRangeRequest};
use tonic::Code;
use tracing::{Instrument, info_span};

use crate::Shared;
use crate::overview::{EventJson, RegionJson, ResourceJson};

const CONSOLE: &str = include_str!("../assets/index.html");

/// An API error: an HTTP status and a message, answered as `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    fn from_status(status: tonic::Status, doing: &str) -> Self {
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

/// The HTTP router of the super-manager.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(console))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/v1/overview", get(overview))
        .route("/api/v1/resources", get(resources))
        .route("/api/v1/events", get(events))
        .route("/api/v1/resources/{id}/metrics", get(metrics_by_id))
        .route(
            "/api/v1/resources/{region}/{host}/metrics",
            get(metrics_by_parts),
        )
        .fallback(not_found)
        .with_state(shared)
}

async fn console() -> Html<&'static str> {
    Html(CONSOLE)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; see /api/v1/overview, /api/v1/resources, /api/v1/events")
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
struct OverviewJson {
    regions: Vec<RegionJson>,
    generated_at_ms: i64,
}

async fn overview(State(shared): State<Arc<Shared>>) -> Json<OverviewJson> {
    shared.metrics.http_requests.fetch_add(1, Ordering::Relaxed);
    let regions = shared
        .overview
        .read()
        .expect("overview lock poisoned")
        .regions_json();
    Json(OverviewJson {
        regions,
        generated_at_ms: strata_proto::now_ms(),
    })
}

fn known_region(shared: &Shared, region: Option<&String>) -> Result<(), ApiError> {
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
    let list = shared
        .overview
        .read()
        .expect("overview lock poisoned")
        .events_json(region.map(String::as_str));
    Ok(Json(list))
}

async fn metrics_by_id(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    metric_history(shared, id, q).await
}

async fn metrics_by_parts(
    State(shared): State<Arc<Shared>>,
    Path((region, host)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    metric_history(shared, format!("{region}/{host}"), q).await
}

fn int_param(q: &HashMap<String, String>, name: &str, default: i64) -> Result<i64, ApiError> {
    match q.get(name) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| {
            ApiError::bad_request(format!("query parameter '{name}': '{v}' is not an integer"))
        }),
    }
}

/// Parses the metric-history query parameters into a QueryRange request.
pub fn parse_query(
    id: &str,
    q: &HashMap<String, String>,
    now_ms: i64,
) -> Result<QueryRangeRequest, ApiError> {
    let (region, _host) = id
        .split_once('/')
        .filter(|(r, h)| !r.is_empty() && !h.is_empty() && !h.contains('/'))
        .ok_or_else(|| {
            ApiError::bad_request(format!("resource id '{id}' is not '<region>/<host>'"))
        })?;
    let name = q.get("name").filter(|n| !n.is_empty()).ok_or_else(|| {
        ApiError::bad_request(
            "query parameter 'name' is required (a metric name such as host_cpu_usage_ratio)",
        )
    })?;
    let to_ms = int_param(q, "to_ms", now_ms)?;
    let from_ms = int_param(q, "from_ms", to_ms - 3_600_000)?;
    let step_ms = int_param(q, "step_ms", 0)?;
    if from_ms > to_ms {
        return Err(ApiError::bad_request(format!(
            "from_ms {from_ms} is after to_ms {to_ms}"
        )));
    }
    if step_ms < 0 {
        return Err(ApiError::bad_request(format!(
            "step_ms {step_ms} is negative"
        )));
    }
    let aggregation = match q.get("agg").map(String::as_str) {
        None | Some("avg") => Aggregation::Avg,
        Some("min") => Aggregation::Min,
        Some("max") => Aggregation::Max,
        Some("last") => Aggregation::Last,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "query parameter 'agg': '{other}' is not one of avg, min, max, last"
            )));
        }
    };
    let mut label_matchers = Vec::new();
    for (key, value) in q {
        if let Some(label) = key.strip_prefix("label.") {
            label_matchers.push(label_matcher(label, value));
        }
    }
    label_matchers.sort_by(|a, b| (&a.name, &a.value).cmp(&(&b.name, &b.value)));
    Ok(QueryRangeRequest {
        region: region.to_string(),
        resource_id: id.to_string(),
        name: name.clone(),
        matchers: Vec::new(),
        label_matchers,
        from_ms,
        to_ms,
        step_ms,
        aggregation: aggregation as i32,
    })
}

/// `label.<name>=<value>` is `=`; a value starting with `!`, `~` or `!~` makes it `!=`,
/// `=~` or `!~` (regular expressions are anchored).
fn label_matcher(label: &str, value: &str) -> LabelMatcher {
    let (op, value) = if let Some(v) = value.strip_prefix("!~") {
        (MatchOp::NotRegex, v)
    } else if let Some(v) = value.strip_prefix('~') {
        (MatchOp::Regex, v)
    } else if let Some(v) = value.strip_prefix('!') {
        (MatchOp::NotEqual, v)
    } else {
        (MatchOp::Equal, value)
    };
    LabelMatcher {
        name: label.to_string(),
        op: op as i32,
        value: value.to_string(),
    }
}

async fn metric_history(
    shared: Arc<Shared>,
    id: String,
    q: HashMap<String, String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    shared.metrics.http_requests.fetch_add(1, Ordering::Relaxed);
    let req = parse_query(&id, &q, strata_proto::now_ms())?;
    known_region(&shared, Some(&req.region))?;
    let span = info_span!("metric_history", resource = %id, name = %req.name);
    let answer = shared
        .brokers
        .query_range(req)
        .instrument(span)
        .await
        .map_err(|s| ApiError::from_status(s, &format!("query {id} through the brokers")))?;
    let series: Vec<serde_json::Value> = answer
        .series
        .into_iter()
        .map(|s| {
            let labels: BTreeMap<String, String> = to_map(&s.labels);
            let points: Vec<(i64, f64)> =
                s.points.into_iter().map(|p| (p.ts_ms, p.value)).collect();
            json!({ "name": s.name, "labels": labels, "points": points })
        })
        .collect();
    Ok(Json(json!({ "series": series })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn metric_queries_default_to_the_last_hour_and_name_bad_parameters() {
        let r = parse_query("eu/web-1", &q(&[("name", "host_load1")]), 10_000_000).unwrap();
        assert_eq!(
            (r.region.as_str(), r.from_ms, r.to_ms),
            ("eu", 6_400_000, 10_000_000)
        );
        assert_eq!(r.aggregation(), Aggregation::Avg);
        let e = parse_query("eu/web-1", &q(&[]), 0).unwrap_err();
        assert!(e.message.contains("'name'"), "{}", e.message);
        let e = parse_query("eu/web-1", &q(&[("name", "m"), ("step_ms", "x")]), 0).unwrap_err();
        assert!(e.message.contains("'step_ms'"), "{}", e.message);
        let e = parse_query(
            "eu/web-1",
            &q(&[("name", "m"), ("from_ms", "9"), ("to_ms", "1")]),
            0,
        )
        .unwrap_err();
        assert!(e.message.contains("after"), "{}", e.message);
        let e = parse_query("web-1", &q(&[("name", "m")]), 0).unwrap_err();
        assert!(e.message.contains("<region>/<host>"), "{}", e.message);
        let r = parse_query(
            "eu/a",
            &q(&[
                ("name", "m"),
                ("label.cpu", "!~[0-9]+"),
                ("label.mode", "idle"),
            ]),
            0,
        )
        .unwrap();
        let ms: Vec<(String, MatchOp, String)> = r
            .label_matchers
            .iter()
            .map(|m| (m.name.clone(), m.op(), m.value.clone()))
            .collect();
        assert_eq!(
            ms,
            vec![
                ("cpu".into(), MatchOp::NotRegex, "[0-9]+".into()),
                ("mode".into(), MatchOp::Equal, "idle".into())
            ]
        );
        let e = parse_query("eu/a", &q(&[("name", "m"), ("agg", "p99")]), 0).unwrap_err();
        assert!(e.message.contains("'agg'"), "{}", e.message);
    }
}
