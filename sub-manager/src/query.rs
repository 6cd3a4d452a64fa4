//! Metric queries over this member's store: a QueryRange request checked (names, ranges and
//! steps by `strata_web::params::check_range`, matchers, the region of its resource) and
//! answered within the limits below, for the gRPC service and the regional console alike.

use strata_proto::ResourceId;
use strata_proto::labels::{from_map, to_map};
use strata_proto::v1::{Aggregation, LabelMatcher, MatchOp, Point, QueryRangeRequest, Series};
use strata_tsdb::Tsdb;
use strata_tsdb::matcher::{Matcher, NAME_LABEL};

use crate::error::{Result, SubManagerError};

/// Most series one QueryRange may return.
pub const MAX_QUERY_SERIES: usize = 10_000;
/// Most points one QueryRange may return, all series together (raw points included).
pub const MAX_QUERY_POINTS: usize = 2_000_000;

fn to_aggregation(req: &QueryRangeRequest) -> Result<strata_tsdb::Aggregation> {
    use strata_tsdb::Aggregation as A;
    Ok(match req.aggregation() {
        Aggregation::Min => A::Min,
        Aggregation::Max => A::Max,
        Aggregation::Last => A::Last,
        Aggregation::Sum => A::Sum,
        Aggregation::Count => A::Count,
        Aggregation::Increase => A::Increase,
        Aggregation::Rate => A::Rate,
        Aggregation::Quantile if (0.0..=1.0).contains(&req.quantile) => A::Quantile(req.quantile),
        Aggregation::Quantile => {
            return Err(SubManagerError::BadRequest(format!(
                "QueryRange: quantile {} is not between 0 and 1",
                req.quantile
            )));
        }
        Aggregation::Avg | Aggregation::Unspecified => A::Avg,
    })
}

/// Runs a query against the store (blocking; call from a blocking thread). A request that
/// cannot be answered is [`SubManagerError::BadRequest`], naming the field.
pub fn series(tsdb: &Tsdb, region: &str, req: &QueryRangeRequest) -> Result<Vec<Series>> {
    if req.name.is_empty() && req.label_matchers.is_empty() {
        return Err(SubManagerError::BadRequest(
            "QueryRange: field 'name' is empty (and no label_matchers select series)".into(),
        ));
    }
    let (from_ms, to_ms) = strata_web::params::check_range(req.from_ms, req.to_ms, req.step_ms)
        .map_err(|e| SubManagerError::BadRequest(format!("QueryRange: {e}")))?;
    let mut matchers: Vec<Matcher> = Vec::new();
    if !req.name.is_empty() {
        matchers.push(Matcher::equal(NAME_LABEL, &req.name));
    }
    matchers.extend(
        to_map(&req.matchers)
            .iter()
            .map(|(k, v)| Matcher::equal(k, v)),
    );
    for (i, m) in req.label_matchers.iter().enumerate() {
        matchers.push(label_matcher(m).map_err(|e| {
            SubManagerError::BadRequest(format!(
                "QueryRange: label_matchers[{i}] ({}): {e}",
                m.name
            ))
        })?);
    }
    if !req.resource_id.is_empty() {
        match ResourceId::parse(&req.resource_id) {
            Ok(id) if id.region() == region => matchers.push(Matcher::equal("agent", id.host())),
            Ok(_) => return Ok(Vec::new()),
            Err(e) => {
                return Err(SubManagerError::BadRequest(format!("QueryRange: {e}")));
            }
        }
    }
    let found = tsdb.select_matching(&matchers)?;
    if found.len() > MAX_QUERY_SERIES {
        return Err(SubManagerError::BadRequest(format!(
            "QueryRange: {} series match '{}', over the limit of {MAX_QUERY_SERIES}; add matchers",
            found.len(),
            req.name
        )));
    }
    let aggregation = to_aggregation(req)?;
    let mut total = 0usize;
    found
        .into_iter()
        .map(|s| {
            let points: Vec<Point> = tsdb
                .query_range(s.id, from_ms, to_ms, req.step_ms, aggregation)?
                .into_iter()
                .map(|(ts_ms, value)| Point { ts_ms, value })
                .collect();
            total += points.len();
            if total > MAX_QUERY_POINTS {
                return Err(SubManagerError::BadRequest(format!(
                    "QueryRange: more than {MAX_QUERY_POINTS} points in the answer; give a step_ms, a shorter range or more matchers"
                )));
            }
            Ok(Series {
                name: s.name,
                labels: from_map(&s.labels),
                points,
            })
        })
        .collect()
}

/// A wire matcher as a store matcher.
fn label_matcher(m: &LabelMatcher) -> Result<Matcher, String> {
    if m.name.is_empty() {
        return Err("the label name is empty".into());
    }
    let matcher = match m.op() {
        MatchOp::Equal => Matcher::equal(&m.name, &m.value),
        MatchOp::NotEqual => Matcher::not_equal(&m.name, &m.value),
        MatchOp::Regex => Matcher::regex(&m.name, &m.value).map_err(|e| e.to_string())?,
        MatchOp::NotRegex => Matcher::not_regex(&m.name, &m.value).map_err(|e| e.to_string())?,
        MatchOp::Unspecified => return Err("op is unspecified".into()),
    };
    Ok(matcher)
}
