//! Write-ahead records: each written batch is one RocksDB row in the `wal` column family,
//! keyed by a sequence, so that a batch costs one row however many samples it holds, and
//! RocksDB's own log makes it survive kill -9. Rows are deleted once their samples are in
//! stored chunks; on open, the rows left are replayed into the head.
//!
//! Record: count (LEB128), then per sample: series id (LEB128), timestamp delta from the
//! previous sample's (zigzag LEB128), value (8 bytes, little-endian).

use crate::error::{Result, TsdbError};
use crate::series::SeriesId;
use crate::varint;

/// Encodes a batch of samples.
pub fn encode(samples: &[(SeriesId, i64, f64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + samples.len() * 12);
    varint::put(&mut out, samples.len() as u64);
    let mut prev_ts = 0i64;
    for &(id, ts, value) in samples {
        varint::put(&mut out, id);
        let delta = ts.wrapping_sub(prev_ts);
        varint::put(&mut out, ((delta << 1) ^ (delta >> 63)) as u64);
        out.extend_from_slice(&value.to_le_bytes());
        prev_ts = ts;
    }
    out
}

/// Decodes a batch written by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<Vec<(SeriesId, i64, f64)>> {
    let corrupt = || TsdbError::Corrupt {
        what: "write-ahead record",
        cf: "wal",
    };
    let mut pos = 0;
    let count = varint::get(bytes, &mut pos).ok_or_else(corrupt)?;
    if count > bytes.len() as u64 {
        return Err(corrupt());
    }
    let mut out = Vec::with_capacity(count as usize);
    let mut ts = 0i64;
    for _ in 0..count {
        let id = varint::get(bytes, &mut pos).ok_or_else(corrupt)?;
        let z = varint::get(bytes, &mut pos).ok_or_else(corrupt)?;
        ts = ts.wrapping_add(((z >> 1) as i64) ^ -((z & 1) as i64));
        let raw: [u8; 8] = bytes
            .get(pos..pos + 8)
            .ok_or_else(corrupt)?
            .try_into()
            .map_err(|_| corrupt())?;
        pos += 8;
        out.push((id, ts, f64::from_le_bytes(raw)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_truncation_is_an_error() {
        let batch = vec![
            (1, 1_700_000_000_000, 0.5),
            (2, 1_699_999_999_000, f64::NAN),
            (300, i64::MIN, -0.0),
        ];
        let bytes = encode(&batch);
        let back = decode(&bytes).unwrap();
        assert_eq!(back.len(), 3);
        for (a, b) in batch.iter().zip(&back) {
            assert_eq!((a.0, a.1, a.2.to_bits()), (b.0, b.1, b.2.to_bits()));
        }
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}
