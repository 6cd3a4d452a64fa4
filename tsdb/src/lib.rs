//! Strata's time-series store on RocksDB.
//!
//! This first version keeps one RocksDB row per sample, keyed by (series id, timestamp), so
//! that a series' range is one sequential scan and a re-delivered sample overwrites itself
//! (idempotent ingest, which at-least-once polling needs). Series are found through an index
//! keyed by metric name then labels, so that all series of one metric are one prefix scan.
//! RocksDB's write-ahead log makes every written batch survive a kill -9 of the process.
//! Nothing here knows about gRPC: the sub- and super-manager translate at their edges.
//!
//! # Layout
//! - [`error`]: the crate's error enum.
//! - `keys`: byte encodings of series and sample keys.
//! - `bits`: bit-level writer and reader.
//! - [`chunk`]: the chunk codec (delta-of-delta timestamps; XOR or decimal values, chosen per
//!   chunk). Not yet used by [`Tsdb`]: the store still writes one row per sample (issue 3).
//! - [`db`]: [`Tsdb`], opening, writing, selecting series and reading ranges.
//! - [`query`]: step aggregation of raw points.
#![forbid(unsafe_code)]

mod bits;
pub mod chunk;
pub mod db;
pub mod error;
mod head;
mod keys;
pub mod query;
mod wal;

pub use db::{SeriesId, SeriesInfo, Tsdb, TsdbOptions};
pub use error::TsdbError;
pub use query::Aggregation;

/// Sorted labels of a series (the metric name is kept apart).
pub type Labels = std::collections::BTreeMap<String, String>;
