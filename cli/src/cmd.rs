//! One module per subcommand.

pub mod sim;
pub mod status;
pub mod up;
