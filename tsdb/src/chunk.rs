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

use crate::bits::{BitCount, BitReader, BitSink, BitWriter};
use crate::error::{Result, TsdbError};
use crate::varint;

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
/// the variant and width that make it smallest, so a regular interval costs nothing, an
/// irregular one a bit or so a point, and small gauge deltas a few bits:
/// - all zero (header: zero code with width [`ALL_ZERO`]): no bits at all;
/// - without a zero code: `0` + `width` bits, or `1` + 6-bit length + the bits;
/// - with a zero code: `0` for zero, `10` + `width` bits, or `11` + 6-bit length + the bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IntCode {
    zero_code: bool,
    width: u32,
}

/// Width that, with a zero code, marks a stream of zeros only.
const ALL_ZERO: u32 = 31;

impl IntCode {
    fn cost(self, z: u64) -> u64 {
        if self.is_all_zero() {
            return if z == 0 { 0 } else { u64::MAX / 65 };
        }
        let escape = 6 + u64::from(bit_len(z).max(1));
        match (self.zero_code, z) {
            (true, 0) => 1,
            (true, _) if bit_len(z) <= self.width => 2 + u64::from(self.width),
            (true, _) => 2 + escape,
            (false, _) if bit_len(z) <= self.width => 1 + u64::from(self.width),
            (false, _) => 1 + escape,
        }
    }

    /// The cheapest code for `zs` (zigzagged values) and its cost in bits, found from the
    /// histogram of bit lengths (a code's cost depends on nothing else).
    fn best(zs: &[u64]) -> (IntCode, u64) {
        let mut lengths = [0u64; 65];
        for &z in zs {
            lengths[bit_len(z) as usize] += 1;
        }
        if lengths[0] == zs.len() as u64 {
            let code = IntCode {
                zero_code: true,
                width: ALL_ZERO,
            };
            return (code, 0);
        }
        let mut best = (
            IntCode {
                zero_code: false,
                width: 0,
            },
            u64::MAX,
        );
        for zero_code in [false, true] {
            for width in 0..=24 {
                let code = IntCode { zero_code, width };
                let total: u64 = lengths
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| **n > 0)
                    .map(|(len, n)| n * code.cost(if len == 0 { 0 } else { 1 << (len - 1) }))
                    .sum();
                if total < best.1 {
                    best = (code, total);
                }
            }
        }
        best
    }

    fn write_header(self, w: &mut BitWriter) {
        w.bit(self.zero_code);
        w.write(u64::from(self.width), 5);
    }

    fn read_header(r: &mut BitReader<'_>) -> Option<IntCode> {
        let zero_code = r.bit()?;
        let width = r.read(5)? as u32;
        (width <= 24 || (zero_code && width == ALL_ZERO)).then_some(IntCode { zero_code, width })
    }

    fn is_all_zero(self) -> bool {
        self.zero_code && self.width == ALL_ZERO
    }

    fn put(self, w: &mut BitWriter, z: u64) {
        if self.is_all_zero() {
            debug_assert_eq!(z, 0);
            return;
        }
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
        if self.is_all_zero() {
            return Some(0);
        }
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
    let (code, _) = IntCode::best(&zs);
    code.write_header(w);
    for z in zs {
        code.put(w, z);
    }
}

/// Writes one zigzagged integer as a 6-bit length and its bits.
fn put_escaped(w: &mut BitWriter, z: u64) {
    let len = bit_len(z).max(1);
    w.write(u64::from(len - 1), 6);
    w.write(z, len as u8);
}

fn get_escaped(r: &mut BitReader<'_>) -> Option<u64> {
    let len = r.read(6)? as u8 + 1;
    r.read(len)
}

/// Writes the differences of `xs`: first differences, or (`twice`) the first delta alone
/// and then second differences, so that a steady interval or rate is a stream of zeros.
fn put_diffs(w: &mut BitWriter, xs: &[i64], twice: bool) {
    let d = differences(xs, twice);
    match d.split_first() {
        Some((first, rest)) if twice => {
            put_escaped(w, zigzag(*first));
            put_ints(w, rest);
        }
        _ => put_ints(w, &d),
    }
}

/// Bits [`put_diffs`] writes.
fn diffs_bits(xs: &[i64], twice: bool) -> u64 {
    let d = differences(xs, twice);
    match d.split_first() {
        Some((first, rest)) if twice => {
            6 + u64::from(bit_len(zigzag(*first)).max(1)) + ints_bits(rest)
        }
        _ => ints_bits(&d),
    }
}

