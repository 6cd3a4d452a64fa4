//! Retention per resolution, enforced by RocksDB compaction filters: a chunk whose last point,
//! or a rollup block whose end, is older than its retention is dropped when its file is
//! compacted, so ingest never waits for deletions. Periodic compaction (daily) makes sure
//! old files are visited.

use rocksdb::{CompactionDecision, Options};

use crate::keys::{self, CF_CHUNKS, CF_ROLLUPS};
use crate::options::TsdbOptions;
use crate::rollup::Resolution;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Whether a chunk value (last timestamp first) is past `retention_ms`.
pub(crate) fn chunk_expired(value: &[u8], retention_ms: i64, now: i64) -> bool {
    value
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .is_some_and(|b: [u8; 8]| i64::from_be_bytes(b) < now - retention_ms)
}

/// Whether a rollup block key is past the retention of its resolution.
pub(crate) fn block_expired(
    key: &[u8],
    minute_ms: Option<i64>,
    hour_ms: Option<i64>,
    now: i64,
) -> bool {
    let (res, retention) = match key.first() {
        Some(1) => (Resolution::Minute, minute_ms),
        Some(2) => (Resolution::Hour, hour_ms),
        _ => return false,
    };
    let (Some(retention), Some(start)) = (retention, keys::sample_ts(&key[1..])) else {
        return false;
    };
    let block_end = start.saturating_add(res.block_ms());
    block_end < now - retention
}

/// Installs the retention filter of column family `cf`, if it has one.
pub(crate) fn install(cf_opts: &mut Options, cf: &str, options: &TsdbOptions) {
    if cf == CF_CHUNKS
        && let Some(retention) = options.raw_retention_ms
    {
        cf_opts.set_compaction_filter("strata-raw-retention", move |_level, _key, value| {
            if chunk_expired(value, retention, now_ms()) {
                CompactionDecision::Remove
            } else {
                CompactionDecision::Keep
            }
        });
        cf_opts.set_periodic_compaction_seconds(86_400);
    }
    if cf == CF_ROLLUPS
        && (options.minute_retention_ms.is_some() || options.hour_retention_ms.is_some())
    {
        let (minute, hour) = (options.minute_retention_ms, options.hour_retention_ms);
        cf_opts.set_compaction_filter("strata-rollup-retention", move |_level, key, _value| {
            if block_expired(key, minute, hour, now_ms()) {
                CompactionDecision::Remove
            } else {
                CompactionDecision::Keep
            }
        });
        cf_opts.set_periodic_compaction_seconds(86_400);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_per_resolution() {
        let day: i64 = 86_400_000;
        let now = 1_000 * day;
        let mut chunk = (now - 16 * day).to_be_bytes().to_vec();
        chunk.extend([1, 2, 3]);
        assert!(chunk_expired(&chunk, 15 * day, now));
        assert!(!chunk_expired(&chunk, 17 * day, now));
        let mut minute_block = vec![1u8];
        minute_block.extend(keys::sample_key(7, now - 91 * day));
        assert!(block_expired(
            &minute_block,
            Some(90 * day),
            Some(730 * day),
            now
        ));
        assert!(!block_expired(&minute_block, None, Some(730 * day), now));
        let mut hour_block = vec![2u8];
        hour_block.extend(keys::sample_key(7, now - 91 * day));
        assert!(!block_expired(
            &hour_block,
            Some(90 * day),
            Some(730 * day),
            now
        ));
    }
}
