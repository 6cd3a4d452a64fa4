//! The outbox: every write kept a second time, in the order it was ingested, for the
//! forwarders that ship the store's samples elsewhere (remote write).
//!
//! The store is the forwarders' queue, so that what a receiver missed while it was down, or
//! while this process was killed, is still on disk when it comes back: a record is written
//! in the same atomic batch as the write it copies (its write-ahead record or the chunks of
//! its cut), so a sample acknowledged to its sender is also queued for every destination.
//! Each destination keeps a cursor (the sequence of the last record it delivered) in the same
//! column family; records every cursor has passed are deleted, and so are records older than
//! the longest backlog allowed (counted as dropped by the destinations that had not sent
//! them).
//!
//! Keys: `r` + sequence (8 bytes big-endian) -> ingest time (8 bytes big-endian, ms) + the
//! samples in the write-ahead encoding (see `wal`); `c` + destination name -> sequence.

use rocksdb::{Direction, IteratorMode, WriteBatch};

use super::Tsdb;
use crate::error::{Result, TsdbError};
use crate::keys::CF_OUTBOX;
use crate::series::SeriesId;
use crate::{Labels, varint, wal};

const RECORD: u8 = b'r';
const CURSOR: u8 = b'c';

/// One write as the outbox keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRecord {
    /// Its place in ingest order (from 1).
    pub seq: u64,
    /// When it was written, in ms since the epoch.
    pub ingested_ms: i64,
    /// Its samples: series id, timestamp, value.
    pub samples: Vec<(SeriesId, i64, f64)>,
}

pub(crate) fn record_key(seq: u64) -> [u8; 9] {
    let mut key = [RECORD; 9];
    key[1..].copy_from_slice(&seq.to_be_bytes());
    key
}

fn cursor_key(name: &str) -> Vec<u8> {
    let mut key = vec![CURSOR];
    key.extend_from_slice(name.as_bytes());
    key
}

/// The value of a record of `samples` written at `now_ms`.
pub(crate) fn encode_record(now_ms: i64, samples: &[(SeriesId, i64, f64)]) -> Vec<u8> {
    let mut out = now_ms.to_be_bytes().to_vec();
    out.extend(wal::encode(samples));
    out
}

fn corrupt() -> TsdbError {
    TsdbError::Corrupt {
        what: "outbox record",
        cf: CF_OUTBOX,
    }
}

fn seq_of(key: &[u8]) -> Result<u64> {
    let raw: [u8; 8] = key
        .get(1..9)
        .and_then(|k| k.try_into().ok())
        .ok_or_else(corrupt)?;
    Ok(u64::from_be_bytes(raw))
}

fn ingested_of(value: &[u8]) -> Result<i64> {
    let raw: [u8; 8] = value
        .get(..8)
        .and_then(|v| v.try_into().ok())
        .ok_or_else(corrupt)?;
    Ok(i64::from_be_bytes(raw))
}

/// The number of samples of a record's value, read from its header alone.
fn count_of(value: &[u8]) -> Result<u64> {
    let mut pos = 8;
    varint::get(value, &mut pos).ok_or_else(corrupt)
}

impl Tsdb {
    /// The sequence of the last record written (0 before the first), read on open: the
    /// newest record kept, or when every record was delivered and trimmed, the furthest
    /// cursor (records are only deleted behind every cursor), so that numbering never goes
    /// back under a cursor.
    pub(crate) fn last_outbox_seq(&self) -> Result<u64> {
        let end = record_key(u64::MAX);
        let mut iter = self.raw_db().iterator_cf(
            self.cf(CF_OUTBOX),
            IteratorMode::From(&end, Direction::Reverse),
        );
        let newest = match iter.next() {
            Some(item) => {
                let (key, _) = item.map_err(TsdbError::rocks("read the outbox's end"))?;
                if key.first() == Some(&RECORD) {
                    seq_of(&key)?
                } else {
                    0
                }
            }
            None => 0,
        };
        let mut furthest = 0;
        for item in self.raw_db().iterator_cf(
            self.cf(CF_OUTBOX),
            IteratorMode::From(&[CURSOR], Direction::Forward),
        ) {
            let (key, value) = item.map_err(TsdbError::rocks("read the outbox cursors"))?;
            if key.first() != Some(&CURSOR) {
                break;
            }
            let raw: [u8; 8] = value.as_ref().try_into().map_err(|_| corrupt())?;
            furthest = furthest.max(u64::from_be_bytes(raw));
        }
        Ok(newest.max(furthest))
    }

