//! The simulated agents count their collections in `sim_sample_number` (1, 2, 3, ...), so a
//! region that stores ticks 1..=n of an agent, each once, lost none of its samples. Tests and
//! benches read the ticks back with these, whichever door they ask through.

use strata_proto::v1::{Aggregation, LabelMatcher, QueryRangeRequest, Series};

/// The series that counts a simulated agent's ticks.
pub const TICKS: &str = "sim_sample_number";

/// Every raw point of [`TICKS`] in `region`, of the agents that `matchers` select (all when
/// empty).
pub fn ticks_query(region: &str, matchers: Vec<LabelMatcher>) -> QueryRangeRequest {
    QueryRangeRequest {
        region: region.into(),
        name: TICKS.into(),
        from_ms: 0,
        to_ms: i64::MAX,
        aggregation: Aggregation::Unspecified as i32,
        label_matchers: matchers,
        ..Default::default()
    }
}

/// The distinct ticks stored in `series`, in order.
pub fn ticks(series: &Series) -> Vec<u64> {
    let mut ticks: Vec<u64> = series.points.iter().map(|p| p.value as u64).collect();
    ticks.sort_unstable();
    ticks.dedup();
    ticks
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_proto::v1::Point;

    #[test]
    fn ticks_are_distinct_and_ordered() {
        let series = Series {
            points: [3.0, 1.0, 2.0, 2.0]
                .iter()
                .enumerate()
                .map(|(i, v)| Point {
                    ts_ms: i as i64,
                    value: *v,
                })
                .collect(),
            ..Default::default()
        };
        assert_eq!(ticks(&series), vec![1, 2, 3]);
    }
}
