//! The regional console: regional operators keep a console when the centre is unreachable.
//! It is the centre's console itself — the same files, embedded from
//! `super-manager/assets/` — served on `console_listen` with the part of the REST API a
//! region answers alone, in the same JSON (`strata_proto::views`): the region's overview,
//! resources, open events and their acknowledgement, a host's metrics (from this member's
//! store), live processes and configuration, the region's rules and notifications, and the
//! live stream. `GET /api/v1/console` says `"scope": "region"`, and the console hides what
//! only the centre knows (services, the map, reports, comparisons).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::Stream;
use serde::Deserialize;
use serde_json::{Value, json};
use strata_proto::v1::sub_manager_server::SubManager;
use strata_proto::v1::{
    AgentSnapshotRequest, ConfigureAgentRequest, GetNotifyRequest, GetRulesRequest,
    ListAgentsRequest, ListNotificationsRequest, PutNotifyRequest, PutRulesRequest,
};
use strata_proto::views::{
    EventJson, ResourceJson, agent_json, history_request, notification_json, notify_json,
    rules_json, series_json, snapshot_json,
};
use tonic::{Code, Request, Status};
use tracing::info;

use crate::api::Api;

/// How often the stream sends the overview.
const STREAM_EVERY: Duration = Duration::from_secs(2);

#[derive(rust_embed::Embed)]
#[folder = "../super-manager/assets/"]
struct Assets;

