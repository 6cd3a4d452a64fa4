//! The journal's record format: CRC-framed records, and the samples record with the kept
//! changes that ride with it.
//!
//! Kept apart from the files' handling so that the format is read in one place and tested
//! on bytes alone: a torn or corrupt record must end its file, never panic or misplace a
//! sample.

use crate::buffer::SeriesIdx;

/// Bytes of one sample in a record: series, timestamp, value.
const SAMPLE_BYTES: usize = 4 + 8 + 8;
/// Bytes before a record's payload: length and CRC.
pub(super) const HEADER_BYTES: usize = 8;
/// Payload bytes before a samples record's samples: first sequence and count.
pub(super) const SAMPLES_HEAD: usize = 8 + 4;
/// The largest record accepted when reading (a length past it is corruption).
const MAX_RECORD: usize = 256 << 20;

/// CRC-32 (IEEE) of `bytes`.
pub(super) fn crc32(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 == 1 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    !bytes.iter().fold(!0u32, |c, &b| {
        TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8)
    })
}

/// Appends a record of `payload` to `out`.
pub(super) fn frame(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// The records of `bytes` up to the first torn or corrupt one, and where that one starts.
pub(super) fn records(bytes: &[u8]) -> (Vec<&[u8]>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    while bytes.len() - at >= HEADER_BYTES {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes"));
        let end = at + HEADER_BYTES + len;
        if len > MAX_RECORD || end > bytes.len() {
            break;
        }
        let payload = &bytes[at + HEADER_BYTES..end];
        if crc32(payload) != crc {
            break;
        }
        out.push(payload);
        at = end;
    }
    (out, at)
}

/// What one samples record holds.
pub(super) type Decoded = (Vec<(SeriesIdx, i64, f64)>, Vec<(String, Option<String>)>);

/// Appends the kept changes to a record's payload: a count, then each key and value
/// (a value length of `u32::MAX` for a removal).
pub(super) fn encode_kept(out: &mut Vec<u8>, kept: &[(String, Option<String>)]) {
    out.extend_from_slice(&(kept.len() as u32).to_le_bytes());
    for (key, value) in kept {
        out.extend_from_slice(&(key.len() as u32).to_le_bytes());
        out.extend_from_slice(key.as_bytes());
        match value {
            Some(v) => {
                out.extend_from_slice(&(v.len() as u32).to_le_bytes());
                out.extend_from_slice(v.as_bytes());
            }
            None => out.extend_from_slice(&u32::MAX.to_le_bytes()),
        }
    }
}

/// Takes a little-endian `u32` off the front of `bytes`.
fn take_u32(bytes: &mut &[u8]) -> Option<u32> {
    let (head, rest) = bytes.split_first_chunk::<4>()?;
    *bytes = rest;
    Some(u32::from_le_bytes(*head))
}

/// Takes `len` bytes of UTF-8 off the front of `bytes`.
fn take_str(bytes: &mut &[u8], len: usize) -> Option<String> {
    let (head, rest) = bytes.split_at_checked(len)?;
    *bytes = rest;
    String::from_utf8(head.to_vec()).ok()
}

/// The samples and kept changes of a record that must start at `seq`, or None when it does
/// not fit there.
pub(super) fn decode_samples(r: &[u8], seq: u64, series: usize) -> Option<Decoded> {
    let first = u64::from_le_bytes(r.get(0..8)?.try_into().ok()?);
    let count = u32::from_le_bytes(r.get(8..12)?.try_into().ok()?) as usize;
    let body = r.get(SAMPLES_HEAD..SAMPLES_HEAD + count.checked_mul(SAMPLE_BYTES)?)?;
    // a record past the end of the sequences is corrupt
    if first != seq || first.checked_add(count as u64).is_none() {
        return None;
    }
    let samples = body
        .chunks_exact(SAMPLE_BYTES)
        .map(|c| {
            let s = u32::from_le_bytes(c[0..4].try_into().ok()?);
            let ts = i64::from_le_bytes(c[4..12].try_into().ok()?);
            let v = f64::from_le_bytes(c[12..20].try_into().ok()?);
            ((s as usize) < series).then_some((s, ts, v))
        })
        .collect::<Option<Vec<_>>>()?;
    let mut rest = &r[SAMPLES_HEAD + body.len()..];
    let mut kept = Vec::new();
    for _ in 0..take_u32(&mut rest)? {
        let key_len = take_u32(&mut rest)? as usize;
        let key = take_str(&mut rest, key_len)?;
        let value = match take_u32(&mut rest)? {
            u32::MAX => None,
            len => Some(take_str(&mut rest, len as usize)?),
        };
        kept.push((key, value));
    }
    rest.is_empty().then_some((samples, kept))
}

/// Reads `bytes` back as recovery reads the journal's files, from a disk that can hold
/// anything: as the dictionary (series records) and as a segment whose samples may name
/// `series` entries, from sequence `first`, up to the first torn or misplaced record;
/// returns the series and the samples read.
pub fn read_back(bytes: &[u8], series: usize, first: u64) -> (usize, usize) {
    use prost::Message;
    let (recs, _) = records(bytes);
    let descs = recs
        .iter()
        .take_while(|r| strata_proto::v1::SeriesDesc::decode(**r).is_ok())
        .count();
    let mut seq = first;
    let mut samples = 0;
    for r in recs {
        match decode_samples(r, seq, series) {
            Some((s, _kept)) => {
                seq = seq.saturating_add(s.len() as u64);
                samples += s.len();
            }
            None => break,
        }
    }
    (descs, samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_is_the_ieee_one() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn a_torn_or_corrupt_record_ends_the_records() {
        let mut bytes = Vec::new();
        frame(&mut bytes, b"one");
        frame(&mut bytes, b"two");
        let whole = bytes.len();
        frame(&mut bytes, b"three");
        let (recs, good) = records(&bytes[..bytes.len() - 1]);
        assert_eq!((recs, good), (vec![&b"one"[..], b"two"], whole));
        let mut flipped = bytes.clone();
        flipped[HEADER_BYTES + 1] ^= 1;
        assert_eq!(records(&flipped), (vec![], 0));
        let mut huge = bytes.clone();
        huge[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(records(&huge).1, 0);
    }

    #[test]
    fn a_samples_record_reads_back_and_a_damaged_one_is_refused() {
        let mut payload = Vec::new();
        payload.extend_from_slice(&7u64.to_le_bytes());
        payload.extend_from_slice(&2u32.to_le_bytes());
        for (s, ts, v) in [(0u32, 10i64, 1.5f64), (1, 20, -2.0)] {
            payload.extend_from_slice(&s.to_le_bytes());
            payload.extend_from_slice(&ts.to_le_bytes());
            payload.extend_from_slice(&v.to_le_bytes());
        }
        let kept = vec![
            ("log".to_string(), Some("at 9".to_string())),
            ("x".to_string(), None),
        ];
        encode_kept(&mut payload, &kept);
        let (samples, back) = decode_samples(&payload, 7, 2).expect("a whole record");
        assert_eq!(samples, vec![(0, 10, 1.5), (1, 20, -2.0)]);
        assert_eq!(back, kept);
        assert!(
            decode_samples(&payload, 8, 2).is_none(),
            "not where it starts"
        );
        assert!(
            decode_samples(&payload, 7, 1).is_none(),
            "a series the dictionary lacks"
        );
        for cut in [3, 11, 30, payload.len() - 1] {
            assert!(
                decode_samples(&payload[..cut], 7, 2).is_none(),
                "cut at {cut}"
            );
        }
        let mut longer = payload.clone();
        longer.push(0);
        assert!(decode_samples(&longer, 7, 2).is_none(), "trailing bytes");
    }
}
