//! `strata-agent`: the host agent daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use strata_agent::AgentConfig;
use strata_proto::config::RoleConfig;
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
    // Every task on the main thread: the agent must stay light on the host it watches, and
    // a hand-over between threads costs more than the work of a poll.
    daemon::run(
        "strata-agent",
        config,
        Some(0),
        |config, shutdown| async move {
            // a first enrolment retries for a minute: a stop asked meanwhile ends it
            let bound = tokio::select! {
                bound = strata_agent::bind(config) => bound?,
                () = shutdown.cancelled() => return Ok(()),
            };
            match bound.metrics_addr() {
                Some(metrics) => println!(
                    "strata-agent listening grpc={} metrics={metrics}",
                    bound.local_addr()
                ),
                None => println!("strata-agent listening grpc={}", bound.local_addr()),
            }
            bound.run(shutdown).await
        },
    )
}
