//! `strata-super-manager`: the super-manager daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
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
    let config = match SuperManagerConfig::load(&args.config) {
        Ok(c) => c,
        Err(error) => {
            eprintln!("strata-super-manager: {error}");
            return ExitCode::from(daemon::EXIT_BAD_CONFIG);
        }
    };
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("strata-super-manager: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: SuperManagerConfig) -> anyhow::Result<()> {
    let bound = strata_super_manager::bind(config).await?;
    println!("strata-super-manager listening http={}", bound.local_addr());
    bound.run(daemon::shutdown_on_signal()).await?;
    Ok(())
}
