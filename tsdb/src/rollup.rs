//! Rollups: per series, buckets of 1 minute and 1 hour holding min, max, sum, count and
//! last, so that long ranges are answered without reading raw points, and outlive raw
//! retention.
//!
//! Rollups would cost about two thirds of the raw data they summarise while both are kept
//! (four noisy columns per six points for minutes), and raw points answer any step as well
//! while they last; so buckets are built by [`Tsdb::downsample`] from raw chunks older than
//! `minute_rollup_after` (default 14 days, a day before raw retention drops them), as
//! Thanos and VictoriaMetrics downsample aged data. A per-series mark (on an hour boundary)
//! says up to where buckets of both resolutions exist; queries read buckets before it and
//! raw points after it, and a cut of late points below it recomputes the buckets they
//! touch from every raw point they hold.
//!
//! Buckets are kept in blocks (6 hours of minutes, a day of hours) keyed (resolution,
//! series id, block start) in the `rollups` column family; each block stores its five
//! columns with the chunk codec.

use std::collections::{BTreeMap, BTreeSet};

use rocksdb::WriteBatch;

use crate::chunk;
use crate::db::{SeriesId, Tsdb};
use crate::error::{Result, TsdbError};
use crate::keys;
use crate::query::Aggregation;

/// Column family of the rollup blocks.
pub(crate) const CF_ROLLUPS: &str = "rollups";

/// A rollup resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Minute,
    Hour,
}

impl Resolution {
    /// Both resolutions, finest first.
    pub const ALL: [Resolution; 2] = [Resolution::Minute, Resolution::Hour];

    /// Width of one bucket, in milliseconds.
    pub fn ms(self) -> i64 {
        match self {
            Resolution::Minute => 60_000,
            Resolution::Hour => 3_600_000,
        }
    }

    /// Time one stored block of buckets covers.
    pub(crate) fn block_ms(self) -> i64 {
        match self {
            Resolution::Minute => 6 * 3_600_000,
            Resolution::Hour => 86_400_000,
        }
    }

    fn tag(self) -> u8 {
        match self {
            Resolution::Minute => 1,
            Resolution::Hour => 2,
        }
    }
}

/// One rollup bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub count: f64,
    pub last: f64,
}

impl Bucket {
    fn of(value: f64) -> Self {
        Self {
            min: value,
            max: value,
            sum: value,
            count: 1.0,
            last: value,
        }
    }

    fn add(&mut self, value: f64) {
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.sum += value;
        self.count += 1.0;
        self.last = value;
    }

    /// Combines with a bucket of later points.
    pub fn merge(&mut self, later: &Bucket) {
        self.min = self.min.min(later.min);
        self.max = self.max.max(later.max);
        self.sum += later.sum;
        self.count += later.count;
        self.last = later.last;
    }
}

/// Start of the bucket (or block) of width `width` holding `ts`.
pub(crate) fn floor(ts: i64, width: i64) -> i64 {
    ts.div_euclid(width) * width
}

/// Buckets of time-ordered points.
pub fn buckets(points: &[(i64, f64)], res: Resolution) -> Vec<(i64, Bucket)> {
    let mut out: Vec<(i64, Bucket)> = Vec::new();
    for &(ts, v) in points {
        let b = floor(ts, res.ms());
        match out.last_mut() {
            Some((start, bucket)) if *start == b => bucket.add(v),
            _ => out.push((b, Bucket::of(v))),
        }
    }
    out
}

/// Key tag of the per-series rollup mark in the `rollups` column family.
const MARK_TAG: u8 = 3;

fn mark_key(id: SeriesId) -> [u8; 9] {
    let mut key = [MARK_TAG; 9];
    key[1..].copy_from_slice(&id.to_be_bytes());
    key
}

/// Writes, into `batch`, the buckets `fresh` (time-ordered) at `res`, each replacing the
/// stored bucket of its start.
pub(crate) fn put_buckets(
    tsdb: &Tsdb,
    batch: &mut WriteBatch,
    id: SeriesId,
    res: Resolution,
    fresh: Vec<(i64, Bucket)>,
) -> Result<()> {
    let cf = tsdb.cf(CF_ROLLUPS);
    let mut by_block: BTreeMap<i64, Vec<(i64, Bucket)>> = BTreeMap::new();
    for (ts, b) in fresh {
        by_block
            .entry(floor(ts, res.block_ms()))
            .or_default()
            .push((ts, b));
    }
    for (block_start, fresh) in by_block {
        let key = block_key(res, id, block_start);
        let mut block = match tsdb
            .raw_db()
            .get_cf(cf, &key)
            .map_err(TsdbError::rocks(format!("read rollups of series {id}")))?
        {
            Some(bytes) => decode_block(&bytes)?,
            None => BTreeMap::new(),
        };
        block.extend(fresh);
        batch.put_cf(cf, key, encode_block(&block));
    }
    Ok(())
}

