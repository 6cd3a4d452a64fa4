//! `strata up`: a whole local mesh in one process — one broker, the super-manager, region
//! `east` (one sub-manager, this host's real agent and simulated agents) and region `west`
//! (two sub-managers sharing simulated agents). Every part is the real role library on
//! 127.0.0.1; only the agents of other hosts are simulated.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use strata_agent::AgentConfig;
use strata_agent::sim::{SimConfig, Simulation, agent_id};
use strata_broker::BrokerConfig;
use strata_proto::config::RoleConfig;
use strata_sub_manager::SubManagerConfig;
use strata_sub_manager::config::{AgentTarget, PollConfig};
use strata_super_manager::SuperManagerConfig;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tracing::error;

/// Options of `strata up`.
#[derive(Args, Debug)]
pub struct UpArgs {
    /// HTTP address of the super-manager (API and console).
    #[arg(long, default_value = "127.0.0.1:9740")]
    pub http: String,
    /// Where the mesh keeps its data (default: ./strata-data/up-<unix seconds>).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Simulated agents per region.
    #[arg(long, default_value_t = 20)]
    pub sim_agents: usize,
    /// Poll interval of the sub-managers and sample interval of the agents.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
}

const LOCAL_ANY: &str = "127.0.0.1:0";

fn sub_manager(
    id: &str,
    region: &str,
    broker: &str,
    data: &std::path::Path,
    interval: Duration,
    agents: Vec<AgentTarget>,
) -> SubManagerConfig {
    SubManagerConfig {
        id: id.into(),
        region: region.into(),
        listen: LOCAL_ANY.into(),
        data_dir: data.join(id),
        brokers: vec![broker.into()],
        poll: PollConfig {
            interval,
            ..PollConfig::default()
        },
        agents,
        ..SubManagerConfig::default()
    }
}

/// The services `strata up` defines: one per region, a shop over both, and the console
/// probed by this host's agent.
const DEMO_SERVICES: &str = r#"# Written by `strata up`; edit and restart, or PUT /api/v1/services/{name}.
[[services]]
name = "east-hosts"
description = "every host of region east"
[[services.components]]
name = "hosts"
region = "east"

[[services]]
name = "west-app"
description = "the first ten hosts of region west"
[[services.components]]
name = "app"
region = "west"
host = "~west-sim-00(0[1-9]|10)"

[[services]]
name = "console"
description = "the console, probed over HTTP by this host's agent every 5 s"
[services.slo]
objective = 0.999
window = "30d"
[[services.maintenance]]
every = "sun 02:00"
duration = "1h"
[[services.components]]
name = "http"
check = "console"

[[services]]
name = "shop"
description = "needs both regions; ok while one of its two tiers is"
depends_on = ["east-hosts", "west-app"]
rollup = "k-of-n"
k = 1
[[services.components]]
name = "front-east"
region = "east"
host = "~east-sim-000[1-5]"
[[services.components]]
name = "front-west"
region = "west"
host = "~west-sim-000[1-5]"
"#;

fn sims(prefix: &str, n: usize, addr: &str) -> Vec<AgentTarget> {
    (1..=n)
        .map(|i| AgentTarget {
            id: agent_id(prefix, i),
            address: addr.to_string(),
        })
        .collect()
}

