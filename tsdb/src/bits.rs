//! Bit-level writer and reader for the chunk codecs. The reader never panics: running past
//! the end of the input is an error, so that a corrupt chunk is reported, not fatal.

/// Appends bits, most significant first.
#[derive(Debug, Default)]
pub(crate) struct BitWriter {
    bytes: Vec<u8>,
    /// Bits used in the last byte (0 = the last byte is full or there is none).
    used: u8,
}

impl BitWriter {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Writes the low `n` bits of `value` (n ≤ 64).
    pub(crate) fn write(&mut self, value: u64, n: u8) {
        debug_assert!(n <= 64);
        let mut left = n;
        while left > 0 {
            if self.used == 0 {
                self.bytes.push(0);
            }
            let free = 8 - self.used;
            let take = free.min(left);
            let shift = left - take;
            let chunk = ((value >> shift) & ((1u64 << take) - 1)) as u8;
            let last = self.bytes.last_mut().expect("a byte was pushed");
            *last |= chunk << (free - take);
            self.used = (self.used + take) % 8;
            left -= take;
        }
    }

    pub(crate) fn bit(&mut self, b: bool) {
        self.write(u64::from(b), 1);
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

/// Reads bits written by [`BitWriter`].
#[derive(Debug)]
pub(crate) struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// Reads `n` bits (n ≤ 64), or None past the end.
    pub(crate) fn read(&mut self, n: u8) -> Option<u64> {
        if n == 0 {
            return Some(0);
        }
        if self.pos + n as usize > self.bytes.len() * 8 {
            return None;
        }
        let mut out = 0u64;
        let mut left = n;
        while left > 0 {
            let byte = self.bytes[self.pos / 8];
            let offset = (self.pos % 8) as u8;
            let avail = 8 - offset;
            let take = avail.min(left);
            let chunk = (byte >> (avail - take)) & (((1u16 << take) - 1) as u8);
            out = if take == 64 {
                u64::from(chunk)
            } else {
                (out << take) | u64::from(chunk)
            };
            self.pos += take as usize;
            left -= take;
        }
        Some(out)
    }

    pub(crate) fn bit(&mut self) -> Option<bool> {
        self.read(1).map(|b| b == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip_across_byte_boundaries() {
        let fields: [(u64, u8); 7] = [
            (1, 1),
            (0b101, 3),
            (0xABCD, 16),
            (u64::MAX, 64),
            (0, 5),
            (7, 3),
            (1 << 40, 41),
        ];
        let mut w = BitWriter::new();
        for (v, n) in fields {
            w.write(v, n);
        }
        let bytes = w.finish();
        let mut r = BitReader::new(&bytes);
        for (v, n) in fields {
            assert_eq!(r.read(n), Some(v), "{n} bits");
        }
        assert_eq!(r.read(64), None, "reading past the end is an error");
    }
}