    /// Sequence of the newest record (0 before the first).
    pub fn outbox_last(&self) -> u64 {
        self.lock_head().outbox_seq.saturating_sub(1)
    }

    /// Records after sequence `after`, in order, until they hold at least `max_samples`
    /// samples (at least one record when there is one).
    pub fn outbox_after(&self, after: u64, max_samples: usize) -> Result<Vec<OutboxRecord>> {
        let start = record_key(after.saturating_add(1));
        let mut out = Vec::new();
        let mut held = 0;
        let iter = self.raw_db().iterator_cf(
            self.cf(CF_OUTBOX),
            IteratorMode::From(&start, Direction::Forward),
        );
        for item in iter {
            let (key, value) = item.map_err(TsdbError::rocks("read the outbox"))?;
            if key.first() != Some(&RECORD) || held >= max_samples {
                break;
            }
            let samples = wal::decode(value.get(8..).ok_or_else(corrupt)?)?;
            held += samples.len();
            out.push(OutboxRecord {
                seq: seq_of(&key)?,
                ingested_ms: ingested_of(&value)?,
                samples,
            });
        }
        Ok(out)
    }

    /// The oldest record kept: its sequence and ingest time.
    pub fn outbox_oldest(&self) -> Result<Option<(u64, i64)>> {
        let start = record_key(0);
        let mut iter = self.raw_db().iterator_cf(
            self.cf(CF_OUTBOX),
            IteratorMode::From(&start, Direction::Forward),
        );
        match iter.next() {
            Some(item) => {
                let (key, value) = item.map_err(TsdbError::rocks("read the outbox's start"))?;
                if key.first() != Some(&RECORD) {
                    return Ok(None);
                }
                Ok(Some((seq_of(&key)?, ingested_of(&value)?)))
            }
            None => Ok(None),
        }
    }

    /// The ingest time of record `seq`, if it is kept.
    pub fn outbox_ingested(&self, seq: u64) -> Result<Option<i64>> {
        self.raw_db()
            .get_cf(self.cf(CF_OUTBOX), record_key(seq))
            .map_err(TsdbError::rocks(format!("read outbox record {seq}")))?
            .map(|v| ingested_of(&v))
            .transpose()
    }

    /// Samples in the records with a sequence in `(after, upto]`.
    pub fn outbox_samples_between(&self, after: u64, upto: u64) -> Result<u64> {
        let start = record_key(after.saturating_add(1));
        let mut total = 0;
        for item in self.raw_db().iterator_cf(
            self.cf(CF_OUTBOX),
            IteratorMode::From(&start, Direction::Forward),
        ) {
            let (key, value) = item.map_err(TsdbError::rocks("count outbox samples"))?;
            if key.first() != Some(&RECORD) || seq_of(&key)? > upto {
                break;
            }
            total += count_of(&value)?;
        }
        Ok(total)
    }

    /// The last sequence of the records written before `before_ms` (0 when none is).
    pub fn outbox_last_before(&self, before_ms: i64) -> Result<u64> {
        let start = record_key(0);
        let mut last = 0;
        for item in self.raw_db().iterator_cf(
            self.cf(CF_OUTBOX),
            IteratorMode::From(&start, Direction::Forward),
        ) {
            let (key, value) = item.map_err(TsdbError::rocks("scan the outbox by age"))?;
            if key.first() != Some(&RECORD) || ingested_of(&value)? >= before_ms {
                break;
            }
            last = seq_of(&key)?;
        }
        Ok(last)
    }

    /// Deletes every record up to sequence `upto`, included.
    pub fn outbox_trim(&self, upto: u64) -> Result<()> {
        self.raw_db()
            .delete_range_cf(
                self.cf(CF_OUTBOX),
                record_key(0),
                record_key(upto.saturating_add(1)),
            )
            .map_err(TsdbError::rocks(format!("trim the outbox up to {upto}")))
    }

