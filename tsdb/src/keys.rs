//! Byte encodings. Series keys are length-prefixed name then sorted label pairs, so that all
//! series of a metric share a prefix; sample keys are (series id, timestamp) big-endian with
//! the timestamp's sign bit flipped, so that byte order is time order.

use crate::Labels;
use crate::error::{Result, TsdbError};

pub(crate) fn push_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn read_str<'a>(buf: &mut &'a [u8]) -> Option<&'a str> {
    if buf.len() < 4 {
        return None;
    }
    let len = u32::from_be_bytes(buf[..4].try_into().ok()?) as usize;
    if buf.len() < 4 + len {
        return None;
    }
    let s = std::str::from_utf8(&buf[4..4 + len]).ok()?;
    *buf = &buf[4 + len..];
    Some(s)
}

/// Prefix shared by every series of metric `name`.
pub(crate) fn name_prefix(name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 4);
    push_str(&mut out, name);
    out
}

/// The canonical key of a series.
pub(crate) fn series_key(name: &str, labels: &Labels) -> Vec<u8> {
    let mut out = name_prefix(name);
    for (k, v) in labels {
        push_str(&mut out, k);
        push_str(&mut out, v);
    }
    out
}

/// Decodes a series key back into name and labels.
pub(crate) fn decode_series_key(mut buf: &[u8]) -> Result<(String, Labels)> {
    let corrupt = || TsdbError::Corrupt {
        what: "series key",
        cf: "series",
    };
    let name = read_str(&mut buf).ok_or_else(corrupt)?.to_string();
    let mut labels = Labels::new();
    while !buf.is_empty() {
        let k = read_str(&mut buf).ok_or_else(corrupt)?;
        let v = read_str(&mut buf).ok_or_else(corrupt)?;
        labels.insert(k.to_string(), v.to_string());
    }
    Ok((name, labels))
}

fn ts_bytes(ts: i64) -> [u8; 8] {
    ((ts as u64) ^ (1 << 63)).to_be_bytes()
}

/// Key of one sample.
pub(crate) fn sample_key(id: u64, ts: i64) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&id.to_be_bytes());
    out[8..].copy_from_slice(&ts_bytes(ts));
    out
}

/// Timestamp of a sample key.
pub(crate) fn sample_ts(key: &[u8]) -> Option<i64> {
    let raw: [u8; 8] = key.get(8..16)?.try_into().ok()?;
    Some((u64::from_be_bytes(raw) ^ (1 << 63)) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_key_round_trips_and_shares_name_prefix() {
        let mut labels = Labels::new();
        labels.insert("cpu".into(), "0".into());
        labels.insert("agent".into(), "web-1".into());
        let key = series_key("host_cpu_usage_ratio", &labels);
        assert!(key.starts_with(&name_prefix("host_cpu_usage_ratio")));
        assert!(!key.starts_with(&name_prefix("host_cpu")));
        let (name, back) = decode_series_key(&key).unwrap();
        assert_eq!(name, "host_cpu_usage_ratio");
        assert_eq!(back, labels);
    }

    #[test]
    fn sample_keys_sort_in_time_order_across_sign() {
        let a = sample_key(7, -5);
        let b = sample_key(7, 0);
        let c = sample_key(7, 1_700_000_000_000);
        assert!(a < b && b < c);
        assert_eq!(sample_ts(&c), Some(1_700_000_000_000));
        assert_eq!(sample_ts(&a), Some(-5));
        assert!(sample_key(7, i64::MAX) < sample_key(8, i64::MIN));
    }

    #[test]
    fn truncated_series_key_is_an_error_not_a_panic() {
        let key = series_key("m", &Labels::new());
        assert!(decode_series_key(&key[..3]).is_err());
    }
}
