//! The bottom of the drill-down, below a service's resources: one host's live processes,
//! connections, interfaces and check results (asked of its agent through the brokers and
//! its poller, never stored at the centre), its incidents, open and past, and a new
//! configuration pushed to its agent.

use strata_proto::ResourceId;
use strata_proto::v1::{
    AgentSnapshotRequest, ConfigureAgentRequest, ConfigureResponse, SnapshotResponse,
};
use strata_web::auth::Caller;
use strata_web::views::EventJson;
use strata_web::views::host::{AgentConfigJson, ConfiguredJson};
use tracing::{Instrument, info_span};

use crate::error::{Result, SuperManagerError};
use crate::shared::Shared;

/// The configuration pushed to host `host` of `region` and in force on its agent.
pub async fn agent_config(shared: &Shared, region: String, host: &str) -> Result<AgentConfigJson> {
    shared.known_region(Some(&region))?;
    let id = ResourceId::new(region.to_string(), host.to_string()).to_string();
    let answer = shared
        .brokers
        .routed(|mut c| {
            let req = strata_proto::v1::AgentConfigRequest {
                region: region.clone(),
                resource_id: id.clone(),
            };
            async move { c.get_agent_config(req).await }
        })
        .instrument(info_span!("get_agent_config", resource = %id))
        .await
        .map_err(|s| SuperManagerError::region(s, format!("configuration of {id}")))?;
    Ok(answer.into())
}

/// Host `host` of `region`'s live detail, its `top` busiest processes first by `order`.
pub async fn snapshot(
    shared: &Shared,
    region: String,
    host: &str,
    (top, order): (u32, String),
) -> Result<SnapshotResponse> {
    shared.known_region(Some(&region))?;
    let id = ResourceId::new(region.to_string(), host.to_string()).to_string();
    let span = info_span!("agent_snapshot", resource = %id);
    shared
        .brokers
        .agent_snapshot(AgentSnapshotRequest {
            region,
            resource_id: id.clone(),
            top,
            order,
        })
        .instrument(span)
        .await
        .map_err(|s| SuperManagerError::region(s, format!("live detail of {id}")))
}

/// Host `host` of `region`'s incidents, open ones first, then those resolved (kept),
/// newest first.
pub fn events(shared: &Shared, region: &str, host: &str) -> Result<Vec<EventJson>> {
    shared.known_region(Some(region))?;
    let id = ResourceId::new(region.to_string(), host.to_string()).to_string();
    Ok(shared
        .overview
        .read()
        .expect("overview lock poisoned")
        .events_of(&id))
}

/// Pushes `config_toml` (the agent's configuration: `[items.<name>]`, `[[checks]]`) through
/// the brokers to a member that polls host `host` of `region`; the agent applies it only if
/// every part is valid (a refusal is a bad request listing each problem by its key).
/// Audited.
pub async fn configure(
    shared: &Shared,
    by: &Caller,
    region: String,
    host: &str,
    config_toml: String,
) -> Result<ConfiguredJson> {
    shared.known_region(Some(&region))?;
    let id = ResourceId::new(region.to_string(), host.to_string()).to_string();
    // what was pushed before, for the audit's before and after (secrets hidden)
    let before = agent_config(shared, region.clone(), host).await.ok();
    let after = config_toml.clone();
    let done = configure_as(shared, &region, &id, config_toml).await;
    let detail = match (&done, before) {
        (Ok(_), Some(b)) => strata_web::auth::change_detail(
            &strata_web::auth::mask_secrets(&b.pushed_toml),
            &strata_web::auth::mask_secrets(&after),
        ),
        _ => String::new(),
    };
    crate::audit::record(shared, by, "configure agent", &id, detail, &done)?;
    done
}

async fn configure_as(
    shared: &Shared,
    region: &str,
    id: &str,
    config_toml: String,
) -> Result<ConfiguredJson> {
    let (region, id) = (region.to_string(), id.to_string());
    let span = info_span!("configure_agent", resource = %id);
    let answer: ConfigureResponse = shared
        .brokers
        .routed(|mut c| {
            let req = ConfigureAgentRequest {
                region: region.clone(),
                resource_id: id.clone(),
                config_toml: config_toml.clone(),
            };
            async move { c.configure_agent(req).await }
        })
        .instrument(span)
        .await
        .map_err(|s| SuperManagerError::region(s, format!("configure {id}")))?;
    ConfiguredJson::of(&id, answer).map_err(SuperManagerError::BadRequest)
}
