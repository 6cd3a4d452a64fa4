//! The on-disk layout: the column families of a store and the byte encodings of the keys
//! and values they share. Series keys are length-prefixed name then sorted label pairs, so
//! that all series of a metric share a prefix; sample keys are (series id, timestamp)
//! big-endian with the timestamp's sign bit flipped, so that byte order is time order; series
//! ids are 8 bytes big-endian; a stored chunk's value starts with its last timestamp (8 bytes
//! big-endian).

use crate::Labels;
use crate::error::{Result, TsdbError};
use crate::series::SeriesId;

/// Column family: series key -> series id, the index by name and labels.
pub(crate) const CF_SERIES: &str = "series";
/// Column family: series id -> series key, to name a series found by id.
pub(crate) const CF_SERIES_BY_ID: &str = "series_by_id";
/// Column family of the postings (see `index`).
pub(crate) const CF_POSTINGS: &str = "postings";
/// Column family: sample key of a chunk's first point -> last timestamp + encoded chunk.
pub(crate) const CF_CHUNKS: &str = "chunks";
/// Column family of the rollup blocks and marks (see [`crate::rollup`]).
pub(crate) const CF_ROLLUPS: &str = "rollups";
/// Column family of the write-ahead records (see `wal`).
pub(crate) const CF_WAL: &str = "wal";
/// Column family of the outbox: ingest-ordered copies of writes and the forwarders'
/// cursors (see [`crate::db::outbox`]).
pub(crate) const CF_OUTBOX: &str = "outbox";
/// Column family of the first format (one row per sample), refused on open.
pub(crate) const CF_OLD_SAMPLES: &str = "samples";
/// Every column family, in the order they are opened, flushed and compacted.
pub(crate) const ALL_CFS: [&str; 7] = [
    CF_SERIES,
    CF_SERIES_BY_ID,
    CF_POSTINGS,
    CF_CHUNKS,
    CF_ROLLUPS,
    CF_WAL,
    CF_OUTBOX,
];

pub(crate) fn push_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn read_str<'a>(buf: &mut &'a [u8]) -> Option<&'a str> {
    if buf.len() < 4 {
        return None;
    }
    let len = u32::from_be_bytes(buf[..4].try_into().ok()?) as usize;
    if buf.len() < 4 + len {
        return None;
    }
    let s = std::str::from_utf8(&buf[4..4 + len]).ok()?;
    *buf = &buf[4 + len..];
    Some(s)
}

/// Prefix shared by every series of metric `name`.
pub(crate) fn name_prefix(name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 4);
    push_str(&mut out, name);
    out
}

/// The canonical key of a series.
pub fn series_key(name: &str, labels: &Labels) -> Vec<u8> {
    let mut out = name_prefix(name);
    for (k, v) in labels {
        push_str(&mut out, k);
        push_str(&mut out, v);
    }
    out
}

/// Decodes a series key back into name and labels.
pub fn decode_series_key(mut buf: &[u8]) -> Result<(String, Labels)> {
    let corrupt = || TsdbError::Corrupt {
        what: "series key",
        cf: "series",
    };
    let name = read_str(&mut buf).ok_or_else(corrupt)?.to_string();
    let mut labels = Labels::new();
    while !buf.is_empty() {
        let k = read_str(&mut buf).ok_or_else(corrupt)?;
        let v = read_str(&mut buf).ok_or_else(corrupt)?;
        labels.insert(k.to_string(), v.to_string());
    }
    Ok((name, labels))
}

fn ts_bytes(ts: i64) -> [u8; 8] {
    ((ts as u64) ^ (1 << 63)).to_be_bytes()
}

/// Key of one sample.
pub(crate) fn sample_key(id: u64, ts: i64) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&id.to_be_bytes());
    out[8..].copy_from_slice(&ts_bytes(ts));
    out
}

/// Timestamp of a sample key.
pub(crate) fn sample_ts(key: &[u8]) -> Option<i64> {
    let raw: [u8; 8] = key.get(8..16)?.try_into().ok()?;
    Some((u64::from_be_bytes(raw) ^ (1 << 63)) as i64)
}

/// The last timestamp of a stored chunk value.
pub fn chunk_end(value: &[u8]) -> Result<i64> {
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

/// A series id stored (as key or value) in column family `cf`.
pub(crate) fn decode_id(raw: &[u8], cf: &'static str) -> Result<SeriesId> {
    let bytes: [u8; 8] = raw.try_into().map_err(|_| TsdbError::Corrupt {
        what: "series id",
        cf,
    })?;
    Ok(u64::from_be_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_key_round_trips_and_shares_name_prefix() {
        let mut labels = Labels::new();
        labels.insert("cpu".into(), "0".into());
        labels.insert("agent".into(), "web-1".into());
        let key = series_key("host_cpu_usage_ratio", &labels);
        assert!(key.starts_with(&name_prefix("host_cpu_usage_ratio")));
        assert!(!key.starts_with(&name_prefix("host_cpu")));
        let (name, back) = decode_series_key(&key).unwrap();
        assert_eq!(name, "host_cpu_usage_ratio");
        assert_eq!(back, labels);
    }

    #[test]
    fn sample_keys_sort_in_time_order_across_sign() {
        let a = sample_key(7, -5);
        let b = sample_key(7, 0);
        let c = sample_key(7, 1_700_000_000_000);
        assert!(a < b && b < c);
        assert_eq!(sample_ts(&c), Some(1_700_000_000_000));
        assert_eq!(sample_ts(&a), Some(-5));
        assert!(sample_key(7, i64::MAX) < sample_key(8, i64::MIN));
    }

    #[test]
    fn truncated_series_key_is_an_error_not_a_panic() {
        let key = series_key("m", &Labels::new());
        assert!(decode_series_key(&key[..3]).is_err());
    }
}
