//! `strata bench region`: how many agents one sub-manager carries, on how much CPU and
//! memory, and what its regional API does meanwhile.
//!
//! One sub-manager (the real binary) polls N simulated agents served by `strata sim` in a
//! process of its own (its CPU is reported apart), registered through one broker, every
//! agent sampling the host profile (~200 series) every interval. After every agent has
//! been polled and the member has caught up with what piled up meanwhile (no poll late for
//! two poll intervals), a window is measured: the sub-manager's
//! CPU seconds and the simulator's (from `/proc`), its peak RSS, the ingest lag (the time
//! from a sample's collection to its storage, from the member's own histogram
//! `strata_sub_manager_ingest_lag_seconds`, interpolated within its buckets), and the
//! regional API's latency for a host's metrics, the region's resources and a PromQL
//! query, asked all along the window. At the end every agent's `sim_sample_number` is read
//! back (a tick missing below the last one stored is a sample lost), then the simulator is
//! stopped (SIGSTOP) and the same requests are timed on the same region at rest: the idle
//! figures, on the same data.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use strata_proto::identity::{Expect, Role};
use strata_proto::v1::sub_manager_client::SubManagerClient;
use strata_testkit::ticks::{ticks, ticks_query};
use strata_testkit::{Mesh, Proc, Region};

use crate::measure::{WorkDir, dir_bytes, peak_rss, percentile, process_cpu};

const REGION: &str = "bench";
const LAG: &str = "strata_sub_manager_ingest_lag_seconds_bucket";

/// Options of `strata bench region`.
#[derive(Args, Debug)]
pub struct RegionBench {
    /// Simulated agents polled by the one sub-manager.
    #[arg(long, default_value_t = 10_000)]
    pub agents: usize,
    /// Series per agent: `host` (about 200) or `basic` (19).
    #[arg(long, default_value = "host")]
    pub profile: String,
    /// The agents' sample interval.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// The sub-manager's poll interval (the sub-manager's default, `[poll] interval`).
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub poll_interval: Duration,
    /// Length of the measured window.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// API requests timed per kind, idle and under load.
    #[arg(long, default_value_t = 60)]
    pub requests: usize,
    /// Worker threads of the sub-manager's polling runtime (`[poll] workers`).
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Polls in flight at once (`[poll] concurrency`, the sub-manager's default).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Pin the sub-manager to one core and the simulator to the others (`taskset`): what
    /// one core carries.
    #[arg(long)]
    pub one_core: bool,
    /// Keep the stores and logs here (default: a temporary directory).
    #[arg(long)]
    pub work_dir: Option<std::path::PathBuf>,
    /// Print the figures as JSON.
    #[arg(long)]
    pub json: bool,
}

/// One kind of API request, idle and under load.
#[derive(Debug, Serialize)]
pub struct ApiFigure {
    pub kind: &'static str,
    pub idle_p50_ms: f64,
    pub idle_p99_ms: f64,
    pub load_p50_ms: f64,
    pub load_p99_ms: f64,
}

/// What `strata bench region --json` prints.
#[derive(Debug, Serialize)]
pub struct RegionFigures {
    pub agents: usize,
    pub series_per_agent: usize,
    pub sample_interval_s: f64,
    pub poll_interval_s: f64,
    /// The sub-manager's CPU seconds per 1,000 agents per minute of the window.
    pub cpu_s_per_1000_agents_per_min: f64,
    /// The simulator's, apart.
    pub sim_cpu_s_per_1000_agents_per_min: f64,
    pub peak_rss_bytes: u64,
    pub lag_p50_ms: f64,
    pub lag_p99_ms: f64,
    /// Ticks missing below the last one stored, over every agent.
    pub samples_lost: u64,
    /// Agents whose last stored tick is more than two intervals old at the end.
    pub agents_behind: usize,
    pub samples_per_second: f64,
    pub polls_per_second: f64,
    /// Poll cycles that started an interval or more late, in the window.
    pub polls_late: f64,
    /// The store's bytes on disk over the samples it holds, at the end.
    pub bytes_per_sample: f64,
    /// The worst p99 of the API's requests, idle and under load.
    pub api_p99_idle_ms: f64,
    pub api_p99_load_ms: f64,
    pub api: Vec<ApiFigure>,
    pub window_s: f64,
}

/// A region of `agents` simulated agents and one sub-manager with its console.
fn start(args: &RegionBench, agents: usize, dir: &Path) -> Mesh {
    let member = format!(
        "metrics_listen = \"127.0.0.1:0\"\n[poll]\ntimeout = \"5s\"\nconcurrency = {}\n\
         workers = {}\nmax_samples = 100000\n",
        args.concurrency, args.workers
    );
    Mesh::builder()
        .dir(dir)
        .log("warn")
        .brokers(1)
        .interval(args.poll_interval)
        .sample_interval(args.interval)
        .super_managers(0)
        .region(
            Region::new(REGION)
                .consoles()
                .member_toml(&member)
                .sim("sim", "sim-", agents)
                .sim_args(&["--profile", &args.profile]),
        )
        .start()
}

/// The address of `member`'s console, from its listening line.
fn console_of(member: &Proc) -> anyhow::Result<String> {
    member
        .field("console")
        .with_context(|| format!("no console in '{}'", member.first_line))
}

/// The value of the unlabelled `metric` in the member's `/metrics` text (0 when absent).
fn metric(text: &str, metric: &str) -> f64 {
    crate::measure::metric_value(text, metric).unwrap_or(0.0)
}

/// The member's `/metrics`.
fn metrics(member: &Proc) -> anyhow::Result<String> {
    let addr = member
        .field("metrics")
        .context("a member without metrics")?;
    Ok(crate::measure::http(&addr, "GET", "/metrics", b"")?.1)
}

/// The cumulative buckets of the ingest lag: (upper bound in seconds, count).
fn lag_buckets(text: &str) -> Vec<(f64, f64)> {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(LAG)?.strip_prefix("{le=\"")?;
            let (le, value) = rest.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, value.trim().parse().ok()?))
        })
        .collect()
}

