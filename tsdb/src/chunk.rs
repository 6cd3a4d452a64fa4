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
//! then one bit stream: timestamps, then values.

use crate::bits::{BitReader, BitWriter};
use crate::error::{Result, TsdbError};
use crate::varint;

/// Format version written first in every chunk.
pub const VERSION: u8 = 1;
/// Most fractional decimal digits the decimal codecs try.
pub const MAX_SCALE: u8 = 9;

/// How a chunk's values are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueCodec {
    /// XOR of consecutive float bits (Gorilla).
    Xor,
    /// Values × 10^scale as integers, delta-coded (gauges).
    DecimalDelta { scale: u8 },
    /// Values × 10^scale as integers, delta-of-delta-coded (counters with steady rates).
    DecimalDod { scale: u8 },
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

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

/// Bits of `z` without leading zeros (0 for 0).
fn bit_len(z: u64) -> u32 {
    64 - z.leading_zeros()
}

/// How a stream of signed integers (deltas, or deltas of deltas) is coded. Each stream picks
/// the variant and width that make it smallest, so a regular interval costs one bit a point
/// and small gauge deltas a few bits:
/// - without a zero code: `0` + `width` bits, or `1` + 6-bit length + the bits;
/// - with a zero code: `0` for zero, `10` + `width` bits, or `11` + 6-bit length + the bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IntCode {
    zero_code: bool,
    width: u32,
}

impl IntCode {
    fn cost(self, z: u64) -> u64 {
        let escape = 6 + u64::from(bit_len(z).max(1));
        match (self.zero_code, z) {
            (true, 0) => 1,
            (true, _) if bit_len(z) <= self.width => 2 + u64::from(self.width),
            (true, _) => 2 + escape,
            (false, _) if bit_len(z) <= self.width => 1 + u64::from(self.width),
            (false, _) => 1 + escape,
        }
    }

    /// The cheapest code for `zs` (zigzagged values).
    fn best(zs: &[u64]) -> IntCode {
        let mut best = (
            u64::MAX,
            IntCode {
                zero_code: false,
                width: 0,
            },
        );
        for zero_code in [false, true] {
            for width in 0..=24 {
                let code = IntCode { zero_code, width };
                let total: u64 = zs.iter().map(|&z| code.cost(z)).sum();
                if total < best.0 {
                    best = (total, code);
                }
            }
        }
        best.1
    }

    fn write_header(self, w: &mut BitWriter) {
        w.bit(self.zero_code);
        w.write(u64::from(self.width), 5);
    }

    fn read_header(r: &mut BitReader<'_>) -> Option<IntCode> {
        let zero_code = r.bit()?;
        let width = r.read(5)? as u32;
        (width <= 24).then_some(IntCode { zero_code, width })
    }

    fn put(self, w: &mut BitWriter, z: u64) {
        if self.zero_code {
            if z == 0 {
                w.bit(false);
                return;
            }
            w.bit(true);
        }
        if bit_len(z) <= self.width {
            w.bit(false);
            w.write(z, self.width as u8);
        } else {
            let len = bit_len(z).max(1);
            w.bit(true);
            w.write(u64::from(len - 1), 6);
            w.write(z, len as u8);
        }
    }

    fn get(self, r: &mut BitReader<'_>) -> Option<u64> {
        if self.zero_code && !r.bit()? {
            return Some(0);
        }
        if !r.bit()? {
            return r.read(self.width as u8);
        }
        let len = r.read(6)? as u8 + 1;
        r.read(len)
    }
}

/// Writes a stream of signed integers with its cheapest code.
fn put_ints(w: &mut BitWriter, values: &[i64]) {
    let zs: Vec<u64> = values.iter().map(|&n| zigzag(n)).collect();
    let code = IntCode::best(&zs);
    code.write_header(w);
    for z in zs {
        code.put(w, z);
    }
}

/// Reads `n` signed integers written by [`put_ints`].
fn get_ints(r: &mut BitReader<'_>, n: usize) -> Option<Vec<i64>> {
    let code = IntCode::read_header(r)?;
    (0..n).map(|_| code.get(r).map(unzigzag)).collect()
}

/// The smallest scale at which every value is an exact decimal, if any.
fn decimal_scale(points: &[(i64, f64)]) -> Option<u8> {
    (0..=MAX_SCALE).find(|&scale| scaled(points, scale).is_some())
}

