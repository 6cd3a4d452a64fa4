//! One module per subcommand.

pub mod bench;
pub mod client;
pub mod events;
pub mod notify;
pub mod report;
pub mod rules;
pub mod services;
pub mod sim;
pub mod status;
pub mod up;