fn block_key(res: Resolution, id: SeriesId, block_start: i64) -> Vec<u8> {
    let mut key = vec![res.tag()];
    key.extend_from_slice(&keys::sample_key(id, block_start));
    key
}

fn encode_block(buckets: &BTreeMap<i64, Bucket>) -> Vec<u8> {
    let mut out = Vec::new();
    let columns: [fn(&Bucket) -> f64; 5] =
        [|b| b.min, |b| b.max, |b| b.sum, |b| b.count, |b| b.last];
    for column in columns {
        let points: Vec<(i64, f64)> = buckets.iter().map(|(ts, b)| (*ts, column(b))).collect();
        let encoded = chunk::encode(&points);
        out.extend_from_slice(&(encoded.len() as u32).to_be_bytes());
        out.extend(encoded);
    }
    out
}

fn decode_block(bytes: &[u8]) -> Result<BTreeMap<i64, Bucket>> {
    let corrupt = || TsdbError::Corrupt {
        what: "rollup block",
        cf: CF_ROLLUPS,
    };
    let mut columns = Vec::with_capacity(5);
    let mut pos = 0;
    for _ in 0..5 {
        let len = u32::from_be_bytes(
            bytes
                .get(pos..pos + 4)
                .ok_or_else(corrupt)?
                .try_into()
                .map_err(|_| corrupt())?,
        ) as usize;
        pos += 4;
        columns.push(chunk::decode(
            bytes.get(pos..pos + len).ok_or_else(corrupt)?,
        )?);
        pos += len;
    }
    let n = columns[0].len();
    if columns.iter().any(|c| c.len() != n) {
        return Err(corrupt());
    }
    Ok((0..n)
        .map(|i| {
            let b = Bucket {
                min: columns[0][i].1,
                max: columns[1][i].1,
                sum: columns[2][i].1,
                count: columns[3][i].1,
                last: columns[4][i].1,
            };
            (columns[0][i].0, b)
        })
        .collect())
}

/// The rollup resolution that answers steps of `step` ms with `aggregation`, if any: the
/// coarsest whose buckets divide the step, for functions that buckets can answer.
pub fn resolution_for(step: i64, aggregation: Aggregation) -> Option<Resolution> {
    let combinable = matches!(
        aggregation,
        Aggregation::Avg
            | Aggregation::Min
            | Aggregation::Max
            | Aggregation::Sum
            | Aggregation::Count
            | Aggregation::Last
    );
    if !combinable || step <= 0 {
        return None;
    }
    [Resolution::Hour, Resolution::Minute]
        .into_iter()
        .find(|r| step % r.ms() == 0)
}

impl Tsdb {
    /// Answers a step query from rollups: each bucket starting in `[from, to]` counts in the
    /// step holding its start. Buckets the head has points in are computed from raw points
    /// (head and chunks merged), so nothing is counted twice or missed.
    pub(crate) fn query_rollups(
        &self,
        id: SeriesId,
        res: Resolution,
        from: i64,
        to: i64,
        step: i64,
        aggregation: Aggregation,
    ) -> Result<Vec<(i64, f64)>> {
        let first_bucket = floor(from, res.ms())
            + if from.rem_euclid(res.ms()) == 0 {
                0
            } else {
                res.ms()
            };
        // Buckets exist only before the mark: from it on, they come from raw points.
        let raw_from = self.rollup_mark(id)?.max(first_bucket);
        // Head first, as in `range`: a cut in between then shows points twice, not never.
        let head_buckets: BTreeSet<i64> = self
            .head_points_in(id, first_bucket, to.min(raw_from.saturating_sub(1)))
            .into_iter()
            .map(|(ts, _)| floor(ts, res.ms()))
            .collect();
        let mut by_bucket: Vec<(i64, Bucket)> = if raw_from > first_bucket {
            self.rollup_range(id, res, first_bucket, to.min(raw_from.saturating_sub(1)))?
        } else {
            Vec::new()
        };
        if !head_buckets.is_empty() {
            let mut patched: BTreeMap<i64, Bucket> = by_bucket.into_iter().collect();
            for b in head_buckets {
                let raw = self.range(id, b, (b + res.ms() - 1).min(to))?;
                match buckets(&raw, res).into_iter().next() {
                    Some((_, bucket)) => patched.insert(b, bucket),
                    None => patched.remove(&b),
                };
            }
            by_bucket = patched.into_iter().collect();
        }
        // every bucket from the mark on comes after the rolled-up ones
        if raw_from <= to {
            by_bucket.extend(buckets(&self.range(id, raw_from, to)?, res));
        }
        let mut out: Vec<(i64, Bucket)> = Vec::new();
        for (ts, b) in by_bucket {
            let step_start = from + (ts - from).div_euclid(step) * step;
            match out.last_mut() {
                Some((s, acc)) if *s == step_start => acc.merge(&b),
                _ => out.push((step_start, b)),
            }
        }
        Ok(out
            .into_iter()
            .map(|(ts, b)| {
                let v = match aggregation {
                    Aggregation::Min => b.min,
                    Aggregation::Max => b.max,
                    Aggregation::Sum => b.sum,
                    Aggregation::Count => b.count,
                    Aggregation::Last => b.last,
                    _ => b.sum / b.count,
                };
                (ts, v)
            })
            .collect())
    }

