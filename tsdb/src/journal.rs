//! A durable, bounded journal: byte records numbered by a contiguous sequence, beside a small
//! table of named values changed in the same atomic write.
//!
//! The sub-manager journals every change of its region's state here, and keeps the state
//! itself in the table, so that a member killed and restarted carries on with the same
//! journal (same epoch, next sequence) and the centre resumes where it stopped, however long
//! it was cut off, within the bound. The super-manager keeps its cursors and event history
//! the same way. RocksDB's write-ahead log makes each write survive kill -9.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use rocksdb::{ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options, WriteBatch};

use crate::error::{Result, TsdbError};

const CF_RECORDS: &str = "records";
const CF_TABLE: &str = "table";

/// Trimming runs once this many records past the bound have gathered.
const TRIM_SLACK: u64 = 1024;

/// A change to the table, written with a record.
#[derive(Debug, Clone)]
pub enum TableOp<'a> {
    Put(&'a [u8], &'a [u8]),
    Delete(&'a [u8]),
}

/// A sequence-numbered record log with a key-value table, on RocksDB.
pub struct Journal {
    db: DB,
    capacity: u64,
    /// Sequence of the oldest record kept (last + 1 when empty).
    first: AtomicU64,
    /// Sequence of the newest record (0 before the first).
    last: AtomicU64,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("capacity", &self.capacity)
            .field("first", &self.first)
            .field("last", &self.last)
            .finish_non_exhaustive()
    }
}

fn seq_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

fn seq_of(key: &[u8]) -> Result<u64> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| TsdbError::Corrupt {
        what: "journal sequence key",
        cf: CF_RECORDS,
    })?;
    Ok(u64::from_be_bytes(bytes))
}

impl Journal {
    /// Opens (or creates) the journal in `path`, keeping at most `capacity` records.
    pub fn open(path: impl AsRef<Path>, capacity: u64) -> Result<Self> {
        let path = path.as_ref();
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        opts.set_keep_log_file_num(2);
        opts.set_log_level(rocksdb::LogLevel::Warn);
        let cfs = [CF_RECORDS, CF_TABLE].map(|n| ColumnFamilyDescriptor::new(n, opts.clone()));
        let db = DB::open_cf_descriptors(&opts, path, cfs)
            .map_err(TsdbError::rocks(format!("open journal {}", path.display())))?;
        let cf = db.cf_handle(CF_RECORDS).expect("opened with it");
        let mut first_iter = db.iterator_cf(cf, IteratorMode::Start);
        let first = match first_iter.next() {
            Some(item) => seq_of(&item.map_err(TsdbError::rocks("read journal start"))?.0)?,
            None => 0,
        };
        let last = match db.iterator_cf(cf, IteratorMode::End).next() {
            Some(item) => seq_of(&item.map_err(TsdbError::rocks("read journal end"))?.0)?,
            None => 0,
        };
        drop(first_iter);
        let first = if last == 0 { 1 } else { first };
        Ok(Self {
            db,
            capacity: capacity.max(1),
            first: AtomicU64::new(first),
            last: AtomicU64::new(last),
        })
    }

    /// Sequence of the newest record (0 before the first).
    pub fn last_seq(&self) -> u64 {
        self.last.load(Ordering::Acquire)
    }

    /// Sequence of the oldest record kept (`last_seq() + 1` when none is).
    pub fn first_seq(&self) -> u64 {
        self.first.load(Ordering::Acquire)
    }

