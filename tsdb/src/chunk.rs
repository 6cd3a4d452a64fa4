//! The chunk codec: a run of one series' points in a few bits each.
//!
//! Timestamps are delta-of-delta coded with a per-chunk integer code (see `IntCode`), so that
//! a regular interval costs one bit per point. Values get the smallest of several encodings, chosen per chunk:
//! Gorilla's XOR of consecutive float bits, which suits any float; or, when every value is a
//! decimal with at most [`MAX_SCALE`] fractional digits (the common case for metrics: ratios
//! like 0.37, byte counts, counters), the scaled integers delta- or delta-of-delta-coded,
//! which XOR cannot match because such floats differ in most mantissa bits. Every encoding
//! round-trips the exact bits of every value, NaN payloads, infinities and -0.0 included.
//!
//! Layout: version byte, point count (LEB128), value codec tag, scale (decimal codecs only),
//! then one bit stream: timestamps, then values. Since version 2, a delta-of-delta stream
//! starts with its first delta alone, so a steady interval or rate costs no bits at all;
//! version 1 chunks are still read.
//!
//! Here: the format (header, codec choice, encode and decode). Beside it: `ints` (integer
//! streams and their codes), `decimal` (values as scaled decimals) and `xor` (Gorilla's
//! float codec).

mod decimal;
mod ints;
mod xor;

use crate::bits::{BitReader, BitWriter};
use crate::error::{Result, TsdbError};
use crate::varint;

use decimal::{common_step, decimal_ints, in_steps, less, median, scaled};
use ints::{
    differences, diffs_bits, get_diffs, integrate, ints_bits, put_diffs, put_ints, unzigzag,
    varint_len, zigzag,
};
use xor::{get_xor, put_xor, xor_bits};

/// Format version written first in every chunk.
pub const VERSION: u8 = 2;
/// Most points in one chunk (the store cuts far smaller ones); a larger count is corrupt.
pub const MAX_POINTS: usize = 1 << 16;
/// Most fractional decimal digits the decimal codecs try.
pub const MAX_SCALE: u8 = 9;

/// How a chunk's values are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueCodec {
    /// XOR of consecutive float bits (Gorilla).
    Xor,
    /// Values × 10^scale as integers, delta-coded in units of `step` (the greatest common
    /// divisor of their differences: 4096 for page counts), each delta less `base` (the
    /// median delta: 0 for gauges, the typical increase for noisy counters).
    DecimalDelta { scale: u8, step: u64, base: i64 },
    /// The same, delta-of-delta-coded (counters with steady rates).
    DecimalDod { scale: u8, step: u64 },
}

impl ValueCodec {
    fn tag(self) -> u8 {
        match self {
            ValueCodec::Xor => 0,
            ValueCodec::DecimalDelta { .. } => 1,
            ValueCodec::DecimalDod { .. } => 2,
        }
    }
}

fn corrupt(what: &'static str) -> TsdbError {
    TsdbError::Corrupt { what, cf: "chunk" }
}

fn put_timestamps(w: &mut BitWriter, points: &[(i64, f64)]) {
    let ts: Vec<i64> = points.iter().map(|p| p.0).collect();
    w.write(ts[0] as u64, 64);
    put_diffs(w, &ts, true);
}

fn put_values(w: &mut BitWriter, points: &[(i64, f64)], codec: ValueCodec) {
    match codec {
        ValueCodec::Xor => put_xor(w, points),
        ValueCodec::DecimalDelta { scale, step, base } => {
            let ints = scaled(points, scale).expect("the scale was checked");
            w.write(ints[0] as u64, 64);
            put_ints(w, &less(differences(&in_steps(&ints, step), false), base));
        }
        ValueCodec::DecimalDod { scale, step } => {
            let ints = scaled(points, scale).expect("the scale was checked");
            w.write(ints[0] as u64, 64);
            put_diffs(w, &in_steps(&ints, step), true);
        }
    }
}

