//! The test kit's error enum: what could not be started, and why.

use std::time::Duration;

/// What went wrong while starting a part of a mesh.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    /// A binary is not built.
    #[error(
        "{name} is missing (looked in {tried}): run `cargo build --workspace --bins` first (`make test` does)"
    )]
    NoBinary { name: String, tried: String },
    /// An I/O operation failed.
    #[error("{doing}: {source}")]
    Io {
        doing: String,
        #[source]
        source: std::io::Error,
    },
    /// A daemon exited before it reported its address.
    #[error("{name} exited ({status}) before it reported its address; log:\n{log}")]
    Exited {
        name: String,
        status: String,
        log: String,
    },
    /// A daemon did not report its address in time.
    #[error("{name} did not report its address within {within:?}; log:\n{log}")]
    Silent {
        name: String,
        within: Duration,
        log: String,
    },
    /// A daemon's first line names no address.
    #[error("{name}: no grpc= or http= address in its first line '{line}'")]
    NoAddress { name: String, line: String },
    /// A signal could not be delivered.
    #[error("SIG{signal} to {name} failed")]
    Signal { name: String, signal: String },
    /// A part's configuration is not valid.
    #[error("the configuration of {part}: {message}")]
    Config { part: String, message: String },
    /// A role library failed to bind or run.
    #[error("{part}: {message}")]
    Role { part: String, message: String },
}

/// The test kit's result.
pub type Result<T, E = TestkitError> = std::result::Result<T, E>;
