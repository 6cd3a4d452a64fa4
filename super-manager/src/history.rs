//! Metric history, read from the regions on demand: the super-manager holds no raw samples,
//! so it asks the region through a broker (QueryRange, over-time functions applied by the
//! store) and then, when asked, combines the answered series across labels, which must
//! happen after the broker has merged the region's members. The placement, root-cause and
//! report questions read hosts' figures here too.

use strata_proto::labels::to_map;
use strata_proto::v1::{Aggregation, LabelMatcher, MatchOp, QueryRangeRequest};
use strata_tsdb::query::aggregate_series;
use strata_tsdb::{Labels, SeriesAggregation};
use tracing::{Instrument, info_span};

use crate::error::{Result, SuperManagerError};
use crate::shared::Shared;

/// Series as the questions use them: labels and `(ts_ms, value)` points.
pub type Series = (Labels, Vec<(i64, f64)>);

/// How to combine series across labels, and by which labels to group them.
pub type Across = (SeriesAggregation, Vec<String>);

/// The series `request` asks of its region through the brokers; a failure says it was
/// `doing` so.
pub async fn read(shared: &Shared, request: QueryRangeRequest, doing: &str) -> Result<Vec<Series>> {
    let answer = shared
        .brokers
        .query_range(request)
        .await
        .map_err(|s| SuperManagerError::region(s, doing))?;
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

/// The metric history `request` asks of resource `id` (whose region must be known), its
/// series combined `across` labels when asked.
pub async fn fetch(
    shared: &Shared,
    id: &str,
    request: QueryRangeRequest,
    across: Option<Across>,
) -> Result<Vec<Series>> {
    shared.known_region(Some(&request.region))?;
    let span = info_span!("metric_history", resource = %id, name = %request.name);
    let series = read(shared, request, &format!("query {id} through the brokers"))
        .instrument(span)
        .await?;
    Ok(match &across {
        Some((op, by)) => aggregate_series(&series, by, *op),
        None => series,
    })
}

/// A series' labels as `k=v,k=v`, without the `agent` label every series has.
pub fn shown(labels: &Labels) -> String {
    labels
        .iter()
        .filter(|(k, _)| k.as_str() != "agent")
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// One figure of a host to read: a metric, a matcher on one more label, how to combine
/// each step.
pub struct Figure {
    pub name: &'static str,
    pub extra: Option<(&'static str, MatchOp, &'static str)>,
    pub aggregation: Aggregation,
}

/// Mean CPU usage, 0 to 1.
pub const CPU: Figure = Figure {
    name: "host_cpu_usage_ratio",
    extra: Some(("cpu", MatchOp::Equal, "total")),
    aggregation: Aggregation::Avg,
};

/// Mean memory used, 0 to 1.
pub const MEMORY: Figure = Figure {
    name: "host_memory_used_ratio",
    extra: None,
    aggregation: Aggregation::Avg,
};

/// The series of `figure` of `hosts` of `region` over `[from_ms, to_ms]` in steps of
/// `step_ms`, through the brokers (one query for all the hosts): (agent, series labels,
/// points).
pub async fn series_of_agents(
    shared: &Shared,
    region: &str,
    hosts: &[&str],
    figure: &Figure,
    (from_ms, to_ms, step_ms): (i64, i64, i64),
) -> Result<Vec<(String, Labels, Vec<(i64, f64)>)>> {
    let (name, aggregation) = (figure.name, figure.aggregation);
    let pattern = hosts
        .iter()
        .map(|h| regex_escape(h))
        .collect::<Vec<_>>()
        .join("|");
    let mut label_matchers = vec![LabelMatcher {
        name: "agent".into(),
        op: MatchOp::Regex as i32,
        value: pattern,
    }];
    if let Some((label, op, value)) = figure.extra {
        label_matchers.push(LabelMatcher {
            name: label.into(),
            op: op as i32,
            value: value.into(),
        });
    }
    let answer = shared
        .brokers
        .query_range(QueryRangeRequest {
            region: region.into(),
            name: name.into(),
            from_ms,
            to_ms,
            step_ms,
            aggregation: aggregation as i32,
            label_matchers,
            ..Default::default()
        })
        .await
        .map_err(|s| SuperManagerError::region(s, format!("read {name} of region {region}")))?;
    Ok(answer
        .series
        .into_iter()
        .filter_map(|s| {
            let agent = s.labels.iter().find(|l| l.name == "agent")?.value.clone();
            let points = s.points.iter().map(|p| (p.ts_ms, p.value)).collect();
            Some((agent, to_map(&s.labels), points))
        })
        .collect())
}

fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            out.push(c);
        } else {
            out.push('\\');
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_escaped_and_the_agent_label_is_not_shown() {
        assert_eq!(regex_escape("db.1"), "db\\.1");
        let labels = Labels::from([
            ("agent".to_string(), "web-1".to_string()),
            ("cpu".to_string(), "0".to_string()),
            ("mode".to_string(), "idle".to_string()),
        ]);
        assert_eq!(shown(&labels), "cpu=0,mode=idle");
    }
}
