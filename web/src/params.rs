//! Query parameters both consoles read alike: a snapshot's `top`, and the metric-history
//! parameters of `GET /api/v1/resources/{region}/{host}/metrics` read into a `QueryRange`
//! request. A bad one is a 400 that names it.

use std::collections::HashMap;

use strata_proto::ResourceId;
use strata_proto::labels::label_matcher;
use strata_proto::v1::{Aggregation, LabelMatcher, QueryRangeRequest};

use crate::ApiError;

/// The most processes a snapshot may list.
pub const MAX_TOP: u32 = 500;

/// The most points a history answer may hold per series (Prometheus's bound too).
pub const MAX_POINTS: i64 = 11_000;

/// The largest timestamp a query may name (year 5138): ranges never overflow.
pub const MAX_MS: i64 = 100_000_000_000_000;

/// The processes a snapshot lists when `top` is not given.
pub const DEFAULT_TOP: u32 = 20;

/// The `top` parameter of a snapshot: how many processes, 1 to [`MAX_TOP`] (default
/// [`DEFAULT_TOP`]).
pub fn top(q: &HashMap<String, String>) -> Result<u32, ApiError> {
    match q.get("top") {
        None => Ok(DEFAULT_TOP),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|t| (1..=MAX_TOP).contains(t))
            .ok_or_else(|| {
                ApiError::bad_request(format!("top: '{v}' is not a number from 1 to {MAX_TOP}"))
            }),
    }
}

/// What a snapshot's processes are ordered by (`order`: `cpu`, the default, `memory` or
/// `io`).
pub fn order(q: &HashMap<String, String>) -> Result<String, ApiError> {
    match q.get("order").map(String::as_str) {
        None | Some("") => Ok("cpu".into()),
        Some(o @ ("cpu" | "memory" | "io")) => Ok(o.to_string()),
        Some(other) => Err(ApiError::bad_request(format!(
            "order: '{other}' is not one of cpu, memory, io"
        ))),
    }
}

/// A query's range as it is answered: the times held within 0 and [`MAX_MS`] (so that no
/// difference overflows; `i64::MAX` asks for "until now and after"), `from_ms` not after
/// `to_ms`, a step not negative, at most [`MAX_POINTS`] steps a series (raw points are
/// bounded by their number where they are read); the problem names its field.
pub fn check_range(from_ms: i64, to_ms: i64, step_ms: i64) -> Result<(i64, i64), String> {
    if from_ms > to_ms {
        return Err(format!("from_ms {from_ms} is after to_ms {to_ms}"));
    }
    if step_ms < 0 {
        return Err(format!("step_ms {step_ms} is negative"));
    }
    // both within [0, MAX_MS]: the range cannot overflow
    let (from_ms, to_ms) = (from_ms.clamp(0, MAX_MS), to_ms.clamp(0, MAX_MS));
    let range = to_ms - from_ms;
    if step_ms > 0 && range / step_ms > MAX_POINTS {
        return Err(format!(
            "step_ms {step_ms} over {range} ms makes {} points a series: at most {MAX_POINTS}; give a step_ms of at least {}",
            range / step_ms,
            range / MAX_POINTS + 1
        ));
    }
    Ok((from_ms, to_ms))
}

fn int_param(q: &HashMap<String, String>, name: &str, default: i64) -> Result<i64, ApiError> {
    match q.get(name) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| {
            ApiError::bad_request(format!("query parameter '{name}': '{v}' is not an integer"))
        }),
    }
}