/// The `q` quantile of the observations between two readings of the buckets, interpolated
/// linearly within its bucket (as PromQL's `histogram_quantile`), in milliseconds.
fn lag_quantile(before: &[(f64, f64)], after: &[(f64, f64)], q: f64) -> f64 {
    let delta: Vec<(f64, f64)> = after
        .iter()
        .map(|(le, n)| {
            let was = before
                .iter()
                .find(|(b, _)| b == le)
                .map_or(0.0, |(_, n)| *n);
            (*le, n - was)
        })
        .collect();
    let Some(total) = delta.last().map(|(_, n)| *n).filter(|n| *n > 0.0) else {
        return f64::NAN;
    };
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for (le, n) in delta {
        if n >= rank {
            if le.is_infinite() {
                return lower.0 * 1e3;
            }
            let share = if n > lower.1 {
                (rank - lower.1) / (n - lower.1)
            } else {
                0.0
            };
            return (lower.0 + (le - lower.0) * share) * 1e3;
        }
        lower = (le, n);
    }
    f64::NAN
}

/// The API requests timed: a host's metrics over the last hour, the region's resources, a
/// PromQL aggregation over every agent.
fn requests(agents: usize) -> [(&'static str, String); 3] {
    let host = format!("sim-{:04}", agents.div_ceil(2));
    [
        (
            "host metrics",
            format!(
                "/api/v1/resources/{REGION}/{host}/metrics?name=host_cpu_usage_ratio&period=1h"
            ),
        ),
        ("resources", "/api/v1/resources".to_string()),
        ("promql", "/api/v1/query?query=avg(host_load1)".to_string()),
    ]
}

/// Times `count` rounds of the API requests, spread over `over`: per kind, sorted ms.
fn time_api(console: &str, agents: usize, count: usize, over: Duration) -> Vec<Vec<f64>> {
    let asked = requests(agents);
    let mut took = vec![Vec::with_capacity(count); asked.len()];
    let pace = over.div_f64(count.max(1) as f64);
    for _ in 0..count {
        let round = Instant::now();
        for (i, (_, path)) in asked.iter().enumerate() {
            let t = Instant::now();
            match strata_testkit::http_get(console, path) {
                Ok((200, _)) => took[i].push(t.elapsed().as_secs_f64() * 1e3),
                Ok((status, body)) => {
                    tracing::warn!(%path, status, body = %body.chars().take(200).collect::<String>(), "an API request failed")
                }
                Err(e) => tracing::warn!(%path, error = %e, "an API request failed"),
            }
        }
        std::thread::sleep(pace.saturating_sub(round.elapsed()));
    }
    for t in &mut took {
        t.sort_by(f64::total_cmp);
    }
    took
}

/// Sends signal `name` (`STOP`, `CONT`) to process `pid`.
fn signal(pid: u32, name: &str) -> anyhow::Result<()> {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .context("run kill")?;
    anyhow::ensure!(status.success(), "kill -{name} {pid}: {status}");
    Ok(())
}

/// Pins every thread of process `pid` to the cores `cpus` (a `taskset` list).
fn pin(pid: u32, cpus: &str) -> anyhow::Result<()> {
    let out = std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &pid.to_string()])
        .output()
        .context("run taskset (util-linux)")?;
    anyhow::ensure!(
        out.status.success(),
        "taskset -a -p -c {cpus} {pid}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Waits until the member has polled every one of `agents` at least once and stored their
/// samples, then until it has caught up with what piled up meanwhile (no poll late for two
/// poll intervals; at most ten minutes, after which the window measures a member behind).
fn wait_polled(member: &Proc, agents: usize, poll_interval: Duration) -> anyhow::Result<()> {
    let within = poll_interval * 6 + Duration::from_secs(600);
    let started = Instant::now();
    let mut last_report = Instant::now();
    loop {
        let text = metrics(member)?;
        let assigned = metric(&text, "strata_sub_manager_assigned_agents") as usize;
        let polls = metric(&text, "strata_sub_manager_polls_total") as usize;
        if assigned >= agents && polls >= agents {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < within,
            "after {within:?}: {assigned} of {agents} agents assigned, {polls} polls"
        );
        if last_report.elapsed() > Duration::from_secs(10) {
            eprintln!("  {assigned} of {agents} agents assigned, {polls} polls so far");
            last_report = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let caught_up = Instant::now();
    let mut late = metric(&metrics(member)?, "strata_sub_manager_polls_late_total");
    loop {
        std::thread::sleep(poll_interval * 2);
        let now = metric(&metrics(member)?, "strata_sub_manager_polls_late_total");
        if now == late {
            return Ok(());
        }
        if caught_up.elapsed() > Duration::from_secs(600) {
            eprintln!(
                "  still {} polls late after ten minutes: measuring anyway",
                now - late
            );
            return Ok(());
        }
        eprintln!("  catching up: {} polls late", now - late);
        late = now;
    }
}

/// Ticks missing below the last stored, and agents whose last tick is older than two
/// intervals (or who have none), from every agent's `sim_sample_number`.
fn accounting(mesh: &mut Mesh, agents: usize, interval: Duration) -> anyhow::Result<(u64, usize)> {
    let member = mesh.region(REGION).members[0].addr.clone();
    let channel = mesh.ca().channel_as(
        (Role::SuperManager, "", "bench"),
        &member,
        Expect::Role(Role::SubManager),
    );
    // behind as of when the questions began: they take seconds at 20,000 agents
    let asked = strata_proto::now_ms();
    // ten questions, by the agent's last digit: one answer is bounded to 10,000 series
    let answer = strata_testkit::block_on(async move {
        let mut client = SubManagerClient::new(channel).max_decoding_message_size(512 << 20);
        let mut series = Vec::new();
        for digit in 0..10 {
            let part = client
                .query_range(ticks_query(
                    REGION,
                    vec![strata_proto::labels::label_matcher(
                        "agent",
                        &format!("~.*{digit}"),
                    )],
                ))
                .await?;
            series.extend(part.into_inner().series);
        }
        Ok::<_, tonic::Status>(series)
    })
    .context("read sim_sample_number back")?;
    let stale = 2 * interval.as_millis() as i64;
    // an agent with no series stored at all is behind too
    let (mut lost, mut behind) = (0u64, agents.saturating_sub(answer.len()));
    for series in answer {
        let ticks = ticks(&series);
        let last = ticks.last().copied().unwrap_or(0);
        lost += last.saturating_sub(ticks.len() as u64);
        if series.points.iter().map(|p| p.ts_ms).max().unwrap_or(0) < asked - stale {
            behind += 1;
        }
    }
    Ok((lost, behind))
}

/// Runs the bench.
pub fn run(args: RegionBench) -> anyhow::Result<()> {
    anyhow::ensure!(args.agents >= 1, "--agents must be at least 1");
    let work = WorkDir::new(args.work_dir.as_deref())?;
    let series = strata_agent::sim::series(
        args.profile
            .parse()
            .map_err(|e: String| anyhow::anyhow!("--profile: {e}"))?,
    )
    .count();

    eprintln!(
        "region: {} agents of {series} series every {:?}, polled every {:?}",
        args.agents, args.interval, args.poll_interval
    );
    let dir = work.path().join("load");
    let mut mesh = start(&args, args.agents, &dir);
    let (member_pid, sim_pid) = {
        let region = mesh.region(REGION);
        (region.members[0].pid(), region.sim("sim").pid())
    };
    if args.one_core {
        pin(member_pid, "0")?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
        pin(sim_pid, &format!("1-{}", cores - 1))?;
    }
    wait_polled(
        &mesh.region(REGION).members[0],
        args.agents,
        args.poll_interval,
    )?;
    let member = &mesh.region(REGION).members[0];
    let console = console_of(member)?;
    let before = metrics(member)?;
    let (cpu0, sim0, t0) = (
        process_cpu(member_pid),
        process_cpu(sim_pid),
        Instant::now(),
    );
    eprintln!("measuring {:?}", args.duration);
    let load_took = time_api(&console, args.agents, args.requests, args.duration);
    let after = metrics(member)?;
    let (cpu1, sim1) = (process_cpu(member_pid), process_cpu(sim_pid));
    let window = t0.elapsed().as_secs_f64();
    let rss = peak_rss(&member_pid.to_string());
    let stored = metric(&after, "strata_sub_manager_samples_stored_total");
    let bytes = dir_bytes(&dir.join(format!("{REGION}-1")));
    let (lost, behind) = accounting(&mut mesh, args.agents, args.interval)?;
    // the same region at rest: its agents silent (the simulator stopped), the polls in
    // flight timed out
    eprintln!("the same region idle: simulator stopped");
    signal(sim_pid, "STOP")?;
    std::thread::sleep(Duration::from_secs(6));
    let idle_took = time_api(&console, args.agents, args.requests, args.interval);
    signal(sim_pid, "CONT")?;

    let per_1000_min = |cpu: f64| cpu / window * 60.0 / (args.agents as f64 / 1000.0);
    let delta = |name: &str| metric(&after, name) - metric(&before, name);
    let (lb, la) = (lag_buckets(&before), lag_buckets(&after));
    let api: Vec<ApiFigure> = requests(args.agents)
        .iter()
        .enumerate()
        .map(|(i, (kind, _))| ApiFigure {
            kind,
            idle_p50_ms: percentile(&idle_took[i], 0.5),
            idle_p99_ms: percentile(&idle_took[i], 0.99),
            load_p50_ms: percentile(&load_took[i], 0.5),
            load_p99_ms: percentile(&load_took[i], 0.99),
        })
        .collect();
    let worst = |f: fn(&ApiFigure) -> f64| api.iter().map(f).fold(f64::NAN, f64::max);
    let figures = RegionFigures {
        agents: args.agents,
        series_per_agent: series,
        sample_interval_s: args.interval.as_secs_f64(),
        poll_interval_s: args.poll_interval.as_secs_f64(),
        cpu_s_per_1000_agents_per_min: per_1000_min(cpu1 - cpu0),
        sim_cpu_s_per_1000_agents_per_min: per_1000_min(sim1 - sim0),
        peak_rss_bytes: rss,
        lag_p50_ms: lag_quantile(&lb, &la, 0.5),
        lag_p99_ms: lag_quantile(&lb, &la, 0.99),
        samples_lost: lost,
        agents_behind: behind,
        samples_per_second: delta("strata_sub_manager_samples_stored_total") / window,
        polls_per_second: delta("strata_sub_manager_polls_total") / window,
        polls_late: delta("strata_sub_manager_polls_late_total"),
        bytes_per_sample: bytes as f64 / stored.max(1.0),
        api_p99_idle_ms: worst(|a| a.idle_p99_ms),
        api_p99_load_ms: worst(|a| a.load_p99_ms),
        api,
        window_s: window,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&figures)?);
    } else {
        print(&figures, &args);
    }
    Ok(())
}

fn print(f: &RegionFigures, args: &RegionBench) {
    println!(
        "one sub-manager, {} agents x {} series every {:?}, polled every {:?} ({:.0} samples/s, {:.0} polls/s), {:.0} s measured",
        f.agents,
        f.series_per_agent,
        args.interval,
        args.poll_interval,
        f.samples_per_second,
        f.polls_per_second,
        f.window_s
    );
    println!(
        "  sub-manager CPU: {:.2} s per 1,000 agents per minute ({:.2} cores); simulator apart: {:.2} s",
        f.cpu_s_per_1000_agents_per_min,
        f.cpu_s_per_1000_agents_per_min * f.agents as f64 / 1000.0 / 60.0,
        f.sim_cpu_s_per_1000_agents_per_min
    );
    println!(
        "  peak RSS {:.1} MB; ingest lag p50 {:.0} ms, p99 {:.0} ms, {} polls late; {} samples lost, {} agents behind; {:.2} bytes per sample on disk",
        f.peak_rss_bytes as f64 / 1e6,
        f.lag_p50_ms,
        f.lag_p99_ms,
        f.polls_late,
        f.samples_lost,
        f.agents_behind,
        f.bytes_per_sample
    );
    println!("  regional API, p50 / p99 ms, idle and under load:");
    for a in &f.api {
        println!(
            "    {:<13} {:>8.1} / {:>8.1}   {:>8.1} / {:>8.1}",
            a.kind, a.idle_p50_ms, a.idle_p99_ms, a.load_p50_ms, a.load_p99_ms
        );
    }
}
