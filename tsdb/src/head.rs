//! The head: points written but not yet cut into stored chunks, per series, in time order.
//!
//! Points mostly arrive in order, so an insert is usually a push; a late or re-delivered
//! point is placed by binary search, and a point at an existing timestamp replaces it (one
//! sample per series and timestamp). The head is rebuilt from the write-ahead records on open.

use std::collections::HashMap;

use crate::series::SeriesId;

/// Unflushed points of every series.
#[derive(Debug, Default)]
pub(crate) struct Head {
    series: HashMap<SeriesId, Vec<(i64, f64)>>,
    points: usize,
    /// Oldest and newest timestamps held (data time, not wall time).
    min_ts: Option<i64>,
    max_ts: Option<i64>,
}

impl Head {
    /// Inserts one point; a point at an existing timestamp replaces it.
    pub(crate) fn insert(&mut self, id: SeriesId, ts: i64, value: f64) {
        let points = self.series.entry(id).or_default();
        match points.last() {
            Some(&(last, _)) if last < ts => points.push((ts, value)),
            None => points.push((ts, value)),
            _ => match points.binary_search_by_key(&ts, |p| p.0) {
                Ok(i) => {
                    points[i].1 = value;
                    return;
                }
                Err(i) => points.insert(i, (ts, value)),
            },
        }
        self.points += 1;
        self.min_ts = Some(self.min_ts.map_or(ts, |m| m.min(ts)));
        self.max_ts = Some(self.max_ts.map_or(ts, |m| m.max(ts)));
    }

    /// Points held.
    pub(crate) fn len(&self) -> usize {
        self.points
    }

    /// Data time covered: newest minus oldest timestamp.
    pub(crate) fn span(&self) -> i64 {
        match (self.min_ts, self.max_ts) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => 0,
        }
    }

    /// The points of `id` with `from <= ts <= to`.
    pub(crate) fn range(&self, id: SeriesId, from: i64, to: i64) -> Vec<(i64, f64)> {
        let Some(points) = self.series.get(&id) else {
            return Vec::new();
        };
        let start = points.partition_point(|p| p.0 < from);
        let end = points.partition_point(|p| p.0 <= to);
        points[start..end.max(start)].to_vec()
    }

    /// Empties the head, returning every series' points.
    pub(crate) fn take(&mut self) -> HashMap<SeriesId, Vec<(i64, f64)>> {
        self.points = 0;
        self.min_ts = None;
        self.max_ts = None;
        std::mem::take(&mut self.series)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_time_order_and_one_point_per_timestamp() {
        let mut h = Head::default();
        for (ts, v) in [(10, 1.0), (30, 3.0), (20, 2.0), (30, 3.5), (5, 0.5)] {
            h.insert(7, ts, v);
        }
        assert_eq!(
            h.range(7, 0, 100),
            vec![(5, 0.5), (10, 1.0), (20, 2.0), (30, 3.5)]
        );
        assert_eq!(h.len(), 4);
        assert_eq!(h.span(), 25);
        assert_eq!(h.range(7, 11, 29), vec![(20, 2.0)]);
        assert!(h.range(8, 0, 100).is_empty());
        let taken = h.take();
        assert_eq!(taken[&7].len(), 4);
        assert_eq!(h.len(), 0);
    }
}