fn encode_with(points: &[(i64, f64)], codec: ValueCodec) -> Vec<u8> {
    let mut out = vec![VERSION];
    varint::put(&mut out, points.len() as u64);
    if points.is_empty() {
        return out;
    }
    out.push(codec.tag());
    match codec {
        ValueCodec::Xor => {}
        ValueCodec::DecimalDelta { scale, step, base } => {
            out.push(scale);
            varint::put(&mut out, step);
            varint::put(&mut out, zigzag(base));
        }
        ValueCodec::DecimalDod { scale, step } => {
            out.push(scale);
            varint::put(&mut out, step);
        }
    }
    let mut w = BitWriter::new();
    put_timestamps(&mut w, points);
    put_values(&mut w, points, codec);
    out.extend(w.finish());
    out
}

/// Encodes points (in strictly increasing time order) with the smallest value codec, chosen
/// by computing each codec's size rather than writing each.
pub fn encode(points: &[(i64, f64)]) -> Vec<u8> {
    debug_assert!(
        points.windows(2).all(|w| w[0].0 < w[1].0),
        "points must be sorted and unique"
    );
    assert!(
        points.len() <= MAX_POINTS,
        "a chunk holds at most {MAX_POINTS} points"
    );
    let mut codec = ValueCodec::Xor;
    if points.len() > 1 {
        let mut best = xor_bits(points);
        if let Some((scale, ints)) = decimal_ints(points) {
            let step = common_step(&ints);
            let steps = in_steps(&ints, step);
            // the scale byte and the step's varint come on top
            let header = 8 + 8 * varint_len(step);
            let deltas = differences(&steps, false);
            let base = median(&deltas);
            let delta_bits = header + 8 * varint_len(zigzag(base)) + ints_bits(&less(deltas, base));
            if delta_bits < best {
                best = delta_bits;
                codec = ValueCodec::DecimalDelta { scale, step, base };
            }
            if header + diffs_bits(&steps, true) < best {
                codec = ValueCodec::DecimalDod { scale, step };
            }
        }
    }
    encode_with(points, codec)
}

/// The value codec a chunk was encoded with (None for an empty or unreadable chunk).
pub fn codec_of(bytes: &[u8]) -> Option<ValueCodec> {
    let mut pos = 1;
    let version = *bytes.first()?;
    if !(1..=VERSION).contains(&version) || varint::get(bytes, &mut pos)? == 0 {
        return None;
    }
    read_codec(bytes, &mut pos, version)
}

/// Reads the codec tag and its parameters at `pos`.
fn read_codec(bytes: &[u8], pos: &mut usize, version: u8) -> Option<ValueCodec> {
    let tag = *bytes.get(*pos)?;
    *pos += 1;
    if tag == 0 {
        return Some(ValueCodec::Xor);
    }
    let scale = *bytes.get(*pos)?;
    *pos += 1;
    let step = if version >= 2 {
        varint::get(bytes, pos)?
    } else {
        1
    };
    if scale > MAX_SCALE || step == 0 || step > i64::MAX as u64 {
        return None;
    }
    match tag {
        1 => Some(ValueCodec::DecimalDelta {
            scale,
            step,
            base: if version >= 2 {
                unzigzag(varint::get(bytes, pos)?)
            } else {
                0
            },
        }),
        2 => Some(ValueCodec::DecimalDod { scale, step }),
        _ => None,
    }
}

