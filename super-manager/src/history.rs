//! Metric history on demand: `GET /api/v1/resources/{id}/metrics`.
//!
//! The super-manager holds no raw samples: it parses the request, asks the region through a
//! broker (QueryRange, over-time functions applied by the store), and then, when asked,
//! combines the answered series across labels (`across=sum&by=cpu`), which must happen after
//! the broker has merged the region's members.

use std::collections::HashMap;

use axum::Json;

use strata_proto::labels::to_map;
use strata_proto::v1::QueryRangeRequest;
use strata_tsdb::SeriesAggregation;
use strata_tsdb::query::aggregate_series;
use tracing::{Instrument, info_span};

use crate::Shared;
use crate::api::{ApiError, known_region};

/// A parsed history request.
#[derive(Debug)]
pub struct HistoryQuery {
    pub request: QueryRangeRequest,
    /// Combine series across labels: how, and by which labels.
    pub across: Option<(SeriesAggregation, Vec<String>)>,
}

/// Parses the metric-history query parameters of resource `id`.
pub fn parse(id: &str, q: &HashMap<String, String>, now_ms: i64) -> Result<HistoryQuery, ApiError> {
    let request =
        strata_proto::views::history_request(id, q, now_ms).map_err(ApiError::bad_request)?;
    let across = match q.get("across").map(String::as_str) {
        None => None,
        Some(op) => {
            let op = match op {
                "sum" => SeriesAggregation::Sum,
                "avg" => SeriesAggregation::Avg,
                "min" => SeriesAggregation::Min,
                "max" => SeriesAggregation::Max,
                "count" => SeriesAggregation::Count,
                other => {
                    return Err(ApiError::bad_request(format!(
                        "query parameter 'across': '{other}' is not one of sum, avg, min, max, count"
                    )));
                }
            };
            let by = q
                .get("by")
                .map(|b| {
                    b.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            Some((op, by))
        }
    };
    Ok(HistoryQuery { request, across })
}

/// Answers a history request through the brokers.
pub async fn fetch(
    shared: &Shared,
    id: String,
    q: HashMap<String, String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let query = parse(&id, &q, strata_proto::now_ms())?;
    known_region(shared, Some(&query.request.region))?;
    let name = query.request.name.clone();
    let span = info_span!("metric_history", resource = %id, name = %name);
    let answer = shared
        .brokers
        .query_range(query.request)
        .instrument(span)
        .await
        .map_err(|s| ApiError::from_status(s, &format!("query {id} through the brokers")))?;
    let series: Vec<(strata_tsdb::Labels, Vec<(i64, f64)>)> = answer
        .series
        .into_iter()
        .map(|s| {
            (
                to_map(&s.labels),
                s.points.into_iter().map(|p| (p.ts_ms, p.value)).collect(),
            )
        })
        .collect();
    let series = match &query.across {
        Some((op, by)) => aggregate_series(&series, by, *op),
        None => series,
    };
    Ok(Json(strata_proto::views::series_json(&name, series)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_proto::v1::{Aggregation, MatchOp};

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_the_last_hour_and_bad_parameters_are_named() {
        let r = parse("eu/web-1", &q(&[("name", "host_load1")]), 10_000_000)
            .unwrap()
            .request;
        assert_eq!(
            (r.region.as_str(), r.from_ms, r.to_ms),
            ("eu", 6_400_000, 10_000_000)
        );
        assert_eq!(r.aggregation(), Aggregation::Avg);
        for (params, field) in [
            (vec![], "'name'"),
            (vec![("name", "m"), ("step_ms", "x")], "'step_ms'"),
            (
                vec![("name", "m"), ("from_ms", "9"), ("to_ms", "1")],
                "after",
            ),
            (vec![("name", "m"), ("agg", "p99")], "'agg'"),
            (vec![("name", "m"), ("agg", "quantile"), ("q", "2")], "'q'"),
            (vec![("name", "m"), ("across", "median")], "'across'"),
        ] {
            let e = parse("eu/web-1", &q(&params), 0).unwrap_err();
            assert!(e.message.contains(field), "{field}: {}", e.message);
        }
        let e = parse("web-1", &q(&[("name", "m")]), 0).unwrap_err();
        assert!(e.message.contains("<region>/<host>"), "{}", e.message);
    }

    #[test]
    fn matchers_functions_and_grouping_are_parsed() {
        let h = parse(
            "eu/a",
            &q(&[
                ("name", "m"),
                ("label.cpu", "!~[0-9]+"),
                ("label.mode", "idle"),
                ("agg", "quantile"),
                ("q", "0.9"),
                ("across", "sum"),
                ("by", "host, cpu"),
            ]),
            0,
        )
        .unwrap();
        let ms: Vec<(String, MatchOp, String)> = h
            .request
            .label_matchers
            .iter()
            .map(|m| (m.name.clone(), m.op(), m.value.clone()))
            .collect();
        assert_eq!(
            ms,
            vec![
                ("cpu".into(), MatchOp::NotRegex, "[0-9]+".into()),
                ("mode".into(), MatchOp::Equal, "idle".into())
            ]
        );
        assert_eq!(
            (h.request.aggregation(), h.request.quantile),
            (Aggregation::Quantile, 0.9)
        );
        assert_eq!(
            h.across,
            Some((
                SeriesAggregation::Sum,
                vec!["host".to_string(), "cpu".to_string()]
            ))
        );
    }
}
