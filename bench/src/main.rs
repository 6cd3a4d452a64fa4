//! `strata-bench`: Strata measured beside its peers, each figure with the command that
//! reproduces it. `strata bench ...` runs this binary (from beside `strata`), so that the
//! operator's binary carries none of what only a benchmark needs.
//!
//! # Layout
//! - `tsdb`: the time-series store beside Prometheus and VictoriaMetrics (`dataset`,
//!   `peers`: the generated dataset and the peers loading it).
//! - `agent`: the agent beside node_exporter.
//! - `probes`: the agent's probes beside blackbox_exporter, phase by phase.
//! - `failover`: SIGKILLs of sub-managers under simulated agents.
//! - `forward`: exporters scraped and shipped to VictoriaMetrics by Strata and by
//!   Prometheus in agent mode.
//! - `region`: one sub-manager polling 10,000 simulated agents, its API idle and loaded.
//! - `overview`: the super-manager's API at 100 regions x 1,000 hosts.
//! - `promql`: Strata's PromQL against Prometheus's on one dataset (`promql/queries`: the
//!   query set; `promql/compare`: how two answers are compared).
//! - `all`: every bench above at its published size, into `docs/performance.json`, from
//!   which `docs/performance.md` and the README's headline table are written.
//! - `measure`: CPU, memory and disk readings, percentiles, and starting peers.
#![forbid(unsafe_code)]

mod agent;
mod all;
mod dataset;
mod failover;
mod forward;
mod measure;
mod overview;
mod peers;
mod probes;
mod promql;
mod region;
mod tsdb;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Strata's benchmarks: each prints its figures (or JSON with --json).
#[derive(Parser)]
#[command(name = "strata bench", version)]
struct Cli {
    #[command(subcommand)]
    what: BenchWhat,
}

/// What to measure.
#[derive(Subcommand, Debug)]
enum BenchWhat {
    /// The time-series store, beside Prometheus and VictoriaMetrics.
    Tsdb(tsdb::TsdbBench),
    /// The agent, beside node_exporter.
    Agent(agent::AgentBench),
    /// The agent's probes, beside blackbox_exporter, phase by phase.
    Probes(probes::ProbesBench),
    /// SIGKILLs of sub-managers under simulated agents: time to re-home, samples lost.
    Failover(failover::FailoverBench),
    /// One sub-manager polling 10,000 simulated agents of ~200 series: CPU, memory, lag,
    /// and its API idle and under the load.
    Region(region::RegionBench),
    /// The super-manager's API at 100 regions x 1,000 hosts and 200 services.
    Overview(overview::OverviewBench),
    /// Strata's PromQL against Prometheus 2.42's on one dataset: identical answers, latency.
    Promql(promql::PromqlBench),
    /// Exporters shipped to VictoriaMetrics by Strata and by Prometheus's agent mode.
    Forward(forward::ForwardBench),
    /// Every bench at its published size, into one JSON document, docs/performance.md and
    /// the README's headline table.
    All(all::AllBench),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    strata_proto::daemon::init_tracing();
    // ring is the workspace's one crypto provider (the HTTPS probe target needs it)
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let outcome = runtime.block_on(async move {
        match cli.what {
            BenchWhat::Tsdb(b) => tokio::task::spawn_blocking(move || tsdb::run(b)).await?,
            BenchWhat::Agent(b) => agent::run(b).await,
            BenchWhat::Probes(b) => probes::run(b).await,
            BenchWhat::Failover(b) => failover::run(b).await,
            BenchWhat::Overview(b) => overview::run(b).await,
            BenchWhat::Region(b) => tokio::task::spawn_blocking(move || region::run(b)).await?,
            BenchWhat::Promql(b) => promql::run(b).await,
            BenchWhat::Forward(b) => forward::run(b).await,
            BenchWhat::All(b) => tokio::task::spawn_blocking(move || all::run(b)).await?,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("strata bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
