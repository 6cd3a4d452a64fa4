//! Bit-level writer and reader for the chunk codecs. The reader never panics: running past
//! the end of the input is an error, so that a corrupt chunk is reported, not fatal.

/// Appends bits, most significant first.
#[derive(Debug, Default)]
pub(crate) struct BitWriter {
    bytes: Vec<u8>,
    /// Bits not yet written to `bytes`, in the low `pending` bits.
    acc: u128,
    /// Number of bits in `acc` (always below 64 between calls).
    pending: u32,
}

impl BitWriter {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Writes the low `n` bits of `value` (n ≤ 64).
    pub(crate) fn write(&mut self, value: u64, n: u8) {
        debug_assert!(n <= 64);
        if n == 0 {
            return;
        }
        let n = u32::from(n);
        let v = if n == 64 {
            value
        } else {
            value & ((1u64 << n) - 1)
        };
        self.acc = (self.acc << n) | u128::from(v);
        self.pending += n;
        if self.pending >= 64 {
            self.pending -= 64;
            let word = (self.acc >> self.pending) as u64;
            self.bytes.extend_from_slice(&word.to_be_bytes());
            self.acc &= (1u128 << self.pending) - 1;
        }
    }

    pub(crate) fn bit(&mut self, b: bool) {
        self.write(u64::from(b), 1);
    }

    pub(crate) fn finish(mut self) -> Vec<u8> {
        let full = self.pending / 8;
        let rest = self.pending % 8;
        for i in (0..full).rev() {
            self.bytes.push((self.acc >> (rest + 8 * i)) as u8);
        }
        if rest > 0 {
            self.bytes.push(((self.acc << (8 - rest)) & 0xff) as u8);
        }
        self.bytes
    }
}

/// Where bits go: written out, or only counted.
pub(crate) trait BitSink {
    /// Takes the low `n` bits of `value` (n ≤ 64).
    fn put(&mut self, value: u64, n: u8);

    fn put_bit(&mut self, b: bool) {
        self.put(u64::from(b), 1);
    }
}

impl BitSink for BitWriter {
    fn put(&mut self, value: u64, n: u8) {
        self.write(value, n);
    }
}

/// Counts the bits a writer would take, to size an encoding without writing it.
#[derive(Debug, Default)]
pub(crate) struct BitCount(pub(crate) u64);

impl BitSink for BitCount {
    fn put(&mut self, _value: u64, n: u8) {
        self.0 += u64::from(n);
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
        let n = u32::from(n);
        if self.pos + n as usize > self.bytes.len() * 8 {
            return None;
        }
        let byte = self.pos / 8;
        let window = match self.bytes.get(byte..byte + 16) {
            Some(b) => u128::from_be_bytes(b.try_into().expect("16 bytes")),
            None => {
                let mut buf = [0u8; 16];
                let tail = &self.bytes[byte..];
                buf[..tail.len()].copy_from_slice(tail);
                u128::from_be_bytes(buf)
            }
        };
        let offset = (self.pos % 8) as u32;
        self.pos += n as usize;
        Some(((window << offset) >> (128 - n)) as u64)
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

    proptest::proptest! {
        #[test]
        fn any_fields_round_trip(fields in proptest::collection::vec((proptest::prelude::any::<u64>(), 0u8..=64), 0..200)) {
            let mut w = BitWriter::new();
            for &(v, n) in &fields {
                w.write(v, n);
            }
            let total: usize = fields.iter().map(|f| f.1 as usize).sum();
            let bytes = w.finish();
            proptest::prop_assert_eq!(bytes.len(), total.div_ceil(8));
            let mut r = BitReader::new(&bytes);
            for &(v, n) in &fields {
                let want = if n == 64 { v } else { v & ((1u64 << n) - 1) };
                proptest::prop_assert_eq!(r.read(n), Some(want));
            }
        }
    }
}
