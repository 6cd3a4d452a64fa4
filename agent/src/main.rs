//! `strata-agent`: the host agent daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use strata_agent::AgentConfig;
use strata_proto::daemon;

/// Strata's host agent: collects metrics and serves them to sub-managers over gRPC.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// TOML config file; without it, defaults and STRATA_AGENT_* variables apply.
    #[arg(short, long)]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    daemon::init_tracing();
    let config = match &args.config {
        Some(path) => AgentConfig::load(path),
        None => AgentConfig::from_env(),
    };
    let config = match config {
        Ok(c) => c,
        Err(error) => {
            eprintln!("strata-agent: {error}");
            return ExitCode::from(daemon::EXIT_BAD_CONFIG);
        }
    };
    // One worker: the agent must stay light on the host it watches.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("strata-agent: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: AgentConfig) -> anyhow::Result<()> {
    let bound = strata_agent::bind(config).await?;
    println!("strata-agent listening grpc={}", bound.local_addr());
    bound.run(daemon::shutdown_on_signal()).await?;
    Ok(())
}
