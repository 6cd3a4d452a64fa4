//! `strata bench agent`: Strata's agent beside Debian's prometheus-node-exporter on this
//! machine, each made to collect the same number of times, with CPU time per collection,
//! peak RSS and series count.
//!
//! The agent collects on its own interval and is polled once per interval, as a
//! sub-manager would, so its figure includes serving the samples; node_exporter collects
//! on every scrape of `/metrics`, scraped once per interval too (each wakes from idle, as
//! under Prometheus), so its figure includes formatting the text.
//!
//! The agent keeps its buffer on disk (a `state_dir`, as packaged; `--memory-buffer` for
//! memory only), and every poll, one per collection here, syncs it first: the bench's
//! agent fdatasyncs once per collection, far more often than a 10 s poll interval would.
//!
//! A 2-core VM's figures drift by a third from one minute to the next, so the three are
//! measured one after the other (never two at once) for `--rounds` rounds, node_exporter
//! last in odd rounds and first in even ones; each agent is reported by its median round,
//! and each ratio by its median over the rounds and their spread.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use strata_proto::identity::{Expect, Role, Transport};
use strata_proto::v1::PollRequest;
use strata_proto::v1::agent_client::AgentClient;

use strata_testkit::peer::{Output, Peer, listening_on};
use strata_testkit::{MeshCa, Proc, Spec};

use crate::measure::{Spread, http, metric_value, peak_rss, process_cpu, wait_until, which};

