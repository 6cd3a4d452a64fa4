//! The capacity report: where each resource's CPU, memory, filesystems and network traffic
//! are heading, and when they reach their limit.
//!
//! Each series is read from its region at a step that divides a day and forecast by
//! [`seasonal::forecast`]: Holt-Winters with a daily or weekly season where it predicted
//! the last day better than the line, the line otherwise; the row names the method and
//! shows both errors. Ratios are held against `limit` (0.9 by default); traffic, read as
//! bytes per second, against `limit` times the interface's speed where the host knows it.

use std::collections::HashMap;

use serde_json::json;
use strata_proto::v1::Aggregation;

use super::regions::{history, resources_param};
use super::{DAY_MS, Table, seasonal};
use crate::error::{Result, SuperManagerError};
use crate::history::shown;
use crate::period::Period;
use crate::shared::Shared;

/// Points a forecast reads per series at most.
const MAX_POINTS: i64 = 2000;

/// One series the report forecasts: metric, label matchers, how the region aggregates a
/// step, and whether its limit is the interface's speed (traffic) rather than a ratio.
type Wanted = (
    &'static str,
    &'static [(&'static str, &'static str)],
    Aggregation,
    bool,
);

/// What the report forecasts.
const WANTED: [Wanted; 5] = [
    (
        "host_cpu_usage_ratio",
        &[("cpu", "total")],
        Aggregation::Avg,
        false,
    ),
    ("host_memory_used_ratio", &[], Aggregation::Avg, false),
    ("host_filesystem_used_ratio", &[], Aggregation::Avg, false),
    (
        "host_network_receive_bytes_total",
        &[],
        Aggregation::Rate,
        true,
    ),
    (
        "host_network_transmit_bytes_total",
        &[],
        Aggregation::Rate,
        true,
    ),
];

/// The report's columns.
const COLUMNS: [&str; 14] = [
    "resource",
    "metric",
    "labels",
    "method",
    "season_hours",
    "now",
    "per_day",
    "peak_next_day",
    "error",
    "line_error",
    "limit",
    "days_to_limit",
    "reaches_limit_ms",
    "step_ms",
];

fn limit_param(q: &HashMap<String, String>) -> Result<f64> {
    match q.get("limit") {
        None => Ok(0.9),
        Some(v) => v
            .parse::<f64>()
            .ok()
            .filter(|l| *l > 0.0 && *l <= 1.0)
            .ok_or_else(|| {
                SuperManagerError::BadRequest(format!(
                    "limit: '{v}' is not a ratio above 0 and at most 1"
                ))
            }),
    }
}

/// A finite number as JSON, null otherwise.
fn finite(v: f64) -> serde_json::Value {
    if v.is_finite() { json!(v) } else { json!(null) }
}

/// The interfaces' speeds in bytes per second of resource `id`, by device.
async fn speeds(
    shared: &Shared,
    id: &str,
    period: Period,
    step: i64,
) -> Result<HashMap<String, f64>> {
    let series = history(
        shared,
        id,
        "host_network_speed_bytes",
        &[],
        period,
        step,
        Aggregation::Last,
    )
    .await?;
    Ok(series
        .into_iter()
        .filter_map(|(labels, points)| {
            let speed = points.last()?.1;
            let device = labels.get("device")?.clone();
            (speed > 0.0).then_some((device, speed))
        })
        .collect())
}

pub(super) async fn capacity(
    shared: &Shared,
    q: &HashMap<String, String>,
    period: Period,
    now: i64,
) -> Result<Table> {
    let ids = resources_param(shared, q)?;
    let limit = limit_param(q)?;
    let mut t = Table::new("capacity", period, &COLUMNS);
    let step = seasonal::step_for(period.to_ms - period.from_ms, MAX_POINTS);
    for id in &ids {
        let speeds = speeds(shared, id, period, step).await?;
        for (metric, labels, aggregation, traffic) in WANTED {
            let labels: Vec<(String, String)> = labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let found = history(shared, id, metric, &labels, period, step, aggregation).await?;
            for (series_labels, points) in found {
                let series_limit = if traffic {
                    // bytes per second against the interface's speed, where it is known
                    series_labels
                        .get("device")
                        .and_then(|d| speeds.get(d))
                        .map_or(f64::INFINITY, |s| limit * s)
                } else {
                    limit
                };
                let Some(f) = seasonal::forecast(&points, step, series_limit, now) else {
                    continue;
                };
                t.push([
                    ("resource", json!(id)),
                    ("metric", json!(metric)),
                    ("labels", json!(shown(&series_labels))),
                    ("method", json!(f.method.name())),
                    ("season_hours", json!(f.method.season_hours())),
                    ("now", finite(f.now)),
                    ("per_day", finite(f.per_day)),
                    ("peak_next_day", finite(f.peak_next_day)),
                    ("error", finite(f.error)),
                    ("line_error", finite(f.line_error)),
                    ("limit", finite(series_limit)),
                    (
                        "days_to_limit",
                        json!(f.reaches_ms.map(|r| (r - now) as f64 / DAY_MS as f64)),
                    ),
                    ("reaches_limit_ms", json!(f.reaches_ms)),
                    ("step_ms", json!(step)),
                ]);
            }
        }
    }
    Ok(t)
}