/// Reads the differences of `n` integers written by [`put_diffs`] (version 1 chunks coded
/// the first delta in the stream of second differences).
fn get_diffs(r: &mut BitReader<'_>, n: usize, twice: bool, version: u8) -> Option<Vec<i64>> {
    if twice && version >= 2 && n >= 2 {
        let first = unzigzag(get_escaped(r)?);
        let mut out = Vec::with_capacity(n - 1);
        out.push(first);
        out.extend(get_ints(r, n - 2)?);
        Some(out)
    } else {
        get_ints(r, n.saturating_sub(1))
    }
}

/// Reads `n` signed integers written by [`put_ints`].
fn get_ints(r: &mut BitReader<'_>, n: usize) -> Option<Vec<i64>> {
    let code = IntCode::read_header(r)?;
    (0..n).map(|_| code.get(r).map(unzigzag)).collect()
}

/// The smallest scale at which every value is an exact decimal, with the scaled values.
fn decimal_ints(points: &[(i64, f64)]) -> Option<(u8, Vec<i64>)> {
    (0..=MAX_SCALE).find_map(|scale| scaled(points, scale).map(|ints| (scale, ints)))
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

/// The greatest common divisor of the differences from the first value (1 if none).
fn common_step(ints: &[i64]) -> u64 {
    fn gcd(mut a: u64, mut b: u64) -> u64 {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    }
    let first = ints[0];
    let g = ints
        .iter()
        .fold(0u64, |g, &x| gcd(g, x.wrapping_sub(first).unsigned_abs()));
    g.max(1)
}

/// The values as multiples of `step` from the first: (x - first) / step.
fn in_steps(ints: &[i64], step: u64) -> Vec<i64> {
    let first = ints[0];
    ints.iter()
        .map(|&x| x.wrapping_sub(first) / step as i64)
        .collect()
}

/// The middle value of `xs` (0 if empty).
fn median(xs: &[i64]) -> i64 {
    if xs.is_empty() {
        return 0;
    }
    let mut sorted = xs.to_vec();
    let mid = sorted.len() / 2;
    *sorted.select_nth_unstable(mid).1
}

/// `xs` each less `base` (wrapping).
fn less(mut xs: Vec<i64>, base: i64) -> Vec<i64> {
    for x in &mut xs {
        *x = x.wrapping_sub(base);
    }
    xs
}

fn varint_len(v: u64) -> u64 {
    u64::from(bit_len(v).max(1).div_ceil(7))
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

/// Writes the values with Gorilla's XOR codec: the first in full, then for each the XOR
/// with the previous one: `0` if equal, else `1` and the meaningful bits, in the previous
/// window (`0`) or a new one (`1`, 5-bit leading zeros, 6-bit length).
fn put_xor(w: &mut impl BitSink, points: &[(i64, f64)]) {
    let mut prev = points[0].1.to_bits();
    w.put(prev, 64);
    let mut window: Option<(u32, u32)> = None;
    for &(_, v) in &points[1..] {
        let bits = v.to_bits();
        let xor = bits ^ prev;
        prev = bits;
        if xor == 0 {
            w.put_bit(false);
            continue;
        }
        w.put_bit(true);
        let lead = xor.leading_zeros().min(31);
        let trail = xor.trailing_zeros();
        match window {
            Some((pl, pt)) if lead >= pl && trail >= pt => {
                w.put_bit(false);
                w.put(xor >> pt, (64 - pl - pt) as u8);
            }
            _ => {
                let len = 64 - lead - trail;
                w.put_bit(true);
                w.put(u64::from(lead), 5);
                w.put(u64::from(len - 1), 6);
                w.put(xor >> trail, len as u8);
                window = Some((lead, trail));
            }
        }
    }
}

/// Bits the XOR codec takes for the values after the first.
fn xor_bits(points: &[(i64, f64)]) -> u64 {
    let mut count = BitCount::default();
    put_xor(&mut count, points);
    count.0 - 64
}

/// Bits an integer stream takes with its cheapest code, header included.
fn ints_bits(values: &[i64]) -> u64 {
    let zs: Vec<u64> = values.iter().map(|&n| zigzag(n)).collect();
    6 + IntCode::best(&zs).1
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
