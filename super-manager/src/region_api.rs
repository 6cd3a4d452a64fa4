//! The regions' alerting, seen and changed from the centre: the rules in force in a region
//! (read, and replaced through its validated API) and the notifications it sent, through
//! the brokers. Each region evaluates and notifies on its own; the centre only asks.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde_json::Value;
use strata_proto::v1::{GetRulesRequest, ListNotificationsRequest, PutRulesRequest};
use strata_proto::views::{notification_json, rules_json};
use tracing::{Instrument, info, info_span};

use crate::Shared;
use crate::api::{ApiError, known_region};

/// `GET /api/v1/regions/{region}/rules`: the rules in force in the region, as TOML.
pub async fn get_rules(
    State(shared): State<Arc<Shared>>,
    Path(region): Path<String>,
) -> Result<Json<Value>, ApiError> {
    shared.metrics.http_requests.fetch_add(1, Ordering::Relaxed);
    known_region(&shared, Some(&region))?;
    let span = info_span!("get_rules", %region);
    let r = shared
        .brokers
        .routed(|mut c| {
            let req = GetRulesRequest {
                region: region.clone(),
            };
            async move { c.get_rules(req).await }
        })
        .instrument(span)
        .await
        .map_err(|s| ApiError::from_status(s, &format!("rules of region {region}")))?;
    Ok(Json(rules_json(&r)))
}

/// `PUT /api/v1/regions/{region}/rules` with a rules file (TOML) as the body: replaces the
/// rules defined through the API in every member of the region; a bad file is a 400 that
/// names each problem, and changes nothing.
pub async fn put_rules(
    State(shared): State<Arc<Shared>>,
    Path(region): Path<String>,
    body: String,
) -> Result<Json<Value>, ApiError> {
    shared.metrics.http_requests.fetch_add(1, Ordering::Relaxed);
    known_region(&shared, Some(&region))?;
    let span = info_span!("put_rules", %region, bytes = body.len());
    let r = shared
        .brokers
        .routed(|mut c| {
            let req = PutRulesRequest {
                region: region.clone(),
                rules_toml: body.clone(),
            };
            async move { c.put_rules(req).await }
        })
        .instrument(span)
        .await
        .map_err(|s| ApiError::from_status(s, &format!("rules of region {region}")))?;
    shared.services.record_audit(
        "put rules",
        &format!("regions/{region}/rules"),
        "api",
        strata_proto::now_ms(),
    );
    info!(%region, count = r.count, "region's API rules replaced");
    Ok(Json(rules_json(&r)))
}

/// `GET /api/v1/regions/{region}/notifications?limit=100`: what the region's members sent,
/// are sending and failed to send, newest first.
pub async fn notifications(
    State(shared): State<Arc<Shared>>,
    Path(region): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    shared.metrics.http_requests.fetch_add(1, Ordering::Relaxed);
    known_region(&shared, Some(&region))?;
    let limit = match q.get("limit") {
        None => 100,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| ApiError::bad_request(format!("limit: '{v}' is not 1 to 1000")))?,
    };
    let span = info_span!("notifications", %region);
    let r = shared
        .brokers
        .routed(|mut c| {
            let req = ListNotificationsRequest {
                region: region.clone(),
                limit,
            };
            async move { c.list_notifications(req).await }
        })
        .instrument(span)
        .await
        .map_err(|s| ApiError::from_status(s, &format!("notifications of region {region}")))?;
    Ok(Json(Value::Array(
        r.notifications.iter().map(notification_json).collect(),
    )))
}
