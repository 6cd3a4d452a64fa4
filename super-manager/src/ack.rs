//! Acknowledging an incident: an operator says "I have it", which stops its escalation and
//! repeated notifications in the region. The region's members are asked through the brokers
//! (each acknowledges its own copy of the event, and the change comes back up the region
//! stream); the centre's own incidents (SLO alerts of services) are acknowledged here.
//! Every acknowledgement is written to the audit log.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use strata_proto::v1::AcknowledgeEventRequest;
use tracing::{Instrument, info, info_span};

use crate::Shared;
use crate::api::ApiError;
use crate::overview::EventJson;

/// The body of `POST /api/v1/events/ack`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    /// `<region>/<host>`, or `services/<name>` for an SLO alert.
    pub resource_id: String,
    pub rule: String,
    /// Who acknowledges.
    pub by: String,
    #[serde(default)]
    pub comment: String,
}

/// `POST /api/v1/events/ack`: acknowledges the open incident of `rule` on `resource_id`.
pub async fn acknowledge(
    State(shared): State<Arc<Shared>>,
    body: Result<Json<AckRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    shared.metrics.http_requests.fetch_add(1, Ordering::Relaxed);
    let Json(req) = body.map_err(|e| ApiError::bad_request(format!("body: {}", e.body_text())))?;
    for (field, value) in [
        ("resource_id", &req.resource_id),
        ("rule", &req.rule),
        ("by", &req.by),
    ] {
        if value.trim().is_empty() {
            return Err(ApiError::bad_request(format!("{field}: must not be empty")));
        }
    }
    let now = strata_proto::now_ms();
    let (region, _) = req.resource_id.split_once('/').ok_or_else(|| {
        ApiError::bad_request(format!(
            "resource_id: '{}' is not '<region>/<host>' or 'services/<name>'",
            req.resource_id
        ))
    })?;
    let events: Vec<EventJson> = if region == "services" {
        shared
            .overview
            .write()
            .expect("overview lock poisoned")
            .acknowledge_local(&req.resource_id, &req.rule, &req.by, &req.comment, now)
            .into_iter()
            .collect()
    } else {
        crate::api::known_region(&shared, Some(&region.to_string()))?;
        let span = info_span!("acknowledge", resource = %req.resource_id, rule = %req.rule);
        let answer = shared
            .brokers
            .acknowledge_event(AcknowledgeEventRequest {
                region: region.to_string(),
                resource_id: req.resource_id.clone(),
                rule: req.rule.clone(),
                by: req.by.clone(),
                comment: req.comment.clone(),
            })
            .instrument(span)
            .await
            .map_err(|s| {
                ApiError::from_status(s, &format!("acknowledge {} {}", req.resource_id, req.rule))
            })?;
        answer.events.iter().map(EventJson::from_event).collect()
    };
    if events.is_empty() {
        return Err(ApiError::not_found(format!(
            "no open event of rule '{}' on '{}'",
            req.rule, req.resource_id
        )));
    }
    shared.services.record_audit(
        "acknowledge",
        &format!("{}/{}", req.resource_id, req.rule),
        &format!("api:{}", req.by),
        now,
    );
    info!(resource = %req.resource_id, rule = %req.rule, by = %req.by, "incident acknowledged");
    Ok(Json(
        json!({ "acknowledged": events.len(), "events": events }),
    ))
}
