//! The store itself: a RocksDB database with five column families.
//!
//! - `series`: series key -> series id (u64 big-endian), the index by name and labels;
//! - `series_by_id`: series id -> series key, to name a series found by id;
//! - `postings`: (label, value, series id) -> nothing, to select series by matchers
//!   (see [`crate::index`]);
//! - `chunks`: (series id, first timestamp) -> last timestamp (8 bytes) + encoded chunk;
//!   a series' chunks never overlap in time;
//! - `wal`: write-ahead records of the head (see [`crate::wal`]).
//!
//! A write appends one write-ahead record and inserts into the in-memory head; when the head
//! holds too many points or spans too much data time, it is cut into chunks, written in one
//! batch with the deletion of the records it covers. Points that land in time already cut
//! (late or re-delivered) are merged into the overlapping chunks, so each series keeps one
//! value per timestamp.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rocksdb::{ColumnFamilyDescriptor, DB, IteratorMode, Options, WriteBatch};

use crate::Labels;
use crate::chunk;
use crate::error::{Result, TsdbError};
use crate::head::Head;
use crate::index::{self, CF_POSTINGS};
use crate::keys;
use crate::query::{self, Aggregation};
use crate::retention;
use crate::rollup::{self, CF_ROLLUPS};
use crate::wal;

const CF_SERIES: &str = "series";
pub(crate) const CF_SERIES_BY_ID: &str = "series_by_id";
pub(crate) const CF_CHUNKS: &str = "chunks";
const CF_WAL: &str = "wal";
/// Column family of the first format (one row per sample), refused on open.
const CF_OLD_SAMPLES: &str = "samples";
/// Every column family, in the order they are opened, flushed and compacted.
const ALL_CFS: [&str; 6] = [
    CF_SERIES,
    CF_SERIES_BY_ID,
    CF_POSTINGS,
    CF_CHUNKS,
    CF_ROLLUPS,
    CF_WAL,
];
const DAY_MS: i64 = 86_400_000;
/// Most points in one stored chunk.
const MAX_CHUNK_POINTS: usize = 16_384;

/// Identifier of one series in one store.
pub type SeriesId = u64;

/// Settings of a store.
#[derive(Debug, Clone)]
pub struct TsdbOptions {
    /// Most series the store accepts; a new series past it is refused with an error.
    pub max_series: u64,
    /// The head is cut into chunks when it holds this many points (bounds its memory).
    pub max_head_points: usize,
    /// ... or when it spans this much data time, in milliseconds.
    pub chunk_span_ms: i64,
    /// How long raw points, 1-minute and 1-hour rollups are kept, in milliseconds of data
    /// time before now (None = forever). Enforced by compaction filters, so never stalling
    /// ingest; expired data may be answered until its file is compacted (at least daily).
    pub raw_retention_ms: Option<i64>,
    pub minute_retention_ms: Option<i64>,
    pub hour_retention_ms: Option<i64>,
    /// Minute and hour rollups are built (by [`Tsdb::downsample`]) for raw data this old,
    /// in milliseconds; until then every step is answered from raw points. Must be shorter
    /// than raw retention.
    pub minute_rollup_after_ms: i64,
}

impl TsdbOptions {
    /// The defaults with no retention, for data with timestamps far from now (tests,
    /// benchmarks on historical datasets).
    pub fn keep_forever() -> Self {
        Self {
            raw_retention_ms: None,
            minute_retention_ms: None,
            hour_retention_ms: None,
            ..Self::default()
        }
    }
}

impl Default for TsdbOptions {
    fn default() -> Self {
        Self {
            max_series: 10_000_000,
            max_head_points: 4_000_000,
            chunk_span_ms: 2 * 3_600_000,
            raw_retention_ms: Some(15 * DAY_MS),
            minute_retention_ms: Some(90 * DAY_MS),
            hour_retention_ms: Some(730 * DAY_MS),
            minute_rollup_after_ms: 14 * DAY_MS,
        }
    }
}

