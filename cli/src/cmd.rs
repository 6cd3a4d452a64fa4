//! One module per subcommand.

pub mod access;
pub mod bench;
pub mod ca;
pub mod client;
pub mod events;
pub mod files;
pub mod healthz;
pub mod notify;
pub mod report;
pub mod rules;
pub mod services;
pub mod sim;
pub mod status;
pub mod tls;
pub mod up;