/// Options of `strata bench agent`.
#[derive(Args, Debug)]
pub struct AgentBench {
    /// Collections (scrapes for node_exporter) to measure.
    #[arg(long, default_value_t = 200)]
    pub collections: u64,
    /// Collection interval of the agent while measured (at least 100ms).
    #[arg(long, default_value = "200ms", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Rounds of the three measurements in turn; each figure is its median round.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Measure Strata's agent only.
    #[arg(long)]
    pub no_peers: bool,
    /// Keep the agent's buffer in memory only (by default it is kept on disk, under a
    /// `state_dir`, as the packages configure it).
    #[arg(long)]
    pub memory_buffer: bool,
    /// Print the figures as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Figures of one agent.
#[derive(Debug, Serialize, Clone, Default)]
pub struct AgentFigures {
    pub cpu_ms_per_collection: f64,
    pub peak_rss_bytes: u64,
    pub series: u64,
}

#[derive(Debug, Serialize)]
struct Report {
    /// Polled over mutual TLS, as a mesh runs it.
    strata: AgentFigures,
    /// The same agent polled in plaintext (`[tls] insecure = true`).
    strata_plaintext: AgentFigures,
    #[serde(skip_serializing_if = "Option::is_none")]
    node_exporter: Option<AgentFigures>,
    /// CPU ms per collection of every round: mutual TLS, plaintext, node_exporter (0 when
    /// not measured).
    rounds: Vec<[f64; 3]>,
    /// strata / node_exporter of each round, as a median and its spread.
    #[serde(skip_serializing_if = "Option::is_none")]
    ratios: Option<Ratios>,
}

/// The ratios strata / node_exporter over the rounds.
#[derive(Debug, Serialize)]
struct Ratios {
    /// CPU per collection, mutual TLS.
    cpu: Spread,
    /// CPU per collection, plaintext.
    cpu_plaintext: Spread,
    /// Peak RSS.
    rss: Spread,
}

/// The figures of the median round by CPU.
fn median(mut runs: Vec<AgentFigures>) -> Option<AgentFigures> {
    runs.sort_by(|a, b| a.cpu_ms_per_collection.total_cmp(&b.cpu_ms_per_collection));
    let middle = runs.len() / 2;
    runs.into_iter().nth(middle)
}

/// Runs `strata bench agent`.
pub async fn run(args: AgentBench) -> anyhow::Result<()> {
    anyhow::ensure!(args.collections > 0, "--collections must be at least 1");
    anyhow::ensure!(
        args.interval >= Duration::from_millis(100),
        "--interval must be at least 100ms (the agent's minimum)"
    );
    anyhow::ensure!(args.rounds > 0, "--rounds must be at least 1");
    let dir = tempfile::tempdir().context("create a temporary directory")?;
    let (mut mtls, mut plain, mut peer, mut rounds) = (vec![], vec![], vec![], vec![]);
    let (mut cpu_ratios, mut plain_ratios, mut rss_ratios) = (vec![], vec![], vec![]);
    let mut peer_skipped = args.no_peers;
    for round in 1..=args.rounds {
        eprintln!("round {round} of {}", args.rounds);
        let at = dir.path().join(format!("round-{round}"));
        // the order alternates, so that a drift of the machine over a round weighs on each
        // agent alike: node_exporter last in odd rounds, first in even ones
        let peer_first = round % 2 == 0;
        let mut n = None;
        if peer_first && !peer_skipped {
            n = bench_node_exporter(&args, &at).await?;
            peer_skipped = n.is_none();
        }
        let m = bench_strata(&at.join("mtls"), &args, true).await?;
        let p = bench_strata(&at.join("plaintext"), &args, false).await?;
        if !peer_first && !peer_skipped {
            n = bench_node_exporter(&args, &at).await?;
            peer_skipped = n.is_none();
        }
        let cpu = |f: Option<&AgentFigures>| f.map_or(0.0, |f| f.cpu_ms_per_collection);
        rounds.push([cpu(Some(&m)), cpu(Some(&p)), cpu(n.as_ref())]);
        if let Some(n) = &n {
            cpu_ratios.push(m.cpu_ms_per_collection / n.cpu_ms_per_collection);
            plain_ratios.push(p.cpu_ms_per_collection / n.cpu_ms_per_collection);
            rss_ratios.push(m.peak_rss_bytes as f64 / n.peak_rss_bytes as f64);
        }
        mtls.push(m);
        plain.push(p);
        peer.extend(n);
    }
    let ratios = (!cpu_ratios.is_empty()).then(|| Ratios {
        cpu: Spread::of(cpu_ratios),
        cpu_plaintext: Spread::of(plain_ratios),
        rss: Spread::of(rss_ratios),
    });
    let report = Report {
        strata: median(mtls).context("no round measured")?,
        strata_plaintext: median(plain).context("no round measured")?,
        node_exporter: median(peer),
        rounds,
        ratios,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    let buffer = if args.memory_buffer {
        "in memory"
    } else {
        "on disk"
    };
    println!(
        "the median of {} round(s) each; the agent's buffer {buffer}:",
        report.rounds.len()
    );
    println!(
        "{:<14} {:>20} {:>16} {:>8}",
        "agent", "CPU ms/collection", "peak RSS MB", "series"
    );
    let row = |name: &str, f: &AgentFigures| {
        println!(
            "{name:<14} {:>20.3} {:>16.1} {:>8}",
            f.cpu_ms_per_collection,
            f.peak_rss_bytes as f64 / 1e6,
            f.series
        )
    };
    row("strata mTLS", &report.strata);
    row("strata plain", &report.strata_plaintext);
    if let Some(n) = &report.node_exporter {
        row("node_exporter", n);
        if let Some(r) = &report.ratios {
            let show = |s: &Spread| format!("{:.2} ({:.2}-{:.2})", s.median, s.min, s.max);
            println!(
                "ratios strata / node_exporter, median (spread) of the rounds: CPU {}, \
                 plaintext {}, RSS {}; series {:.2}",
                show(&r.cpu),
                show(&r.cpu_plaintext),
                show(&r.rss),
                report.strata.series as f64 / n.series as f64
            );
        }
        let each: Vec<String> = report
            .rounds
            .iter()
            .filter(|r| r[2] > 0.0)
            .map(|r| format!("{:.2} ({:.2})", r[0] / r[2], r[1] / r[2]))
            .collect();
        println!("CPU ratio of each round: {}", each.join(", "));
    }
    Ok(())
}

/// Runs the agent in `dir` and polls it as a sub-manager would: over mutual TLS when `mtls`
/// (a certificate from a CA made in `dir`), else in plaintext.
async fn bench_strata(dir: &Path, args: &AgentBench, mtls: bool) -> anyhow::Result<AgentFigures> {
    std::fs::create_dir_all(dir)?;
    let ca = MeshCa::open(dir)?;
    let tls = if mtls {
        format!(
            "dir = \"{}\"",
            ca.node(Role::Agent, "bench", "bench")?.display()
        )
    } else {
        "insecure = true".to_string()
    };
    let state = if args.memory_buffer {
        String::new()
    } else {
        format!("state_dir = \"{}\"\n", dir.join("state").display())
    };
    let config = dir.join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "id = \"bench\"\nlisten = \"127.0.0.1:0\"\nmetrics_listen = \"127.0.0.1:0\"\n\
             collect_interval = \"{}ms\"\n{state}[tls]\n{tls}\n",
            args.interval.as_millis(),
        ),
    )?;
    let config = config.to_string_lossy();
    let daemon = Proc::try_spawn(
        Spec::new("agent", "strata-agent", &["--config", &config], dir).env("RUST_LOG", "warn"),
    )?;
    let pid = daemon.pid();
    let grpc = daemon.addr.clone();
    let metrics_addr = daemon
        .field("metrics")
        .context("strata-agent did not report its metrics address")?;
    let scrape = {
        let addr = metrics_addr.clone();
        move || -> anyhow::Result<String> {
            let (status, body) = http(&addr, "GET", "/metrics", b"")?;
            anyhow::ensure!(status == 200, "/metrics answered {status}");
            Ok(body)
        }
    };
    let collections =
        |text: &str| metric_value(text, "strata_agent_collections_total").unwrap_or(0.0);
    wait_until("strata-agent to collect", Duration::from_secs(30), || {
        scrape().is_ok_and(|t| collections(&t) >= 2.0)
    })?;
    let transport = if mtls {
        ca.transport(Role::SubManager, "bench", "bench")?
    } else {
        Transport::insecure()
    };
    let channel = transport.channel_to(&grpc, Expect::Role(Role::Agent))?;
    let mut client = AgentClient::new(channel);
    // the poller's cursor: buffer epoch, last sequence, dictionary generation and entries held
    let mut cursor = (0, 0, 0, 0);
    let mut poll = async |c: &mut (u64, u64, u64, u32)| -> anyhow::Result<()> {
        let answer = client
            .poll(PollRequest {
                agent_id: String::new(),
                ack_seq: c.1,
                max_samples: 0,
                poller: "bench".into(),
                epoch: c.0,
                dictionary: c.2,
                known_series: c.3,
                assigned: Vec::new(),
            })
            .await?
            .into_inner();
        let held = if answer.series_base == 0 { 0 } else { c.3 };
        *c = (
            answer.buffer.map_or(0, |b| b.epoch),
            answer.last_seq,
            answer.dictionary,
            held + answer.series.len() as u32,
        );
        Ok(())
    };
    poll(&mut cursor).await?;
    let how = if mtls { "mutual TLS" } else { "plaintext" };
    eprintln!("strata ({how}): {} collections", args.collections);
    // Counted from the agent's own counter read before and after, with one poll per
    // interval in between, as a sub-manager would; nothing else touches it meanwhile.
    let start = collections(&scrape()?);
    let cpu = process_cpu(pid);
    for _ in 0..args.collections {
        tokio::time::sleep(args.interval).await;
        poll(&mut cursor).await?;
    }
    let cpu_s = process_cpu(pid) - cpu;
    let text = scrape()?;
    let done = collections(&text) - start;
    anyhow::ensure!(done > 0.0, "strata-agent did not collect while measured");
    Ok(AgentFigures {
        cpu_ms_per_collection: cpu_s * 1000.0 / done,
        peak_rss_bytes: peak_rss(&pid.to_string()),
        series: metric_value(&text, "strata_agent_series").unwrap_or(0.0) as u64,
    })
}