/// A stored chunk read back: its key and its points.
type StoredChunk = (Vec<u8>, Vec<(i64, f64)>);

/// The head and what goes with it, under one lock.
#[derive(Debug, Default)]
pub(crate) struct HeadState {
    pub(crate) head: Head,
    /// Key of the next write-ahead record.
    wal_seq: u64,
    /// Last timestamp stored in chunks, per series (loaded on first need).
    chunk_end: HashMap<SeriesId, Option<i64>>,
    /// Rollup mark per series (loaded on first need; [`Tsdb::downsample`] keeps it current
    /// under the head lock), so that a cut reads it once per series, not once per cut.
    pub(crate) marks: HashMap<SeriesId, i64>,
}

/// A series found by [`Tsdb::select`].
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesInfo {
    pub id: SeriesId,
    pub name: String,
    pub labels: Labels,
}

/// A time-series store in one directory.
pub struct Tsdb {
    db: DB,
    path: PathBuf,
    options: TsdbOptions,
    next_id: AtomicU64,
    /// Series key -> id for series already seen by this process; serialises creation.
    ids: Mutex<HashMap<Vec<u8>, SeriesId>>,
    head: Mutex<HeadState>,
}

impl std::fmt::Debug for Tsdb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tsdb").field("path", &self.path).finish()
    }
}

impl Tsdb {
    /// Opens (creating if needed) the store in `path`, replaying unflushed writes.
    pub fn open(path: impl AsRef<Path>, options: TsdbOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(raw) = options.raw_retention_ms
            && options.minute_rollup_after_ms >= raw
        {
            return Err(TsdbError::Invalid {
                field: "minute_rollup_after",
                reason: format!(
                    "{} ms is not shorter than raw retention ({raw} ms): raw points would be \
                     dropped before their minute rollups are built",
                    options.minute_rollup_after_ms
                ),
            });
        }
        let mut db_opts = Options::default();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        db_opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        db_opts.set_bottommost_compression_type(rocksdb::DBCompressionType::Zstd);
        db_opts.set_keep_log_file_num(4);
        // RocksDB's own informational log grows by hundreds of kilobytes for nothing an
        // operator reads; warnings and errors are kept.
        db_opts.set_log_level(rocksdb::LogLevel::Warn);
        if let Ok(existing) = DB::list_cf(&db_opts, &path)
            && existing.iter().any(|cf| cf == CF_OLD_SAMPLES)
        {
            return Err(TsdbError::Invalid {
                field: "data directory",
                reason: format!(
                    "{} holds the first storage format (one row per sample); move it aside",
                    path.display()
                ),
            });
        }
        let cfs = ALL_CFS.into_iter().map(|name| {
            let mut cf_opts = db_opts.clone();
            retention::install(&mut cf_opts, name, &options);
            ColumnFamilyDescriptor::new(name, cf_opts)
        });
        let db = DB::open_cf_descriptors(&db_opts, &path, cfs)
            .map_err(TsdbError::rocks(format!("open {}", path.display())))?;
        let tsdb = Self {
            db,
            path,
            options,
            next_id: AtomicU64::new(1),
            ids: Mutex::new(HashMap::new()),
            head: Mutex::new(HeadState::default()),
        };
        let last = tsdb.last_series_id()?;
        tsdb.next_id.store(last + 1, Ordering::SeqCst);
        tsdb.rebuild_postings_if_missing()?;
        tsdb.replay()?;
        Ok(tsdb)
    }

    /// Rebuilds the head from the write-ahead records left by the last run.
    fn replay(&self) -> Result<()> {
        let mut st = self.lock_head();
        for item in self.db.iterator_cf(self.cf(CF_WAL), IteratorMode::Start) {
            let (key, value) = item.map_err(TsdbError::rocks("replay write-ahead records"))?;
            let seq = decode_id(&key, CF_WAL)?;
            for (id, ts, v) in wal::decode(&value)? {
                st.head.insert(id, ts, v);
            }
            st.wal_seq = seq + 1;
        }
        Ok(())
    }

