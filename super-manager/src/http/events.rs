//! The incidents: `GET /api/v1/events?region=&include=` and their acknowledgement,
//! `POST /api/v1/events/ack`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::{Extension, Json};
use strata_web::ApiError;
use strata_web::auth::Caller;
use strata_web::views::{AckJson, AckRequest, EventJson};

use super::Answer;
use crate::acks;
use crate::shared::Shared;

/// `GET /api/v1/events?region=&include=open|resolved`: open incidents, critical first; with
/// `include=resolved` the resolved ones kept too, newest first.
pub(super) async fn list(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer<Vec<EventJson>> {
    let region = q.get("region").map(String::as_str);
    shared.known_region(region)?;
    let resolved = match q.get("include").map(String::as_str) {
        None | Some("open") => false,
        Some("resolved") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "include: '{other}' is not 'open' or 'resolved'"
            )));
        }
    };
    let mut list = shared
        .overview
        .read()
        .expect("overview lock poisoned")
        .events_json(region, resolved);
    list.retain(|e| super::scope::sees_resource(&shared, &caller, &e.resource_id));
    Ok(Json(list))
}

/// `POST /api/v1/events/ack`: acknowledges the open incident of `rule` on `resource_id`.
pub(super) async fn acknowledge(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<AckRequest>, JsonRejection>,
) -> Answer<AckJson> {
    let Json(req) = body?;
    Ok(Json(AckJson::of(
        acks::acknowledge(&shared, &caller, &req).await?,
    )))
}
