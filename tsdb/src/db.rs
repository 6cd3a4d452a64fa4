//! The store itself: a RocksDB database with three column families.
//!
//! - `series`: series key -> series id (u64 big-endian), the index by name and labels;
//! - `series_by_id`: series id -> series key, to name a series found by id;
//! - `samples`: (series id, timestamp) -> value (f64 little-endian).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rocksdb::{
    ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options, ReadOptions, WriteBatch,
};

use crate::Labels;
use crate::error::{Result, TsdbError};
use crate::keys;
use crate::query::{self, Aggregation};

const CF_SERIES: &str = "series";
const CF_SERIES_BY_ID: &str = "series_by_id";
const CF_SAMPLES: &str = "samples";

/// Identifier of one series in one store.
pub type SeriesId = u64;

/// Settings of a store.
#[derive(Debug, Clone)]
pub struct TsdbOptions {
    /// Most series the store accepts; a new series past it is refused with an error.
    pub max_series: u64,
}

impl Default for TsdbOptions {
    fn default() -> Self {
        Self {
            max_series: 10_000_000,
        }
    }
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
}

impl std::fmt::Debug for Tsdb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tsdb").field("path", &self.path).finish()
    }
}

impl Tsdb {
    /// Opens (creating if needed) the store in `path`.
    pub fn open(path: impl AsRef<Path>, options: TsdbOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let mut db_opts = Options::default();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        db_opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        db_opts.set_bottommost_compression_type(rocksdb::DBCompressionType::Zstd);
        db_opts.set_keep_log_file_num(4);
        let cfs = [CF_SERIES, CF_SERIES_BY_ID, CF_SAMPLES]
            .into_iter()
            .map(|name| ColumnFamilyDescriptor::new(name, db_opts.clone()));
        let db = DB::open_cf_descriptors(&db_opts, &path, cfs)
            .map_err(TsdbError::rocks(format!("open {}", path.display())))?;
        let tsdb = Self {
            db,
            path,
            options,
            next_id: AtomicU64::new(1),
            ids: Mutex::new(HashMap::new()),
        };
        let last = tsdb.last_series_id()?;
        tsdb.next_id.store(last + 1, Ordering::SeqCst);
        Ok(tsdb)
    }

    /// The directory the store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn cf(&self, name: &'static str) -> &rocksdb::ColumnFamily {
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
        self.db
            .write(batch)
            .map_err(TsdbError::rocks(format!("create series {name}")))?;
        self.next_id.store(id + 1, Ordering::SeqCst);
        ids.insert(key, id);
        Ok(id)
    }

    /// Stores samples; a sample with the same series and timestamp as a stored one replaces it.
    pub fn write(&self, samples: &[(SeriesId, i64, f64)]) -> Result<()> {
        if samples.is_empty() {
            return Ok(());
        }
        let mut batch = WriteBatch::default();
        let cf = self.cf(CF_SAMPLES);
        for (id, ts, value) in samples {
            batch.put_cf(cf, keys::sample_key(*id, *ts), value.to_le_bytes());
        }
        self.db
            .write(batch)
            .map_err(TsdbError::rocks(format!("write {} samples", samples.len())))
    }

    /// The series of metric `name` whose labels equal every `(name, value)` in `matchers`.
    pub fn select(&self, name: &str, matchers: &[(String, String)]) -> Result<Vec<SeriesInfo>> {
        let prefix = keys::name_prefix(name);
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(
            self.cf(CF_SERIES),
            IteratorMode::From(&prefix, Direction::Forward),
        );
        for item in iter {
            let (key, value) = item.map_err(TsdbError::rocks(format!("select series {name}")))?;
            if !key.starts_with(&prefix) {
                break;
            }
            let (series_name, labels) = keys::decode_series_key(&key)?;
            if series_name != name {
                continue;
            }
            let matches = matchers
                .iter()
                .all(|(k, v)| labels.get(k).map(String::as_str) == Some(v.as_str()));
            if matches {
                out.push(SeriesInfo {
                    id: decode_id(&value, CF_SERIES)?,
                    name: series_name,
                    labels,
                });
            }
        }
        Ok(out)
    }

    /// Raw points of one series with `from <= ts <= to`, in time order.
    pub fn range(&self, id: SeriesId, from: i64, to: i64) -> Result<Vec<(i64, f64)>> {
        if from > to {
            return Err(TsdbError::Invalid {
                field: "range",
                reason: format!("from {from} is after to {to}"),
            });
        }
        let mut read = ReadOptions::default();
        read.set_iterate_upper_bound(keys::sample_key(id, to).to_vec());
        let start = keys::sample_key(id, from);
        let iter = self.db.iterator_cf_opt(
            self.cf(CF_SAMPLES),
            read,
            IteratorMode::From(&start, Direction::Forward),
        );
        let mut out = Vec::new();
        for item in iter {
            let (key, value) = item.map_err(TsdbError::rocks(format!("read series {id}")))?;
            let ts = keys::sample_ts(&key).ok_or(TsdbError::Corrupt {
                what: "sample key",
                cf: CF_SAMPLES,
            })?;
            out.push((ts, decode_value(&value)?));
        }
        // The upper bound is exclusive; the point at exactly `to` is read separately.
        if let Some(value) = self
            .db
            .get_cf(self.cf(CF_SAMPLES), keys::sample_key(id, to))
            .map_err(TsdbError::rocks(format!("read series {id}")))?
        {
            out.push((to, decode_value(&value)?));
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
        let raw = self.range(id, from, to)?;
        Ok(query::aggregate(&raw, from, step, aggregation))
    }

    /// Forces memtables to disk (for tests and orderly shutdown; the WAL already protects
    /// written data).
    pub fn flush(&self) -> Result<()> {
        for cf in [CF_SERIES, CF_SERIES_BY_ID, CF_SAMPLES] {
            self.db
                .flush_cf(self.cf(cf))
                .map_err(TsdbError::rocks(format!("flush {cf}")))?;
        }
        Ok(())
    }
}

fn decode_id(raw: &[u8], cf: &'static str) -> Result<SeriesId> {
    let bytes: [u8; 8] = raw.try_into().map_err(|_| TsdbError::Corrupt {
        what: "series id",
        cf,
    })?;
    Ok(u64::from_be_bytes(bytes))
}

fn decode_value(raw: &[u8]) -> Result<f64> {
    let bytes: [u8; 8] = raw.try_into().map_err(|_| TsdbError::Corrupt {
        what: "sample value",
        cf: CF_SAMPLES,
    })?;
    Ok(f64::from_le_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn writes_are_idempotent_and_ranges_ordered() {
        let dir = tempfile::tempdir().unwrap();
        let db = Tsdb::open(dir.path(), TsdbOptions::default()).unwrap();
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
            let db = Tsdb::open(dir.path(), TsdbOptions::default()).unwrap();
            a = db.series_id("cpu", &labels(&[("agent", "a")])).unwrap();
            b = db.series_id("cpu", &labels(&[("agent", "b")])).unwrap();
            db.series_id("cpu_other", &labels(&[("agent", "a")]))
                .unwrap();
            db.write(&[(a, 1, 0.5)]).unwrap();
        }
        let db = Tsdb::open(dir.path(), TsdbOptions::default()).unwrap();
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
        let db = Tsdb::open(dir.path(), TsdbOptions { max_series: 1 }).unwrap();
        db.series_id("m", &Labels::new()).unwrap();
        let err = db.series_id("n", &Labels::new()).unwrap_err();
        assert!(err.to_string().contains("series limit of 1"), "{err}");
    }
}
