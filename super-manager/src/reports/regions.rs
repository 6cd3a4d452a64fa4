//! The reports read from the regions' history: comparison and capacity.

use std::collections::HashMap;

use serde_json::json;
use strata_proto::labels::to_map;
use strata_tsdb::Labels;

use super::{DAY_MS, Table, scope, trend};
use crate::Shared;
use crate::api::ApiError;
use crate::period::Period;

/// The resources a comparison or capacity report is about: `resources=` (comma-separated
/// ids) or the service's.
fn resources_param(shared: &Shared, q: &HashMap<String, String>) -> Result<Vec<String>, ApiError> {
    let ids: Vec<String> = match (q.get("resources"), q.get("service")) {
        (Some(list), _) => list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        (None, Some(service)) => scope(shared, Some(service)),
        (None, None) => Vec::new(),
    };
    if ids.is_empty() {
        return Err(ApiError::bad_request(
            "resources: name the resources (resources=eu/web-1,eu/web-2) or a service (service=shop)",
        ));
    }
    for id in &ids {
        if id
            .split_once('/')
            .is_none_or(|(r, h)| r.is_empty() || h.is_empty())
        {
            return Err(ApiError::bad_request(format!(
                "resources: '{id}' is not '<region>/<host>'"
            )));
        }
    }
    Ok(ids)
}

/// The history of metric `name` of resource `id` over `period`, read through the brokers.
async fn history(
    shared: &Shared,
    id: &str,
    name: &str,
    labels: &[(String, String)],
    period: Period,
    step_ms: i64,
) -> Result<Vec<(Labels, Vec<(i64, f64)>)>, ApiError> {
    let mut q: HashMap<String, String> = labels
        .iter()
        .map(|(k, v)| (format!("label.{k}"), v.clone()))
        .collect();
    q.insert("name".into(), name.into());
    q.insert("from_ms".into(), period.from_ms.to_string());
    q.insert("to_ms".into(), period.to_ms.to_string());
    q.insert("step_ms".into(), step_ms.to_string());
    let request = crate::history::parse(id, &q, period.to_ms)?.request;
    let answer = shared.brokers.query_range(request).await.map_err(|s| {
        ApiError::from_status(s, &format!("query {name} of {id} through the brokers"))
    })?;
    Ok(answer
        .series
        .into_iter()
        .map(|s| {
            (
                to_map(&s.labels),
                s.points.into_iter().map(|p| (p.ts_ms, p.value)).collect(),
            )
        })
        .collect())
}

/// A series' labels as `k=v,k=v`, without the `agent` label every series has.
pub(crate) fn shown(labels: &Labels) -> String {
    labels
        .iter()
        .filter(|(k, _)| k.as_str() != "agent")
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A step giving about 500 points over `period`, at least a second.
fn step_for(period: Period) -> i64 {
    ((period.to_ms - period.from_ms) / 500).max(1000)
}

pub(super) async fn comparison(
    shared: &Shared,
    q: &HashMap<String, String>,
    period: Period,
) -> Result<Table, ApiError> {
    let ids = resources_param(shared, q)?;
    let metric = q
        .get("metric")
        .cloned()
        .unwrap_or_else(|| "host_cpu_usage_ratio".into());
    let mut labels: Vec<(String, String)> = q
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("label.").map(|l| (l.to_string(), v.clone())))
        .collect();
    if metric == "host_cpu_usage_ratio" && labels.is_empty() {
        labels.push(("cpu".into(), "total".into()));
    }
    labels.sort();
    let mut t = Table::new(
        "comparison",
        period,
        &[
            "resource", "metric", "labels", "points", "min", "avg", "p95", "max", "last",
        ],
    );
    let step = step_for(period);
    for id in &ids {
        for (series_labels, points) in history(shared, id, &metric, &labels, period, step).await? {
            let Some(s) = trend::stats(&points) else {
                continue;
            };
            t.push([
                ("resource", json!(id)),
                ("metric", json!(metric)),
                ("labels", json!(shown(&series_labels))),
                ("points", json!(s.points)),
                ("min", json!(s.min)),
                ("avg", json!(s.avg)),
                ("p95", json!(s.p95)),
                ("max", json!(s.max)),
                ("last", json!(s.last)),
            ]);
        }
    }
    Ok(t)
}

pub(super) async fn capacity(
    shared: &Shared,
    q: &HashMap<String, String>,
    period: Period,
    now: i64,
) -> Result<Table, ApiError> {
    let ids = resources_param(shared, q)?;
    let limit = match q.get("limit") {
        None => 0.9,
        Some(v) => v
            .parse::<f64>()
            .ok()
            .filter(|l| *l > 0.0 && *l <= 1.0)
            .ok_or_else(|| {
                ApiError::bad_request(format!("limit: '{v}' is not a ratio above 0 and at most 1"))
            })?,
    };
    let mut t = Table::new(
        "capacity",
        period,
        &[
            "resource",
            "metric",
            "labels",
            "now",
            "per_day",
            "limit",
            "days_to_limit",
            "reaches_limit_ms",
        ],
    );
    let step = step_for(period);
    let wanted: [(&str, Vec<(String, String)>); 2] = [
        ("host_filesystem_used_ratio", Vec::new()),
        ("host_cpu_usage_ratio", vec![("cpu".into(), "total".into())]),
    ];
    for id in &ids {
        for (metric, labels) in &wanted {
            for (series_labels, points) in history(shared, id, metric, labels, period, step).await?
            {
                let Some(f) = trend::forecast(&points, limit, now) else {
                    continue;
                };
                t.push([
                    ("resource", json!(id)),
                    ("metric", json!(metric)),
                    ("labels", json!(shown(&series_labels))),
                    ("now", json!(f.now)),
                    ("per_day", json!(f.per_day)),
                    ("limit", json!(limit)),
                    (
                        "days_to_limit",
                        json!(f.reaches_ms.map(|r| (r - now) as f64 / DAY_MS as f64)),
                    ),
                    ("reaches_limit_ms", json!(f.reaches_ms)),
                ]);
            }
        }
    }
    Ok(t)
}
