//! The regions' alerting, seen and changed from the centre: the rules in force in a region
//! and its notification channels (read, and replaced through its validated API), its agents
//! as their pollers saw them, and the notifications it sent, through the brokers. Each
//! region evaluates and notifies on its own; the centre only asks. Changes are audited.

use strata_proto::v1::sub_manager_client::SubManagerClient;
use strata_proto::v1::{
    AgentInfo, ForwardingDestination, GetNotifyRequest, GetRulesRequest, ListAgentsRequest,
    ListForwardingRequest, ListNotificationsRequest, Notification, NotifyResponse,
    PutNotifyRequest, PutRulesRequest, RulesResponse,
};
use strata_web::auth::Caller;
use tonic::transport::Channel;
use tracing::{Instrument, info, info_span};

use crate::error::{Result, SuperManagerError};
use crate::shared::Shared;

/// Asks a member of `region` through the brokers, for a request called `op` about `what`.
async fn ask<T, F, Fut>(
    shared: &Shared,
    region: &str,
    op: &'static str,
    what: &str,
    call: F,
) -> Result<T>
where
    F: Fn(SubManagerClient<Channel>) -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    shared.known_region(Some(region))?;
    shared
        .brokers
        .routed(call)
        .instrument(info_span!("region_api", op, %region))
        .await
        .map_err(|s| SuperManagerError::region(s, format!("{what} of region {region}")))
}

/// The rules in force in `region`, as TOML.
pub async fn rules(shared: &Shared, region: &str) -> Result<RulesResponse> {
    ask(shared, region, "GetRules", "rules", |mut c| {
        let req = GetRulesRequest {
            region: region.to_string(),
        };
        async move { c.get_rules(req).await }
    })
    .await
}

/// Replaces the rules defined through the API in every member of `region` with
/// `rules_toml`; a bad file changes nothing, and the refusal names each problem.
/// Audited as done by `by`.
pub async fn put_rules(
    shared: &Shared,
    by: &Caller,
    region: &str,
    rules_toml: String,
) -> Result<RulesResponse> {
    // the rules as they were, for the audit's before and after
    let before = rules(shared, region).await.ok();
    let r = ask(shared, region, "PutRules", "rules", |mut c| {
        let req = PutRulesRequest {
            region: region.to_string(),
            rules_toml: rules_toml.clone(),
        };
        async move { c.put_rules(req).await }
    })
    .await;
    let detail = match (&r, before) {
        (Ok(r), Some(b)) => format!(
            "{} rules in force; {}",
            r.count,
            strata_web::auth::change_detail(&b.rules_toml, &r.rules_toml)
        ),
        (Ok(r), None) => format!("{} rules in force", r.count),
        (Err(_), _) => String::new(),
    };
    let subject = format!("regions/{region}/rules");
    crate::audit::record(shared, by, "put rules", &subject, detail, &r)?;
    let r = r?;
    info!(%region, count = r.count, "region's API rules replaced");
    Ok(r)
}

/// `region`'s agents as their pollers last saw them (buffer held, capacity, dropped), one
/// row per (agent, poller).
pub async fn agents(shared: &Shared, region: &str) -> Result<Vec<AgentInfo>> {
    let r = ask(shared, region, "ListAgents", "agents", |mut c| {
        let req = ListAgentsRequest {
            region: region.to_string(),
        };
        async move { c.list_agents(req).await }
    })
    .await?;
    Ok(r.agents)
}

/// `region`'s remote-write destinations, one row per (destination, member).
pub async fn forwarding(shared: &Shared, region: &str) -> Result<Vec<ForwardingDestination>> {
    let r = ask(
        shared,
        region,
        "ListForwarding",
        "remote-write destinations",
        |mut c| {
            let req = ListForwardingRequest {
                region: region.to_string(),
            };
            async move { c.list_forwarding(req).await }
        },
    )
    .await?;
    Ok(r.destinations)
}

/// `region`'s notification channels in force, as TOML with secrets hidden.
pub async fn notify(shared: &Shared, region: &str) -> Result<NotifyResponse> {
    ask(
        shared,
        region,
        "GetNotify",
        "notification channels",
        |mut c| {
            let req = GetNotifyRequest {
                region: region.to_string(),
            };
            async move { c.get_notify(req).await }
        },
    )
    .await
}

/// Puts channels `notify_toml` (or, with `use_file`, goes back to the config file's) in
/// every member of `region`; a bad set changes nothing, and the refusal names each problem.
/// Audited as done by `by`.
pub async fn put_notify(
    shared: &Shared,
    by: &Caller,
    region: &str,
    notify_toml: String,
    use_file: bool,
) -> Result<NotifyResponse> {
    // the channels as they were (secrets hidden), for the audit's before and after
    let before = notify(shared, region).await.ok();
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
    .await;
    let action = if use_file {
        "notification channels from the config file"
    } else {
        "put notification channels"
    };
    let detail = match (&r, before) {
        (Ok(r), Some(b)) => format!(
            "{} receivers, {} routes; {}",
            r.receivers,
            r.routes,
            strata_web::auth::change_detail(&b.notify_toml, &r.notify_toml)
        ),
        (Ok(r), None) => format!("{} receivers, {} routes", r.receivers, r.routes),
        (Err(_), _) => String::new(),
    };
    let subject = format!("regions/{region}/notify");
    crate::audit::record(shared, by, action, &subject, detail, &r)?;
    let r = r?;
    info!(%region, source = %r.source, receivers = r.receivers, routes = r.routes, "region's notification channels replaced");
    Ok(r)
}

/// What `region`'s members sent, are sending and failed to send, newest first, at most
/// `limit`.
pub async fn notifications(shared: &Shared, region: &str, limit: u32) -> Result<Vec<Notification>> {
    let r = ask(
        shared,
        region,
        "ListNotifications",
        "notifications",
        |mut c| {
            let req = ListNotificationsRequest {
                region: region.to_string(),
                limit,
            };
            async move { c.list_notifications(req).await }
        },
    )
    .await?;
    Ok(r.notifications)
}
