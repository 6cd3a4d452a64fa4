//! The REST API under /api/v1, the console, and the super-manager's own health and
//! metrics: every route in one place ([`router`]), its state, its middleware, and the one
//! mapping of the questions' errors to HTTP (`From<SuperManagerError> for ApiError`). The handlers, one file per
//! resource under `http/`, read the request, ask the domain modules, and answer through
//! the shared web crate (`strata_web`: typed views, `ApiError`, the live stream, the
//! console's files).

mod console;
mod events;
mod files;
mod health;
mod history;
pub mod openapi;
mod overview;
mod placement;
mod rca;
mod regions;
mod reports;
mod resources;
pub(crate) mod scope;
mod services;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, put};
use strata_web::ApiError;

use crate::error::SuperManagerError;
use crate::services::{Refused, describe};
use crate::shared::Shared;

/// A handler's answer: its JSON, or the error.
type Answer<T> = Result<axum::Json<T>, ApiError>;

/// The HTTP router of the super-manager: the console's files, the REST API, health and
/// metrics, behind the gate (who may call what, [`strata_web::auth::policy`]).
/// `https`: served over TLS (the session cookie is then `Secure`).
pub fn router(shared: Arc<Shared>, https: bool) -> Router {
    // the API's requests, counted at /metrics (the console's files, stream, scope and the
    // OpenAPI document are not)
    let api = Router::new()
        .route("/api/v1/overview", get(overview::overview))
        .route("/api/v1/resources", get(resources::list))
        .route("/api/v1/events", get(events::list))
        .route("/api/v1/events/ack", post(events::acknowledge))
        .route(
            "/api/v1/regions/{region}/rules",
            get(regions::get_rules).put(regions::put_rules),
        )
        .route(
            "/api/v1/regions/{region}/notifications",
            get(regions::notifications),
        )
        .route("/api/v1/regions/{region}/agents", get(regions::agents))
        .route(
            "/api/v1/regions/{region}/forwarding",
            get(regions::forwarding),
        )
        .route(
            "/api/v1/regions/{region}/notify",
            get(regions::get_notify)
                .put(regions::put_notify)
                .delete(regions::delete_notify),
        )
        .route("/api/v1/resources/{id}/metrics", get(history::by_id))
        .route(
            "/api/v1/resources/{region}/{host}/metrics",
            get(history::by_parts),
        )
        .route(
            "/api/v1/resources/{region}/{host}/snapshot",
            get(resources::snapshot),
        )
        .route(
            "/api/v1/resources/{region}/{host}/events",
            get(resources::events),
        )
        .route(
            "/api/v1/resources/{region}/{host}/config",
            put(resources::configure).get(resources::agent_config),
        )
        .route("/api/v1/placement", get(placement::placement))
        .route("/api/v1/services", get(services::list))
        .route(
            "/api/v1/services/{name}",
            get(services::detail)
                .put(services::put)
                .delete(services::delete),
        )
        .route("/api/v1/services/{name}/versions", get(services::versions))
        .route("/api/v1/services/{name}/sla", get(services::sla))
        .route("/api/v1/services/{name}/rca", get(rca::rca))
        .route("/api/v1/services/{name}/qos", get(services::qos))
        .route("/api/v1/services/{name}/slo", get(services::slo))
        .route("/api/v1/files", get(files::list).post(files::publish))
        .route("/api/v1/files/{name}", get(files::detail))
        .route("/api/v1/files/{name}/rollback", post(files::rollback))
        .route("/api/v1/reports/schedules", get(reports::schedules))
        .route("/api/v1/reports/{kind}", get(reports::report))
        .route_layer(middleware::from_fn_with_state(shared.clone(), count));
    let gate = Arc::new(scope::gate(&shared).secure(https));
    let routes = Router::new()
        .merge(strata_web::assets::routes())
        .route("/api/v1/stream", get(console::stream))
        .route("/api/v1/console", get(console::scope))
        .route("/api/v1/openapi.json", get(openapi::openapi))
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .merge(api)
        .fallback(not_found)
        .with_state(shared.clone());
    let audit = shared.clone();
    let manage = strata_web::auth::manage::routes(
        shared.principals.clone(),
        Arc::new(move |record| audit.services.record_audit(&record)),
    );
    let prometheus =
        strata_web::promql::http::router(Arc::new(crate::promql::Centre(shared.clone())));
    let routes = routes.merge(manage).merge(prometheus);
    gate.wrap(routes)
}

/// Counts an API request answered.
async fn count(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    shared.metrics.http_requests.fetch_add(1, Ordering::Relaxed);
    next.run(request).await
}

async fn not_found() -> ApiError {
    ApiError::not_found(
        "no such endpoint; see /api/v1/overview, /api/v1/resources, /api/v1/events, /api/v1/services",
    )
}

/// A refused question as HTTP: the one place the domain's errors meet HTTP statuses (a
/// region's gRPC status through [`ApiError::from_status`], the web crate's one mapping).
impl From<SuperManagerError> for ApiError {
    fn from(e: SuperManagerError) -> Self {
        match e {
            SuperManagerError::BadRequest(m) => ApiError::bad_request(m),
            SuperManagerError::NotFound(m) => ApiError::not_found(m),
            SuperManagerError::Refused(r) => {
                let message = describe(&r).join("; ");
                match r {
                    Refused::Invalid(_) => ApiError::bad_request(message),
                    Refused::NotFound(_) => ApiError::not_found(message),
                    Refused::InUse(_) => ApiError::conflict(message),
                    Refused::Store(_) => ApiError::internal(message),
                }
            }
            SuperManagerError::Region { doing, status } => ApiError::from_status(status, &doing),
            other => ApiError::internal(other.to_string()),
        }
    }
}
