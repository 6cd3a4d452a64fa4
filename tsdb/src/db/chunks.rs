//! The store's chunks: cutting the head into chunks (merging late points into the chunks
//! they fall in, updating rollups below the mark), and reading ranges of stored and head
//! points.

use std::collections::HashMap;

use rocksdb::WriteBatch;

use super::{HeadState, Tsdb};
use crate::chunk;
use crate::error::{Result, TsdbError};
use crate::head::SeriesHead;
use crate::keys::{self, CF_CHUNKS, CF_OUTBOX, CF_WAL, chunk_end};
use crate::query::{self, Aggregation};
use crate::rollup;
use crate::series::SeriesId;

/// Most points in one stored chunk.
pub(super) const MAX_CHUNK_POINTS: usize = 16_384;

/// Write-ahead records are deleted by ranges of at least this many (or when the head is
/// cut whole), so that deleting them costs few range tombstones.
const WAL_DELETE_EVERY: u64 = 1024;

/// A stored chunk read back: its key and its points.
type StoredChunk = (Vec<u8>, Vec<(i64, f64)>);

impl Tsdb {
    /// The first timestamp stored in chunks for `id`, if any.
    pub(crate) fn first_stored_ts(&self, id: SeriesId) -> Result<Option<i64>> {
        let mut iter = self.db.raw_iterator_cf(self.cf(CF_CHUNKS));
        iter.seek(keys::sample_key(id, i64::MIN));
        iter.status().map_err(TsdbError::rocks(format!(
            "find the first chunk of series {id}"
        )))?;
        Ok(iter
            .key()
            .filter(|k| k.starts_with(&id.to_be_bytes()))
            .and_then(keys::sample_ts))
    }

    /// The last timestamp stored in chunks for `id`, if any.
    fn stored_end(&self, id: SeriesId) -> Result<Option<i64>> {
        let mut iter = self.db.raw_iterator_cf(self.cf(CF_CHUNKS));
        iter.seek_for_prev(keys::sample_key(id, i64::MAX));
        iter.status().map_err(TsdbError::rocks(format!(
            "find the last chunk of series {id}"
        )))?;
        match (iter.key(), iter.value()) {
            (Some(key), Some(value)) if key.starts_with(&id.to_be_bytes()) => {
                Ok(Some(chunk_end(value)?))
            }
            _ => Ok(None),
        }
    }

