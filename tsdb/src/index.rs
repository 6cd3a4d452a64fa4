//! The series index: postings lists, so that label matchers select series without reading
//! every series key. This module holds their key layout; the store selects by them in
//! `db::select`.
//!
//! For every series and every one of its labels (the metric name included, as `__name__`)
//! the `postings` column family holds a key `label, value, series id` with no value. All
//! series with `label=value` are one prefix scan, in id order; all values of a label are one
//! scan too, which regular-expression and negative matchers filter.

use rocksdb::WriteBatch;

use crate::Labels;
use crate::keys::push_str;
use crate::matcher::NAME_LABEL;
use crate::series::SeriesId;

/// The key prefix of every posting of `label`.
pub(crate) fn label_prefix(label: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(label.len() + 4);
    push_str(&mut out, label);
    out
}

/// The key prefix of every posting of `label=value`.
pub(crate) fn value_prefix(label: &str, value: &str) -> Vec<u8> {
    let mut out = label_prefix(label);
    push_str(&mut out, value);
    out
}

/// Adds the postings of a new series to `batch`.
pub(crate) fn add_postings(
    batch: &mut WriteBatch,
    cf: &rocksdb::ColumnFamily,
    id: SeriesId,
    name: &str,
    labels: &Labels,
) {
    let mut put = |label: &str, value: &str| {
        let mut key = value_prefix(label, value);
        key.extend_from_slice(&id.to_be_bytes());
        batch.put_cf(cf, key, []);
    };
    put(NAME_LABEL, name);
    for (k, v) in labels {
        put(k, v);
    }
}

/// Splits a postings key after `label`'s prefix into (value, id).
pub(crate) fn parse_after_label(rest: &[u8]) -> Option<(&str, SeriesId)> {
    let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let value = std::str::from_utf8(rest.get(4..4 + len)?).ok()?;
    let id = u64::from_be_bytes(rest.get(4 + len..4 + len + 8)?.try_into().ok()?);
    Some((value, id))
}
