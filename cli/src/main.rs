//! `strata`: the operator's command line.
//!
//! # Layout
//! - `cmd::up`: a whole local mesh in one process (`strata up`).
//! - `cmd::status`: the enterprise overview as a table (`strata status`).
//! - `cmd::events`: incidents, and acknowledging them (`strata events`).
//! - `cmd::rules`: a region's alerting rules; replaying a rules file (`strata rules test`).
//! - `cmd::notify`: a region's notification channels (`strata notify`).
//! - `cmd::sim`: simulated agents on one port (`strata sim`).
//! - `cmd::services`: business services, drilled down, root cause (`strata services|drill|rca`).
//! - `cmd::report`: reports over a period (`strata report`).
//! - `cmd::access`: accounts and API tokens in a principals file (`strata user|token`).
//! - `cmd::bench`: `strata bench tsdb|agent|probes|failover|overview`, run by the
//!   `strata-bench` binary (crate `bench/`).
#![forbid(unsafe_code)]

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Strata: a hierarchical monitoring mesh.
#[derive(Parser)]
#[command(name = "strata", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a whole local mesh: a broker, a super-manager, two regions and agents.
    Up(cmd::up::UpArgs),
    /// Print the enterprise overview as a table.
    Status(cmd::status::StatusArgs),
    /// List the business services with their health.
    Services(cmd::services::ServicesArgs),
    /// Drill a service down to its components, hosts and open incidents; with --host, one
    /// of its hosts down to its live processes and its incidents.
    Drill(cmd::services::DrillArgs),
    /// Rank the likely causes of a service's state, with their evidence.
    Rca(cmd::services::RcaArgs),
    /// Print a report: sla, availability, performance, failure, operations, audit,
    /// comparison, capacity or recovery, over a period.
    Report(cmd::report::ReportArgs),
    /// List the incidents of every region, or acknowledge one.
    Events(cmd::events::EventsArgs),
    /// Publish files to hosts, see where they stand, roll them back.
    Files(cmd::files::FilesArgs),
    /// Show or put a region's alerting rules, or replay a rules file over its history.
    Rules(cmd::rules::RulesArgs),
    /// Show, replace or reset a region's notification channels.
    Notify(cmd::notify::NotifyArgs),
    /// Local accounts of the consoles and the API: add, passwd, list, remove.
    User(cmd::access::UserArgs),
    /// API tokens for scripts: create (shown once), list, revoke.
    Token(cmd::access::TokenArgs),
    /// The mesh's certificate authority: init, issue, revoke, show.
    Ca(cmd::ca::CaArgs),
    /// Ask a component's /healthz: exit 0 when it answers 200 (a container's health check).
    Healthz(cmd::healthz::HealthzArgs),
    /// Serve simulated agents from one process and one port.
    Sim(cmd::sim::SimArgs),
    /// Measure a component beside its peers, or every one of them with `all` (runs
    /// `strata-bench`).
    Bench(cmd::bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    strata_proto::daemon::init_tracing();
    // ring is the workspace's one crypto provider (HTTPS clients need it installed)
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let result = runtime.block_on(async {
        match cli.command {
            Command::Up(args) => cmd::up::run(args).await,
            Command::Status(args) => cmd::status::run(args).await,
            Command::Events(args) => cmd::events::run(args).await,
            Command::Files(args) => cmd::files::run(args).await,
            Command::Rules(args) => cmd::rules::run(args).await,
            Command::Notify(args) => cmd::notify::run(args).await,
            Command::Services(args) => cmd::services::list(args).await,
            Command::Drill(args) => cmd::services::drill(args).await,
            Command::Rca(args) => cmd::services::rca(args).await,
            Command::Report(args) => cmd::report::run(args).await,
            Command::Sim(args) => cmd::sim::run(args).await,
            Command::Healthz(args) => cmd::healthz::run(args).await,
            Command::Ca(args) => cmd::ca::run(args),
            Command::User(args) => cmd::access::user(args),
            Command::Token(args) => cmd::access::token(args),
            Command::Bench(args) => cmd::bench::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("strata: {error:#}");
            ExitCode::FAILURE
        }
    }
}
