//! The store's rollups: answering step queries from buckets (patched by the head's points),
//! the per-series rollup mark, and keeping buckets current when a cut lands below the mark.

use std::collections::{BTreeMap, BTreeSet};

use rocksdb::WriteBatch;

use super::Tsdb;
use crate::error::{Result, TsdbError};
use crate::keys::CF_ROLLUPS;
use crate::query::Aggregation;
use crate::rollup::{
    Bucket, Resolution, block_key, buckets, decode_block, encode_block, floor, mark_key,
};
use crate::series::SeriesId;

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
            self.put_buckets(batch, id, res, buckets(&raw, res))?;
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

    /// Writes, into `batch`, the buckets `fresh` (time-ordered) at `res`, each replacing the
    /// stored bucket of its start.
    pub(super) fn put_buckets(
        &self,
        batch: &mut WriteBatch,
        id: SeriesId,
        res: Resolution,
        fresh: Vec<(i64, Bucket)>,
    ) -> Result<()> {
        let cf = self.cf(CF_ROLLUPS);
        let mut by_block: BTreeMap<i64, Vec<(i64, Bucket)>> = BTreeMap::new();
        for (ts, b) in fresh {
            by_block
                .entry(floor(ts, res.block_ms()))
                .or_default()
                .push((ts, b));
        }
        for (block_start, fresh) in by_block {
            let key = block_key(res, id, block_start);
            let mut block = match self
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
}
