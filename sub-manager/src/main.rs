//! `strata-sub-manager`: the regional sub-manager daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
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
    let config = match SubManagerConfig::load(&args.config) {
        Ok(c) => c,
        Err(error) => {
            eprintln!("strata-sub-manager: {error}");
            return ExitCode::from(daemon::EXIT_BAD_CONFIG);
        }
    };
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("strata-sub-manager: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: SubManagerConfig) -> anyhow::Result<()> {
    let bound = strata_sub_manager::bind(config).await?;
    println!("strata-sub-manager listening grpc={}", bound.local_addr());
    bound.run(daemon::shutdown_on_signal()).await?;
    Ok(())
}
