//! LEB128 variable-length integers, shared by the chunk and write-ahead record formats.

/// Appends `n` as LEB128.
pub(crate) fn put(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Reads a LEB128 integer at `*pos`, advancing it; None when truncated or too long.
pub(crate) fn get(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*pos)?;
        *pos += 1;
        n |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(n);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips_and_rejects_truncation() {
        for n in [0, 1, 127, 128, 300, u64::MAX] {
            let mut out = Vec::new();
            super::put(&mut out, n);
            let mut pos = 0;
            assert_eq!(super::get(&out, &mut pos), Some(n));
            assert_eq!(pos, out.len());
            let mut pos = 0;
            assert_eq!(super::get(&out[..out.len() - 1], &mut pos), None);
        }
    }
}