    /// The start of the first hour of `id` not yet rolled up (every minute and hour bucket
    /// before it is); `i64::MIN` when none is.
    pub fn rollup_mark(&self, id: SeriesId) -> Result<i64> {
        let read = self
            .raw_db()
            .get_cf(self.cf(CF_ROLLUPS), mark_key(id))
            .map_err(TsdbError::rocks(format!(
                "read the rollup mark of series {id}"
            )))?;
        match read {
            None => Ok(i64::MIN),
            Some(raw) => Ok(i64::from_be_bytes(raw.as_slice().try_into().map_err(
                |_| TsdbError::Corrupt {
                    what: "rollup mark",
                    cf: CF_ROLLUPS,
                },
            )?)),
        }
    }

    /// Sets, into `batch`, the rollup mark of `id`.
    pub(crate) fn put_rollup_mark(&self, batch: &mut WriteBatch, id: SeriesId, mark: i64) {
        batch.put_cf(self.cf(CF_ROLLUPS), mark_key(id), mark.to_be_bytes());
    }

    /// Updates, into `batch`, the rollup buckets touched by `points` of series `id`
    /// (time-ordered: every raw point of `[first, last]` after the cut): buckets exist only
    /// below the mark, so those holding points below it (late or backfilled) are recomputed
    /// from every raw point they hold, the stored ones at their edges read back.
    pub(crate) fn update_rollups(
        &self,
        batch: &mut WriteBatch,
        id: SeriesId,
        points: &[(i64, f64)],
        mark: i64,
    ) -> Result<()> {
        let Some(first) = points.first() else {
            return Ok(());
        };
        if first.0 >= mark {
            return Ok(());
        }
        let points = &points[..points.partition_point(|p| p.0 < mark)];
        let last = points[points.len() - 1];
        // The stored raw points at the edges of the touched hours (the widest buckets).
        let hour = Resolution::Hour.ms();
        let before = self.stored_points(id, floor(first.0, hour), first.0 - 1)?;
        let after = self.stored_points(id, last.0 + 1, floor(last.0, hour) + hour - 1)?;
        for res in Resolution::ALL {
            let start = floor(first.0, res.ms());
            let end = floor(last.0, res.ms()) + res.ms() - 1;
            let mut raw: Vec<(i64, f64)> =
                before.iter().copied().filter(|p| p.0 >= start).collect();
            raw.extend_from_slice(points);
            raw.extend(after.iter().copied().filter(|p| p.0 <= end));
            put_buckets(self, batch, id, res, buckets(&raw, res))?;
        }
        Ok(())
    }

