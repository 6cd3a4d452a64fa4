//! `strata sim`: N simulated agents behind one gRPC port, for load and loss tests.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use strata_agent::sim::{Profile, SimConfig, Simulation, agent_id};
use strata_agent::sim::{Registration, serve};
use strata_proto::identity::{Role, TlsConfig, Transport};
use tokio::net::TcpListener;

/// Options of `strata sim`.
#[derive(Args, Debug)]
pub struct SimArgs {
    /// Number of simulated agents.
    #[arg(long, default_value_t = 10)]
    pub agents: usize,
    /// gRPC listen address (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:7900")]
    pub listen: String,
    /// Time between two samples of each series.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Agent ids are <prefix><n>, n from 1, four digits.
    #[arg(long, default_value = "sim-")]
    pub prefix: String,
    /// Seed of the simulated noise.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Series per agent: `basic` (19, the agent's summary) or `host` (about 200,
    /// node_exporter-like).
    #[arg(long, default_value = "basic")]
    pub profile: Profile,
    /// Print the [[agents]] entries for a sub-manager config, then serve.
    #[arg(long)]
    pub print_agents: bool,
    /// Brokers to register every simulated agent with, comma-separated `host:port`.
    #[arg(long, value_delimiter = ',')]
    pub brokers: Vec<String>,
    /// Region the agents register for (with --brokers).
    #[arg(long, default_value = "default")]
    pub region: String,
    /// The region's join token (with --brokers).
    #[arg(long)]
    pub token: Option<String>,
    /// The simulator's node directory: a certificate of role agent in --region whose id is
    /// --prefix (`strata ca issue --role agent --region R --id PREFIX`).
    #[arg(long, default_value = "/etc/strata/tls", env = "STRATA_TLS_DIR")]
    pub tls_dir: std::path::PathBuf,
    /// Serve and register in plaintext, with no identities.
    #[arg(long)]
    pub insecure: bool,
}

/// Serves simulated agents until Ctrl-C.
pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.agents > 0, "--agents must be at least 1");
    let tls = TlsConfig {
        dir: args.tls_dir.clone(),
        insecure: args.insecure,
        ..TlsConfig::default()
    };
    let transport = Transport::load(&tls, Role::Agent, Some(&args.region), Some(&args.prefix))
        .context("load the simulator's identity")?;
    let listener = TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("bind simulated agents on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let sim = Simulation::new(
        SimConfig {
            agents: args.agents,
            prefix: args.prefix.clone(),
            interval: args.interval,
            seed: args.seed,
            profile: args.profile,
            ..SimConfig::default()
        },
        20_000,
    );
    println!("strata sim listening grpc={addr} agents={}", args.agents);
    if args.print_agents {
        for n in 1..=args.agents {
            println!(
                "[[agents]]\nid = \"{}\"\naddress = \"{addr}\"\n",
                agent_id(&args.prefix, n)
            );
        }
    }
    let shutdown = strata_proto::daemon::shutdown_on_signal();
    let registration = Registration {
        brokers: args.brokers.clone(),
        region: args.region.clone(),
        token: args.token.clone(),
    };
    serve(
        listener,
        &transport,
        sim,
        (&args.prefix, args.agents),
        registration,
        shutdown,
    )
    .await
    .context("serve simulated agents")
}