/// The values × 10^scale as integers, if each one decodes back to its exact bits.
fn scaled(points: &[(i64, f64)], scale: u8) -> Option<Vec<i64>> {
    let p = 10f64.powi(i32::from(scale));
    points
        .iter()
        .map(|&(_, v)| {
            let m = (v * p).round();
            if !m.is_finite() || m.abs() >= 9_007_199_254_740_992.0 {
                return None;
            }
            let i = m as i64;
            ((i as f64 / p).to_bits() == v.to_bits()).then_some(i)
        })
        .collect()
}

/// First differences of `xs` (wrapping), or second differences when `twice`.
fn differences(xs: &[i64], twice: bool) -> Vec<i64> {
    let mut prev_delta = 0i64;
    xs.windows(2)
        .map(|pair| {
            let delta = pair[1].wrapping_sub(pair[0]);
            let out = if twice {
                delta.wrapping_sub(prev_delta)
            } else {
                delta
            };
            prev_delta = delta;
            out
        })
        .collect()
}

/// Inverse of [`differences`], from the first value.
fn integrate(first: i64, diffs: &[i64], twice: bool) -> Vec<i64> {
    let mut out = Vec::with_capacity(diffs.len() + 1);
    let (mut v, mut delta) = (first, 0i64);
    out.push(v);
    for &d in diffs {
        delta = if twice { delta.wrapping_add(d) } else { d };
        v = v.wrapping_add(delta);
        out.push(v);
    }
    out
}

fn put_timestamps(w: &mut BitWriter, points: &[(i64, f64)]) {
    let ts: Vec<i64> = points.iter().map(|p| p.0).collect();
    w.write(ts[0] as u64, 64);
    put_ints(w, &differences(&ts, true));
}

