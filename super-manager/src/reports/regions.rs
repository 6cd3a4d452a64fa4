//! The reports read from the regions' history: comparison here, and the readers the
//! capacity report shares.

use std::collections::HashMap;

use serde_json::json;
use strata_proto::ResourceId;
use strata_proto::labels::label_matcher;
use strata_proto::v1::{Aggregation, LabelMatcher, QueryRangeRequest};

use super::{Table, scope, trend};
use crate::error::{Result, SuperManagerError};
use crate::history::{Series, read, shown};
use crate::period::Period;
use crate::shared::Shared;

/// The resources a comparison or capacity report is about: `resources=` (comma-separated
/// ids) or the service's.
pub(super) fn resources_param(shared: &Shared, q: &HashMap<String, String>) -> Result<Vec<String>> {
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
        return Err(SuperManagerError::BadRequest(
            "resources: name the resources (resources=eu/web-1,eu/web-2) or a service (service=shop)".into(),
        ));
    }
    for id in &ids {
        ResourceId::parse(id)
            .map_err(|e| SuperManagerError::BadRequest(format!("resources: {e}")))?;
    }
    Ok(ids)
}

/// The history of metric `name` (with `labels` matched, as `label.<name>=` writes them) of
/// resource `id` over `period` in steps of `step_ms`, read through the brokers.
pub(super) async fn history(
    shared: &Shared,
    id: &str,
    name: &str,
    labels: &[(String, String)],
    period: Period,
    step_ms: i64,
    aggregation: Aggregation,
) -> Result<Vec<Series>> {
    let region = strata_proto::resource::region_of(id);
    let mut label_matchers: Vec<LabelMatcher> = labels
        .iter()
        .map(|(label, value)| label_matcher(label, value))
        .collect();
    label_matchers.sort_by(|a, b| (&a.name, &a.value).cmp(&(&b.name, &b.value)));
    let request = QueryRangeRequest {
        region: region.to_string(),
        resource_id: id.to_string(),
        name: name.to_string(),
        from_ms: period.from_ms,
        to_ms: period.to_ms,
        step_ms,
        aggregation: aggregation as i32,
        label_matchers,
        ..Default::default()
    };
    read(
        shared,
        request,
        &format!("query {name} of {id} through the brokers"),
    )
    .await
}

/// A step giving about 500 points over `period`, at least a second.
fn step_for(period: Period) -> i64 {
    ((period.to_ms - period.from_ms) / 500).max(1000)
}

pub(super) async fn comparison(
    shared: &Shared,
    q: &HashMap<String, String>,
    period: Period,
) -> Result<Table> {
    let ids = resources_param(shared, q)?;
    let metric = q
        .get("metric")
        .cloned()
        .unwrap_or_else(|| "host_cpu_usage_ratio".into());
    if metric.is_empty() {
        return Err(SuperManagerError::BadRequest(
            "metric: must not be empty (a metric name such as host_cpu_usage_ratio)".into(),
        ));
    }
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
        for (series_labels, points) in
            history(shared, id, &metric, &labels, period, step, Aggregation::Avg).await?
        {
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
