//! `strata-sub-manager`: the sub-manager daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use strata_proto::config::RoleConfig;
use strata_proto::daemon;
use strata_sub_manager::SubManagerConfig;

/// Strata's sub-manager: polls a region's agents, stores, judges and serves the regional API.
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
    let config = SubManagerConfig::load(&args.config);
    daemon::run(
        "strata-sub-manager",
        config,
        None,
        |config, shutdown| async move {
            let bound = strata_sub_manager::bind(config).await?;
            let mut line = format!("strata-sub-manager listening grpc={}", bound.local_addr());
            if let Some(console) = bound.console_addr() {
                let scheme = bound.console_scheme();
                line.push_str(&format!(" console={scheme}://{console}/"));
            }
            if let Some(metrics) = bound.metrics_addr() {
                line.push_str(&format!(" metrics={metrics}"));
            }
            println!("{line}");
            bound.run(shutdown).await
        },
    )
}
