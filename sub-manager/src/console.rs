//! The regional console: regional operators keep a console when the centre is unreachable.
//! It is the centre's console itself — the same files, served from the shared web crate
//! (`strata_web::assets`) — served on `console_listen` with the part of the REST API a
//! region answers alone, in the same typed JSON (`strata_web::views`), with the same errors
//! (`strata_web::ApiError`) and live stream (`strata_web::stream`): the region's overview,
//! resources, open events and their acknowledgement, a host's metrics (from this member's
//! store), live processes and configuration, the region's rules and notifications, and the
//! live stream. `GET /api/v1/console` says `"scope": "region"`, and the console hides what
//! only the centre knows (services, the map, reports, comparisons).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use strata_proto::ResourceId;
use strata_proto::v1::sub_manager_server::SubManager;
use strata_proto::v1::{
    AgentSnapshotRequest, ConfigureAgentRequest, GetNotifyRequest, GetRulesRequest,
    ListAgentsRequest, ListForwardingRequest, ListNotificationsRequest, PutNotifyRequest,
    PutRulesRequest,
};
use strata_web::auth::Caller;
use strata_web::views::host::{AgentConfigJson, ConfiguredJson, SeriesJson, SnapshotJson};
use strata_web::views::region::{
    AgentJson, ForwardingJson, NotificationJson, NotifyJson, RulesJson,
};
use strata_web::views::{
    AckJson, AckRequest, ConsoleJson, EventCounts, EventJson, OverviewJson, RegionJson,
    ResourceCounts, ResourceJson, SubManagerJson,
};
use strata_web::{ApiError, params};
use tokio_util::sync::CancellationToken;
use tonic::Request;
use tracing::info;

use crate::api::Api;

type Answer<T> = Result<Json<T>, ApiError>;

/// The regional console's router over this member's API.
pub fn router(api: Api, shutdown: CancellationToken) -> Router {
    let store = crate::promql::Store::new(api.tsdb.clone(), &api.region);
    let prometheus =
        strata_web::promql::http::router(Arc::new(crate::promql::Region(Arc::new(store))));
    Router::new()
        .merge(strata_web::assets::routes())
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/api/v1/console", get(console))
        .route("/api/v1/overview", get(overview))
        // the centre's services are not known here: none
        .route("/api/v1/services", get(|| async { Json([(); 0]) }))
        .route("/api/v1/resources", get(resources))
        .route("/api/v1/events", get(events))
        .route("/api/v1/events/ack", post(acknowledge))
        .route("/api/v1/resources/{region}/{host}/metrics", get(metrics))
        .route("/api/v1/resources/{region}/{host}/snapshot", get(snapshot))
        .route("/api/v1/resources/{region}/{host}/events", get(host_events))
        .route(
            "/api/v1/resources/{region}/{host}/config",
            put(configure).get(agent_config),
        )
        .route(
            "/api/v1/regions/{region}/rules",
            get(get_rules).put(put_rules),
        )
        .route("/api/v1/regions/{region}/notifications", get(notifications))
        .route("/api/v1/regions/{region}/agents", get(agents))
        .route("/api/v1/regions/{region}/forwarding", get(forwarding))
        .route(
            "/api/v1/regions/{region}/notify",
            get(get_notify).put(put_notify).delete(delete_notify),
        )
        .route(
            "/api/v1/stream",
            get(move |State(api): State<Arc<Api>>| stream(api, shutdown.clone())),
        )
        .with_state(Arc::new(api))
        .merge(prometheus)
}

fn region_is(api: &Api, region: &str) -> Result<(), ApiError> {
    if region == api.region {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "region '{region}' is not served here (this is region '{}')",
            api.region
        )))
    }
}

async fn console(State(api): State<Arc<Api>>) -> Json<ConsoleJson> {
    Json(ConsoleJson::region(&api.region, &api.member))
}

/// The region alone, as the centre's overview shows a region.
fn overview_json(api: &Api) -> OverviewJson {
    let s = api.state.summary();
    let acknowledged = api
        .state
        .open_events()
        .iter()
        .filter(|e| e.acknowledged_ms > 0)
        .count();
    OverviewJson {
        regions: vec![RegionJson {
            name: api.region.clone(),
            sub_managers: vec![SubManagerJson {
                id: api.member.clone(),
                address: String::new(),
                healthy: true,
            }],
            resources: ResourceCounts {
                total: s.resources_total,
                up: s.resources_up,
                down: s.resources_down,
                unknown: s.resources_unknown,
            },
            events: EventCounts {
                warning: s.events_warning,
                critical: s.events_critical,
                acknowledged: acknowledged as u32,
            },
        }],
        generated_at_ms: strata_proto::now_ms(),
        scope: Some("region"),
    }
}

async fn overview(State(api): State<Arc<Api>>) -> Json<OverviewJson> {
    Json(overview_json(&api))
}

async fn resources(State(api): State<Arc<Api>>) -> Json<Vec<ResourceJson>> {
    let mut list: Vec<ResourceJson> = api.state.resources().iter().map(ResourceJson::of).collect();
    list.sort_by(|a, b| a.id.cmp(&b.id));
    Json(list)
}