/// Starts the mesh and runs it until Ctrl-C.
pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let data = args.data_dir.clone().unwrap_or_else(|| {
        let secs = strata_proto::now_ms() / 1000;
        PathBuf::from(format!("./strata-data/up-{secs}"))
    });
    std::fs::create_dir_all(&data)
        .with_context(|| format!("create data directory {}", data.display()))?;
    let data = data.canonicalize().unwrap_or(data);
    let shutdown = strata_proto::daemon::shutdown_on_signal();
    let mut tasks: JoinSet<anyhow::Result<()>> = JoinSet::new();

    // Bind everything first, so that a busy port fails before anything runs.
    // A few services over the mesh, so that `strata services` and the API show some.
    let services_file = data.join("services.toml");
    std::fs::write(&services_file, DEMO_SERVICES)
        .with_context(|| format!("write {}", services_file.display()))?;
    let super_manager_config = SuperManagerConfig {
        http: args.http.clone(),
        data_dir: data.join("super-manager"),
        services_file: Some(services_file),
        ..SuperManagerConfig::default()
    };
    let broker = strata_broker::bind(BrokerConfig {
        listen: LOCAL_ANY.into(),
        ..BrokerConfig::default()
    })
    .await?;
    let broker_addr = broker.local_addr().to_string();
    let super_manager = strata_super_manager::bind(SuperManagerConfig {
        brokers: vec![broker_addr.clone()],
        ..super_manager_config
    })
    .await?;
    let http = super_manager.local_addr();
    // The local agent probes the console, so that the "console" service has QoS history.
    let console_probe = format!(
        "name = 'console'\nkind = 'http'\nurl = 'http://{http}/healthz'\n\
         interval = '5s'\ntimeout = '2s'\nwarn_after = '500ms'"
    );
    let console_probe =
        strata_agent::checks::spec::CheckConfig::from_table(console_probe.parse::<toml::Table>()?)
            .map_err(|e| anyhow::anyhow!("the console probe: {e}"))?;
    let host_config = AgentConfig {
        listen: LOCAL_ANY.into(),
        collect_interval: args.interval,
        checks: vec![console_probe],
        ..AgentConfig::default()
    };
    let host_id = host_config.id.clone();
    let agent = strata_agent::bind(host_config).await?;
    let agent_addr = agent.local_addr().to_string();

    let mut sim_addrs = Vec::new();
    for prefix in ["east-sim-", "west-sim-"] {
        let listener = TcpListener::bind(LOCAL_ANY).await?;
        sim_addrs.push(listener.local_addr()?.to_string());
        let sim = Simulation::new(
            SimConfig {
                agents: args.sim_agents,
                prefix: prefix.into(),
                interval: args.interval,
                ..SimConfig::default()
            },
            20_000,
        );
        let stop = shutdown.clone();
        tasks.spawn(super::sim::serve(listener, sim, stop));
    }

    let mut east_agents = vec![AgentTarget {
        id: host_id.clone(),
        address: agent_addr.clone(),
    }];
    east_agents.extend(sims("east-sim-", args.sim_agents, &sim_addrs[0]));
    let west_agents = sims("west-sim-", args.sim_agents, &sim_addrs[1]);
    let subs = [
        sub_manager(
            "east-1",
            "east",
            &broker_addr,
            &data,
            args.interval,
            east_agents,
        ),
        sub_manager(
            "west-1",
            "west",
            &broker_addr,
            &data,
            args.interval,
            west_agents.clone(),
        ),
        sub_manager(
            "west-2",
            "west",
            &broker_addr,
            &data,
            args.interval,
            west_agents,
        ),
    ];
    let mut bound_subs = Vec::new();
    let mut consoles = Vec::new();
    for mut config in subs {
        // every sub-manager serves its region's console too
        config.console_listen = Some(LOCAL_ANY.into());
        config.validate()?;
        let bound = strata_sub_manager::bind(config.clone()).await?;
        if let Some(addr) = bound.console_addr() {
            consoles.push((config.id.clone(), config.region.clone(), addr));
        }
        bound_subs.push(bound);
    }

    let stop = shutdown.clone();
    tasks.spawn(async move { broker.run(stop).await.context("broker") });
    let stop = shutdown.clone();
    tasks.spawn(async move { agent.run(stop).await.context("agent") });
    for sub in bound_subs {
        let stop = shutdown.clone();
        tasks.spawn(async move { sub.run(stop).await.context("sub-manager") });
    }
    let stop = shutdown.clone();
    tasks.spawn(async move { super_manager.run(stop).await.context("super-manager") });

    let regional: Vec<String> = consoles
        .iter()
        .map(|(id, _, addr)| format!("{id}=http://{addr}/"))
        .collect();
    println!(
        "Strata is up: 1 broker, 1 super-manager, regions east (1 sub-manager) and west (2 sub-managers); listening http={http} regional {}",
        regional.join(" ")
    );
    println!("  console:  http://{http}/");
    for (id, region, addr) in &consoles {
        println!("  regional console of {region} ({id}): http://{addr}/");
    }
    println!("  API:      http://{http}/api/v1/overview");
    println!("  status:   strata status --api http://{http}");
    println!("  services: strata services --api http://{http}   (defined in services.toml below)");
    println!("  reports:  strata report performance console --period 1h --api http://{http}");
    println!("  broker:   {broker_addr}");
    println!(
        "  agents:   this host ({host_id}) at {agent_addr}; {} simulated per region",
        args.sim_agents
    );
    println!("  data:     {}", data.display());
    println!("Press Ctrl-C to stop.");

    let mut failure = None;
    while let Some(done) = tasks.join_next().await {
        let outcome = done.context("task panicked").and_then(|r| r);
        if let Err(e) = outcome {
            error!(error = %format!("{e:#}"), "a part of the mesh failed; stopping the rest");
            failure.get_or_insert(e);
        }
        shutdown.cancel();
    }
    println!("Strata stopped; data kept in {}", data.display());
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_demo_services_are_valid() {
        let s = strata_super_manager::services::model::parse_file(super::DEMO_SERVICES).unwrap();
        assert_eq!(s.len(), 4);
        let problems = strata_super_manager::services::model::set_problems(&s);
        assert!(problems.is_empty(), "{problems:?}");
    }
}
