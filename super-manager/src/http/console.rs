//! The console's own endpoints (its files are served by `strata_web::assets`): what this
//! console covers, and the live stream it follows to stay current.

use std::sync::Arc;

use axum::extract::State;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use strata_web::auth::Caller;
use strata_web::views::ConsoleJson;

use crate::shared::Shared;

/// `GET /api/v1/console`: the whole enterprise (a sub-manager's regional console answers
/// `"scope": "region"`).
pub(super) async fn scope() -> Json<ConsoleJson> {
    Json(ConsoleJson::enterprise())
}

/// `GET /api/v1/stream`: server-sent events; an `overview` event (the overview's JSON) at
/// once and every two seconds, for as long as the client listens.
pub(super) async fn stream(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
) -> impl IntoResponse {
    let until = shared.shutdown.clone();
    strata_web::stream::overview(move || super::overview::seen_by(&shared, &caller), until)
}