    /// Stored rollup buckets of `id` at `res` starting within `[from, to]`, in time order.
    pub fn rollup_range(
        &self,
        id: SeriesId,
        res: Resolution,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, Bucket)>> {
        let cf = self.cf(CF_ROLLUPS);
        let mut out = Vec::new();
        let mut block = floor(from, res.block_ms());
        while block <= to {
            if let Some(bytes) = self
                .raw_db()
                .get_cf(cf, block_key(res, id, block))
                .map_err(TsdbError::rocks(format!("read rollups of series {id}")))?
            {
                out.extend(
                    decode_block(&bytes)?
                        .into_iter()
                        .filter(|(ts, _)| *ts >= from && *ts <= to),
                );
            }
            block = block.saturating_add(res.block_ms());
            if block == i64::MAX {
                break;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_hold_min_max_sum_count_last() {
        let b = buckets(
            &[(0, 2.0), (30_000, 4.0), (59_999, 3.0), (60_000, 7.0)],
            Resolution::Minute,
        );
        assert_eq!(
            b[0],
            (
                0,
                Bucket {
                    min: 2.0,
                    max: 4.0,
                    sum: 9.0,
                    count: 3.0,
                    last: 3.0
                }
            )
        );
        assert_eq!(b[1].0, 60_000);
        assert_eq!(floor(-1, 60_000), -60_000);
    }

    #[test]
    fn blocks_round_trip() {
        let block: BTreeMap<i64, Bucket> = (0..100)
            .map(|i| {
                (
                    i * 60_000,
                    Bucket {
                        min: i as f64,
                        max: i as f64 + 1.5,
                        sum: 10.25,
                        count: 6.0,
                        last: f64::NAN,
                    },
                )
            })
            .collect();
        let back = decode_block(&encode_block(&block)).unwrap();
        assert_eq!(back.len(), 100);
        assert_eq!(back[&60_000].max, 2.5);
        assert!(back[&60_000].last.is_nan());
        assert!(decode_block(&[0, 0, 0, 9]).is_err());
    }

    #[test]
    fn cut_data_answers_every_step_as_raw_points_do() {
        use crate::query::{Aggregation, aggregate};
        use crate::{Labels, Tsdb, TsdbOptions};
        let dir = tempfile::tempdir().unwrap();
        let db = Tsdb::open(
            dir.path(),
            TsdbOptions {
                max_head_points: 25,
                ..TsdbOptions::keep_forever()
            },
        )
        .unwrap();
        let id = db.series_id("m", &Labels::new()).unwrap();
        // 10 s points for three hours in batches of 7: cuts land mid-minute and mid-hour.
        let points: Vec<(i64, f64)> = (0..1080)
            .map(|i| (i * 10_000, ((i * 37) % 101) as f64))
            .collect();
        for batch in points.chunks(7) {
            let samples: Vec<_> = batch.iter().map(|&(t, v)| (id, t, v)).collect();
            db.write(&samples).unwrap();
        }
        db.flush().unwrap();
        for step in [60_000, 300_000, 3_600_000] {
            for agg in [
                Aggregation::Avg,
                Aggregation::Min,
                Aggregation::Max,
                Aggregation::Sum,
                Aggregation::Count,
                Aggregation::Last,
            ] {
                let want = aggregate(&points, 0, step, agg);
                assert_eq!(
                    db.query_range(id, 0, 3 * 3_600_000 - 1, step, agg).unwrap(),
                    want,
                    "{agg:?} per {step}"
                );
            }
        }
    }

    mod reference {
        use crate::query::{Aggregation, aggregate};
        use crate::{Labels, Tsdb, TsdbOptions};
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
            /// Steps answered from rollups below the mark and raw points above it (with the
            /// head's buckets recomputed from raw points) equal steps computed from every raw
            /// point, whatever the order of writes, repeats, cuts and downsampling.
            #[test]
            fn rollup_answers_equal_raw_answers(
                writes in proptest::collection::vec(proptest::collection::vec((0i64..1_000, -1000i32..1000), 1..60), 1..10),
                head in 5usize..200,
                step_minutes in proptest::sample::select(vec![1i64, 2, 5, 60, 120]),
                mark_hour in 0i64..5,
            ) {
                let dir = tempfile::tempdir().unwrap();
                let options = TsdbOptions { max_head_points: head, minute_rollup_after_ms: 0, ..TsdbOptions::keep_forever() };
                let db = Tsdb::open(dir.path(), options).unwrap();
                let id = db.series_id("m", &Labels::new()).unwrap();
                for (n, batch) in writes.iter().enumerate() {
                    if n == writes.len() / 2 {
                        // roll up the hours before mark_hour; later batches land on both sides
                        db.downsample(mark_hour * 3_600_000).unwrap();
                    }
                    // timestamps every 7 s over about two hours, values small integers so sums are exact
                    let samples: Vec<_> = batch.iter().map(|&(t, v)| (id, 3_600_000 + t * 7_000, f64::from(v))).collect();
                    db.write(&samples).unwrap();
                }
                let step = step_minutes * 60_000;
                let (from, to) = (3_600_000, 3_600_000 + 3 * 3_600_000 - 1);
                let raw = db.range(id, from, to).unwrap();
                for agg in [Aggregation::Avg, Aggregation::Min, Aggregation::Max, Aggregation::Sum, Aggregation::Count, Aggregation::Last] {
                    prop_assert!(super::resolution_for(step, agg).is_some());
                    let want = aggregate(&raw, from, step, agg);
                    prop_assert_eq!(db.query_range(id, from, to, step, agg).unwrap(), want.clone(), "{:?} before flush", agg);
                }
                db.flush().unwrap();
                for agg in [Aggregation::Avg, Aggregation::Sum, Aggregation::Last] {
                    prop_assert_eq!(db.query_range(id, from, to, step, agg).unwrap(), aggregate(&raw, from, step, agg), "{:?} after flush", agg);
                }
            }
        }
    }
}