/// Open events, critical first, then the newest.
fn events_where(api: &Api, keep: impl Fn(&strata_proto::v1::Event) -> bool) -> Vec<EventJson> {
    let mut open: Vec<_> = api.state.open_events().into_iter().filter(keep).collect();
    open.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(b.opened_ms.cmp(&a.opened_ms))
    });
    open.iter().map(EventJson::from_event).collect()
}

async fn events(State(api): State<Arc<Api>>) -> Json<Vec<EventJson>> {
    // resolved events live on in the journal and at the centre; the region lists open ones
    Json(events_where(&api, |_| true))
}

async fn host_events(
    State(api): State<Arc<Api>>,
    Path((region, host)): Path<(String, String)>,
) -> Answer<Vec<EventJson>> {
    region_is(&api, &region)?;
    let id = ResourceId::new(region.as_str(), host.as_str()).to_string();
    Ok(Json(events_where(&api, |e| e.resource_id == id)))
}

/// Records `action` on `subject` by `by` in the region's audit log with the outcome of
/// `result`, before it is answered; a change done but not recorded is answered as an error.
fn audited<T>(
    api: &Api,
    by: &Caller,
    action: &str,
    subject: &str,
    detail: String,
    result: Result<T, ApiError>,
) -> Result<T, ApiError> {
    let outcome = match &result {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("failed: {}", e.message),
    };
    let record = by.audit(action, subject, &outcome, detail);
    api.audit.settle(&record, result, ApiError::internal)
}

/// Acknowledges as the caller (a `by` in the body is ignored).
async fn acknowledge(
    State(api): State<Arc<Api>>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<AckRequest>, JsonRejection>,
) -> Answer<AckJson> {
    let Json(b) = body?;
    let by = &caller.principal.name;
    let event = api
        .state
        .acknowledge(
            &b.resource_id,
            &b.rule,
            by,
            &b.comment,
            strata_proto::now_ms(),
        )
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no open event of rule '{}' on '{}'",
                b.rule, b.resource_id
            ))
        });
    let subject = format!("{}/{}", b.resource_id, b.rule);
    let event = audited(&api, &caller, "acknowledge", &subject, String::new(), event)?;
    info!(resource = %b.resource_id, rule = %b.rule, %by, "event acknowledged on the regional console");
    Ok(Json(AckJson::of(vec![EventJson::from_event(&event)])))
}

