//! File distribution over REST: `GET /api/v1/files` (every bundle and how many hosts have
//! it), `POST /api/v1/files` (publish), `GET /api/v1/files/{name}` (its files and each
//! host's status), `POST /api/v1/files/{name}/rollback` (`{"to": N}`, default the version
//! before the latest). Publishing and rolling back are audited.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use strata_web::auth::Caller;

use super::Answer;
use crate::distribution::publish::{self, PublishRequest};
use crate::files::store::BundleRecord;
use crate::shared::Shared;

/// A bundle in the list: its latest version and its hosts counted by state.
#[derive(Debug, Serialize)]
pub struct BundleSummary {
    pub name: String,
    pub version: u64,
    pub rollback_to: u64,
    pub published_by: String,
    pub published_ms: i64,
    pub files: usize,
    pub hosts: usize,
    pub applied: usize,
    pub refused: usize,
    pub pending: usize,
}

fn summary(b: &BundleRecord) -> BundleSummary {
    let count = |s: &str| b.hosts.values().filter(|h| h.state == s).count();
    BundleSummary {
        name: b.name.clone(),
        version: b.version,
        rollback_to: b.rollback_to,
        published_by: b.published_by.clone(),
        published_ms: b.published_ms,
        files: b.files.len(),
        hosts: b.hosts.len(),
        applied: count("applied"),
        refused: count("refused"),
        pending: count("pending"),
    }
}

pub(super) async fn list(State(shared): State<Arc<Shared>>) -> Answer<Vec<BundleSummary>> {
    Ok(Json(shared.files.list().iter().map(summary).collect()))
}

pub(super) async fn detail(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> Answer<BundleRecord> {
    shared
        .files
        .get(&name)
        .map(Json)
        .ok_or_else(|| strata_web::ApiError::not_found(format!("no bundle '{name}'")))
}

/// Audits `done` (a publish or a rollback) and wakes the distribution.
fn settle(
    shared: &Shared,
    by: &Caller,
    action: &str,
    name: &str,
    done: crate::error::Result<BundleRecord>,
) -> Answer<BundleRecord> {
    let detail = match &done {
        Ok(b) => format!(
            "version {}{}, {} file(s) ({}), {} host(s)",
            b.version,
            if b.rollback_to > 0 {
                format!(" restoring {}", b.rollback_to)
            } else {
                String::new()
            },
            b.files.len(),
            b.files
                .iter()
                .map(|f| format!("{} {}", f.path, f.mode))
                .collect::<Vec<_>>()
                .join(", "),
            b.hosts.len()
        ),
        Err(_) => String::new(),
    };
    crate::audit::record(shared, by, action, name, detail, &done)?;
    let record = done?;
    shared.files_published.notify_one();
    Ok(Json(record))
}

pub(super) async fn publish(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<PublishRequest>,
) -> Answer<BundleRecord> {
    let done = publish::publish(&shared, &req, &caller.principal.name);
    settle(&shared, &caller, "publish files", &req.name, done)
}

/// `POST /api/v1/files/{name}/rollback`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RollbackRequest {
    /// The version to restore (default the one before the latest).
    pub to: Option<u64>,
}

pub(super) async fn rollback(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: String,
) -> Answer<BundleRecord> {
    let req: RollbackRequest = if body.trim().is_empty() {
        RollbackRequest::default()
    } else {
        serde_json::from_str(&body)
            .map_err(|e| strata_web::ApiError::bad_request(format!("the body: {e}")))?
    };
    let done = publish::rollback(&shared, &name, req.to, &caller.principal.name);
    settle(&shared, &caller, "roll back files", &name, done)
}
