//! Errors of the broker.

/// What went wrong in the broker, and with what input.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The config file could not be read or parsed.
    #[error(transparent)]
    ConfigFile(#[from] strata_proto::config::ConfigFileError),
    /// The config parsed but some values are unusable; every problem is listed.
    #[error("invalid broker config: {0}")]
    ConfigInvalid(#[from] strata_proto::config::Problems),
    /// The mesh identity (certificate, key, trust) could not be loaded.
    #[error(transparent)]
    Identity(#[from] strata_proto::identity::IdentityError),
    /// The gRPC listener could not be bound.
    #[error("bind broker gRPC listener on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// The gRPC server failed.
    #[error("broker gRPC server: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// Result of the broker's operations.
pub type Result<T, E = BrokerError> = std::result::Result<T, E>;

impl strata_proto::daemon::Failure for BrokerError {
    fn is_bad_config(&self) -> bool {
        matches!(
            self,
            Self::ConfigFile(_) | Self::ConfigInvalid(_) | Self::Identity(_)
        )
    }
}
