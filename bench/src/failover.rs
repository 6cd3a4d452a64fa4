//! `strata bench failover`: SIGKILLs of a random sub-manager under simulated agents, and
//! the time until every agent it polled is polled again, with the samples lost counted.
//!
//! Brokers and sub-managers run as real processes (`strata-broker`, `strata-sub-manager`
//! beside this binary); the simulated agents run in this process, registered with every
//! broker, so that the bench sees each poll as the agents do: which poller polled each agent
//! last and when. After each kill the victim is restarted (same id, same data) and the next
//! kill waits until it polls its share again. At the end the ticks stop, every buffer drains,
//! and every agent's `sim_sample_number` series is read back through a broker: every tick
//! must be there once.
//!
//! With `--no-brokers` every broker is stopped before the first kill, so that the members
//! must fail over among themselves; the brokers come back at the end to read the ticks.
//!
//! Every link is mutual TLS, as a mesh runs; `--insecure` runs the same in plaintext for the
//! comparison. Before the first kill, the sub-managers' CPU per poll is measured over a
//! steady window (their own CPU over the polls their `/metrics` count).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use strata_agent::registry::Registry;
use strata_agent::sim::{Profile, SimConfig, Simulation, agent_id};
use strata_proto::identity::{Role, Transport};
use strata_proto::rendezvous::owners;
use strata_proto::v1::sub_manager_client::SubManagerClient;
use strata_testkit::ticks::ticks_query;
use strata_testkit::{Mesh, Region};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::measure::{WorkDir, percentile};

const REGION: &str = "bench";

/// Options of `strata bench failover`.
#[derive(Args, Debug)]
pub struct FailoverBench {
    /// Simulated agents.
    #[arg(long, default_value_t = 2000)]
    pub agents: usize,
    /// SIGKILLs, each of a sub-manager picked at random, restarted after.
    #[arg(long, default_value_t = 20)]
    pub kills: usize,
    /// Sub-managers in the region.
    #[arg(long, default_value_t = 3)]
    pub sub_managers: usize,
    /// Brokers.
    #[arg(long, default_value_t = 2)]
    pub brokers: usize,
    /// Pollers per agent (1 or 2).
    #[arg(long, default_value_t = 1)]
    pub replicas: u32,
    /// Sample interval of the agents and poll interval of the sub-managers.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Freeze the victim (SIGSTOP: its connections stay open, as with a hung host or a cut
    /// network) instead of killing it, so that only its lease can tell; it is killed after.
    #[arg(long)]
    pub freeze: bool,
    /// Seed of the victim choice.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Keep the sub-managers' data and logs here (default: a temporary directory).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Print the figures as JSON.
    #[arg(long)]
    pub json: bool,
    /// Run every link in plaintext, with no identities (for the comparison with mutual TLS).
    #[arg(long)]
    pub insecure: bool,
    /// Stop every broker before the first kill: the members fail over among themselves
    /// (`SubManager.Peer`); the brokers are started again at the end to read the ticks back.
    #[arg(long)]
    pub no_brokers: bool,
    /// Length of the steady window the sub-managers' CPU per poll is measured over.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub steady: Duration,
}

/// What `strata bench failover --json` prints.
#[derive(Debug, Serialize)]
pub struct FailoverFigures {
    pub kills: usize,
    /// Time from a kill until every agent the victim polled has been polled by another
    /// member: median, 99th percentile and worst over the kills.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Ticks of `sim_sample_number` missing from the store, over every agent.
    pub samples_lost: u64,
    pub agents: usize,
    /// Agents orphaned by the kills, all told.
    pub orphans: usize,
    /// Ticks each agent produced.
    pub ticks: u64,
    /// The sub-managers' CPU per poll of one agent in the steady window, in microseconds.
    pub sub_manager_cpu_us_per_poll: f64,
    /// Whether the links were plaintext (`--insecure`) rather than mutual TLS.
    pub insecure: bool,
    /// Whether every broker was stopped during the kills (`--no-brokers`).
    pub no_brokers: bool,
}

