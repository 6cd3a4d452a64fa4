//! Errors of the agent.

/// What went wrong in the agent, and with what input.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The config file could not be read or parsed.
    #[error(transparent)]
    ConfigFile(#[from] strata_proto::config::ConfigFileError),
    /// The config parsed but some values are unusable; every problem is listed.
    #[error("invalid agent config: {0}")]
    ConfigInvalid(#[from] strata_proto::config::Problems),
    /// The mesh identity (certificate, key, trust) could not be loaded.
    #[error(transparent)]
    Identity(#[from] strata_proto::identity::IdentityError),
    /// The agent could not get its first certificate by enrolment.
    #[error("enrol with the brokers: {0}")]
    Enrol(String),
    /// The gRPC listener could not be bound.
    #[error("bind agent gRPC listener on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// The gRPC server failed.
    #[error("agent gRPC server: {0}")]
    Serve(#[from] tonic::transport::Error),
    /// An action was asked for that the local `[actions]` does not list.
    #[error("action '{name}' is not in the agent's local [actions]; only those run")]
    ActionRefused { name: String },
    /// A whitelisted action's command could not be started.
    #[error("action '{name}' could not start: {source}")]
    ActionStart {
        name: String,
        #[source]
        source: std::io::Error,
    },
    /// The buffer's journal under `state_dir` could not be opened or recovered.
    #[error("open the sample buffer kept in {}: {source}", dir.display())]
    Buffer {
        dir: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The accepted pushed configuration could not be kept in, or read from, `state_dir`.
    #[error("keep the pushed configuration in {}: {source}", path.display())]
    PushedState {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Result of the agent's operations.
pub type Result<T, E = AgentError> = std::result::Result<T, E>;

impl strata_proto::daemon::Failure for AgentError {
    fn is_bad_config(&self) -> bool {
        matches!(
            self,
            Self::ConfigFile(_) | Self::ConfigInvalid(_) | Self::Identity(_)
        )
    }
}
