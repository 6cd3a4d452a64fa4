//! `GET /api/v1/placement?service=S&component=C[&window_ms=&w_cpu=&w_memory=&w_network=]`:
//! the nodes of a group ranked by live load, least loaded first ([`crate::placement`]).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};

use super::Answer;
use crate::placement::{self, Placement};
use crate::shared::Shared;

pub(super) async fn placement(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer<Placement> {
    Ok(Json(placement::placement(&shared, &q).await?))
}