    /// Stored chunks of `id` that overlap `[from, to]`, as (key, points), in time order.
    fn chunks_in(&self, id: SeriesId, from: i64, to: i64) -> Result<Vec<StoredChunk>> {
        let mut iter = self.db.raw_iterator_cf(self.cf(CF_CHUNKS));
        let prefix = id.to_be_bytes();
        iter.seek_for_prev(keys::sample_key(id, from));
        if !iter.key().is_some_and(|k| k.starts_with(&prefix)) {
            iter.seek(keys::sample_key(id, from));
        }
        let mut out = Vec::new();
        while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
            let start = keys::sample_ts(key).ok_or(TsdbError::Corrupt {
                what: "chunk key",
                cf: CF_CHUNKS,
            })?;
            if !key.starts_with(&prefix) || start > to {
                break;
            }
            if chunk_end(value)? >= from {
                out.push((key.to_vec(), chunk::decode(&value[8..])?));
            }
            iter.next();
        }
        iter.status()
            .map_err(TsdbError::rocks(format!("read chunks of series {id}")))?;
        Ok(out)
    }

    /// Points of `id` in `[from, to]` stored in chunks (the head left out).
    pub(crate) fn stored_points(
        &self,
        id: SeriesId,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, f64)>> {
        if from > to {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for (_, points) in self.chunks_in(id, from, to)? {
            out.extend(points.into_iter().filter(|p| p.0 >= from && p.0 <= to));
        }
        Ok(out)
    }

    /// Cuts the head into chunks and deletes the write-ahead records it covered.
    /// `outbox` is the outbox record of the write that made the cut, written in its batch.
    pub(super) fn cut_head(&self, st: &mut HeadState, outbox: Option<&[u8]>) -> Result<()> {
        if st.head.len() == 0 {
            return Ok(());
        }
        let upto = st.wal_seq;
        let series = st.head.take();
        let mut batch = WriteBatch::default();
        let written = self.chunk_into(st, &mut batch, &series).and_then(|ends| {
            batch.delete_range_cf(
                self.cf(CF_WAL),
                st.wal_deleted.to_be_bytes(),
                upto.to_be_bytes(),
            );
            self.finish_cut(st, batch, outbox, series.len())?;
            Ok(ends)
        });
        match written {
            Ok(ends) => {
                st.chunk_end.extend(ends);
                st.wal_deleted = upto;
                Ok(())
            }
            Err(error) => {
                // Nothing was written: keep serving the points from the head.
                st.head.put_back(series);
                Err(error)
            }
        }
    }

    /// Cuts the series `ids` of the head into chunks, in one batch with `outbox` and the
    /// write-ahead `record` of the write that filled them, whose other series' points wait in
    /// the head (none when it left no point there), and deletes the records no series waits
    /// on any more.
    pub(super) fn cut_series(
        &self,
        st: &mut HeadState,
        ids: &[SeriesId],
        record: Option<&[u8]>,
        outbox: Option<&[u8]>,
    ) -> Result<()> {
        let seq = st.wal_seq;
        let series = st.head.take_series(ids);
        let mut batch = WriteBatch::default();
        if let Some(record) = record {
            batch.put_cf(self.cf(CF_WAL), seq.to_be_bytes(), record);
        }
        // the records below the oldest one a point of the head is in are covered by chunks
        let floor = st.head.oldest_record().unwrap_or(seq + 1);
        let delete = floor >= st.wal_deleted + WAL_DELETE_EVERY;
        let written = self.chunk_into(st, &mut batch, &series).and_then(|ends| {
            if delete {
                batch.delete_range_cf(
                    self.cf(CF_WAL),
                    st.wal_deleted.to_be_bytes(),
                    floor.to_be_bytes(),
                );
            }
            self.finish_cut(st, batch, outbox, series.len())?;
            Ok(ends)
        });
        match written {
            Ok(ends) => {
                st.chunk_end.extend(ends);
                st.wal_seq += 1;
                if delete {
                    st.wal_deleted = floor;
                }
                Ok(())
            }
            Err(error) => {
                st.head.put_back(series);
                Err(error)
            }
        }
    }

    /// Writes a cut's `batch` with the outbox record of the write that made it.
    fn finish_cut(
        &self,
        st: &mut HeadState,
        mut batch: WriteBatch,
        outbox: Option<&[u8]>,
        series: usize,
    ) -> Result<()> {
        if let Some(record) = outbox {
            batch.put_cf(
                self.cf(CF_OUTBOX),
                super::outbox::record_key(st.outbox_seq),
                record,
            );
        }
        self.db
            .write(batch)
            .map_err(TsdbError::rocks(format!("write chunks of {series} series")))?;
        if outbox.is_some() {
            st.outbox_seq += 1;
        }
        Ok(())
    }

    /// Adds the chunks of `series` to `batch` (merging late points into the chunks they
    /// fall in, updating rollups below the mark); returns each series' new last timestamp.
    fn chunk_into(
        &self,
        st: &mut HeadState,
        batch: &mut WriteBatch,
        series: &HashMap<SeriesId, SeriesHead>,
    ) -> Result<Vec<(SeriesId, Option<i64>)>> {
        let cf = self.cf(CF_CHUNKS);
        let mut ends = Vec::with_capacity(series.len());
        for (&id, held) in series {
            let points = &held.points;
            let (Some(first), Some(last)) = (points.first(), points.last()) else {
                continue;
            };
            let end = match st.chunk_end.get(&id) {
                Some(end) => *end,
                None => self.stored_end(id)?,
            };
            let merged;
            let points = if end.is_some_and(|e| e >= first.0) {
                // Late points: merge with the chunks they fall into; the head's values win.
                let mut old = Vec::new();
                for (key, stored) in self.chunks_in(id, first.0, last.0)? {
                    batch.delete_cf(cf, key);
                    old.extend(stored);
                }
                merged = merge_points(old, points.clone());
                &merged
            } else {
                points
            };
            let mark = match st.marks.get(&id) {
                Some(mark) => *mark,
                None => {
                    let mark = self.rollup_mark(id)?;
                    st.marks.insert(id, mark);
                    mark
                }
            };
            // buckets exist below the series' mark only: points there update them
            self.update_rollups(batch, id, points, mark)?;
            for piece in points.chunks(MAX_CHUNK_POINTS) {
                let mut value = piece[piece.len() - 1].0.to_be_bytes().to_vec();
                value.extend(chunk::encode(piece));
                batch.put_cf(cf, keys::sample_key(id, piece[0].0), value);
            }
            let new_end = points.last().map(|p| p.0);
            ends.push((id, end.max(new_end)));
        }
        Ok(ends)
    }

    /// Raw points of one series with `from <= ts <= to`, in time order.
    pub fn range(&self, id: SeriesId, from: i64, to: i64) -> Result<Vec<(i64, f64)>> {
        Ok(self.ranges(&[id], from, to)?.pop().unwrap_or_default())
    }

    /// Raw points of each of `ids` with `from <= ts <= to`, in time order: the head is read
    /// under one lock per thousand series, not one per series, so that a query over many
    /// series does not queue behind the writers once for each.
    pub fn ranges(&self, ids: &[SeriesId], from: i64, to: i64) -> Result<Vec<Vec<(i64, f64)>>> {
        if from > to {
            return Err(TsdbError::Invalid {
                field: "range",
                reason: format!("from {from} is after to {to}"),
            });
        }
        let mut out = Vec::with_capacity(ids.len());
        for group in ids.chunks(1024) {
            // The head first: a cut that runs between the two reads then shows its points
            // twice (merged below) rather than not at all.
            let heads: Vec<Vec<(i64, f64)>> = {
                let st = self.lock_head();
                group
                    .iter()
                    .map(|id| st.head.range(*id, from, to))
                    .collect()
            };
            for (id, head) in group.iter().zip(heads) {
                out.push(merge_points(self.stored_points(*id, from, to)?, head));
            }
        }
        Ok(out)
    }

    /// Points of one series in `[from, to]`, aggregated per `step` (0 = raw points).
    pub fn query_range(
        &self,
        id: SeriesId,
        from: i64,
        to: i64,
        step: i64,
        aggregation: Aggregation,
    ) -> Result<Vec<(i64, f64)>> {
        if step < 0 {
            return Err(TsdbError::Invalid {
                field: "step",
                reason: format!("{step} is negative"),
            });
        }
        if let Some(res) = rollup::resolution_for(step, aggregation) {
            return self.query_rollups(id, res, from, to, step, aggregation);
        }
        let raw = self.range(id, from, to)?;
        Ok(query::aggregate(&raw, from, step, aggregation))
    }

    /// The head's points of `id` in `[from, to]`.
    pub(crate) fn head_points_in(&self, id: SeriesId, from: i64, to: i64) -> Vec<(i64, f64)> {
        self.lock_head().head.range(id, from, to)
    }
}

/// Time-ordered points `older` and `newer` as one time-ordered run; at a timestamp both
/// hold, `newer`'s value wins.
pub(crate) fn merge_points(mut older: Vec<(i64, f64)>, newer: Vec<(i64, f64)>) -> Vec<(i64, f64)> {
    if newer.is_empty() {
        return older;
    }
    if older.last().is_none_or(|p| p.0 < newer[0].0) {
        older.extend(newer);
        return older;
    }
    let mut by_ts: std::collections::BTreeMap<i64, f64> = older.into_iter().collect();
    by_ts.extend(newer);
    by_ts.into_iter().collect()
}