/// The value of the unlabelled `metric` in a sub-manager's `/metrics`.
fn member_metric(member: &strata_testkit::Proc, metric: &str) -> anyhow::Result<f64> {
    let addr = member
        .field("metrics")
        .context("a sub-manager without metrics")?;
    let (_, text) = crate::measure::http(&addr, "GET", "/metrics", b"")?;
    text.lines()
        .find_map(|l| l.strip_prefix(metric)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .with_context(|| format!("no {metric} at {}", member.name))
}

/// The sub-managers' CPU seconds and polls so far, from their processes and `/metrics`.
fn members_cpu_and_polls(members: &[strata_testkit::Proc]) -> anyhow::Result<(f64, f64)> {
    let (mut cpu, mut polls) = (0.0, 0.0);
    for m in members {
        cpu += crate::measure::process_cpu(m.pid());
        polls += member_metric(m, "strata_sub_manager_polls_total")?;
    }
    Ok((cpu, polls))
}

/// Which poller polled each agent last, and when.
fn last_pollers(registry: &Registry) -> HashMap<String, Vec<(String, Instant)>> {
    registry
        .iter()
        .map(|e| {
            let polls = e.buffer.lock().expect("buffer lock poisoned").last_polls();
            (e.id.clone(), polls)
        })
        .collect()
}

/// Polls `check` every 10 ms until it holds or `within` passes.
async fn wait(what: &str, within: Duration, mut check: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    anyhow::bail!("timed out after {within:?} waiting for {what}")
}

/// A small deterministic generator for the victim choice.
fn next_random(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *state >> 33
}

/// Runs `strata bench failover`.
pub async fn run(args: FailoverBench) -> anyhow::Result<()> {
    anyhow::ensure!(args.sub_managers >= 2, "--sub-managers must be at least 2");
    anyhow::ensure!(args.brokers >= 1, "--brokers must be at least 1");
    anyhow::ensure!(args.agents >= 1, "--agents must be at least 1");
    anyhow::ensure!(
        (1..=2).contains(&args.replicas),
        "--replicas must be 1 or 2"
    );
    let work = WorkDir::new(args.work_dir.as_deref())?;
    let dir = work.path().to_path_buf();
    // brokers and members are real processes; the agents are simulated in this process,
    // so that each poll is seen as the agents see it
    let mut builder = Mesh::builder();
    if args.insecure {
        builder = builder.insecure();
    }
    let mut mesh = builder
        .dir(&dir)
        .log("warn")
        .brokers(args.brokers)
        .broker_toml(&format!(
            "registration_ttl = \"6s\"\nreplicas = {}\n",
            args.replicas
        ))
        .interval(args.interval)
        .super_managers(0)
        .region(Region::new(REGION).members(args.sub_managers).member_toml(
            "metrics_listen = \"127.0.0.1:0\"\n[poll]\ntimeout = \"2s\"\nconcurrency = 256\n",
        ))
        .start();
    let brokers = mesh.broker_addrs();

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let sim_addr = listener.local_addr()?.to_string();
    let sim = Simulation::new(
        SimConfig {
            agents: args.agents,
            interval: args.interval,
            profile: Profile::Basic,
            ..SimConfig::default()
        },
        20_000,
    );
    let registry = sim.registry();
    let serving = CancellationToken::new();
    let ticking = CancellationToken::new();
    let ticks = tokio::spawn(sim.run(ticking.clone()));
    let transport = match &mesh.ca {
        Some(ca) => ca.transport(Role::Agent, REGION, "sim-")?,
        None => Transport::insecure(),
    };
    let server = {
        let (transport, registry, serving) = (transport.clone(), registry.clone(), serving.clone());
        tokio::spawn(async move {
            strata_agent::door::serve(listener, &transport, registry, None, serving).await
        })
    };
    let agents: Vec<(String, String)> = (1..=args.agents)
        .map(|n| (agent_id("sim-", n), sim_addr.clone()))
        .collect();
    for addr in &brokers {
        tokio::spawn(strata_agent::registration::register_loop(
            transport.clone(),
            addr.clone(),
            REGION.into(),
            None,
            agents.clone(),
            serving.clone(),
        ));
    }

    let members = &mut mesh.region(REGION).members;
    let ids: Vec<String> = members.iter().map(|m| m.name.clone()).collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    // Which member should poll each agent with every member alive.
    let owner: HashMap<String, String> = agents
        .iter()
        .map(|(a, _)| (a.clone(), owners(a, &id_refs, 1)[0].to_string()))
        .collect();
    let started = Instant::now();
    let polled_by_owner = |since: Instant, member: Option<&str>| {
        let polls = last_pollers(&registry);
        owner.iter().all(|(agent, o)| {
            member.is_some_and(|m| m != o)
                || polls
                    .get(agent)
                    .is_some_and(|p| p.iter().any(|(who, at)| who == o && *at > since))
        })
    };
    wait(
        "every agent to be polled by its owner",
        Duration::from_secs(120),
        || polled_by_owner(started, None),
    )
    .await?;
    eprintln!(
        "failover: {} agents polled by {} sub-managers through {} brokers; {} of steady polling",
        args.agents,
        args.sub_managers,
        args.brokers,
        humantime::format_duration(args.steady)
    );
    let (cpu0, polls0) = members_cpu_and_polls(members)?;
    tokio::time::sleep(args.steady).await;
    let (cpu1, polls1) = members_cpu_and_polls(members)?;
    let sub_manager_cpu_us_per_poll = (cpu1 - cpu0) * 1e6 / (polls1 - polls0).max(1.0);
    if args.no_brokers {
        for broker in &mut mesh.brokers {
            broker.kill();
        }
        let members = &mesh.regions[0].members;
        let peers = (members.len() - 1) as f64;
        wait(
            "the members to watch each other",
            Duration::from_secs(60),
            || {
                members.iter().all(|m| {
                    member_metric(m, "strata_sub_manager_peers_live").is_ok_and(|n| n == peers)
                })
            },
        )
        .await?;
        eprintln!("failover: every broker stopped; the members watch each other");
    }
    let members = &mut mesh.region(REGION).members;
    eprintln!("failover: killing");

    let mut rng = args.seed.max(1);
    let mut times = Vec::with_capacity(args.kills);
    let mut orphans_total = 0;
    for k in 1..=args.kills {
        let victim = (next_random(&mut rng) % members.len() as u64) as usize;
        let vid = members[victim].name.clone();
        let polls = last_pollers(&registry);
        let orphans: Vec<String> = polls
            .iter()
            .filter(|(_, p)| {
                p.iter()
                    .max_by_key(|(_, at)| *at)
                    .is_some_and(|(who, _)| *who == vid)
            })
            .map(|(a, _)| a.clone())
            .collect();
        let killed = Instant::now();
        if args.freeze {
            members[victim].signal("STOP")?;
        } else {
            members[victim].kill();
        }
        wait(
            "the orphans to be polled again",
            Duration::from_secs(60),
            || {
                let polls = last_pollers(&registry);
                orphans.iter().all(|a| {
                    polls
                        .get(a)
                        .is_some_and(|p| p.iter().any(|(who, at)| *who != vid && *at > killed))
                })
            },
        )
        .await?;
        let took = killed.elapsed();
        orphans_total += orphans.len();
        times.push(took.as_secs_f64() * 1000.0);
        eprintln!(
            "kill {k}/{}: {vid}, {} orphans polled again after {took:.2?}",
            args.kills,
            orphans.len()
        );
        members[victim].kill();
        let restarted = Instant::now();
        members[victim].restart();
        wait(
            "the restarted member to poll its share again",
            Duration::from_secs(60),
            || polled_by_owner(restarted, Some(&vid)),
        )
        .await?;
        tokio::time::sleep(args.interval).await;
    }

    ticking.cancel();
    let ticks = ticks.await?;
    wait("every buffer to drain", Duration::from_secs(60), || {
        registry
            .iter()
            .all(|e| e.buffer.lock().expect("buffer lock poisoned").is_empty())
    })
    .await?;
    let dropped: u64 = registry
        .iter()
        .map(|e| {
            e.buffer
                .lock()
                .expect("buffer lock poisoned")
                .dropped_total()
        })
        .sum();
    if args.no_brokers {
        for broker in &mut mesh.brokers {
            broker.restart();
        }
        // the brokers know every member again once each member's stream is open
        let members = &mesh.regions[0].members;
        wait(
            "every member to follow a broker again",
            Duration::from_secs(60),
            || {
                members.iter().all(|m| {
                    member_metric(m, "strata_sub_manager_peers_live").is_ok_and(|n| n == 0.0)
                })
            },
        )
        .await?;
    }
    // a broker merges the answers of the members it knows: read until the count holds
    let mut stored = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match stored_ticks(mesh.channel(&brokers[0], Role::Broker), ticks).await {
            Ok(n) if n == stored || n == ticks * args.agents as u64 => {
                stored = n;
                break;
            }
            Ok(n) => stored = stored.max(n),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => {}
        }
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let expected = ticks * args.agents as u64;
    let samples_lost = expected.saturating_sub(stored);
    serving.cancel();
    let _ = server.await;
    drop(mesh);

    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let figures = FailoverFigures {
        kills: args.kills,
        p50_ms: percentile(&sorted, 0.5),
        p99_ms: percentile(&sorted, 0.99),
        max_ms: sorted.last().copied().unwrap_or(f64::NAN),
        samples_lost,
        agents: args.agents,
        orphans: orphans_total,
        ticks,
        sub_manager_cpu_us_per_poll,
        insecure: args.insecure,
        no_brokers: args.no_brokers,
    };
    if args.json {
        println!("{}", serde_json::to_string(&figures)?);
    } else {
        let how = if args.freeze {
            "SIGSTOPped"
        } else {
            "SIGKILLed"
        };
        let brokers = if args.no_brokers {
            format!("{} brokers, all stopped", args.brokers)
        } else {
            format!("{} brokers", args.brokers)
        };
        println!(
            "failover of a {how} sub-manager ({} kills, {} agents, {} sub-managers, {brokers}, {} replica(s), interval {})",
            args.kills,
            args.agents,
            args.sub_managers,
            args.replicas,
            humantime::format_duration(args.interval)
        );
        println!(
            "  every orphan polled again after: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} orphans)",
            figures.p50_ms, figures.p99_ms, figures.max_ms, orphans_total
        );
        println!(
            "  samples lost: {samples_lost} of {expected} sim_sample_number ticks ({ticks} per agent); buffer drops: {dropped}"
        );
        println!(
            "  sub-managers' CPU per poll (steady, {}): {sub_manager_cpu_us_per_poll:.0} µs",
            if args.insecure {
                "plaintext"
            } else {
                "mutual TLS"
            }
        );
    }
    Ok(())
}

/// How many of ticks 1..=`ticks` of every agent's `sim_sample_number` the region stores,
/// read through the broker at `broker` (which merges the members' answers).
async fn stored_ticks(broker: tonic::transport::Channel, ticks: u64) -> anyhow::Result<u64> {
    let mut client = SubManagerClient::new(broker).max_decoding_message_size(256 << 20);
    let answer = client
        .query_range(ticks_query(REGION, Vec::new()))
        .await
        .context("read sim_sample_number back through the broker")?
        .into_inner();
    let mut stored = 0;
    for series in answer.series {
        stored += strata_testkit::ticks::ticks(&series)
            .iter()
            .filter(|v| (1..=ticks).contains(*v))
            .count() as u64;
    }
    Ok(stored)
}
