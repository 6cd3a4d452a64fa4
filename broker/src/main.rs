//! `strata-broker`: the broker daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use strata_broker::BrokerConfig;
use strata_proto::config::RoleConfig;
use strata_proto::daemon;

/// Strata's broker: membership with leases, and routing between centre and regions.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// TOML config file; without it, defaults and STRATA_BROKER_* variables apply.
    #[arg(short, long)]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    daemon::init_tracing();
    let config = match &args.config {
        Some(path) => BrokerConfig::load(path),
        None => BrokerConfig::from_env(),
    };
    daemon::run(
        "strata-broker",
        config,
        None,
        |config, shutdown| async move {
            let bound = strata_broker::bind(config).await?;
            match bound.metrics_addr() {
                Some(metrics) => println!(
                    "strata-broker listening grpc={} metrics={metrics}",
                    bound.local_addr()
                ),
                None => println!("strata-broker listening grpc={}", bound.local_addr()),
            }
            bound.run(shutdown).await
        },
    )
}
