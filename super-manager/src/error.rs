//! Errors of the super-manager: those that stop it from starting or serving, and those that
//! refuse one question (answered by the REST adapter as an HTTP status, by the gRPC adapter
//! as a gRPC status; each adapter maps them in one place).

use crate::services::{Refused, describe};

/// What went wrong in the super-manager, and with what input.
#[derive(Debug, thiserror::Error)]
pub enum SuperManagerError {
    /// The config file could not be read or parsed.
    #[error(transparent)]
    ConfigFile(#[from] strata_proto::config::ConfigFileError),
    /// The config parsed but some values are unusable; every problem is listed.
    #[error("invalid super-manager config: {0}")]
    ConfigInvalid(#[from] strata_proto::config::Problems),
    /// The mesh identity (certificate, key, trust) could not be loaded.
    #[error(transparent)]
    Identity(#[from] strata_proto::identity::IdentityError),
    /// The principals file (users and API tokens) could not be read or written.
    #[error(transparent)]
    Principals(#[from] strata_web::auth::AuthError),
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
    /// A question's input is unusable; the message names the parameter or field.
    #[error("{0}")]
    BadRequest(String),
    /// What a question names does not exist (a region, a report kind, an open incident).
    #[error("{0}")]
    NotFound(String),
    /// The services refused a change or a question (invalid, unknown, in use, store).
    #[error("{}", describe(.0).join("; "))]
    Refused(Refused),
    /// A region could not answer through the brokers: what was being done, and its status.
    #[error("{doing}: {}", .status.message())]
    Region {
        doing: String,
        status: tonic::Status,
    },
    /// The super-manager failed inside while answering (its own store, a task).
    #[error("{0}")]
    Internal(String),
}

impl From<Refused> for SuperManagerError {
    fn from(refused: Refused) -> Self {
        Self::Refused(refused)
    }
}

impl SuperManagerError {
    /// A region's `status`, answered while `doing` something.
    pub fn region(status: tonic::Status, doing: impl Into<String>) -> Self {
        Self::Region {
            doing: doing.into(),
            status,
        }
    }
}

/// Result of the super-manager's operations.
pub type Result<T, E = SuperManagerError> = std::result::Result<T, E>;

impl strata_proto::daemon::Failure for SuperManagerError {
    fn is_bad_config(&self) -> bool {
        matches!(
            self,
            Self::ConfigFile(_) | Self::ConfigInvalid(_) | Self::Identity(_)
        )
    }
}
