//! `strata sim`: N simulated agents behind one gRPC port, for load and loss tests.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use strata_agent::config::{AgentConfig, EnrolConfig, RegistrationConfig};
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
    /// Keep each agent's buffer and tick on disk under this directory, so that a killed
    /// simulation resumes where it stopped, as a real agent with `state_dir` does.
    #[arg(long)]
    pub state_dir: Option<std::path::PathBuf>,
    /// Brokers to register every simulated agent with, comma-separated `host:port`.
    #[arg(long, value_delimiter = ',')]
    pub brokers: Vec<String>,
    /// Address sub-managers poll, `host:port` (with --brokers; default the bound address,
    /// required when --listen is every interface, e.g. 0.0.0.0:7900).
    #[arg(long)]
    pub advertise: Option<String>,
    /// Region the agents register for (with --brokers).
    #[arg(long, default_value = "default")]
    pub region: String,
    /// The region's join token (with --brokers; enrols with --ca-fingerprint).
    #[arg(long)]
    pub token: Option<String>,
    /// Enrol as an agent does: the mesh CA's fingerprint (`strata ca show`); the simulator
    /// makes its key, gets a certificate for --prefix in --region from one of --brokers with
    /// --token, writes it into --tls-dir and renews it by itself.
    #[arg(long)]
    pub ca_fingerprint: Option<String>,
    /// The simulator's node directory: a certificate of role agent in --region whose id is
    /// --prefix (`strata ca issue --role agent --region R --id PREFIX`), or where enrolment
    /// writes one.
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
    let enrolment = enrolment(&args, &tls)?;
    if let Some(config) = &enrolment {
        std::fs::create_dir_all(&tls.dir)
            .with_context(|| format!("create {}", tls.dir.display()))?;
        strata_agent::enrol::ensure(config)
            .await
            .context("enrol the simulator")?;
    }
    let transport = Transport::load(&tls, Role::Agent, Some(&args.region), Some(&args.prefix))
        .context("load the simulator's identity")?;
    let listener = TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("bind simulated agents on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let advertise = match &args.advertise {
        Some(a) => a.clone(),
        None if addr.ip().is_unspecified() && !args.brokers.is_empty() => anyhow::bail!(
            "--advertise: required with --brokers, as --listen {addr} is not an address \
             others can poll"
        ),
        None => addr.to_string(),
    };
    let sim = Simulation::open(
        SimConfig {
            agents: args.agents,
            prefix: args.prefix.clone(),
            interval: args.interval,
            seed: args.seed,
            profile: args.profile,
            state_dir: args.state_dir.clone(),
            ..SimConfig::default()
        },
        20_000,
    )
    .with_context(|| format!("open the simulated agents' buffers in {:?}", args.state_dir))?;
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
    if let Some(config) = enrolment {
        tokio::spawn(strata_agent::enrol::renew_loop(
            config,
            transport.clone(),
            shutdown.clone(),
        ));
    }
    let registration = Registration {
        brokers: args.brokers.clone(),
        region: args.region.clone(),
        token: args.token.clone(),
        advertise,
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

/// The agent configuration the simulator enrols and renews with, when --ca-fingerprint asks
/// for it: one identity, `--prefix`, serving every simulated agent.
fn enrolment(args: &SimArgs, tls: &TlsConfig) -> anyhow::Result<Option<AgentConfig>> {
    let Some(fingerprint) = &args.ca_fingerprint else {
        return Ok(None);
    };
    anyhow::ensure!(
        !args.insecure,
        "--ca-fingerprint enrols a certificate: not with --insecure"
    );
    anyhow::ensure!(
        !args.brokers.is_empty(),
        "--ca-fingerprint needs --brokers to enrol with"
    );
    anyhow::ensure!(
        args.token.is_some(),
        "--ca-fingerprint needs the region's --token"
    );
    Ok(Some(AgentConfig {
        id: args.prefix.clone(),
        registration: RegistrationConfig {
            brokers: args.brokers.clone(),
            region: args.region.clone(),
            token: args.token.clone(),
            advertise: None,
        },
        enrol: EnrolConfig {
            ca_fingerprint: Some(fingerprint.clone()),
            token: args.token.clone(),
            brokers: Vec::new(),
        },
        tls: tls.clone(),
        ..AgentConfig::default()
    }))
}