fn put_values(w: &mut BitWriter, points: &[(i64, f64)], codec: ValueCodec) {
    match codec {
        ValueCodec::Xor => {
            let mut prev = points[0].1.to_bits();
            w.write(prev, 64);
            let mut window: Option<(u32, u32)> = None;
            for &(_, v) in &points[1..] {
                let bits = v.to_bits();
                let xor = bits ^ prev;
                prev = bits;
                if xor == 0 {
                    w.bit(false);
                    continue;
                }
                w.bit(true);
                let lead = xor.leading_zeros().min(31);
                let trail = xor.trailing_zeros();
                match window {
                    Some((pl, pt)) if lead >= pl && trail >= pt => {
                        w.bit(false);
                        w.write(xor >> pt, (64 - pl - pt) as u8);
                    }
                    _ => {
                        let len = 64 - lead - trail;
                        w.bit(true);
                        w.write(u64::from(lead), 5);
                        w.write(u64::from(len - 1), 6);
                        w.write(xor >> trail, len as u8);
                        window = Some((lead, trail));
                    }
                }
            }
        }
        ValueCodec::DecimalDelta { scale } | ValueCodec::DecimalDod { scale } => {
            let ints = scaled(points, scale).expect("the scale was checked");
            w.write(ints[0] as u64, 64);
            let dod = matches!(codec, ValueCodec::DecimalDod { .. });
            put_ints(w, &differences(&ints, dod));
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
    if let ValueCodec::DecimalDelta { scale } | ValueCodec::DecimalDod { scale } = codec {
        out.push(scale);
    }
    let mut w = BitWriter::new();
    put_timestamps(&mut w, points);
    put_values(&mut w, points, codec);
    out.extend(w.finish());
    out
}

/// Encodes points (in strictly increasing time order) with the smallest value codec.
pub fn encode(points: &[(i64, f64)]) -> Vec<u8> {
    debug_assert!(
        points.windows(2).all(|w| w[0].0 < w[1].0),
        "points must be sorted and unique"
    );
    let mut best = encode_with(points, ValueCodec::Xor);
    if let Some(scale) = decimal_scale(points) {
        for codec in [
            ValueCodec::DecimalDelta { scale },
            ValueCodec::DecimalDod { scale },
        ] {
            let candidate = encode_with(points, codec);
            if candidate.len() < best.len() {
                best = candidate;
            }
        }
    }
    best
}

/// The value codec a chunk was encoded with (None for an empty or unreadable chunk).
pub fn codec_of(bytes: &[u8]) -> Option<ValueCodec> {
    let mut pos = 1;
    if *bytes.first()? != VERSION || varint::get(bytes, &mut pos)? == 0 {
        return None;
    }
    match *bytes.get(pos)? {
        0 => Some(ValueCodec::Xor),
        1 => Some(ValueCodec::DecimalDelta {
            scale: *bytes.get(pos + 1)?,
        }),
        2 => Some(ValueCodec::DecimalDod {
            scale: *bytes.get(pos + 1)?,
        }),
        _ => None,
    }
}

/// Decodes a chunk; a truncated or malformed chunk is an error, never a panic.
pub fn decode(bytes: &[u8]) -> Result<Vec<(i64, f64)>> {
    if bytes.first() != Some(&VERSION) {
        return Err(corrupt("chunk version"));
    }
    let mut pos = 1;
    let count = varint::get(bytes, &mut pos).ok_or_else(|| corrupt("chunk point count"))?;
    if count == 0 {
        return Ok(Vec::new());
    }
    let tag = *bytes.get(pos).ok_or_else(|| corrupt("chunk codec"))?;
    pos += 1;
    let codec = match tag {
        0 => ValueCodec::Xor,
        1 | 2 => {
            let scale = *bytes.get(pos).ok_or_else(|| corrupt("chunk scale"))?;
            pos += 1;
            if scale > MAX_SCALE {
                return Err(corrupt("chunk scale"));
            }
            if tag == 1 {
                ValueCodec::DecimalDelta { scale }
            } else {
                ValueCodec::DecimalDod { scale }
            }
        }
        _ => return Err(corrupt("chunk codec")),
    };
    let body = &bytes[pos..];
    // Every point after the first takes at least one bit: a count beyond that is corrupt.
    if count > 1 + body.len() as u64 * 8 {
        return Err(corrupt("chunk point count"));
    }
    let n = count as usize;
    let mut r = BitReader::new(body);
    let truncated = || corrupt("chunk bit stream");
    let first = r.read(64).ok_or_else(truncated)? as i64;
    let ts = integrate(first, &get_ints(&mut r, n - 1).ok_or_else(truncated)?, true);
    let mut out = Vec::with_capacity(n);
    match codec {
        ValueCodec::Xor => {
            let mut prev = r.read(64).ok_or_else(truncated)?;
            out.push((ts[0], f64::from_bits(prev)));
            let mut window = (0u32, 0u32);
            for &t in &ts[1..] {
                if r.bit().ok_or_else(truncated)? {
                    if r.bit().ok_or_else(truncated)? {
                        let lead = r.read(5).ok_or_else(truncated)? as u32;
                        let len = r.read(6).ok_or_else(truncated)? as u32 + 1;
                        if lead + len > 64 {
                            return Err(corrupt("chunk XOR window"));
                        }
                        window = (lead, 64 - lead - len);
                    } else if window == (0, 0) && out.len() == 1 {
                        return Err(corrupt("chunk XOR window"));
                    }
                    let (lead, trail) = window;
                    let xor = r.read((64 - lead - trail) as u8).ok_or_else(truncated)? << trail;
                    prev ^= xor;
                }
                out.push((t, f64::from_bits(prev)));
            }
        }
        ValueCodec::DecimalDelta { scale } | ValueCodec::DecimalDod { scale } => {
            let p = 10f64.powi(i32::from(scale));
            let dod = matches!(codec, ValueCodec::DecimalDod { .. });
            let first = r.read(64).ok_or_else(truncated)? as i64;
            let ints = integrate(first, &get_ints(&mut r, n - 1).ok_or_else(truncated)?, dod);
            out.extend(ts.iter().zip(ints).map(|(&t, v)| (t, v as f64 / p)));
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
        ) {
            let points: Vec<(i64, f64)> = jitter
                .iter()
                .enumerate()
                .map(|(i, j)| (start + i as i64 * 10_000 + j, cents[i] as f64 / 100.0))
                .collect();
            let bytes = encode(&points);
            prop_assert!(same(&points, &decode(&bytes).unwrap()));
            if points.len() > 1 {
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
        assert_eq!(
            codec_of(&encode(&counter)),
            Some(ValueCodec::DecimalDod { scale: 0 })
        );
        let xor_only = encode_with(&ratio, ValueCodec::Xor).len() as f64 / 720.0;
        assert!(
            ratio_bytes < xor_only / 2.0,
            "decimal {ratio_bytes} vs XOR {xor_only}"
        );
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
