//! Downsampling: minute and hour rollups built from raw chunks once they are old enough.
//!
//! Buckets would cost about two thirds of the raw data while both are kept, and the raw
//! data answers every step as well while it lasts; so they are built when raw chunks pass
//! `minute_rollup_after` (a day before raw retention drops them by default), series by
//! series and a day at a time, under the head lock so that no cut interleaves. Each step
//! writes the buckets and the series' new mark (an hour boundary, so that every bucket
//! below it is complete) in one batch: a crash leaves the mark where the buckets are.

use rocksdb::WriteBatch;

use super::Tsdb;
use super::chunks::merge_points;
use crate::error::{Result, TsdbError};
use crate::rollup::{self, Resolution, floor};
use crate::series::SeriesId;

const DAY_MS: i64 = 86_400_000;

/// What one downsampling pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DownsampleStats {
    /// Series whose rollup mark moved.
    pub series: u64,
    /// Raw points read to build buckets.
    pub points: u64,
}

impl Tsdb {
    /// Builds the minute and hour rollups of every series up to `now_ms -
    /// minute_rollup_after` (whole hours); cheap for series already done. Safe to run
    /// while ingesting.
    pub fn downsample(&self, now_ms: i64) -> Result<DownsampleStats> {
        let cutoff = floor(
            now_ms.saturating_sub(self.options().minute_rollup_after_ms),
            Resolution::Hour.ms(),
        );
        let mut stats = DownsampleStats::default();
        for id in self.series_ids()? {
            let points = self.downsample_series(id, cutoff)?;
            if let Some(points) = points {
                stats.series += 1;
                stats.points += points;
            }
        }
        Ok(stats)
    }

    /// Moves the rollup mark of `id` to `cutoff`, building the buckets on the way; None when
    /// it was there already. Returns the raw points read.
    fn downsample_series(&self, id: SeriesId, cutoff: i64) -> Result<Option<u64>> {
        let mut mark = self.rollup_mark(id)?;
        if mark >= cutoff {
            return Ok(None);
        }
        if mark == i64::MIN {
            match self.first_stored_ts(id)? {
                Some(first) => mark = floor(first, Resolution::Hour.ms()).min(cutoff),
                None => return Ok(None),
            }
            if mark >= cutoff {
                return Ok(None);
            }
        }
        let mut read = 0u64;
        while mark < cutoff {
            let end = mark.saturating_add(DAY_MS).min(cutoff);
            let mut head = self.lock_head();
            // late points still in the head count too (`range` would take the lock again)
            let late = head.head.range(id, mark, end - 1);
            let points = merge_points(self.stored_points(id, mark, end - 1)?, late);
            read += points.len() as u64;
            let mut batch = WriteBatch::default();
            for res in Resolution::ALL {
                let fresh = rollup::buckets(&points, res);
                self.put_buckets(&mut batch, id, res, fresh)?;
            }
            self.put_rollup_mark(&mut batch, id, end);
            self.raw_db()
                .write(batch)
                .map_err(TsdbError::rocks(format!(
                    "write rollups of series {id} up to {end}"
                )))?;
            head.marks.insert(id, end);
            drop(head);
            mark = end;
        }
        Ok(Some(read))
    }
}

#[cfg(test)]
mod tests {
    use crate::query::{Aggregation, aggregate};
    use crate::rollup::Resolution;
    use crate::{Labels, Tsdb, TsdbOptions};

    #[test]
    fn minute_rollups_are_built_for_aged_data_and_answer_as_raw_points_do() {
        let dir = tempfile::tempdir().unwrap();
        let options = TsdbOptions {
            max_head_points: 500,
            min_chunk_points: 1,
            minute_rollup_after_ms: 3_600_000,
            ..TsdbOptions::keep_forever()
        };
        let db = Tsdb::open(dir.path(), options).unwrap();
        let id = db.series_id("m", &Labels::new()).unwrap();
        // four hours at 10 s
        let points: Vec<(i64, f64)> = (0..1440)
            .map(|i| (i * 10_000, ((i * 37) % 101) as f64))
            .collect();
        for batch in points.chunks(50) {
            let samples: Vec<_> = batch.iter().map(|&(t, v)| (id, t, v)).collect();
            db.write(&samples).unwrap();
        }
        let to = 4 * 3_600_000 - 1;
        let answers = |db: &Tsdb| {
            [Aggregation::Avg, Aggregation::Max, Aggregation::Count]
                .map(|agg| db.query_range(id, 0, to, 60_000, agg).unwrap())
        };
        let before = answers(&db);
        assert_eq!(
            db.rollup_range(id, Resolution::Minute, 0, to).unwrap(),
            vec![]
        );
        // now = 3.5 h: the hours before 2 h (3.5 h less one, down to a whole hour) are rolled up
        let stats = db.downsample(3 * 3_600_000 + 1_800_000).unwrap();
        assert_eq!(stats.series, 1);
        assert_eq!(db.rollup_mark(id).unwrap(), 7_200_000);
        assert_eq!(
            db.rollup_range(id, Resolution::Minute, 0, to)
                .unwrap()
                .len(),
            120
        );
        assert_eq!(
            db.rollup_range(id, Resolution::Hour, 0, to).unwrap().len(),
            2
        );
        assert_eq!(answers(&db), before);
        let hourly = |db: &Tsdb| {
            db.query_range(id, 0, to, 3_600_000, Aggregation::Sum)
                .unwrap()
        };
        assert_eq!(
            hourly(&db),
            aggregate(&points, 0, 3_600_000, Aggregation::Sum)
        );
        assert_eq!(before[2], aggregate(&points, 0, 60_000, Aggregation::Count));
        // a second pass at the same time does nothing
        assert_eq!(db.downsample(3 * 3_600_000 + 1_800_000).unwrap().series, 0);
        // a late point below the mark updates its minute bucket
        db.write(&[(id, 65_000, 1000.0)]).unwrap();
        db.flush().unwrap();
        let max = db.query_range(id, 0, to, 60_000, Aggregation::Max).unwrap();
        assert_eq!(max[1], (60_000, 1000.0));
        let mut with_late = points.clone();
        with_late.push((65_000, 1000.0));
        with_late.sort_by_key(|p| p.0);
        assert_eq!(
            db.query_range(id, 0, to, 60_000, Aggregation::Avg).unwrap(),
            aggregate(&with_late, 0, 60_000, Aggregation::Avg)
        );
        assert_eq!(
            hourly(&db),
            aggregate(&with_late, 0, 3_600_000, Aggregation::Sum)
        );
    }
}