/// Decodes a chunk; a truncated or malformed chunk is an error, never a panic.
pub fn decode(bytes: &[u8]) -> Result<Vec<(i64, f64)>> {
    let version = *bytes.first().ok_or_else(|| corrupt("chunk version"))?;
    if !(1..=VERSION).contains(&version) {
        return Err(corrupt("chunk version"));
    }
    let mut pos = 1;
    let count = varint::get(bytes, &mut pos).ok_or_else(|| corrupt("chunk point count"))?;
    if count == 0 {
        return Ok(Vec::new());
    }
    let codec = read_codec(bytes, &mut pos, version).ok_or_else(|| corrupt("chunk codec"))?;
    let body = &bytes[pos..];
    // Regular points may take no bits at all, so the count is bounded by the largest chunk.
    if count > MAX_POINTS as u64 {
        return Err(corrupt("chunk point count"));
    }
    let n = count as usize;
    let mut r = BitReader::new(body);
    let truncated = || corrupt("chunk bit stream");
    let first = r.read(64).ok_or_else(truncated)? as i64;
    let ts = integrate(
        first,
        &get_diffs(&mut r, n, true, version).ok_or_else(truncated)?,
        true,
    );
    let mut out = Vec::with_capacity(n);
    match codec {
        ValueCodec::Xor => get_xor(&mut r, &ts, &mut out)?,
        ValueCodec::DecimalDelta { scale, step, .. } | ValueCodec::DecimalDod { scale, step } => {
            let p = 10f64.powi(i32::from(scale));
            let dod = matches!(codec, ValueCodec::DecimalDod { .. });
            let first = r.read(64).ok_or_else(truncated)? as i64;
            let mut diffs = get_diffs(&mut r, n, dod, version).ok_or_else(truncated)?;
            if let ValueCodec::DecimalDelta { base, .. } = codec {
                for d in &mut diffs {
                    *d = d.wrapping_add(base);
                }
            }
            let steps = integrate(0, &diffs, dod);
            out.extend(ts.iter().zip(steps).map(|(&t, k)| {
                let v = first.wrapping_add(k.wrapping_mul(step as i64));
                (t, v as f64 / p)
            }));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn same(a: &[(i64, f64)], b: &[(i64, f64)]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.0 == y.0 && x.1.to_bits() == y.1.to_bits())
    }

    fn sorted_unique(mut ts: Vec<i64>) -> Vec<i64> {
        ts.sort_unstable();
        ts.dedup();
        ts
    }

    proptest! {
        #[test]
        fn any_floats_and_timestamps_round_trip(
            ts in proptest::collection::vec(any::<i64>(), 0..300),
            bits in proptest::collection::vec(any::<u64>(), 300),
        ) {
            let ts = sorted_unique(ts);
            let points: Vec<(i64, f64)> = ts.iter().zip(&bits).map(|(t, b)| (*t, f64::from_bits(*b))).collect();
            let decoded = decode(&encode(&points)).unwrap();
            prop_assert!(same(&points, &decoded));
        }

        #[test]
        fn decimal_values_round_trip_with_a_decimal_codec(
            start in -1_000_000_000_000i64..1_000_000_000_000,
            jitter in proptest::collection::vec(-50i64..50, 1..300),
            cents in proptest::collection::vec(-100_000i64..100_000, 300),
            unit in proptest::sample::select(vec![1i64, 3, 4096]),
        ) {
            let points: Vec<(i64, f64)> = jitter
                .iter()
                .enumerate()
                .map(|(i, j)| (start + i as i64 * 10_000 + j, (cents[i] * unit) as f64 / 100.0))
                .collect();
            let bytes = encode(&points);
            prop_assert!(same(&points, &decode(&bytes).unwrap()));
            // the codec chosen is never larger than XOR; on a few points XOR may be the
            // smallest (two points: one value after the first), on many a decimal one is
            prop_assert!(bytes.len() <= encode_with(&points, ValueCodec::Xor).len());
            if points.len() >= 16 {
                let decimal = matches!(
                    codec_of(&bytes),
                    Some(ValueCodec::DecimalDelta { .. } | ValueCodec::DecimalDod { .. })
                );
                prop_assert!(decimal, "codec {:?}", codec_of(&bytes));
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
            let mut with_version = vec![VERSION];
            with_version.extend(&bytes);
            let _ = decode(&with_version);
        }
    }

    #[test]
    fn special_floats_keep_their_exact_bits() {
        let specials = [
            0.0,
            -0.0,
            f64::NAN,
            -f64::NAN,
            f64::from_bits(0x7ff0_0000_0000_0001),
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            f64::MAX,
            1.5,
        ];
        let points: Vec<(i64, f64)> = specials
            .iter()
            .enumerate()
            .map(|(i, v)| (i as i64, *v))
            .collect();
        assert!(same(&points, &decode(&encode(&points)).unwrap()));
        let zeros = [(1, 0.0), (2, -0.0), (3, 0.0)];
        assert!(
            same(&zeros, &decode(&encode(&zeros)).unwrap()),
            "-0.0 must not decode as 0.0"
        );
    }

    #[test]
    fn regular_metrics_take_a_few_bits_per_point() {
        // 720 points at 10 s: a ratio with two decimals, and a steady counter.
        let ratio: Vec<(i64, f64)> = (0..720)
            .map(|i| {
                (
                    1_700_000_000_000 + i * 10_000,
                    ((i as f64 / 50.0).sin() * 30.0 + 40.0).round() / 100.0,
                )
            })
            .collect();
        let counter: Vec<(i64, f64)> = (0..720)
            .map(|i| (1_700_000_000_000 + i * 10_000, (i * 4096) as f64))
            .collect();
        let ratio_bytes = encode(&ratio).len() as f64 / 720.0;
        let counter_bytes = encode(&counter).len() as f64 / 720.0;
        assert!(ratio_bytes < 0.5, "ratio: {ratio_bytes} bytes per point");
        assert!(
            counter_bytes < 0.3,
            "counter: {counter_bytes} bytes per point"
        );
        // a steady counter: its deltas less their median are all zeros
        assert_eq!(
            codec_of(&encode(&counter)),
            Some(ValueCodec::DecimalDelta {
                scale: 0,
                step: 4096,
                base: 1
            })
        );
        assert!(encode(&counter).len() < 40);
        // a constant at a regular interval: both streams are all zeros and take no bits
        let constant: Vec<(i64, f64)> = (0..720)
            .map(|i| (1_700_000_000_000 + i * 10_000, 1500.0))
            .collect();
        let bytes = encode(&constant);
        assert!(bytes.len() < 30, "constant: {} bytes", bytes.len());
        assert!(same(&constant, &decode(&bytes).unwrap()));
        let xor_only = encode_with(&ratio, ValueCodec::Xor).len() as f64 / 720.0;
        assert!(
            ratio_bytes < xor_only / 2.0,
            "decimal {ratio_bytes} vs XOR {xor_only}"
        );
    }

    #[test]
    fn computed_sizes_match_written_sizes() {
        let points: Vec<(i64, f64)> = (0..500)
            .map(|i| (i * 10_000 + i % 3, ((i * 7919) % 1000) as f64 / 100.0))
            .collect();
        let ts: Vec<i64> = points.iter().map(|p| p.0).collect();
        let ts_bits = 64 + diffs_bits(&ts, true);
        // version, count (two bytes of LEB128), codec tag [, scale], then the bit stream
        let xor = encode_with(&points, ValueCodec::Xor).len() as u64;
        assert_eq!(xor, 4 + (ts_bits + 64 + xor_bits(&points)).div_ceil(8));
        let (scale, ints) = decimal_ints(&points).unwrap();
        assert_eq!(scale, 2);
        let step = common_step(&ints);
        let steps = in_steps(&ints, step);
        let written = encode_with(&points, ValueCodec::DecimalDod { scale, step }).len() as u64;
        let computed = 6 + (ts_bits + 64 + diffs_bits(&steps, true)).div_ceil(8);
        assert_eq!(written, computed, "delta of deltas");
        let deltas = differences(&steps, false);
        let base = median(&deltas);
        let codec = ValueCodec::DecimalDelta { scale, step, base };
        let written = encode_with(&points, codec).len() as u64;
        let computed = 6
            + varint_len(zigzag(base))
            + (ts_bits + 64 + ints_bits(&less(deltas, base))).div_ceil(8);
        assert_eq!(written, computed, "deltas");
    }

    #[test]
    fn truncated_chunks_are_errors() {
        let points: Vec<(i64, f64)> = (0..50).map(|i| (i * 1000, i as f64 * 1.25)).collect();
        let bytes = encode(&points);
        for cut in 0..bytes.len() {
            assert!(
                decode(&bytes[..cut]).is_err() || cut == bytes.len(),
                "cut at {cut}"
            );
        }
    }
}
