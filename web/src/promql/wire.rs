//! Selectors as the regional API's `QueryRange` asks for series, and its answers as the
//! engine's series: for the sources that read a region through gRPC (the centre through the
//! brokers, a broker from the region's members).

use std::collections::BTreeMap;

use promql_parser::label::MatchOp;
use promql_parser::parser::VectorSelector;
use strata_proto::v1::{LabelMatcher, MatchOp as WireOp, QueryRangeRequest, Series as WireSeries};

use super::value::{NAME, RawSeries, Series};

/// The label every series read from a region is given: the region it lives in.
pub const REGION: &str = "region";

/// `selector`'s matchers as `QueryRange`'s (those on `region` are the reader's to apply; with
/// `or` groups, none: the selector's own test follows).
fn matchers(selector: &VectorSelector) -> Vec<LabelMatcher> {
    if !selector.matchers.or_matchers.is_empty() {
        return Vec::new();
    }
    selector
        .matchers
        .matchers
        .iter()
        .filter(|m| m.name != REGION)
        .map(|m| {
            let op = match m.op {
                MatchOp::Equal => WireOp::Equal,
                MatchOp::NotEqual => WireOp::NotEqual,
                MatchOp::Re(_) => WireOp::Regex,
                MatchOp::NotRe(_) => WireOp::NotRegex,
            };
            LabelMatcher {
                name: m.name.clone(),
                op: op as i32,
                value: m.value.clone(),
            }
        })
        .collect()
}

/// The request for the raw samples of `selector`'s series in `region` within `[from_ms,
/// to_ms]` (every series of the region when the selector narrows nothing down; the caller
/// tests each against the selector).
pub fn raw_request(
    region: &str,
    selector: &VectorSelector,
    from_ms: i64,
    to_ms: i64,
) -> QueryRangeRequest {
    let mut label_matchers = matchers(selector);
    if selector.name.is_none() && label_matchers.is_empty() {
        label_matchers.push(LabelMatcher {
            name: NAME.into(),
            op: WireOp::Regex as i32,
            value: ".+".into(),
        });
    }
    QueryRangeRequest {
        region: region.to_string(),
        name: selector.name.clone().unwrap_or_default(),
        label_matchers,
        from_ms,
        to_ms,
        ..Default::default()
    }
}

/// A series of `region` as the regional API sends it, with its name and `region` labels.
pub fn labels_of(region: &str, series: &WireSeries) -> BTreeMap<String, String> {
    let mut labels = strata_proto::labels::to_map(&series.labels);
    if !series.name.is_empty() {
        labels.insert(NAME.into(), series.name.clone());
    }
    labels.insert(REGION.into(), region.to_string());
    labels
}

/// A series of `region` as the regional API sends it, as raw samples.
pub fn raw_series(region: &str, series: WireSeries) -> RawSeries {
    RawSeries {
        labels: labels_of(region, &series),
        samples: series
            .points
            .into_iter()
            .map(|p| (p.ts_ms, p.value))
            .collect(),
    }
}

/// A series of `region` as the regional API sends it, as evaluated points.
pub fn evaluated_series(region: &str, series: WireSeries) -> Series {
    Series {
        labels: labels_of(region, &series),
        points: series
            .points
            .into_iter()
            .map(|p| (p.ts_ms, p.value))
            .collect(),
    }
}

/// An evaluated series as the regional API sends it (its name apart from its labels).
pub fn to_wire(mut series: Series) -> WireSeries {
    let name = series.labels.remove(NAME).unwrap_or_default();
    WireSeries {
        name,
        labels: series
            .labels
            .into_iter()
            .map(|(name, value)| strata_proto::v1::Label { name, value })
            .collect(),
        points: series
            .points
            .into_iter()
            .map(|(ts_ms, value)| strata_proto::v1::Point { ts_ms, value })
            .collect(),
    }
}
