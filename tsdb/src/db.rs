//! The store itself: a RocksDB database with six column families.
//!
//! - `series`: series key -> series id (u64 big-endian), the index by name and labels;
//! - `series_by_id`: series id -> series key, to name a series found by id;
//! - `postings`: (label, value, series id) -> nothing, to select series by matchers
//!   (see `index`);
//! - `chunks`: (series id, first timestamp) -> last timestamp (8 bytes) + encoded chunk;
//!   a series' chunks never overlap in time;
//! - `wal`: write-ahead records of the head (see `wal`);
//! - `rollups`: minute and hour buckets and the rollup marks (see [`crate::rollup`]).
//!
//! Their names and encodings are in `keys`. Here: [`Tsdb`], opening, creating series and
//! writing; beside it: `chunks` (cutting the head into chunks, reading ranges), `select`
//! (series by label matchers over the postings), `rollups` (rollup buckets and queries)
//! and `downsample` (building rollups for aged data).
//!
//! A write appends one write-ahead record and inserts into the in-memory head; a series is
//! cut into a chunk when it holds its share of the head's points (or its oldest point is
//! half a chunk span behind the newest), written in the batch of the write that filled it,
//! with the deletion of the records no longer waited on; when the head holds too many
//! points it is cut whole. Points that land in time already cut
//! (late or re-delivered) are merged into the overlapping chunks, so each series keeps one
//! value per timestamp.

mod chunks;
mod downsample;
pub mod outbox;
mod rollups;
mod select;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rocksdb::{ColumnFamilyDescriptor, DB, IteratorMode, Options, WriteBatch};

pub use downsample::DownsampleStats;
pub use outbox::OutboxRecord;

use crate::Labels;
use crate::error::{Result, TsdbError};
use crate::head::Head;
use crate::index;
use crate::keys::{
    self, ALL_CFS, CF_OLD_SAMPLES, CF_OUTBOX, CF_POSTINGS, CF_SERIES, CF_SERIES_BY_ID, CF_WAL,
    decode_id,
};
use crate::options::TsdbOptions;
use crate::retention;
use crate::series::SeriesId;
use crate::wal;

/// Most series ids kept in memory for lookups (about 100 MB at 1,000,000).
const ID_CACHE_MAX: usize = 1_000_000;

