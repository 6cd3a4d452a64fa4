//! Errors of the time-series store.

/// What went wrong in the store, and with what input.
#[derive(Debug, thiserror::Error)]
pub enum TsdbError {
    /// RocksDB failed while doing `op`.
    #[error("tsdb: {op}: {source}")]
    Rocks {
        op: String,
        #[source]
        source: rocksdb::Error,
    },
    /// The series limit would be exceeded by a new series.
    #[error("tsdb: series limit of {limit} reached; cannot add series {series}")]
    SeriesLimit { limit: u64, series: String },
    /// A caller gave an argument the store cannot use.
    #[error("tsdb: invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// Stored bytes could not be decoded.
    #[error("tsdb: corrupt {what} in column family {cf}")]
    Corrupt {
        what: &'static str,
        cf: &'static str,
    },
}

impl TsdbError {
    pub(crate) fn rocks(op: impl Into<String>) -> impl FnOnce(rocksdb::Error) -> TsdbError {
        let op = op.into();
        move |source| TsdbError::Rocks { op, source }
    }
}

/// Result of the store's operations.
pub type Result<T, E = TsdbError> = std::result::Result<T, E>;
