//! A resource's metric history: `GET /api/v1/resources/{id}/metrics` (`id` is
//! `region%2Fhost`) and `GET /api/v1/resources/{region}/{host}/metrics`, with the shared
//! parameters ([`strata_web::params::history`]) and the centre's own `across=&by=`, which
//! combines the answered series across labels.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use strata_proto::ResourceId;
use strata_proto::v1::QueryRangeRequest;
use strata_tsdb::SeriesAggregation;
use strata_web::views::host::SeriesJson;
use strata_web::{ApiError, params};

use super::Answer;
use crate::history::{self, Across};
use crate::shared::Shared;

/// A parsed history request.
#[derive(Debug)]
struct HistoryQuery {
    request: QueryRangeRequest,
    /// Combine series across labels: how, and by which labels.
    across: Option<Across>,
}

/// Parses the metric-history query parameters of resource `id`.
fn parse(id: &str, q: &HashMap<String, String>, now_ms: i64) -> Result<HistoryQuery, ApiError> {
    let request = params::history(id, q, now_ms)?;
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
async fn fetch(shared: &Shared, id: String, q: HashMap<String, String>) -> Answer<SeriesJson> {
    let query = parse(&id, &q, strata_proto::now_ms())?;
    let name = query.request.name.clone();
    let series = history::fetch(shared, &id, query.request, query.across).await?;
    Ok(Json(SeriesJson::of(&name, series)))
}

pub(super) async fn by_id(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer<SeriesJson> {
    fetch(&shared, id, q).await
}

pub(super) async fn by_parts(
    State(shared): State<Arc<Shared>>,
    Path((region, host)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer<SeriesJson> {
    fetch(&shared, ResourceId::new(region, host).to_string(), q).await
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
