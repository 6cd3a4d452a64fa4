//! Strata's time-series store on RocksDB.
//!
//! Samples are kept as compressed chunks per series, keyed (series id, first timestamp), so
//! that a series' range is a short sequential scan; writes go to an in-memory head made
//! durable by write-ahead records, so an acknowledged sample survives kill -9. A re-delivered
//! sample replaces itself (idempotent ingest, which at-least-once polling needs). Series are
//! found through postings lists, one per label value, so that matchers never read every
//! series.
//! Nothing here knows about gRPC: the sub- and super-manager translate at their edges.
//!
//! # Layout
//! Leaves (data, encodings and codecs; none reaches into the store):
//! - [`error`]: the crate's error enum.
//! - `series`: [`SeriesId`] and [`SeriesInfo`]; `options`: [`TsdbOptions`].
//! - `keys`: the on-disk layout: column families, and the byte encodings of series keys,
//!   sample keys, series ids and chunk values.
//! - `varint`, `bits`: LEB128 integers; bit-level writer and reader.
//! - [`chunk`]: the chunk codec (delta-of-delta timestamps; XOR or decimal values, chosen per
//!   chunk).
//! - `head`: points not yet cut into chunks; `wal`: their write-ahead records.
//! - `index`: the postings' key layout.
//! - [`rollup`]: 1-minute and 1-hour buckets and their blocks, used for steps they divide.
//! - `retention`: compaction filters that drop data past its resolution's retention.
//! - [`matcher`]: PromQL-style label matchers (`=`, `!=`, `=~`, `!~`).
//! - [`query`]: functions over time (per step) and across series (by labels).
//! - [`journal`]: a durable, bounded sequence of records with a small table, for the roles'
//!   journals and state.
//!
//! The store, over them:
//! - [`db`]: [`Tsdb`]: opening, creating series and writing; `db/chunks.rs` cuts the head
//!   into chunks and reads ranges, `db/select.rs` selects series by label matchers,
//!   `db/rollups.rs` answers from rollups and keeps them current, `db/downsample.rs` builds
//!   them once raw chunks are old enough, `db/outbox.rs` keeps every write a second time in
//!   ingest order, with the forwarders' cursors, for remote write.
#![forbid(unsafe_code)]

mod bits;
pub mod chunk;
pub mod db;
pub mod error;
mod head;
mod index;
pub mod journal;
mod keys;
pub mod matcher;
mod options;
pub mod query;
mod retention;
pub mod rollup;
mod series;
mod varint;
mod wal;

/// The store's readers of its own records, public so that they can be fuzzed: RocksDB
/// gives back what the disk holds, which after a fault can be anything.
pub mod records {
    pub use crate::keys::{chunk_end, decode_series_key, series_key};
    pub use crate::rollup::{
        decode_block as decode_rollup_block, encode_block as encode_rollup_block,
    };
    pub use crate::wal::{decode as decode_wal, encode as encode_wal};
}

pub use db::{DownsampleStats, OutboxRecord, Tsdb};
pub use error::TsdbError;
pub use journal::{Journal, TableOp};
pub use matcher::{MatchOp, Matcher};
pub use options::TsdbOptions;
pub use query::{Aggregation, SeriesAggregation};
pub use series::{SeriesId, SeriesInfo};

/// Sorted labels of a series (the metric name is kept apart).
pub type Labels = std::collections::BTreeMap<String, String>;

/// Labels from pairs, for tests.
#[cfg(test)]
pub(crate) fn test_labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
