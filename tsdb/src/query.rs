//! Step aggregation: raw points are grouped into buckets `[from + k*step, from + (k+1)*step)`
//! and each bucket is reported at its start with one value.

/// How points within one step are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Aggregation {
    #[default]
    Avg,
    Min,
    Max,
    Last,
}

/// Aggregates time-ordered `raw` points into steps starting at `from`; `step <= 0` returns
/// the raw points unchanged.
pub fn aggregate(
    raw: &[(i64, f64)],
    from: i64,
    step: i64,
    aggregation: Aggregation,
) -> Vec<(i64, f64)> {
    if step <= 0 {
        return raw.to_vec();
    }
    let mut out: Vec<(i64, f64)> = Vec::new();
    let mut count = 0u64;
    for &(ts, value) in raw {
        let bucket = from + (ts - from).div_euclid(step) * step;
        match out.last_mut() {
            Some((b, acc)) if *b == bucket => {
                count += 1;
                *acc = match aggregation {
                    Aggregation::Avg => *acc + (value - *acc) / count as f64,
                    Aggregation::Min => acc.min(value),
                    Aggregation::Max => acc.max(value),
                    Aggregation::Last => value,
                };
            }
            _ => {
                out.push((bucket, value));
                count = 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: [(i64, f64); 5] = [(0, 1.0), (5, 3.0), (10, 10.0), (19, 20.0), (31, 7.0)];

    #[test]
    fn each_aggregation_per_bucket() {
        assert_eq!(
            aggregate(&RAW, 0, 10, Aggregation::Avg),
            vec![(0, 2.0), (10, 15.0), (30, 7.0)]
        );
        assert_eq!(
            aggregate(&RAW, 0, 10, Aggregation::Min),
            vec![(0, 1.0), (10, 10.0), (30, 7.0)]
        );
        assert_eq!(
            aggregate(&RAW, 0, 10, Aggregation::Max),
            vec![(0, 3.0), (10, 20.0), (30, 7.0)]
        );
        assert_eq!(
            aggregate(&RAW, 0, 10, Aggregation::Last),
            vec![(0, 3.0), (10, 20.0), (30, 7.0)]
        );
    }

    #[test]
    fn zero_step_is_raw_and_buckets_align_to_from() {
        assert_eq!(aggregate(&RAW, 0, 0, Aggregation::Avg), RAW.to_vec());
        assert_eq!(
            aggregate(&RAW, 5, 10, Aggregation::Last),
            vec![(-5, 1.0), (5, 10.0), (15, 20.0), (25, 7.0)]
        );
    }
}
