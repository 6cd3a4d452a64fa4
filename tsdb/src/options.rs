//! The settings of a store: limits, when the head is cut, retention per resolution and when
//! rollups are built.

const DAY_MS: i64 = 86_400_000;

/// Settings of a store.
#[derive(Debug, Clone)]
pub struct TsdbOptions {
    /// Most series the store accepts; a new series past it is refused with an error.
    pub max_series: u64,
    /// The head's points: each series is cut into a chunk when it holds its share of these
    /// (within `min_chunk_points` and 16,384), and the whole head when it holds more than
    /// these or `min_chunk_points` per series (bounds its memory).
    pub max_head_points: usize,
    /// The fewest points a series is cut at, however many series share the head: below,
    /// chunks compress poorly and cost a key each.
    pub min_chunk_points: usize,
    /// When the head spans this much data time (milliseconds), the series whose oldest point
    /// is half of it behind the newest are cut (series that stopped or arrive late).
    pub chunk_span_ms: i64,
    /// How long raw points, 1-minute and 1-hour rollups are kept, in milliseconds of data
    /// time before now (None = forever). Enforced by compaction filters, so never stalling
    /// ingest; expired data may be answered until its file is compacted (at least daily).
    pub raw_retention_ms: Option<i64>,
    pub minute_retention_ms: Option<i64>,
    pub hour_retention_ms: Option<i64>,
    /// Minute and hour rollups are built (by [`crate::Tsdb::downsample`]) for raw data this old,
    /// in milliseconds; until then every step is answered from raw points. Must be shorter
    /// than raw retention.
    pub minute_rollup_after_ms: i64,
    /// Keeps every write in the outbox too, in ingest order, for forwarding (see
    /// [`crate::db::outbox`]); off unless something forwards.
    pub outbox: bool,
}

impl TsdbOptions {
    /// The defaults with no retention, for data with timestamps far from now (tests,
    /// benchmarks on historical datasets).
    pub fn keep_forever() -> Self {
        Self {
            raw_retention_ms: None,
            minute_retention_ms: None,
            hour_retention_ms: None,
            ..Self::default()
        }
    }
}

impl Default for TsdbOptions {
    fn default() -> Self {
        Self {
            max_series: 10_000_000,
            max_head_points: 4_000_000,
            min_chunk_points: 32,
            chunk_span_ms: 2 * 3_600_000,
            raw_retention_ms: Some(15 * DAY_MS),
            minute_retention_ms: Some(90 * DAY_MS),
            hour_retention_ms: Some(730 * DAY_MS),
            minute_rollup_after_ms: 14 * DAY_MS,
            outbox: false,
        }
    }
}
