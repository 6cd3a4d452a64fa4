//! The bottom of the drill-down, below a service's resources: one host's live processes,
//! connections, interfaces and check results (asked of its agent through the brokers and
//! its poller, never stored at the centre), and its incidents, open and past.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde_json::{Value, json};
use strata_proto::v1::AgentSnapshotRequest;
use tracing::{Instrument, info_span};

use crate::Shared;
use crate::api::{ApiError, known_region};

/// The most processes a snapshot may list.
const MAX_TOP: u32 = 500;

/// `GET /api/v1/resources/{region}/{host}/snapshot?top=20`: the host's live detail, the top
/// processes by CPU first.
pub async fn snapshot(
    State(shared): State<Arc<Shared>>,
    Path((region, host)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    shared.metrics.http_requests.fetch_add(1, Ordering::Relaxed);
    let top = match q.get("top") {
        None => 20,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|t| (1..=MAX_TOP).contains(t))
            .ok_or_else(|| {
                ApiError::bad_request(format!("top: '{v}' is not a number from 1 to {MAX_TOP}"))
            })?,
    };
    known_region(&shared, Some(&region))?;
    let id = format!("{region}/{host}");
    let span = info_span!("agent_snapshot", resource = %id);
    let answer = shared
        .brokers
        .agent_snapshot(AgentSnapshotRequest {
            region,
            resource_id: id.clone(),
            top,
        })
        .instrument(span)
        .await
        .map_err(|s| ApiError::from_status(s, &format!("live detail of {id}")))?;
    Ok(Json(strata_proto::views::snapshot_json(&answer)))
}

/// `GET /api/v1/resources/{region}/{host}/events`: the host's incidents, open ones first,
/// then those resolved (kept), newest first.
pub async fn events(
    State(shared): State<Arc<Shared>>,
    Path((region, host)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    shared.metrics.http_requests.fetch_add(1, Ordering::Relaxed);
    known_region(&shared, Some(&region))?;
    let id = format!("{region}/{host}");
    let mine = shared
        .overview
        .read()
        .expect("overview lock poisoned")
        .events_of(&id);
    Ok(Json(json!(mine)))
}

/// `PUT /api/v1/resources/{region}/{host}/config` with the agent's configuration (TOML:
/// `[items.<name>]`, `[[checks]]`) as the body: pushed through the brokers to a member that
/// polls the host, and applied by the agent only if every part is valid. A refusal is a 400
/// listing each problem by its key.
pub async fn configure(
    State(shared): State<Arc<Shared>>,
    Path((region, host)): Path<(String, String)>,
    body: String,
) -> Result<Json<Value>, ApiError> {
    shared.metrics.http_requests.fetch_add(1, Ordering::Relaxed);
    known_region(&shared, Some(&region))?;
    let id = format!("{region}/{host}");
    let span = info_span!("configure_agent", resource = %id);
    let answer = shared
        .brokers
        .routed(|mut c| {
            let req = strata_proto::v1::ConfigureAgentRequest {
                region: region.clone(),
                resource_id: id.clone(),
                config_toml: body.clone(),
            };
            async move { c.configure_agent(req).await }
        })
        .instrument(span)
        .await
        .map_err(|s| ApiError::from_status(s, &format!("configure {id}")))?;
    if !answer.applied {
        return Err(ApiError::bad_request(format!(
            "the agent of {id} refused the configuration: {}",
            answer.problems.join("; ")
        )));
    }
    shared
        .services
        .record_audit("configure agent", &id, "api", strata_proto::now_ms());
    Ok(Json(json!({ "applied": true, "checks": answer.checks })))
}