/// node_exporter measured in `at` (None, said, when it cannot run here).
async fn bench_node_exporter(args: &AgentBench, at: &Path) -> anyhow::Result<Option<AgentFigures>> {
    let (collections, interval) = (args.collections, args.interval);
    let log = at.join("node_exporter.log");
    std::fs::create_dir_all(at)?;
    Ok(
        tokio::task::spawn_blocking(move || node_exporter(collections, interval, &log))
            .await?
            .map_err(|e| eprintln!("node_exporter: skipped: {e:#}"))
            .ok(),
    )
}

/// Scrapes Debian's node_exporter `collections` times, one per `interval`.
fn node_exporter(collections: u64, interval: Duration, log: &Path) -> anyhow::Result<AgentFigures> {
    let bin = which("prometheus-node-exporter", "prometheus-node-exporter")
        .or_else(|_| which("node_exporter", "prometheus-node-exporter"))?;
    let mut command = Command::new(bin);
    command.arg("--web.listen-address=127.0.0.1:0");
    let daemon = Peer::start(command, Output::Stderr, log, listening_on)?;
    let (pid, addr) = (daemon.child.id(), daemon.addr.clone());
    wait_until("node_exporter to answer", Duration::from_secs(30), || {
        http(&addr, "GET", "/metrics", b"").is_ok_and(|(s, _)| s == 200)
    })?;
    eprintln!("node_exporter: {collections} scrapes, one per {interval:?}");
    let cpu = process_cpu(pid);
    let mut last = String::new();
    for _ in 0..collections {
        std::thread::sleep(interval);
        let (status, body) = http(&addr, "GET", "/metrics", b"")?;
        anyhow::ensure!(status == 200, "node_exporter answered {status}");
        last = body;
    }
    let cpu_s = process_cpu(pid) - cpu;
    let series = last
        .lines()
        // sample lines: a name, a space, a value (not comments, nor chunk-size lines)
        .filter(|l| !l.starts_with('#') && l.contains(' '))
        .count() as u64;
    Ok(AgentFigures {
        cpu_ms_per_collection: cpu_s * 1000.0 / collections as f64,
        peak_rss_bytes: peak_rss(&pid.to_string()),
        series,
    })
}