/// An API error: a status and a message naming what was wrong.
struct Failure(StatusCode, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<Status> for Failure {
    fn from(s: Status) -> Self {
        let code = match s.code() {
            Code::InvalidArgument => StatusCode::BAD_REQUEST,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::FailedPrecondition => StatusCode::CONFLICT,
            Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::BAD_GATEWAY,
        };
        Failure(code, s.message().to_string())
    }
}

fn bad_request(message: impl Into<String>) -> Failure {
    Failure(StatusCode::BAD_REQUEST, message.into())
}

type Answer = Result<Json<Value>, Failure>;

/// The regional console's router over this member's API.
pub fn router(api: Api) -> Router {
    Router::new()
        .route("/", get(|| async { serve("index.html") }))
        .route(
            "/assets/{*path}",
            get(|Path(path): Path<String>| async move { serve(&path) }),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/api/v1/console", get(console))
        .route("/api/v1/overview", get(overview))
        .route("/api/v1/services", get(|| async { Json(json!([])) }))
        .route("/api/v1/resources", get(resources))
        .route("/api/v1/events", get(events))
        .route("/api/v1/events/ack", post(acknowledge))
        .route("/api/v1/resources/{region}/{host}/metrics", get(metrics))
        .route("/api/v1/resources/{region}/{host}/snapshot", get(snapshot))
        .route("/api/v1/resources/{region}/{host}/events", get(host_events))
        .route(
            "/api/v1/resources/{region}/{host}/config",
            axum::routing::put(configure),
        )
        .route(
            "/api/v1/regions/{region}/rules",
            get(get_rules).put(put_rules),
        )
        .route("/api/v1/regions/{region}/notifications", get(notifications))
        .route("/api/v1/regions/{region}/agents", get(agents))
        .route(
            "/api/v1/regions/{region}/notify",
            get(get_notify).put(put_notify).delete(delete_notify),
        )
        .route("/api/v1/stream", get(stream))
        .with_state(Arc::new(api))
}

fn serve(path: &str) -> Response {
    let kind = match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    };
    match Assets::get(path) {
        Some(file) => (
            [
                (header::CONTENT_TYPE, kind),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            file.data.into_owned(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, format!("no asset '{path}'")).into_response(),
    }
}

fn region_is(api: &Api, region: &str) -> Result<(), Failure> {
    if region == api.region {
        Ok(())
    } else {
        Err(Failure(
            StatusCode::NOT_FOUND,
            format!(
                "region '{region}' is not served here (this is region '{}')",
                api.region
            ),
        ))
    }
}

async fn console(State(api): State<Arc<Api>>) -> Json<Value> {
    Json(json!({ "scope": "region", "region": api.region, "member": api.member }))
}

fn overview_json(api: &Api) -> Value {
    let s = api.state.summary();
    let acknowledged = api
        .state
        .open_events()
        .iter()
        .filter(|e| e.acknowledged_ms > 0)
        .count();
    json!({
        "scope": "region",
        "regions": [{
            "name": api.region,
            "sub_managers": [{ "id": api.member, "address": "", "healthy": true }],
            "resources": {
                "total": s.resources_total, "up": s.resources_up,
                "down": s.resources_down, "unknown": s.resources_unknown,
            },
            "events": {
                "warning": s.events_warning, "critical": s.events_critical,
                "acknowledged": acknowledged,
            },
        }],
        "generated_at_ms": strata_proto::now_ms(),
    })
}

async fn overview(State(api): State<Arc<Api>>) -> Json<Value> {
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
) -> Result<Json<Vec<EventJson>>, Failure> {
    region_is(&api, &region)?;
    let id = format!("{region}/{host}");
    Ok(Json(events_where(&api, |e| e.resource_id == id)))
}

/// The body of `POST /api/v1/events/ack`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AckBody {
    resource_id: String,
    rule: String,
    by: String,
    #[serde(default)]
    comment: String,
}

async fn acknowledge(
    State(api): State<Arc<Api>>,
    body: Result<Json<AckBody>, axum::extract::rejection::JsonRejection>,
) -> Answer {
    let Json(b) = body.map_err(|e| bad_request(format!("body: {}", e.body_text())))?;
    if b.by.trim().is_empty() {
        return Err(bad_request("by: must not be empty"));
    }
    let event = api
        .state
        .acknowledge(
            &b.resource_id,
            &b.rule,
            &b.by,
            &b.comment,
            strata_proto::now_ms(),
        )
        .ok_or_else(|| {
            Failure(
                StatusCode::NOT_FOUND,
                format!("no open event of rule '{}' on '{}'", b.rule, b.resource_id),
            )
        })?;
    info!(resource = %b.resource_id, rule = %b.rule, by = %b.by, "event acknowledged on the regional console");
    Ok(Json(
        json!({ "acknowledged": 1, "events": [EventJson::from_event(&event)] }),
    ))
}

async fn metrics(
    State(api): State<Arc<Api>>,
    Path((region, host)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    region_is(&api, &region)?;
    let request = history_request(&format!("{region}/{host}"), &q, strata_proto::now_ms())
        .map_err(bad_request)?;
    let name = request.name.clone();
    let (tsdb, region) = (api.tsdb.clone(), api.region.clone());
    let series = tokio::task::spawn_blocking(move || crate::api::query(&tsdb, &region, &request))
        .await
        .map_err(|e| {
            Failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("query task: {e}"),
            )
        })??;
    Ok(Json(series_json(
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
) -> Answer {
    region_is(&api, &region)?;
    let top = match q.get("top") {
        None => 20,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|t| (1..=500).contains(t))
            .ok_or_else(|| bad_request(format!("top: '{v}' is not a number from 1 to 500")))?,
    };
    let answer = api
        .agent_snapshot(Request::new(AgentSnapshotRequest {
            region: region.clone(),
            resource_id: format!("{region}/{host}"),
            top,
        }))
        .await?
        .into_inner();
    Ok(Json(snapshot_json(&answer)))
}

async fn configure(
    State(api): State<Arc<Api>>,
    Path((region, host)): Path<(String, String)>,
    body: String,
) -> Answer {
    region_is(&api, &region)?;
    let id = format!("{region}/{host}");
    let answer = api
        .configure_agent(Request::new(ConfigureAgentRequest {
            region,
            resource_id: id.clone(),
            config_toml: body,
        }))
        .await?
        .into_inner();
    if !answer.applied {
        return Err(bad_request(format!(
            "the agent of {id} refused the configuration: {}",
            answer.problems.join("; ")
        )));
    }
    Ok(Json(json!({ "applied": true, "checks": answer.checks })))
}

async fn get_rules(State(api): State<Arc<Api>>, Path(region): Path<String>) -> Answer {
    region_is(&api, &region)?;
    let r = api
        .get_rules(Request::new(GetRulesRequest { region }))
        .await?
        .into_inner();
    Ok(Json(rules_json(&r)))
}

async fn put_rules(
    State(api): State<Arc<Api>>,
    Path(region): Path<String>,
    body: String,
) -> Answer {
    region_is(&api, &region)?;
    let r = api
        .put_rules(Request::new(PutRulesRequest {
            region,
            rules_toml: body,
        }))
        .await?
        .into_inner();
    Ok(Json(rules_json(&r)))
}

async fn agents(State(api): State<Arc<Api>>, Path(region): Path<String>) -> Answer {
    region_is(&api, &region)?;
    let r = api
        .list_agents(Request::new(ListAgentsRequest { region }))
        .await?
        .into_inner();
    Ok(Json(Value::Array(
        r.agents.iter().map(agent_json).collect(),
    )))
}

async fn get_notify(State(api): State<Arc<Api>>, Path(region): Path<String>) -> Answer {
    region_is(&api, &region)?;
    let r = api
        .get_notify(Request::new(GetNotifyRequest { region }))
        .await?
        .into_inner();
    Ok(Json(notify_json(&r)))
}

/// Replaces the region's channels with `notify_toml`, or gives them back to the config
/// file's.
async fn replace_notify(api: &Api, region: String, notify_toml: String, use_file: bool) -> Answer {
    region_is(api, &region)?;
    let r = api
        .put_notify(Request::new(PutNotifyRequest {
            region,
            notify_toml,
            use_file,
        }))
        .await?
        .into_inner();
    Ok(Json(notify_json(&r)))
}

async fn put_notify(
    State(api): State<Arc<Api>>,
    Path(region): Path<String>,
    body: String,
) -> Answer {
    replace_notify(&api, region, body, false).await
}

async fn delete_notify(State(api): State<Arc<Api>>, Path(region): Path<String>) -> Answer {
    replace_notify(&api, region, String::new(), true).await
}

async fn notifications(State(api): State<Arc<Api>>, Path(region): Path<String>) -> Answer {
    region_is(&api, &region)?;
    let r = api
        .list_notifications(Request::new(ListNotificationsRequest {
            region,
            limit: 100,
        }))
        .await?
        .into_inner();
    Ok(Json(Value::Array(
        r.notifications.iter().map(notification_json).collect(),
    )))
}

async fn stream(
    State(api): State<Arc<Api>>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let ticks = tokio_stream::wrappers::IntervalStream::new(tokio::time::interval(STREAM_EVERY));
    let events = futures::StreamExt::map(ticks, move |_| {
        Ok(SseEvent::default()
            .event("overview")
            .json_data(overview_json(&api))
            .unwrap_or_else(|_| SseEvent::default().event("error")))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}