    /// The cursor of destination `name`: the last sequence it delivered.
    pub fn outbox_cursor(&self, name: &str) -> Result<Option<u64>> {
        self.raw_db()
            .get_cf(self.cf(CF_OUTBOX), cursor_key(name))
            .map_err(TsdbError::rocks(format!(
                "read the outbox cursor of {name}"
            )))?
            .map(|v| {
                let raw: [u8; 8] = v.as_slice().try_into().map_err(|_| corrupt())?;
                Ok(u64::from_be_bytes(raw))
            })
            .transpose()
    }

    /// Moves destination `name`'s cursor to `seq`, durably.
    pub fn set_outbox_cursor(&self, name: &str, seq: u64) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_OUTBOX), cursor_key(name), seq.to_be_bytes());
        self.raw_db().write(batch).map_err(TsdbError::rocks(format!(
            "move the outbox cursor of {name}"
        )))
    }

    /// The name and labels of series `id`.
    pub fn series_labels(&self, id: SeriesId) -> Result<Option<(String, Labels)>> {
        self.series_key_of(id)?
            .map(|key| crate::keys::decode_series_key(&key))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{TsdbOptions, test_labels};

    #[test]
    fn every_write_is_queued_in_order_across_cuts_and_a_reopen_and_trimmed_by_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let options = TsdbOptions {
            outbox: true,
            max_head_points: 8,
            min_chunk_points: 1,
            ..TsdbOptions::keep_forever()
        };
        {
            let db = Tsdb::open(dir.path(), options.clone()).unwrap();
            let id = db.series_id("m", &test_labels(&[("a", "1")])).unwrap();
            // three writes land in write-ahead records, the fourth cuts the head
            for ts in 0..4 {
                db.write(&[(id, ts * 10, ts as f64), (id, ts * 10 + 5, 0.5)])
                    .unwrap();
            }
            assert_eq!(db.outbox_last(), 4);
            assert_eq!(db.head_points(), 0, "the fourth write cut the head");
            db.set_outbox_cursor("vm", 1).unwrap();
            assert_eq!(
                db.series_labels(id).unwrap(),
                Some(("m".into(), test_labels(&[("a", "1")])))
            );
        }
        let db = Tsdb::open(dir.path(), options.clone()).unwrap();
        assert_eq!(db.outbox_last(), 4, "the sequence survives a reopen");
        assert_eq!(db.outbox_cursor("vm").unwrap(), Some(1));
        assert_eq!(db.outbox_cursor("other").unwrap(), None);
        let after = db.outbox_after(1, 3).unwrap();
        assert_eq!(
            after.iter().map(|r| r.seq).collect::<Vec<_>>(),
            vec![2, 3],
            "stops once 3 samples are held"
        );
        assert_eq!(after[1].samples[0].1, 20);
        assert_eq!(db.outbox_samples_between(1, 4).unwrap(), 6);
        db.outbox_trim(2).unwrap();
        assert_eq!(db.outbox_oldest().unwrap().map(|o| o.0), Some(3));
        assert_eq!(db.outbox_after(0, 100).unwrap().len(), 2);
        let newest = db.outbox_ingested(4).unwrap().unwrap();
        assert_eq!(db.outbox_last_before(newest + 1).unwrap(), 4);
        assert_eq!(db.outbox_last_before(0).unwrap(), 0);
        let id = db.series_id("m", &test_labels(&[("a", "1")])).unwrap();
        db.write(&[(id, 100, 1.0)]).unwrap();
        assert_eq!(db.outbox_last(), 5, "numbering goes on after the trim");
        db.set_outbox_cursor("vm", 5).unwrap();
        db.outbox_trim(5).unwrap();
        drop(db);
        let db = Tsdb::open(dir.path(), options).unwrap();
        assert_eq!(
            db.outbox_last(),
            5,
            "every record delivered and trimmed: numbering goes on from the cursor"
        );
        db.write(&[(id, 200, 1.0)]).unwrap();
        assert_eq!(db.outbox_after(5, 10).unwrap()[0].seq, 6);
    }

    #[test]
    fn a_store_without_forwarding_keeps_no_copy() {
        let dir = tempfile::tempdir().unwrap();
        let db = Tsdb::open(dir.path(), TsdbOptions::keep_forever()).unwrap();
        let id = db.series_id("m", &test_labels(&[])).unwrap();
        db.write(&[(id, 1, 1.0)]).unwrap();
        assert_eq!(db.outbox_last(), 0);
        assert!(db.outbox_after(0, 10).unwrap().is_empty());
    }
}
