//! `GET /api/v1/services/{name}/rca?window_ms=`: the likely causes of a service's state,
//! best first, with their evidence ([`crate::root_cause`]).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};

use super::Answer;
use crate::root_cause;
use crate::services::rca::Analysis;
use crate::shared::Shared;

pub(super) async fn rca(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer<Analysis> {
    Ok(Json(root_cause::analysis(&shared, &name, &q).await?))
}
