//! Errors of the sub-manager.

/// What went wrong in the sub-manager, and with what input.
#[derive(Debug, thiserror::Error)]
pub enum SubManagerError {
    /// The config file could not be read or parsed.
    #[error(transparent)]
    ConfigFile(#[from] strata_proto::config::ConfigFileError),
    /// The mesh identity (certificate, key, trust) could not be loaded.
    #[error(transparent)]
    Identity(#[from] strata_proto::identity::IdentityError),
    /// The config parsed but some values are unusable; every problem is listed.
    #[error("invalid sub-manager config: {0}")]
    ConfigInvalid(#[from] strata_proto::config::Problems),
    /// The alerting rules could not be loaded; every problem is listed.
    #[error("alerting rules: {}", .0.join("; "))]
    Rules(Vec<String>),
    /// The gRPC listener could not be bound.
    #[error("bind sub-manager gRPC listener on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// The store could not be opened or used.
    #[error(transparent)]
    Tsdb(#[from] strata_tsdb::TsdbError),
    /// A journal record or stored state could not be decoded.
    #[error("region journal: corrupt {0}")]
    JournalCorrupt(String),
    /// The poll workers' runtime could not start.
    #[error("start poll workers: {0}")]
    Workers(std::io::Error),
    /// A request cannot be answered as asked; the message names the field.
    #[error("{0}")]
    BadRequest(String),
    /// The principals file (users and API tokens) could not be read.
    #[error(transparent)]
    Principals(#[from] strata_web::auth::AuthError),
    /// The region's audit log could not be opened.
    #[error("open audit log {path}: {source}")]
    Audit {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A task run off the async workers failed (it panicked or was cancelled).
    #[error("{0}")]
    Internal(String),
    /// The gRPC server failed.
    #[error("sub-manager gRPC server: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// Result of the sub-manager's operations.
pub type Result<T, E = SubManagerError> = std::result::Result<T, E>;

/// Errors that cross the wire: a request's own fault is an invalid argument (a retry does
/// not help), anything else an internal error.
impl From<SubManagerError> for tonic::Status {
    fn from(error: SubManagerError) -> Self {
        match error {
            SubManagerError::BadRequest(message) => tonic::Status::invalid_argument(message),
            other => tonic::Status::internal(other.to_string()),
        }
    }
}

impl strata_proto::daemon::Failure for SubManagerError {
    fn is_bad_config(&self) -> bool {
        matches!(
            self,
            Self::ConfigFile(_) | Self::ConfigInvalid(_) | Self::Identity(_)
        )
    }
}