async fn metrics(
    State(api): State<Arc<Api>>,
    Path((region, host)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer<SeriesJson> {
    region_is(&api, &region)?;
    let request = params::history(
        &ResourceId::new(region.as_str(), host.as_str()).to_string(),
        &q,
        strata_proto::now_ms(),
    )?;
    let name = request.name.clone();
    let (tsdb, region) = (api.tsdb.clone(), api.region.clone());
    let series = tokio::task::spawn_blocking(move || crate::api::query(&tsdb, &region, &request))
        .await
        .map_err(|e| ApiError::internal(format!("query task: {e}")))??;
    Ok(Json(SeriesJson::of(
        &name,
        series.into_iter().map(|s| {
            (
                strata_proto::labels::to_map(&s.labels),
                s.points.into_iter().map(|p| (p.ts_ms, p.value)).collect(),
            )
        }),
    )))
}

async fn snapshot(
    State(api): State<Arc<Api>>,
    Path((region, host)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer<SnapshotJson> {
    region_is(&api, &region)?;
    let (top, order) = (params::top(&q)?, params::order(&q)?);
    let answer = api
        .agent_snapshot(Request::new(AgentSnapshotRequest {
            region: region.clone(),
            resource_id: ResourceId::new(region.as_str(), host.as_str()).to_string(),
            top,
            order,
        }))
        .await?
        .into_inner();
    Ok(Json(SnapshotJson::of(&answer)))
}

async fn agent_config(
    State(api): State<Arc<Api>>,
    Path((region, host)): Path<(String, String)>,
) -> Answer<AgentConfigJson> {
    region_is(&api, &region)?;
    let id = ResourceId::new(region.as_str(), host.as_str()).to_string();
    let answer = api
        .get_agent_config(Request::new(strata_proto::v1::AgentConfigRequest {
            region,
            resource_id: id,
        }))
        .await?
        .into_inner();
    Ok(Json(answer.into()))
}

async fn configure(
    State(api): State<Arc<Api>>,
    Extension(caller): Extension<Caller>,
    Path((region, host)): Path<(String, String)>,
    body: String,
) -> Answer<ConfiguredJson> {
    region_is(&api, &region)?;
    let id = ResourceId::new(region.as_str(), host.as_str()).to_string();
    // what was pushed before, for the audit's before and after (secrets hidden)
    let before = api
        .get_agent_config(Request::new(strata_proto::v1::AgentConfigRequest {
            region: region.clone(),
            resource_id: id.clone(),
        }))
        .await
        .ok()
        .map(|r| r.into_inner().pushed_toml);
    let after = body.clone();
    let answer = api
        .configure_agent(Request::new(ConfigureAgentRequest {
            region,
            resource_id: id.clone(),
            config_toml: body,
        }))
        .await
        .map_err(ApiError::from)
        .and_then(|a| ConfiguredJson::of(&id, a.into_inner()).map_err(ApiError::bad_request));
    let detail = match (&answer, before) {
        (Ok(_), Some(b)) => strata_web::auth::change_detail(
            &strata_web::auth::mask_secrets(&b),
            &strata_web::auth::mask_secrets(&after),
        ),
        _ => String::new(),
    };
    audited(&api, &caller, "configure agent", &id, detail, answer).map(Json)
}

async fn get_rules(State(api): State<Arc<Api>>, Path(region): Path<String>) -> Answer<RulesJson> {
    region_is(&api, &region)?;
    let r = api
        .get_rules(Request::new(GetRulesRequest { region }))
        .await?
        .into_inner();
    Ok(Json(RulesJson::of(&r)))
}

async fn put_rules(
    State(api): State<Arc<Api>>,
    Extension(caller): Extension<Caller>,
    Path(region): Path<String>,
    body: String,
) -> Answer<RulesJson> {
    region_is(&api, &region)?;
    let subject = format!("regions/{region}/rules");
    let before = api.rules.describe().0;
    let r = api
        .put_rules(Request::new(PutRulesRequest {
            region,
            rules_toml: body,
        }))
        .await
        .map_err(ApiError::from);
    let detail = r.as_ref().map_or(String::new(), |r| {
        strata_web::auth::change_detail(&before, &r.get_ref().rules_toml)
    });
    let r = audited(&api, &caller, "put rules", &subject, detail, r)?.into_inner();
    Ok(Json(RulesJson::of(&r)))
}

async fn agents(State(api): State<Arc<Api>>, Path(region): Path<String>) -> Answer<Vec<AgentJson>> {
    region_is(&api, &region)?;
    let r = api
        .list_agents(Request::new(ListAgentsRequest { region }))
        .await?
        .into_inner();
    Ok(Json(r.agents.iter().map(AgentJson::of).collect()))
}

async fn forwarding(
    State(api): State<Arc<Api>>,
    Path(region): Path<String>,
) -> Answer<Vec<ForwardingJson>> {
    region_is(&api, &region)?;
    let r = api
        .list_forwarding(Request::new(ListForwardingRequest { region }))
        .await?
        .into_inner();
    Ok(Json(
        r.destinations.iter().map(ForwardingJson::of).collect(),
    ))
}

async fn get_notify(State(api): State<Arc<Api>>, Path(region): Path<String>) -> Answer<NotifyJson> {
    region_is(&api, &region)?;
    let r = api
        .get_notify(Request::new(GetNotifyRequest { region }))
        .await?
        .into_inner();
    Ok(Json(NotifyJson::of(&r)))
}

/// Replaces the region's channels with `notify_toml`, or gives them back to the config
/// file's.
async fn replace_notify(
    api: &Api,
    by: &Caller,
    region: String,
    notify_toml: String,
    use_file: bool,
) -> Answer<NotifyJson> {
    region_is(api, &region)?;
    let subject = format!("regions/{region}/notify");
    let before = api.channels.describe().notify_toml;
    let r = api
        .put_notify(Request::new(PutNotifyRequest {
            region,
            notify_toml,
            use_file,
        }))
        .await
        .map_err(ApiError::from);
    let action = if use_file {
        "notification channels from the config file"
    } else {
        "put notification channels"
    };
    let detail = r.as_ref().map_or(String::new(), |r| {
        strata_web::auth::change_detail(&before, &r.get_ref().notify_toml)
    });
    let r = audited(api, by, action, &subject, detail, r)?.into_inner();
    Ok(Json(NotifyJson::of(&r)))
}

async fn put_notify(
    State(api): State<Arc<Api>>,
    Extension(caller): Extension<Caller>,
    Path(region): Path<String>,
    body: String,
) -> Answer<NotifyJson> {
    replace_notify(&api, &caller, region, body, false).await
}

async fn delete_notify(
    State(api): State<Arc<Api>>,
    Extension(caller): Extension<Caller>,
    Path(region): Path<String>,
) -> Answer<NotifyJson> {
    replace_notify(&api, &caller, region, String::new(), true).await
}

async fn notifications(
    State(api): State<Arc<Api>>,
    Path(region): Path<String>,
) -> Answer<Vec<NotificationJson>> {
    region_is(&api, &region)?;
    let r = api
        .list_notifications(Request::new(ListNotificationsRequest {
            region,
            limit: 100,
        }))
        .await?
        .into_inner();
    Ok(Json(
        r.notifications.iter().map(NotificationJson::of).collect(),
    ))
}

async fn stream(api: Arc<Api>, until: CancellationToken) -> impl IntoResponse {
    strata_web::stream::overview(move || overview_json(&api), until)
}
