//! `strata-super-manager`: the super-manager daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use strata_proto::config::RoleConfig;
use strata_proto::daemon;
use strata_super_manager::SuperManagerConfig;

/// Strata's super-manager: the enterprise overview, REST API and console.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// TOML config file.
    #[arg(short, long)]
    config: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    daemon::init_tracing();
    let config = SuperManagerConfig::load(&args.config);
    daemon::run(
        "strata-super-manager",
        config,
        None,
        |config, shutdown| async move {
            let bound = strata_super_manager::bind(config).await?;
            let mut line = format!("strata-super-manager listening http={}", bound.local_addr());
            if let Some(grpc) = bound.grpc_addr() {
                line.push_str(&format!(" grpc={grpc}"));
            }
            if bound.scheme() == "https" {
                line.push_str(" scheme=https");
            }
            println!("{line}");
            bound.run(shutdown).await
        },
    )
}