    /// Appends `record` and applies `table` in one atomic write; returns the record's
    /// sequence. Callers serialise appends (the sequence is the next after the last).
    pub fn append(&self, record: &[u8], table: &[TableOp<'_>]) -> Result<u64> {
        let records = self.db.cf_handle(CF_RECORDS).expect("opened with it");
        let tcf = self.db.cf_handle(CF_TABLE).expect("opened with it");
        let seq = self.last_seq() + 1;
        let mut batch = WriteBatch::default();
        batch.put_cf(records, seq_key(seq), record);
        for op in table {
            match op {
                TableOp::Put(k, v) => batch.put_cf(tcf, k, v),
                TableOp::Delete(k) => batch.delete_cf(tcf, k),
            }
        }
        let first = self.first_seq();
        let trim_to = (seq + 1).saturating_sub(self.capacity);
        let trimming = trim_to > first && trim_to - first >= TRIM_SLACK;
        if trimming {
            batch.delete_range_cf(records, seq_key(first), seq_key(trim_to));
        }
        self.db
            .write(batch)
            .map_err(TsdbError::rocks(format!("append journal record {seq}")))?;
        self.last.store(seq, Ordering::Release);
        if trimming {
            self.first.store(trim_to, Ordering::Release);
        }
        Ok(seq)
    }

    /// Applies `table` alone, with no record.
    pub fn write_table(&self, table: &[TableOp<'_>]) -> Result<()> {
        let tcf = self.db.cf_handle(CF_TABLE).expect("opened with it");
        let mut batch = WriteBatch::default();
        for op in table {
            match op {
                TableOp::Put(k, v) => batch.put_cf(tcf, k, v),
                TableOp::Delete(k) => batch.delete_cf(tcf, k),
            }
        }
        self.db
            .write(batch)
            .map_err(TsdbError::rocks("write journal table"))
    }

    /// Up to `limit` records after sequence `after`, in order, with their sequences.
    pub fn read_after(&self, after: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>> {
        let cf = self.db.cf_handle(CF_RECORDS).expect("opened with it");
        let start = seq_key(after.saturating_add(1).max(self.first_seq()));
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(cf, IteratorMode::From(&start, Direction::Forward))
            .take(limit)
        {
            let (k, v) = item.map_err(TsdbError::rocks("read journal records"))?;
            out.push((seq_of(&k)?, v.into_vec()));
        }
        Ok(out)
    }

    /// The table's value at `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let cf = self.db.cf_handle(CF_TABLE).expect("opened with it");
        self.db
            .get_cf(cf, key)
            .map_err(TsdbError::rocks("read journal table"))
    }

    /// Every table entry whose key starts with `prefix`, in key order.
    pub fn scan(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let cf = self.db.cf_handle(CF_TABLE).expect("opened with it");
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(cf, IteratorMode::From(prefix, Direction::Forward))
        {
            let (k, v) = item.map_err(TsdbError::rocks("scan journal table"))?;
            if !k.starts_with(prefix) {
                break;
            }
            out.push((k.into_vec(), v.into_vec()));
        }
        Ok(out)
    }
}

impl Journal {
    /// Every table entry with a key in `[from, to)`, in key order.
    pub fn scan_range(&self, from: &[u8], to: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let cf = self.db.cf_handle(CF_TABLE).expect("opened with it");
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(cf, IteratorMode::From(from, Direction::Forward))
        {
            let (k, v) = item.map_err(TsdbError::rocks("scan journal table"))?;
            if &*k >= to {
                break;
            }
            out.push((k.into_vec(), v.into_vec()));
        }
        Ok(out)
    }

    /// Deletes every table entry with a key in `[from, to)`.
    pub fn delete_range(&self, from: &[u8], to: &[u8]) -> Result<()> {
        let cf = self.db.cf_handle(CF_TABLE).expect("opened with it");
        self.db
            .delete_range_cf(cf, from, to)
            .map_err(TsdbError::rocks("delete journal table range"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_ranges_are_half_open_when_scanned_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path(), 10).unwrap();
        let keys: Vec<Vec<u8>> = (0..5u8).map(|i| vec![b'k', i]).collect();
        let ops: Vec<TableOp<'_>> = keys.iter().map(|k| TableOp::Put(k, b"v")).collect();
        j.write_table(&ops).unwrap();
        let got = j.scan_range(&[b'k', 1], &[b'k', 3]).unwrap();
        assert_eq!(
            got.iter().map(|(k, _)| k[1]).collect::<Vec<_>>(),
            vec![1, 2]
        );
        j.delete_range(&[b'k', 0], &[b'k', 3]).unwrap();
        let left = j.scan(b"k").unwrap();
        assert_eq!(
            left.iter().map(|(k, _)| k[1]).collect::<Vec<_>>(),
            vec![3, 4]
        );
    }

    #[test]
    fn records_and_table_survive_a_reopen_and_the_bound_trims_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        {
            let j = Journal::open(dir.path(), 2000).unwrap();
            assert_eq!((j.first_seq(), j.last_seq()), (1, 0));
            assert!(j.read_after(0, 10).unwrap().is_empty());
            for i in 1..=5u64 {
                let key = format!("r/{}", i % 2);
                let seq = j
                    .append(
                        format!("update {i}").as_bytes(),
                        &[TableOp::Put(key.as_bytes(), &i.to_be_bytes())],
                    )
                    .unwrap();
                assert_eq!(seq, i);
            }
            j.append(b"update 6", &[TableOp::Delete(b"r/1")]).unwrap();
        }
        let j = Journal::open(dir.path(), 2000).unwrap();
        assert_eq!((j.first_seq(), j.last_seq()), (1, 6));
        let after = j.read_after(4, 10).unwrap();
        assert_eq!(
            after,
            vec![(5, b"update 5".to_vec()), (6, b"update 6".to_vec())]
        );
        assert_eq!(j.scan(b"r/").unwrap().len(), 1, "r/1 was deleted");
        assert_eq!(j.get(b"r/0").unwrap(), Some(4u64.to_be_bytes().to_vec()));
        for _ in 0..4000 {
            j.append(b"x", &[]).unwrap();
        }
        assert!(j.first_seq() > 1, "trimmed");
        assert!(j.last_seq() - j.first_seq() < 2000 + TRIM_SLACK);
        let oldest = j.read_after(0, 1).unwrap();
        assert_eq!(oldest[0].0, j.first_seq());
        j.write_table(&[TableOp::Put(b"meta/epoch", b"e1")])
            .unwrap();
        assert_eq!(j.get(b"meta/epoch").unwrap(), Some(b"e1".to_vec()));
    }
}