/// The head and what goes with it, under one lock.
#[derive(Debug, Default)]
pub(crate) struct HeadState {
    pub(crate) head: Head,
    /// Key of the next write-ahead record.
    wal_seq: u64,
    /// Write-ahead records below this one are deleted.
    wal_deleted: u64,
    /// Last timestamp stored in chunks, per series (loaded on first need).
    chunk_end: HashMap<SeriesId, Option<i64>>,
    /// Rollup mark per series (loaded on first need; [`Tsdb::downsample`] keeps it current
    /// under the head lock), so that a cut reads it once per series, not once per cut.
    pub(crate) marks: HashMap<SeriesId, i64>,
    /// Sequence of the next outbox record.
    pub(crate) outbox_seq: u64,
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
        // only a store that exists has column families to list (RocksDB's C API leaks its
        // answer's allocation when there is none)
        if path.join("CURRENT").exists()
            && let Ok(existing) = DB::list_cf(&db_opts, &path)
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
        tsdb.lock_head().outbox_seq = tsdb.last_outbox_seq()? + 1;
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
            if st.head.len() == 0 {
                st.wal_deleted = seq;
            }
            for (id, ts, v) in wal::decode(&value)? {
                st.head.insert(id, ts, v, seq);
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

    /// The id of a series if it exists (nothing is created).
    pub fn find_series(&self, name: &str, labels: &Labels) -> Result<Option<SeriesId>> {
        Ok(self.series_id_if(name, labels, false)?.map(|(id, _)| id))
    }

    /// The id of a series, created if it does not exist yet.
    pub fn series_id(&self, name: &str, labels: &Labels) -> Result<SeriesId> {
        match self.series_id_if(name, labels, true)? {
            Some((id, _)) => Ok(id),
            None => unreachable!("a missing series is created"),
        }
    }

    /// The id of `key` from the cache or the store, cached when found.
    fn lookup(
        &self,
        ids: &mut HashMap<Vec<u8>, SeriesId>,
        key: Vec<u8>,
        name: &str,
    ) -> Result<Option<SeriesId>> {
        if let Some(id) = ids.get(&key) {
            return Ok(Some(*id));
        }
        let Some(raw) = self
            .db
            .get_cf(self.cf(CF_SERIES), &key)
            .map_err(TsdbError::rocks(format!("look up series {name}")))?
        else {
            return Ok(None);
        };
        let id = decode_id(&raw, CF_SERIES)?;
        Self::cache(ids, key, id);
        Ok(Some(id))
    }

    /// Caches a series id; a cache grown past [`ID_CACHE_MAX`] starts again empty (the
    /// store answers meanwhile), so that series that come and go do not grow it for ever.
    fn cache(ids: &mut HashMap<Vec<u8>, SeriesId>, key: Vec<u8>, id: SeriesId) {
        if ids.len() >= ID_CACHE_MAX {
            *ids = HashMap::new();
        }
        ids.insert(key, id);
    }

    /// The id of a series and whether this call created it; a missing series is created
    /// only when `create` says so (None otherwise), in the same lookup.
    pub fn series_id_if(
        &self,
        name: &str,
        labels: &Labels,
        create: bool,
    ) -> Result<Option<(SeriesId, bool)>> {
        if name.is_empty() {
            return Err(TsdbError::Invalid {
                field: "series name",
                reason: "empty".into(),
            });
        }
        let key = keys::series_key(name, labels);
        let mut ids = self.ids.lock().expect("series id lock poisoned");
        if let Some(id) = self.lookup(&mut ids, key.clone(), name)? {
            return Ok(Some((id, false)));
        }
        if !create {
            return Ok(None);
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
        Self::cache(&mut ids, key, id);
        Ok(Some((id, true)))
    }

    /// Stores samples; a sample with the same series and timestamp as a stored one replaces
    /// it. When this returns, the samples survive a crash of the process.
    pub fn write(&self, samples: &[(SeriesId, i64, f64)]) -> Result<()> {
        if samples.is_empty() {
            return Ok(());
        }
        let outbox = self
            .options
            .outbox
            .then(|| outbox::encode_record(now_ms(), samples));
        let mut st = self.lock_head();
        let seq = st.wal_seq;
        let full_at = self.chunk_points(st.head.series_count());
        let mut full = Vec::new();
        for &(id, ts, value) in samples {
            if st.head.insert(id, ts, value, seq) >= full_at {
                full.push(id);
            }
        }
        let bound = self
            .options
            .max_head_points
            .max(self.options.min_chunk_points * st.head.series_count());
        if st.head.len() >= bound {
            // The cut writes these samples into chunks in one atomic batch: they need no
            // write-ahead record of their own. If it fails they are not acknowledged.
            return self.cut_head(&mut st, outbox.as_deref());
        }
        let sweep = st.head.span() >= self.options.chunk_span_ms;
        if sweep && let Some(newest) = st.head.newest() {
            // series that stopped receiving points (or received old ones) are cut too
            full.extend(st.head.older_than(newest - self.options.chunk_span_ms / 2));
        }
        if !full.is_empty() {
            full.sort_unstable();
            full.dedup();
            // a write whose every series is cut (an import writes one whole series at a
            // time) leaves none of its points in the head: no write-ahead record is needed
            let all_cut = samples
                .iter()
                .all(|(id, _, _)| full.binary_search(id).is_ok());
            let record = (!all_cut).then(|| wal::encode(samples));
            self.cut_series(&mut st, &full, record.as_deref(), outbox.as_deref())?;
        }
        if sweep {
            // the oldest point left, found again: the next scan waits for another span
            st.head.refresh_oldest();
        }
        if !full.is_empty() {
            return Ok(());
        }
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_WAL), seq.to_be_bytes(), wal::encode(samples));
        if let Some(record) = &outbox {
            batch.put_cf(
                self.cf(CF_OUTBOX),
                outbox::record_key(st.outbox_seq),
                record,
            );
        }
        self.db
            .write(batch)
            .map_err(TsdbError::rocks(format!("write {} samples", samples.len())))?;
        st.wal_seq += 1;
        if outbox.is_some() {
            st.outbox_seq += 1;
        }
        Ok(())
    }

    /// How many points a series holds in the head when it is cut into a chunk, with
    /// `series` series in the head: the head's share of each, within bounds.
    fn chunk_points(&self, series: usize) -> usize {
        (self.options.max_head_points / series.max(1)).clamp(
            self.options.min_chunk_points.max(1),
            chunks::MAX_CHUNK_POINTS,
        )
    }

    /// Cuts the head into chunks and forces everything to disk (for orderly shutdown and
    /// tests; written data is already safe in the write-ahead records).
    pub fn flush(&self) -> Result<()> {
        let mut st = self.lock_head();
        self.cut_head(&mut st, None)?;
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

/// Milliseconds since the Unix epoch, now (the outbox's ingest times).
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
