//! Errors of the super-manager.

/// What went wrong in the super-manager, and with what input.
#[derive(Debug, thiserror::Error)]
pub enum SuperManagerError {
    /// The config file could not be read or parsed.
    #[error(transparent)]
    ConfigFile(#[from] strata_proto::config::ConfigFileError),
    /// The config parsed but some values are unusable; every problem is listed.
    #[error("invalid super-manager config: {0}")]
    ConfigInvalid(#[from] strata_proto::config::Problems),
    /// The HTTP listener could not be bound.
    #[error("bind super-manager HTTP listener on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// The store of the overview could not be opened or read.
    #[error(transparent)]
    Store(#[from] strata_tsdb::TsdbError),
    /// The HTTP server failed.
    #[error("super-manager HTTP server: {0}")]
    Serve(std::io::Error),
}

/// Result of the super-manager's operations.
pub type Result<T, E = SuperManagerError> = std::result::Result<T, E>;
