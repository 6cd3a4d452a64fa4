//! `GET /api/v1/reports/{kind}?period=&format=json|csv`: a report ([`crate::reports`]) as
//! JSON, or as a CSV download; `GET /api/v1/reports/schedules`: the scheduled reports.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use strata_web::ApiError;

use crate::reports::{self, Table};
use crate::shared::Shared;

pub(super) async fn report(
    State(shared): State<Arc<Shared>>,
    Path(kind): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let csv = match q.get("format").map(String::as_str) {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "format: '{other}' is not json or csv"
            )));
        }
    };
    Ok(respond(reports::table(shared, &kind, &q).await?, csv))
}

/// `GET /api/v1/reports/schedules`: every scheduled report, when it is next due and what
/// was last done (sent, late, the receivers that have it, the last error).
pub(super) async fn schedules(
    State(shared): State<Arc<Shared>>,
) -> axum::Json<Vec<reports::deliver::Status>> {
    let schedules = reports::deliver::configured(&shared);
    axum::Json(reports::deliver::statuses(
        &shared.schedule_board,
        &schedules,
        strata_proto::now_ms(),
    ))
}

/// The table as JSON, or as a CSV attachment named after its kind and start.
fn respond(table: Table, csv: bool) -> Response {
    if csv {
        let name = format!("strata-{}-{}.csv", table.kind, table.from_ms);
        (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}\""),
                ),
            ],
            table.to_csv(),
        )
            .into_response()
    } else {
        axum::Json(table).into_response()
    }
}