/// Reads the metric-history parameters of resource `id` (`name`, `from_ms`, `to_ms`,
/// `step_ms`, `agg`, `q`, `label.<name>`) into a QueryRange request; the defaults are the
/// last hour before `now_ms`, raw points and `agg=avg`.
pub fn history(
    id: &str,
    q: &HashMap<String, String>,
    now_ms: i64,
) -> Result<QueryRangeRequest, ApiError> {
    let bad = |m: String| ApiError::bad_request(m);
    let resource = ResourceId::parse(id).map_err(|e| bad(e.to_string()))?;
    let region = resource.region();
    let name = q.get("name").filter(|n| !n.is_empty()).ok_or_else(|| {
        bad(
            "query parameter 'name' is required (a metric name such as host_cpu_usage_ratio)"
                .into(),
        )
    })?;
    let to_ms = int_param(q, "to_ms", now_ms)?;
    let from_ms = int_param(q, "from_ms", to_ms.saturating_sub(3_600_000).max(0))?;
    let step_ms = int_param(q, "step_ms", 0)?;
    let (from_ms, to_ms) = check_range(from_ms, to_ms, step_ms).map_err(bad)?;
    let mut quantile = 0.0;
    let aggregation = match q.get("agg").map(String::as_str) {
        None | Some("avg") => Aggregation::Avg,
        Some("min") => Aggregation::Min,
        Some("max") => Aggregation::Max,
        Some("last") => Aggregation::Last,
        Some("sum") => Aggregation::Sum,
        Some("count") => Aggregation::Count,
        Some("increase") => Aggregation::Increase,
        Some("rate") => Aggregation::Rate,
        Some("quantile") => {
            let raw = q
                .get("q")
                .ok_or_else(|| bad("agg=quantile needs q, from 0 to 1".into()))?;
            quantile = raw
                .parse::<f64>()
                .ok()
                .filter(|v| (0.0..=1.0).contains(v))
                .ok_or_else(|| bad(format!("query parameter 'q': '{raw}' is not from 0 to 1")))?;
            Aggregation::Quantile
        }
        Some(other) => {
            return Err(bad(format!(
                "query parameter 'agg': '{other}' is not one of avg, min, max, last, sum, count, increase, rate, quantile"
            )));
        }
    };
    let mut label_matchers: Vec<LabelMatcher> = q
        .iter()
        .filter_map(|(key, value)| {
            key.strip_prefix("label.")
                .map(|label| label_matcher(label, value))
        })
        .collect();
    label_matchers.sort_by(|a, b| (&a.name, &a.value).cmp(&(&b.name, &b.value)));
    Ok(QueryRangeRequest {
        region: region.to_string(),
        resource_id: id.to_string(),
        name: name.clone(),
        matchers: Vec::new(),
        from_ms,
        to_ms,
        step_ms,
        aggregation: aggregation as i32,
        label_matchers,
        quantile,
        promql: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_proto::v1::MatchOp;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn top_is_bounded_and_a_bad_one_is_named() {
        assert_eq!(top(&HashMap::new()).unwrap(), DEFAULT_TOP);
        assert_eq!(top(&q(&[("top", "500")])).unwrap(), 500);
        for bad in ["0", "501", "x"] {
            let e = top(&q(&[("top", bad)])).unwrap_err();
            assert_eq!(e.status.as_u16(), 400);
            assert!(e.message.starts_with("top: "), "{}", e.message);
        }
    }

    #[test]
    fn history_defaults_to_the_last_hour_and_names_a_bad_parameter() {
        let r = history("eu/web-1", &q(&[("name", "host_load1")]), 10_000_000).unwrap();
        assert_eq!(
            (r.region.as_str(), r.from_ms, r.to_ms, r.aggregation()),
            ("eu", 6_400_000, 10_000_000, Aggregation::Avg)
        );
        for (params, named) in [
            (vec![], "'name'"),
            (vec![("name", "m"), ("step_ms", "x")], "'step_ms'"),
            (
                vec![("name", "m"), ("from_ms", "9"), ("to_ms", "1")],
                "after",
            ),
            (vec![("name", "m"), ("agg", "p99")], "'agg'"),
            (vec![("name", "m"), ("agg", "quantile"), ("q", "2")], "'q'"),
            // bounded: too many points, and so over the whole range of times
            (
                vec![
                    ("name", "m"),
                    ("from_ms", "0"),
                    ("to_ms", "86400000"),
                    ("step_ms", "1"),
                ],
                "at most 11000",
            ),
            (
                vec![
                    ("name", "m"),
                    ("from_ms", "-9223372036854775808"),
                    ("to_ms", "9223372036854775807"),
                    ("step_ms", "1"),
                ],
                "at most 11000",
            ),
        ] {
            let e = history("eu/web-1", &q(&params), 0).unwrap_err();
            assert_eq!(e.status.as_u16(), 400);
            assert!(e.message.contains(named), "{named}: {}", e.message);
        }
        // the whole range of times is held within 0 and MAX_MS: no overflow, no refusal
        let all = q(&[
            ("name", "m"),
            ("from_ms", "-9223372036854775808"),
            ("to_ms", "9223372036854775807"),
        ]);
        let r = history("eu/web-1", &all, 0).unwrap();
        assert_eq!((r.from_ms, r.to_ms), (0, MAX_MS));
        let e = history("eu/a/b", &q(&[("name", "m")]), 0).unwrap_err();
        assert!(e.message.contains("<region>/<host>"), "{}", e.message);
        let r = history("eu/a", &q(&[("name", "m"), ("label.cpu", "!~[0-9]+")]), 0).unwrap();
        assert_eq!(r.label_matchers[0].op(), MatchOp::NotRegex);
    }
}
