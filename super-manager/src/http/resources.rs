//! The resources: `GET /api/v1/resources?region=`, and below one host
//! (`/api/v1/resources/{region}/{host}/...`) its live detail (`snapshot?top=`), its
//! incidents (`events`) and its agent's configuration (`PUT config`). Its metric history is
//! [`super::history`].

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use strata_web::auth::Caller;
use strata_web::params;
use strata_web::views::host::{AgentConfigJson, ConfiguredJson, SnapshotJson};
use strata_web::views::{EventJson, ResourceJson};

use super::Answer;
use crate::drill;
use crate::shared::Shared;

/// `GET /api/v1/resources?region=`: the resources of the region, or of every region.
pub(super) async fn list(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer<Vec<ResourceJson>> {
    let region = q.get("region").map(String::as_str);
    shared.known_region(region)?;
    let mut list = shared
        .overview
        .read()
        .expect("overview lock poisoned")
        .resources_json(region);
    list.retain(|r| caller.covers(&r.region));
    Ok(Json(list))
}

/// `GET /api/v1/resources/{region}/{host}/snapshot?top=20&order=cpu`: the host's live
/// detail, the top processes busiest first by CPU, memory or disk I/O.
pub(super) async fn snapshot(
    State(shared): State<Arc<Shared>>,
    Path((region, host)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer<SnapshotJson> {
    let top = (params::top(&q)?, params::order(&q)?);
    let answer = drill::snapshot(&shared, region, &host, top).await?;
    Ok(Json(SnapshotJson::of(&answer)))
}

/// `GET /api/v1/resources/{region}/{host}/events`: the host's incidents, open ones first,
/// then those resolved (kept), newest first.
pub(super) async fn events(
    State(shared): State<Arc<Shared>>,
    Path((region, host)): Path<(String, String)>,
) -> Answer<Vec<EventJson>> {
    Ok(Json(drill::events(&shared, &region, &host)?))
}

/// `PUT /api/v1/resources/{region}/{host}/config` with the agent's configuration (TOML:
/// `[items.<name>]`, `[[checks]]`) as the body: pushed through the brokers to a member that
/// polls the host, and applied by the agent only if every part is valid. A refusal is a 400
/// listing each problem by its key.
/// `GET /api/v1/resources/{region}/{host}/config`: the configuration pushed to the host's
/// agent and in force there, with what its local config lets a push use.
pub(super) async fn agent_config(
    State(shared): State<Arc<Shared>>,
    Path((region, host)): Path<(String, String)>,
) -> Answer<AgentConfigJson> {
    Ok(Json(drill::agent_config(&shared, region, &host).await?))
}

pub(super) async fn configure(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((region, host)): Path<(String, String)>,
    body: String,
) -> Answer<ConfiguredJson> {
    Ok(Json(
        drill::configure(&shared, &caller, region, &host, body).await?,
    ))
}