    pub(crate) fn lock_head(&self) -> std::sync::MutexGuard<'_, HeadState> {
        self.head.lock().expect("head lock poisoned")
    }

    /// The settings the store was opened with.
    pub fn options(&self) -> &TsdbOptions {
        &self.options
    }

    /// Every series id, in order.
    pub(crate) fn series_ids(&self) -> Result<Vec<SeriesId>> {
        self.db
            .iterator_cf(self.cf(CF_SERIES_BY_ID), IteratorMode::Start)
            .map(|item| {
                let (key, _) = item.map_err(TsdbError::rocks("list series ids"))?;
                decode_id(&key, CF_SERIES_BY_ID)
            })
            .collect()
    }

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

    /// The directory the store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The RocksDB handle, for the other modules of the crate.
    pub(crate) fn raw_db(&self) -> &DB {
        &self.db
    }

    pub(crate) fn cf(&self, name: &'static str) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("column families are created on open")
    }

    fn last_series_id(&self) -> Result<SeriesId> {
        let mut iter = self
            .db
            .iterator_cf(self.cf(CF_SERIES_BY_ID), IteratorMode::End);
        match iter.next() {
            None => Ok(0),
            Some(item) => {
                let (key, _) = item.map_err(TsdbError::rocks("read last series id"))?;
                decode_id(&key, CF_SERIES_BY_ID)
            }
        }
    }

    /// Number of series in the store.
    pub fn series_count(&self) -> u64 {
        self.next_id.load(Ordering::SeqCst) - 1
    }

    /// The id of a series, created if it does not exist yet.
    pub fn series_id(&self, name: &str, labels: &Labels) -> Result<SeriesId> {
        if name.is_empty() {
            return Err(TsdbError::Invalid {
                field: "series name",
                reason: "empty".into(),
            });
        }
        let key = keys::series_key(name, labels);
        let mut ids = self.ids.lock().expect("series id lock poisoned");
        if let Some(id) = ids.get(&key) {
            return Ok(*id);
        }
        if let Some(raw) = self
            .db
            .get_cf(self.cf(CF_SERIES), &key)
            .map_err(TsdbError::rocks(format!("look up series {name}")))?
        {
            let id = decode_id(&raw, CF_SERIES)?;
            ids.insert(key, id);
            return Ok(id);
        }
        let id = self.next_id.load(Ordering::SeqCst);
        if id > self.options.max_series {
            return Err(TsdbError::SeriesLimit {
                limit: self.options.max_series,
                series: format!("{name}{labels:?}"),
            });
        }
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_SERIES), &key, id.to_be_bytes());
        batch.put_cf(self.cf(CF_SERIES_BY_ID), id.to_be_bytes(), &key);
        index::add_postings(&mut batch, self.cf(CF_POSTINGS), id, name, labels);
        self.db
            .write(batch)
            .map_err(TsdbError::rocks(format!("create series {name}")))?;
        self.next_id.store(id + 1, Ordering::SeqCst);
        ids.insert(key, id);
        Ok(id)
    }

    /// Stores samples; a sample with the same series and timestamp as a stored one replaces
    /// it. When this returns, the samples survive a crash of the process.
    pub fn write(&self, samples: &[(SeriesId, i64, f64)]) -> Result<()> {
        if samples.is_empty() {
            return Ok(());
        }
        let mut st = self.lock_head();
        for &(id, ts, value) in samples {
            st.head.insert(id, ts, value);
        }
        if st.head.len() >= self.options.max_head_points
            || st.head.span() >= self.options.chunk_span_ms
        {
            // The cut writes these samples into chunks in one atomic batch: they need no
            // write-ahead record of their own. If it fails they are not acknowledged.
            return self.cut_head(&mut st);
        }
        self.db
            .put_cf(
                self.cf(CF_WAL),
                st.wal_seq.to_be_bytes(),
                wal::encode(samples),
            )
            .map_err(TsdbError::rocks(format!("write {} samples", samples.len())))?;
        st.wal_seq += 1;
        Ok(())
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
    fn cut_head(&self, st: &mut HeadState) -> Result<()> {
        if st.head.len() == 0 {
            return Ok(());
        }
        let upto = st.wal_seq;
        let series = st.head.take();
        let result = self.write_chunks(st, &series, upto);
        if result.is_err() {
            // Nothing was written: keep serving the points from the head.
            for (id, points) in &series {
                for &(ts, v) in points {
                    st.head.insert(*id, ts, v);
                }
            }
        }
        result
    }

    fn write_chunks(
        &self,
        st: &mut HeadState,
        series: &HashMap<SeriesId, Vec<(i64, f64)>>,
        upto: u64,
    ) -> Result<()> {
        let cf = self.cf(CF_CHUNKS);
        let mut batch = WriteBatch::default();
        let mut ends = Vec::with_capacity(series.len());
        for (&id, points) in series {
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
            self.update_rollups(&mut batch, id, points, mark)?;
            for piece in points.chunks(MAX_CHUNK_POINTS) {
                let mut value = piece[piece.len() - 1].0.to_be_bytes().to_vec();
                value.extend(chunk::encode(piece));
                batch.put_cf(cf, keys::sample_key(id, piece[0].0), value);
            }
            let new_end = points.last().map(|p| p.0);
            ends.push((id, end.max(new_end)));
        }
        batch.delete_range_cf(self.cf(CF_WAL), 0u64.to_be_bytes(), upto.to_be_bytes());
        self.db.write(batch).map_err(TsdbError::rocks(format!(
            "write chunks of {} series",
            series.len()
        )))?;
        st.chunk_end.extend(ends);
        Ok(())
    }

    /// Raw points of one series with `from <= ts <= to`, in time order.
    pub fn range(&self, id: SeriesId, from: i64, to: i64) -> Result<Vec<(i64, f64)>> {
        if from > to {
            return Err(TsdbError::Invalid {
                field: "range",
                reason: format!("from {from} is after to {to}"),
            });
        }
        // The head first: a cut that runs between the two reads then shows its points twice
        // (merged below) rather than not at all.
        let head = self.lock_head().head.range(id, from, to);
        Ok(merge_points(self.stored_points(id, from, to)?, head))
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

    /// Cuts the head into chunks and forces everything to disk (for orderly shutdown and
    /// tests; written data is already safe in the write-ahead records).
    pub fn flush(&self) -> Result<()> {
        let mut st = self.lock_head();
        self.cut_head(&mut st)?;
        drop(st);
        for cf in ALL_CFS {
            self.db
                .flush_cf(self.cf(cf))
                .map_err(TsdbError::rocks(format!("flush {cf}")))?;
        }
        Ok(())
    }

    /// Flushes, then compacts every column family (for measuring size on disk).
    pub fn compact(&self) -> Result<()> {
        self.flush()?;
        for cf in ALL_CFS {
            self.db
                .compact_range_cf(self.cf(cf), None::<&[u8]>, None::<&[u8]>);
        }
        Ok(())
    }

    /// The head's points of `id` in `[from, to]`.
    pub(crate) fn head_points_in(&self, id: SeriesId, from: i64, to: i64) -> Vec<(i64, f64)> {
        self.lock_head().head.range(id, from, to)
    }

    /// Bytes the store takes on disk (every file of its directory).
    pub fn disk_bytes(&self) -> u64 {
        fn walk(path: &Path) -> u64 {
            std::fs::read_dir(path)
                .map(|entries| {
                    entries
                        .flatten()
                        .map(|e| match e.metadata() {
                            Ok(m) if m.is_dir() => walk(&e.path()),
                            Ok(m) => m.len(),
                            Err(_) => 0,
                        })
                        .sum()
                })
                .unwrap_or(0)
        }
        walk(&self.path)
    }

    /// Points waiting in the head (not yet in chunks).
    pub fn head_points(&self) -> usize {
        self.lock_head().head.len()
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

/// The last timestamp of a stored chunk value.
fn chunk_end(value: &[u8]) -> Result<i64> {
    let raw: [u8; 8] =
        value
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .ok_or(TsdbError::Corrupt {
                what: "chunk end",
                cf: CF_CHUNKS,
            })?;
    Ok(i64::from_be_bytes(raw))
}

fn decode_id(raw: &[u8], cf: &'static str) -> Result<SeriesId> {
    let bytes: [u8; 8] = raw.try_into().map_err(|_| TsdbError::Corrupt {
        what: "series id",
        cf,
    })?;
    Ok(u64::from_be_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_labels as labels;

    #[test]
    fn writes_are_idempotent_and_ranges_ordered() {
        let dir = tempfile::tempdir().unwrap();
        let db = Tsdb::open(dir.path(), TsdbOptions::keep_forever()).unwrap();
        let id = db.series_id("m", &labels(&[("agent", "a")])).unwrap();
        db.write(&[(id, 20, 2.0), (id, 10, 1.0)]).unwrap();
        db.write(&[(id, 20, 2.0), (id, 30, 3.0)]).unwrap();
        assert_eq!(
            db.range(id, 0, 100).unwrap(),
            vec![(10, 1.0), (20, 2.0), (30, 3.0)]
        );
        assert_eq!(db.range(id, 10, 20).unwrap(), vec![(10, 1.0), (20, 2.0)]);
        assert!(db.range(id, 5, 1).is_err());
    }

    #[test]
    fn series_ids_survive_reopen_and_select_filters_by_labels() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b);
        {
            let db = Tsdb::open(dir.path(), TsdbOptions::keep_forever()).unwrap();
            a = db.series_id("cpu", &labels(&[("agent", "a")])).unwrap();
            b = db.series_id("cpu", &labels(&[("agent", "b")])).unwrap();
            db.series_id("cpu_other", &labels(&[("agent", "a")]))
                .unwrap();
            db.write(&[(a, 1, 0.5)]).unwrap();
        }
        let db = Tsdb::open(dir.path(), TsdbOptions::keep_forever()).unwrap();
        assert_eq!(db.series_count(), 3);
        assert_eq!(db.series_id("cpu", &labels(&[("agent", "b")])).unwrap(), b);
        let all = db.select("cpu", &[]).unwrap();
        assert_eq!(all.len(), 2, "the prefix of cpu must not match cpu_other");
        let only_a = db.select("cpu", &[("agent".into(), "a".into())]).unwrap();
        assert_eq!(only_a.len(), 1);
        assert_eq!(only_a[0].id, a);
        assert_eq!(db.range(a, 0, 10).unwrap(), vec![(1, 0.5)]);
        let new = db.series_id("cpu", &labels(&[("agent", "c")])).unwrap();
        assert!(new > b, "ids must not be reused after reopen");
    }

    #[test]
    fn series_limit_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let db = Tsdb::open(
            dir.path(),
            TsdbOptions {
                max_series: 1,
                ..TsdbOptions::keep_forever()
            },
        )
        .unwrap();
        db.series_id("m", &Labels::new()).unwrap();
        let err = db.series_id("n", &Labels::new()).unwrap_err();
        assert!(err.to_string().contains("series limit of 1"), "{err}");
    }

    fn small_head(max_head_points: usize) -> TsdbOptions {
        TsdbOptions {
            max_head_points,
            ..TsdbOptions::keep_forever()
        }
    }

    #[test]
    fn cut_chunks_late_points_and_reopen_keep_one_value_per_timestamp() {
        let dir = tempfile::tempdir().unwrap();
        let id;
        {
            let db = Tsdb::open(dir.path(), small_head(10)).unwrap();
            id = db.series_id("m", &Labels::new()).unwrap();
            let batch: Vec<_> = (0..25).map(|i| (id, i * 10, i as f64)).collect();
            db.write(&batch).unwrap();
            assert_eq!(db.head_points(), 0, "the head was cut into chunks");
            // late, re-delivered and changed points all land in cut time
            db.write(&[(id, 5, 0.5), (id, 10, 1.0), (id, 20, 20.0)])
                .unwrap();
            db.flush().unwrap();
            db.write(&[(id, 300, 30.0)]).unwrap(); // left in the head and the WAL
        }
        let db = Tsdb::open(dir.path(), small_head(10)).unwrap();
        let got = db.range(id, 0, 1000).unwrap();
        assert_eq!(got.len(), 27);
        assert_eq!(&got[..4], &[(0, 0.0), (5, 0.5), (10, 1.0), (20, 20.0)]);
        assert_eq!(
            got.last(),
            Some(&(300, 30.0)),
            "replayed from the write-ahead record"
        );
        assert_eq!(db.range(id, 5, 10).unwrap(), vec![(5, 0.5), (10, 1.0)]);
        assert!(got.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn an_old_format_directory_is_refused_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut o = Options::default();
            o.create_if_missing(true);
            o.create_missing_column_families(true);
            DB::open_cf(&o, dir.path(), ["samples"]).unwrap();
        }
        let err = Tsdb::open(dir.path(), TsdbOptions::keep_forever()).unwrap_err();
        assert!(err.to_string().contains("first storage format"), "{err}");
    }

    mod reference {
        use super::*;
        use proptest::prelude::*;
        use std::collections::BTreeMap;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
            /// Whatever is written, in any order and with repeats, range answers what a plain
            /// map of (series, timestamp) -> last value answers, before and after reopening.
            #[test]
            fn range_equals_a_naive_reference(
                batches in proptest::collection::vec(
                    proptest::collection::vec((0u64..3, -50i64..400, -1000i32..1000), 1..40),
                    1..12,
                ),
                head in 1usize..60,
                queries in proptest::collection::vec((0u64..3, -60i64..420, 0i64..200), 1..8),
            ) {
                let dir = tempfile::tempdir().unwrap();
                let mut reference: BTreeMap<(u64, i64), f64> = BTreeMap::new();
                let ids: Vec<SeriesId>;
                {
                    let db = Tsdb::open(dir.path(), small_head(head)).unwrap();
                    ids = (0..3).map(|i| db.series_id(&format!("s{i}"), &Labels::new()).unwrap()).collect();
                    for (n, batch) in batches.iter().enumerate() {
                        let samples: Vec<_> = batch.iter().map(|&(s, ts, v)| (ids[s as usize], ts, f64::from(v) / 8.0)).collect();
                        // within one batch the last write of a timestamp wins, as in the reference
                        db.write(&samples).unwrap();
                        for &(s, ts, v) in batch {
                            reference.insert((s, ts), f64::from(v) / 8.0);
                        }
                        if n % 4 == 3 {
                            db.flush().unwrap();
                        }
                        for &(s, from, len) in &queries {
                            let want: Vec<(i64, f64)> = reference.range((s, from)..=(s, from + len)).map(|(k, v)| (k.1, *v)).collect();
                            prop_assert_eq!(db.range(ids[s as usize], from, from + len).unwrap(), want);
                        }
                    }
                }
                let db = Tsdb::open(dir.path(), small_head(head)).unwrap();
                for s in 0..3u64 {
                    let want: Vec<(i64, f64)> = reference.range((s, i64::MIN)..=(s, i64::MAX)).map(|(k, v)| (k.1, *v)).collect();
                    prop_assert_eq!(db.range(ids[s as usize], i64::MIN, i64::MAX).unwrap(), want);
                }
            }
        }
    }
}
