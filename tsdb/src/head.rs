//! The head: points written but not yet cut into stored chunks, per series, in time order.
//!
//! Points mostly arrive in order, so an insert is usually a push; a late or re-delivered
//! point is placed by binary search, and a point at an existing timestamp replaces it (one
//! sample per series and timestamp). The head is rebuilt from the write-ahead records on open.
//!
//! Series are cut one by one as each fills a chunk, so that a store of millions of series
//! spreads its cutting over its writes instead of stalling every writer and reader for one
//! cut of everything. The head therefore remembers, per series, the write-ahead record of
//! its oldest point, and counts the series waiting on each record: records older than the
//! oldest waited on are covered by chunks and may be deleted.

use std::collections::{BTreeMap, HashMap};

use crate::series::SeriesId;

/// The points of one series in the head.
#[derive(Debug, Default)]
pub(crate) struct SeriesHead {
    pub(crate) points: Vec<(i64, f64)>,
    /// The write-ahead record holding its oldest point.
    pub(crate) since: u64,
}

/// Unflushed points of every series.
#[derive(Debug, Default)]
pub(crate) struct Head {
    series: HashMap<SeriesId, SeriesHead>,
    points: usize,
    /// Oldest and newest timestamps held (data time, not wall time); the oldest may be older
    /// than what is still held after series were cut (see [`Head::refresh_oldest`]).
    min_ts: Option<i64>,
    max_ts: Option<i64>,
    /// Series holding points, counted by the write-ahead record of their oldest point.
    waiting: BTreeMap<u64, u32>,
}

impl Head {
    /// Inserts one point written in record `seq`; a point at an existing timestamp replaces
    /// it. Returns how many points the series holds.
    pub(crate) fn insert(&mut self, id: SeriesId, ts: i64, value: f64, seq: u64) -> usize {
        let series = self.series.entry(id).or_default();
        if series.points.is_empty() {
            series.since = seq;
            *self.waiting.entry(seq).or_default() += 1;
        }
        let points = &mut series.points;
        match points.last() {
            Some(&(last, _)) if last < ts => points.push((ts, value)),
            None => points.push((ts, value)),
            _ => match points.binary_search_by_key(&ts, |p| p.0) {
                Ok(i) => {
                    points[i].1 = value;
                    return points.len();
                }
                Err(i) => points.insert(i, (ts, value)),
            },
        }
        self.points += 1;
        self.min_ts = Some(self.min_ts.map_or(ts, |m| m.min(ts)));
        self.max_ts = Some(self.max_ts.map_or(ts, |m| m.max(ts)));
        points.len()
    }

    /// Points held.
    pub(crate) fn len(&self) -> usize {
        self.points
    }

    /// Series holding points.
    pub(crate) fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Data time covered: newest minus oldest timestamp.
    pub(crate) fn span(&self) -> i64 {
        match (self.min_ts, self.max_ts) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => 0,
        }
    }

    /// The newest timestamp held.
    pub(crate) fn newest(&self) -> Option<i64> {
        self.max_ts
    }

    /// The oldest write-ahead record a point of the head is in (None: the head is empty).
    pub(crate) fn oldest_record(&self) -> Option<u64> {
        self.waiting.keys().next().copied()
    }

    /// The points of `id` with `from <= ts <= to`.
    pub(crate) fn range(&self, id: SeriesId, from: i64, to: i64) -> Vec<(i64, f64)> {
        let Some(series) = self.series.get(&id) else {
            return Vec::new();
        };
        let points = &series.points;
        let start = points.partition_point(|p| p.0 < from);
        let end = points.partition_point(|p| p.0 <= to);
        points[start..end.max(start)].to_vec()
    }

    /// The series whose oldest point is older than `ts`.
    pub(crate) fn older_than(&self, ts: i64) -> Vec<SeriesId> {
        self.series
            .iter()
            .filter(|(_, s)| s.points.first().is_some_and(|p| p.0 < ts))
            .map(|(id, _)| *id)
            .collect()
    }

    /// Sets the oldest timestamp to the oldest point still held (after series were taken).
    pub(crate) fn refresh_oldest(&mut self) {
        self.min_ts = self
            .series
            .values()
            .filter_map(|s| s.points.first().map(|p| p.0))
            .min();
        if self.min_ts.is_none() {
            self.max_ts = None;
        }
    }

    /// Takes the series `ids` out of the head with their points.
    pub(crate) fn take_series(&mut self, ids: &[SeriesId]) -> HashMap<SeriesId, SeriesHead> {
        let mut out = HashMap::with_capacity(ids.len());
        for id in ids {
            let Some(series) = self.series.remove(id) else {
                continue;
            };
            self.points -= series.points.len();
            if let std::collections::btree_map::Entry::Occupied(mut waiting) =
                self.waiting.entry(series.since)
            {
                *waiting.get_mut() -= 1;
                if *waiting.get() == 0 {
                    waiting.remove();
                }
            }
            out.insert(*id, series);
        }
        out
    }

    /// Empties the head, returning every series' points.
    pub(crate) fn take(&mut self) -> HashMap<SeriesId, SeriesHead> {
        self.points = 0;
        self.min_ts = None;
        self.max_ts = None;
        self.waiting.clear();
        std::mem::take(&mut self.series)
    }

    /// Puts series taken out back (their cut failed), with their records.
    pub(crate) fn put_back(&mut self, taken: HashMap<SeriesId, SeriesHead>) {
        for (id, series) in taken {
            for (ts, value) in series.points {
                self.insert(id, ts, value, series.since);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_time_order_and_one_point_per_timestamp() {
        let mut h = Head::default();
        for (ts, v) in [(10, 1.0), (30, 3.0), (20, 2.0), (30, 3.5), (5, 0.5)] {
            h.insert(7, ts, v, 1);
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
        assert_eq!(taken[&7].points.len(), 4);
        assert_eq!(h.len(), 0);
        assert_eq!(h.oldest_record(), None);
    }

    #[test]
    fn the_oldest_record_waited_on_moves_as_series_are_taken() {
        let mut h = Head::default();
        h.insert(1, 10, 1.0, 5);
        h.insert(2, 10, 1.0, 5);
        h.insert(1, 20, 2.0, 6);
        h.insert(3, 20, 2.0, 6);
        assert_eq!(h.oldest_record(), Some(5));
        let taken = h.take_series(&[1]);
        assert_eq!(taken[&1].points, vec![(10, 1.0), (20, 2.0)]);
        assert_eq!(
            h.oldest_record(),
            Some(5),
            "series 2 still waits on record 5"
        );
        h.take_series(&[2]);
        assert_eq!(h.oldest_record(), Some(6));
        assert_eq!((h.len(), h.series_count()), (1, 1));
        assert_eq!(h.older_than(25), vec![3]);
        h.refresh_oldest();
        assert_eq!(h.span(), 0);
        let taken = h.take_series(&[3]);
        h.put_back(taken);
        assert_eq!((h.len(), h.oldest_record()), (1, Some(6)));
        h.insert(1, 30, 3.0, 9);
        assert_eq!(h.take_series(&[1])[&1].since, 9, "a series cut starts anew");
    }
}
