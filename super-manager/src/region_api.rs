//! The regions' alerting, seen and changed from the centre: the rules in force in a region
//! and its notification channels (read, and replaced through its validated API), and the
//! notifications it sent, through the brokers. Each region evaluates and notifies on its
//! own; the centre only asks.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde_json::Value;
use strata_proto::v1::sub_manager_client::SubManagerClient;
use strata_proto::v1::{
    GetNotifyRequest, GetRulesRequest, ListAgentsRequest, ListNotificationsRequest, NotifyResponse,
    PutNotifyRequest, PutRulesRequest,
};
use strata_proto::views::{agent_json, notification_json, notify_json, rules_json};
use tonic::transport::Channel;
use tracing::{Instrument, info, info_span};

use crate::Shared;
use crate::api::{ApiError, known_region};

/// Asks a member of `region` through the brokers, for a request called `op` about `what`.
async fn ask<T, F, Fut>(
    shared: &Shared,
    region: &str,
    op: &'static str,
    what: &str,
    call: F,
) -> Result<T, ApiError>
where
    F: Fn(SubManagerClient<Channel>) -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    shared.metrics.http_requests.fetch_add(1, Ordering::Relaxed);
    known_region(shared, Some(&region.to_string()))?;
    shared
        .brokers
        .routed(call)
        .instrument(info_span!("region_api", op, %region))
        .await
        .map_err(|s| ApiError::from_status(s, &format!("{what} of region {region}")))
}

/// Records a change of a region's `what` in the audit log.
fn audit(shared: &Shared, action: &str, region: &str, what: &str) {
    shared.services.record_audit(
        action,
        &format!("regions/{region}/{what}"),
        "api",
        strata_proto::now_ms(),
    );
}

/// `GET /api/v1/regions/{region}/rules`: the rules in force in the region, as TOML.
pub async fn get_rules(
    State(shared): State<Arc<Shared>>,
    Path(region): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let r = ask(&shared, &region, "GetRules", "rules", |mut c| {
        let req = GetRulesRequest {
            region: region.clone(),
        };
        async move { c.get_rules(req).await }
    })
    .await?;
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
    let r = ask(&shared, &region, "PutRules", "rules", |mut c| {
        let req = PutRulesRequest {
            region: region.clone(),
            rules_toml: body.clone(),
        };
        async move { c.put_rules(req).await }
    })
    .await?;
    audit(&shared, "put rules", &region, "rules");
    info!(%region, count = r.count, "region's API rules replaced");
    Ok(Json(rules_json(&r)))
}

/// `GET /api/v1/regions/{region}/agents`: the region's agents as their pollers last saw
/// them (buffer held, capacity, dropped), one row per (agent, poller).
pub async fn agents(
    State(shared): State<Arc<Shared>>,
    Path(region): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let r = ask(&shared, &region, "ListAgents", "agents", |mut c| {
        let req = ListAgentsRequest {
            region: region.clone(),
        };
        async move { c.list_agents(req).await }
    })
    .await?;
    Ok(Json(Value::Array(
        r.agents.iter().map(agent_json).collect(),
    )))
}

/// `GET /api/v1/regions/{region}/notify`: the region's notification channels in force, as
/// TOML with secrets hidden.
pub async fn get_notify(
    State(shared): State<Arc<Shared>>,
    Path(region): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let r = ask(
        &shared,
        &region,
        "GetNotify",
        "notification channels",
        |mut c| {
            let req = GetNotifyRequest {
                region: region.clone(),
            };
            async move { c.get_notify(req).await }
        },
    )
    .await?;
    Ok(Json(notify_json(&r)))
}

/// Puts channels (or goes back to the config file's) in every member of `region`.
async fn replace_notify(
    shared: &Shared,
    region: &str,
    notify_toml: String,
    use_file: bool,
) -> Result<NotifyResponse, ApiError> {
    let r = ask(
        shared,
        region,
        "PutNotify",
        "notification channels",
        |mut c| {
            let req = PutNotifyRequest {
                region: region.to_string(),
                notify_toml: notify_toml.clone(),
                use_file,
            };
            async move { c.put_notify(req).await }
        },
    )
    .await?;
    let action = if use_file {
        "notification channels from the config file"
    } else {
        "put notification channels"
    };
    audit(shared, action, region, "notify");
    info!(%region, source = %r.source, receivers = r.receivers, routes = r.routes, "region's notification channels replaced");
    Ok(r)
}

/// `PUT /api/v1/regions/{region}/notify` with the `[notify]` section's content (TOML) as
/// the body: replaces the region's notification channels in every member; a bad set is a
/// 400 that names each problem, and changes nothing.
pub async fn put_notify(
    State(shared): State<Arc<Shared>>,
    Path(region): Path<String>,
    body: String,
) -> Result<Json<Value>, ApiError> {
    let r = replace_notify(&shared, &region, body, false).await?;
    Ok(Json(notify_json(&r)))
}

/// `DELETE /api/v1/regions/{region}/notify`: drops the channels put through the API; the
/// members' config files' are in force again.
pub async fn delete_notify(
    State(shared): State<Arc<Shared>>,
    Path(region): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let r = replace_notify(&shared, &region, String::new(), true).await?;
    Ok(Json(notify_json(&r)))
}

/// `GET /api/v1/regions/{region}/notifications?limit=100`: what the region's members sent,
/// are sending and failed to send, newest first.
pub async fn notifications(
    State(shared): State<Arc<Shared>>,
    Path(region): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let limit = match q.get("limit") {
        None => 100,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| ApiError::bad_request(format!("limit: '{v}' is not 1 to 1000")))?,
    };
    let r = ask(
        &shared,
        &region,
        "ListNotifications",
        "notifications",
        |mut c| {
            let req = ListNotificationsRequest {
                region: region.clone(),
                limit,
            };
            async move { c.list_notifications(req).await }
        },
    )
    .await?;
    Ok(Json(Value::Array(
        r.notifications.iter().map(notification_json).collect(),
    )))
}
