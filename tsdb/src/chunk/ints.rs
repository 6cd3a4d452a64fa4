//! Streams of signed integers (timestamp deltas, decimal value steps): zigzag coding, the
//! cheapest per-stream [`IntCode`], and first or second differences.

use crate::bits::{BitReader, BitWriter};

pub(super) fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

pub(super) fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

/// Bits of `z` without leading zeros (0 for 0).
pub(super) fn bit_len(z: u64) -> u32 {
    64 - z.leading_zeros()
}

/// How a stream of signed integers (deltas, or deltas of deltas) is coded. Each stream picks
/// the variant and width that make it smallest, so a regular interval costs nothing, an
/// irregular one a bit or so a point, and small gauge deltas a few bits:
/// - all zero (header: zero code with width [`ALL_ZERO`]): no bits at all;
/// - without a zero code: `0` + `width` bits, or `1` + 6-bit length + the bits;
/// - with a zero code: `0` for zero, `10` + `width` bits, or `11` + 6-bit length + the bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct IntCode {
    zero_code: bool,
    width: u32,
}

/// Width that, with a zero code, marks a stream of zeros only.
pub(super) const ALL_ZERO: u32 = 31;

impl IntCode {
    pub(super) fn cost(self, z: u64) -> u64 {
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
    pub(super) fn best(zs: &[u64]) -> (IntCode, u64) {
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

    pub(super) fn write_header(self, w: &mut BitWriter) {
        w.bit(self.zero_code);
        w.write(u64::from(self.width), 5);
    }

    pub(super) fn read_header(r: &mut BitReader<'_>) -> Option<IntCode> {
        let zero_code = r.bit()?;
        let width = r.read(5)? as u32;
        (width <= 24 || (zero_code && width == ALL_ZERO)).then_some(IntCode { zero_code, width })
    }

    pub(super) fn is_all_zero(self) -> bool {
        self.zero_code && self.width == ALL_ZERO
    }

    pub(super) fn put(self, w: &mut BitWriter, z: u64) {
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

    pub(super) fn get(self, r: &mut BitReader<'_>) -> Option<u64> {
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
pub(super) fn put_ints(w: &mut BitWriter, values: &[i64]) {
    let zs: Vec<u64> = values.iter().map(|&n| zigzag(n)).collect();
    let (code, _) = IntCode::best(&zs);
    code.write_header(w);
    for z in zs {
        code.put(w, z);
    }
}

/// Writes one zigzagged integer as a 6-bit length and its bits.
pub(super) fn put_escaped(w: &mut BitWriter, z: u64) {
    let len = bit_len(z).max(1);
    w.write(u64::from(len - 1), 6);
    w.write(z, len as u8);
}

pub(super) fn get_escaped(r: &mut BitReader<'_>) -> Option<u64> {
    let len = r.read(6)? as u8 + 1;
    r.read(len)
}

/// Writes the differences of `xs`: first differences, or (`twice`) the first delta alone
/// and then second differences, so that a steady interval or rate is a stream of zeros.
pub(super) fn put_diffs(w: &mut BitWriter, xs: &[i64], twice: bool) {
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
pub(super) fn diffs_bits(xs: &[i64], twice: bool) -> u64 {
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
pub(super) fn get_diffs(
    r: &mut BitReader<'_>,
    n: usize,
    twice: bool,
    version: u8,
) -> Option<Vec<i64>> {
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
pub(super) fn get_ints(r: &mut BitReader<'_>, n: usize) -> Option<Vec<i64>> {
    let code = IntCode::read_header(r)?;
    (0..n).map(|_| code.get(r).map(unzigzag)).collect()
}

/// Bits an integer stream takes with its cheapest code, header included.
pub(super) fn ints_bits(values: &[i64]) -> u64 {
    let zs: Vec<u64> = values.iter().map(|&n| zigzag(n)).collect();
    6 + IntCode::best(&zs).1
}

pub(super) fn varint_len(v: u64) -> u64 {
    u64::from(bit_len(v).max(1).div_ceil(7))
}

/// First differences of `xs` (wrapping), or second differences when `twice`.
pub(super) fn differences(xs: &[i64], twice: bool) -> Vec<i64> {
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
pub(super) fn integrate(first: i64, diffs: &[i64], twice: bool) -> Vec<i64> {
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
