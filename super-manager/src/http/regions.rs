//! A region's alerting and agents, through the brokers ([`crate::regions`]):
//! `/api/v1/regions/{region}/rules` (GET, PUT), `notify` (GET, PUT, DELETE),
//! `notifications?limit=` and `agents`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use strata_web::ApiError;
use strata_web::auth::Caller;
use strata_web::views::region::{
    AgentJson, ForwardingJson, NotificationJson, NotifyJson, RulesJson,
};

use super::Answer;
use crate::regions;
use crate::shared::Shared;

/// `GET /api/v1/regions/{region}/rules`: the rules in force in the region, as TOML.
pub(super) async fn get_rules(
    State(shared): State<Arc<Shared>>,
    Path(region): Path<String>,
) -> Answer<RulesJson> {
    Ok(Json(RulesJson::of(
        &regions::rules(&shared, &region).await?,
    )))
}

/// `PUT /api/v1/regions/{region}/rules` with a rules file (TOML) as the body: replaces the
/// rules defined through the API in every member of the region; a bad file is a 400 that
/// names each problem, and changes nothing.
pub(super) async fn put_rules(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(region): Path<String>,
    body: String,
) -> Answer<RulesJson> {
    let r = regions::put_rules(&shared, &caller, &region, body).await?;
    Ok(Json(RulesJson::of(&r)))
}

/// `GET /api/v1/regions/{region}/agents`: the region's agents as their pollers last saw
/// them (buffer held, capacity, dropped), one row per (agent, poller).
pub(super) async fn agents(
    State(shared): State<Arc<Shared>>,
    Path(region): Path<String>,
) -> Answer<Vec<AgentJson>> {
    let agents = regions::agents(&shared, &region).await?;
    Ok(Json(agents.iter().map(AgentJson::of).collect()))
}

/// `GET /api/v1/regions/{region}/forwarding`: the region's remote-write destinations, one
/// row per destination and member.
pub(super) async fn forwarding(
    State(shared): State<Arc<Shared>>,
    Path(region): Path<String>,
) -> Answer<Vec<ForwardingJson>> {
    let rows = regions::forwarding(&shared, &region).await?;
    Ok(Json(rows.iter().map(ForwardingJson::of).collect()))
}

/// `GET /api/v1/regions/{region}/notify`: the region's notification channels in force, as
/// TOML with secrets hidden.
pub(super) async fn get_notify(
    State(shared): State<Arc<Shared>>,
    Path(region): Path<String>,
) -> Answer<NotifyJson> {
    Ok(Json(NotifyJson::of(
        &regions::notify(&shared, &region).await?,
    )))
}

/// `PUT /api/v1/regions/{region}/notify` with the `[notify]` section's content (TOML) as
/// the body: replaces the region's notification channels in every member; a bad set is a
/// 400 that names each problem, and changes nothing.
pub(super) async fn put_notify(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(region): Path<String>,
    body: String,
) -> Answer<NotifyJson> {
    let r = regions::put_notify(&shared, &caller, &region, body, false).await?;
    Ok(Json(NotifyJson::of(&r)))
}

/// `DELETE /api/v1/regions/{region}/notify`: drops the channels put through the API; the
/// members' config files' are in force again.
pub(super) async fn delete_notify(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(region): Path<String>,
) -> Answer<NotifyJson> {
    let r = regions::put_notify(&shared, &caller, &region, String::new(), true).await?;
    Ok(Json(NotifyJson::of(&r)))
}

/// `GET /api/v1/regions/{region}/notifications?limit=100`: what the region's members sent,
/// are sending and failed to send, newest first.
pub(super) async fn notifications(
    State(shared): State<Arc<Shared>>,
    Path(region): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer<Vec<NotificationJson>> {
    let limit = match q.get("limit") {
        None => 100,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| ApiError::bad_request(format!("limit: '{v}' is not 1 to 1000")))?,
    };
    let sent = regions::notifications(&shared, &region, limit).await?;
    Ok(Json(sent.iter().map(NotificationJson::of).collect()))
}
