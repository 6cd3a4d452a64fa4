//! Gorilla's XOR codec for float values, which suits any float: each value as its XOR with
//! the previous one, in a window of meaningful bits.

use super::corrupt;
use crate::bits::{BitCount, BitReader, BitSink};
use crate::error::Result;

/// Writes the values with Gorilla's XOR codec: the first in full, then for each the XOR
/// with the previous one: `0` if equal, else `1` and the meaningful bits, in the previous
/// window (`0`) or a new one (`1`, 5-bit leading zeros, 6-bit length).
pub(super) fn put_xor(w: &mut impl BitSink, points: &[(i64, f64)]) {
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
pub(super) fn xor_bits(points: &[(i64, f64)]) -> u64 {
    let mut count = BitCount::default();
    put_xor(&mut count, points);
    count.0 - 64
}

/// Reads values written by [`put_xor`] for the timestamps `ts` into `out`.
pub(super) fn get_xor(r: &mut BitReader<'_>, ts: &[i64], out: &mut Vec<(i64, f64)>) -> Result<()> {
    let truncated = || corrupt("chunk bit stream");
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
    Ok(())
}
