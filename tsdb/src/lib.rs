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
//! - [`error`]: the crate's error enum.
//! - `keys`: byte encodings of series and chunk keys.
//! - `bits`: bit-level writer and reader.
//! - [`chunk`]: the chunk codec (delta-of-delta timestamps; XOR or decimal values, chosen per
//!   chunk).
//! - `head`: points not yet cut into chunks; `wal`: their write-ahead records.
//! - [`db`]: [`Tsdb`]: opening, writing, cutting chunks and reading ranges.
//! - [`index`]: postings, and selecting series by label matchers.
//! - [`journal`]: a durable, bounded sequence of records with a small table, for the roles'
//!   journals and state.
//! - [`matcher`]: PromQL-style label matchers (`=`, `!=`, `=~`, `!~`).
//! - [`query`]: functions over time (per step) and across series (by labels).
//! - [`rollup`]: 1-minute and 1-hour buckets, used for steps they divide.
//! - [`downsample`]: builds minute buckets once raw chunks are old enough.
//! - `retention`: compaction filters that drop data past its resolution's retention.
#![forbid(unsafe_code)]

mod bits;
pub mod chunk;
pub mod db;
pub mod downsample;
pub mod error;
mod head;
pub mod index;
pub mod journal;
mod keys;
pub mod matcher;
pub mod query;
mod retention;
pub mod rollup;
mod varint;
mod wal;

pub use db::{SeriesId, SeriesInfo, Tsdb, TsdbOptions};
pub use downsample::DownsampleStats;
pub use error::TsdbError;
pub use journal::{Journal, TableOp};
pub use matcher::{MatchOp, Matcher};
pub use query::{Aggregation, SeriesAggregation};

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
