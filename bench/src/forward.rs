//! `strata bench forward`: the same exporters (Debian's node_exporter and blackbox_exporter)
//! collected and shipped to the same VictoriaMetrics, once by Strata (the agent scrapes,
//! the region polls and stores, remote write ships) and once by Prometheus 2.42 in agent
//! mode (scrape, WAL, remote write): CPU seconds and peak memory of every process of each
//! path per million samples delivered, and the samples missing at the destination.
//!
//! The two paths run one after the other for the same time, each to a VictoriaMetrics of
//! its own, so that neither disturbs the other. `--jobs` scrape jobs per exporter (the same
//! exporter each time) set the rate of samples. `--outage` stops the receiver that long from
//! a quarter of the run on: what each path delivers once it is back is counted the same way.
//!
//! What is missing is counted at the destination, alike for both: every scrape delivered
//! (its `up` sample) must come with the `scrape_samples_post_metric_relabeling` samples it
//! reported plus the scrape's own series, and a scrape whose `up` never arrived (a gap in
//! `up` past one interval and a half) counts as a whole scrape missing. For Strata, the
//! samples its region stored are also compared with those delivered, one by one.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use strata_testkit::peer::{Output, Peer, listening_on};
use strata_testkit::{Mesh, Region};

use crate::measure::{WorkDir, http, peak_rss, process_cpu, settle, wait_until, which};
use crate::peers::victoria_command;

/// Options of `strata bench forward`.
#[derive(Args, Debug)]
pub struct ForwardBench {
    /// How long each path scrapes.
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Scrape interval of every job.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Scrape jobs per exporter (each scrapes the same exporter).
    #[arg(long, default_value_t = 10)]
    pub jobs: usize,
    /// Stop the receiver this long, from a quarter of the run on (0s: no outage).
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub outage: Duration,
    /// Keep stores and logs here (default: a temporary directory).
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
    /// Print the figures as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Figures of one path.
#[derive(Debug, Serialize, Default)]
pub struct PathFigures {
    pub cpu_s_per_million: f64,
    pub peak_rss_bytes: u64,
    pub missing: u64,
    pub delivered: u64,
    pub cpu_s: f64,
    /// Scrapes delivered (their `up` samples).
    pub scrapes: u64,
}

#[derive(Debug, Serialize)]
struct Report {
    strata: PathFigures,
    prometheus: PathFigures,
    /// Strata's CPU per million samples over Prometheus's.
    cpu_ratio: f64,
    /// Samples Strata's region stored that the destination lacks.
    strata_stored_not_delivered: u64,
    duration_s: f64,
    outage_s: f64,
    jobs: usize,
    interval_ms: u64,
}

/// The exporters both paths scrape.
struct Exporters {
    node: Peer,
    blackbox: Peer,
    probe: String,
}

fn exporters(dir: &Path) -> anyhow::Result<Exporters> {
    let start = |binary: &str, package: &str, args: &[String]| -> anyhow::Result<Peer> {
        let bin = which(binary, package)?;
        let mut c = Command::new(bin);
        c.args(args).arg("--web.listen-address=127.0.0.1:0");
        Peer::start(
            c,
            Output::Stderr,
            &dir.join(format!("{binary}.log")),
            listening_on,
        )
        .with_context(|| format!("start {binary}"))
    };
    let node = start("prometheus-node-exporter", "prometheus-node-exporter", &[])?;
    let config = dir.join("blackbox.yml");
    std::fs::write(
        &config,
        "modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n",
    )?;
    let blackbox = start(
        "prometheus-blackbox-exporter",
        "prometheus-blackbox-exporter",
        &[format!("--config.file={}", config.display())],
    )?;
    let probe = format!("/probe?module=http_2xx&target=http://{}/", node.addr);
    Ok(Exporters {
        node,
        blackbox,
        probe,
    })
}

/// A VictoriaMetrics of its own for one path.
fn victoria(dir: &Path) -> anyhow::Result<(Peer, String)> {
    let bin = which("victoria-metrics", "victoria-metrics")?;
    let peer = Peer::start_on_free_port(
        |addr| victoria_command(&bin, dir, addr),
        &dir.with_extension("log"),
        |addr| http(addr, "GET", "/health", b"").is_ok_and(|(s, _)| s == 200),
    )?;
    let addr = peer.addr.clone();
    Ok((peer, addr))
}

/// Stops VictoriaMetrics as its service would (SIGTERM), so that what it accepted is kept.
fn stop_victoria(mut peer: Peer) -> anyhow::Result<()> {
    Command::new("kill")
        .arg(peer.child.id().to_string())
        .status()?;
    peer.child.wait()?;
    Ok(())
}

/// Waits out `duration`, the receiver (its data in `dir`, listening on `addr`) stopped for
/// `outage` from a quarter of the run on and started again on the same port.
fn with_outage(
    dir: &Path,
    duration: Duration,
    outage: Duration,
    receiver: &mut Option<Peer>,
    addr: &str,
) -> anyhow::Result<()> {
    let started = Instant::now();
    if !outage.is_zero() {
        std::thread::sleep(duration / 4);
        eprintln!(
            "forward: receiver stopped for {}",
            humantime::format_duration(outage)
        );
        stop_victoria(receiver.take().expect("the receiver runs"))?;
        std::thread::sleep(outage);
        let bin = which("victoria-metrics", "victoria-metrics")?;
        let mut peer = Peer::start_on_free_port(
            |_| victoria_command(&bin, dir, addr),
            &dir.with_extension("2.log"),
            |_| http(addr, "GET", "/health", b"").is_ok_and(|(s, _)| s == 200),
        )?;
        peer.addr = addr.to_string();
        *receiver = Some(peer);
        eprintln!("forward: receiver back");
    }
    std::thread::sleep(duration.saturating_sub(started.elapsed()));
    Ok(())
}

/// Distinct samples per job, per timestamp, per series name, as VictoriaMetrics exports
/// them.
type Delivered = HashMap<String, BTreeMap<i64, Vec<(String, f64)>>>;

/// Samples per series (its labels as JSON), one value per timestamp.
type BySeries = BTreeMap<String, BTreeMap<i64, f64>>;

/// Every sample of the bench's jobs at the VictoriaMetrics at `addr`, by job and by series.
fn export(addr: &str) -> anyhow::Result<(Delivered, BySeries)> {
    http(addr, "GET", "/internal/force_flush", b"")?;
    // what was flushed becomes searchable shortly after: wait until the count holds still
    let count = "/api/v1/query?nocache=1&query=sum(count_over_time(%7Bjob%3D~%22node-.%2A%7Cblackbox-.%2A%22%7D%5B30d%5D))";
    settle(Duration::from_secs(60), || {
        http(addr, "GET", count, b"")
            .ok()
            .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
            .and_then(|v| v["data"]["result"][0]["value"][1].as_str()?.parse().ok())
            .unwrap_or(0.0)
    });
    let selector = "%7Bjob%3D~%22node-.%2A%7Cblackbox-.%2A%22%7D";
    let (status, body) = http(
        addr,
        "GET",
        &format!("/api/v1/export?match[]={selector}"),
        b"",
    )?;
    anyhow::ensure!(status == 200, "export answered {status}: {body}");
    let mut by_job: Delivered = HashMap::new();
    let mut by_series = BySeries::new();
    // each series' job and name (a series may come in several lines)
    let mut names: HashMap<String, (String, String)> = HashMap::new();
    for line in body.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let metric = v["metric"]
            .as_object()
            .context("export line without metric")?;
        let key = serde_json::to_string(metric)?;
        names.entry(key.clone()).or_insert_with(|| {
            let label = |l: &str| {
                metric
                    .get(l)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            (label("job"), label("__name__"))
        });
        let points = by_series.entry(key).or_default();
        let (ts, values) = (v["timestamps"].as_array(), v["values"].as_array());
        for (t, x) in ts.into_iter().flatten().zip(values.into_iter().flatten()) {
            points.insert(t.as_i64().unwrap_or(0), x.as_f64().unwrap_or(f64::NAN));
        }
    }
    for (key, points) in &by_series {
        let (job, name) = names[key].clone();
        let jobs = by_job.entry(job).or_default();
        for (ts, v) in points {
            jobs.entry(*ts).or_default().push((name.clone(), *v));
        }
    }
    Ok((by_job, by_series))
}

/// Samples delivered, scrapes delivered and samples missing, counted from the scrapes'
/// own series (see the module's docs).
fn account(delivered: &Delivered, interval: Duration) -> (u64, u64, u64) {
    let meta = |n: &str| {
        matches!(
            n,
            "up" | "scrape_duration_seconds"
                | "scrape_samples_scraped"
                | "scrape_samples_post_metric_relabeling"
                | "scrape_series_added"
        )
    };
    let (mut total, mut scrapes, mut missing) = (0u64, 0u64, 0u64);
    let step = interval.as_millis() as i64;
    for by_ts in delivered.values() {
        let mut ups = Vec::new();
        let mut per_scrape = Vec::new();
        for (ts, samples) in by_ts {
            total += samples.len() as u64;
            let Some(post) = samples
                .iter()
                .find(|(n, _)| n == "scrape_samples_post_metric_relabeling")
                .map(|(_, v)| *v as u64)
            else {
                continue;
            };
            let own = samples.iter().filter(|(n, _)| meta(n)).count() as u64;
            let expected = post + own;
            let found = samples.len() as u64;
            missing += expected.saturating_sub(found);
            ups.push(*ts);
            per_scrape.push(expected);
            scrapes += 1;
        }
        per_scrape.sort_unstable();
        let typical = per_scrape.get(per_scrape.len() / 2).copied().unwrap_or(0);
        for pair in ups.windows(2) {
            let gap = pair[1] - pair[0];
            if gap * 2 > step * 3 {
                missing += ((gap + step / 2) / step - 1) as u64 * typical;
            }
        }
    }
    (total, scrapes, missing)
}

fn strata_path(
    args: &ForwardBench,
    dir: &Path,
    ex: &Exporters,
) -> anyhow::Result<(PathFigures, u64)> {
    let vm_dir = dir.join("vm-strata");
    let (vm, vm_addr) = victoria(&vm_dir)?;
    let mut receiver = Some(vm);
    let timeout = args.interval.min(Duration::from_secs(5));
    let items: String = [
        "cpu",
        "load",
        "memory",
        "disk",
        "network",
        "protocols",
        "vmstat",
        "pressure",
        "filesystem",
        "temperature",
        "system",
        "processes",
        "tcp",
    ]
    .iter()
    .map(|i| format!("[items.{i}]\nenabled = false\n"))
    .collect();
    let mut agent = format!("id = \"host-1\"\nbuffer_capacity = 2000000\n{items}");
    for j in 1..=args.jobs {
        for (job, url) in [
            (
                format!("node-{j}"),
                format!("http://{}/metrics", ex.node.addr),
            ),
            (
                format!("blackbox-{j}"),
                format!("http://{}{}", ex.blackbox.addr, ex.probe),
            ),
        ] {
            agent.push_str(&format!(
                "[[scrape]]\njob = \"{job}\"\nurl = \"{url}\"\ninterval = \"{}\"\ntimeout = \"{}\"\n",
                humantime::format_duration(args.interval),
                humantime::format_duration(timeout)
            ));
        }
    }
    let member = format!(
        "metrics_listen = \"127.0.0.1:0\"\n[poll]\ninterval = \"{}\"\n\
         [[remote_write]]\nname = \"vm\"\nurl = \"http://{vm_addr}/api/v1/write\"\n\
         min_backoff = \"200ms\"\nmax_backoff = \"5s\"\n",
        humantime::format_duration(args.interval)
    );
    eprintln!(
        "forward: strata, {} jobs every {:?} for {:?}",
        args.jobs * 2,
        args.interval,
        args.duration
    );
    let mut mesh = Mesh::builder()
        .dir(dir.join("strata"))
        .log("warn")
        .brokers(0)
        .super_managers(0)
        .interval(args.interval)
        .region(
            Region::new("bench")
                .agent(&agent)
                .member_toml(&member)
                .listed(),
        )
        .start();
    let region = mesh.region("bench");
    with_outage(&vm_dir, args.duration, args.outage, &mut receiver, &vm_addr)?;
    let agent_pid = region.agents[0].pid();
    // the agent stops here: a scrape it held unpolled is lost whole, which the count of
    // missing samples (per delivered scrape) does not see, for either path
    let agent_cpu = process_cpu(agent_pid);
    let agent_rss = peak_rss(&agent_pid.to_string());
    region.agents[0].kill();
    let metrics = region.members[0]
        .field("metrics")
        .context("the member's metrics address")?;
    wait_until(
        "the region's backlog delivered",
        Duration::from_secs(3600),
        || {
            http(&metrics, "GET", "/metrics", b"").is_ok_and(|(_, text)| {
                text.contains(
                    "strata_sub_manager_remote_write_pending_records{destination=\"vm\"} 0\n",
                )
            })
        },
    )?;
    let member_pid = region.members[0].pid();
    let member_cpu = process_cpu(member_pid);
    let member_rss = peak_rss(&member_pid.to_string());
    anyhow::ensure!(
        region.members[0].terminate(Duration::from_secs(30)),
        "the member did not stop cleanly"
    );
    let (delivered, by_series) = export(&vm_addr)?;
    let (total, scrapes, missing) = account(&delivered, args.interval);
    // the region's own store, sample by sample
    let tsdb = strata_tsdb::Tsdb::open(
        dir.join("strata").join("bench-1"),
        strata_tsdb::TsdbOptions::keep_forever(),
    )?;
    let stored =
        tsdb.select_matching(&[strata_tsdb::Matcher::regex("job", "node-.*|blackbox-.*")?])?;
    let mut not_delivered = 0u64;
    let mut at_vm: HashMap<String, &BTreeMap<i64, f64>> = HashMap::new();
    for (key, points) in &by_series {
        let metric: BTreeMap<String, String> = serde_json::from_str(key)?;
        let mut labels: Vec<_> = metric.into_iter().filter(|(k, _)| k != "region").collect();
        labels.sort();
        at_vm.insert(format!("{labels:?}"), points);
    }
    for s in stored {
        let mut labels: Vec<(String, String)> = s.labels.clone().into_iter().collect();
        labels.push(("__name__".into(), s.name.clone()));
        labels.sort();
        let have = at_vm.get(&format!("{labels:?}"));
        for (ts, _) in tsdb.range(s.id, 0, i64::MAX / 2)? {
            if !have.is_some_and(|h| h.contains_key(&ts)) {
                not_delivered += 1;
            }
        }
    }
    drop(receiver);
    let cpu = agent_cpu + member_cpu;
    Ok((
        PathFigures {
            cpu_s_per_million: cpu / total.max(1) as f64 * 1e6,
            peak_rss_bytes: agent_rss + member_rss,
            missing,
            delivered: total,
            cpu_s: cpu,
            scrapes,
        },
        not_delivered,
    ))
}

fn prometheus_path(args: &ForwardBench, dir: &Path, ex: &Exporters) -> anyhow::Result<PathFigures> {
    let bin = which("prometheus", "prometheus")?;
    let vm_dir = dir.join("vm-prometheus");
    let (vm, vm_addr) = victoria(&vm_dir)?;
    let mut receiver = Some(vm);
    let timeout = args.interval.min(Duration::from_secs(5));
    let mut yaml = format!(
        "global:\n  scrape_interval: {}ms\n  scrape_timeout: {}ms\nscrape_configs:\n",
        args.interval.as_millis(),
        timeout.as_millis()
    );
    for j in 1..=args.jobs {
        yaml.push_str(&format!(
            "  - job_name: node-{j}\n    static_configs:\n      - targets: ['{}']\n\
             \x20 - job_name: blackbox-{j}\n    metrics_path: /probe\n    params:\n      module: [http_2xx]\n      target: ['http://{}/']\n    static_configs:\n      - targets: ['{}']\n",
            ex.node.addr, ex.node.addr, ex.blackbox.addr
        ));
    }
    yaml.push_str(&format!(
        "remote_write:\n  - url: http://{vm_addr}/api/v1/write\n    queue_config:\n      min_backoff: 200ms\n      max_backoff: 5s\n"
    ));
    let data = dir.join("prometheus");
    std::fs::create_dir_all(&data)?;
    let config = data.join("prometheus.yml");
    std::fs::write(&config, yaml)?;
    eprintln!("forward: prometheus agent mode, same jobs");
    let (cfg, wal) = (config.clone(), data.join("agent"));
    let peer = Peer::start_on_free_port(
        |addr| {
            let mut c = Command::new(&bin);
            c.arg("--enable-feature=agent")
                .arg(format!("--config.file={}", cfg.display()))
                .arg(format!("--storage.agent.path={}", wal.display()))
                .arg(format!("--web.listen-address={addr}"));
            c
        },
        &dir.join("prometheus.log"),
        |addr| http(addr, "GET", "/-/ready", b"").is_ok_and(|(s, _)| s == 200),
    )?;
    with_outage(&vm_dir, args.duration, args.outage, &mut receiver, &vm_addr)?;
    // caught up: the newest sample sent is the newest taken in
    let prom = peer.addr.clone();
    let gauge = |text: &str, name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    wait_until(
        "Prometheus's queue caught up",
        Duration::from_secs(3600),
        || {
            http(&prom, "GET", "/metrics", b"").is_ok_and(|(_, t)| {
                let sent = gauge(
                    &t,
                    "prometheus_remote_storage_queue_highest_sent_timestamp_seconds",
                );
                let taken = gauge(&t, "prometheus_remote_storage_highest_timestamp_in_seconds");
                taken > 0.0 && sent >= taken - 2.0 * args.interval.as_secs_f64()
            })
        },
    )?;
    let pid = peer.child.id();
    let cpu = process_cpu(pid);
    let rss = peak_rss(&pid.to_string());
    // SIGTERM: Prometheus flushes its queue before it exits
    Command::new("kill").arg(pid.to_string()).status()?;
    let mut peer = peer;
    peer.child.wait()?;
    let (delivered, _) = export(&vm_addr)?;
    let (total, scrapes, missing) = account(&delivered, args.interval);
    drop(receiver);
    Ok(PathFigures {
        cpu_s_per_million: cpu / total.max(1) as f64 * 1e6,
        peak_rss_bytes: rss,
        missing,
        delivered: total,
        cpu_s: cpu,
        scrapes,
    })
}

/// Runs the bench and prints its figures.
pub async fn run(args: ForwardBench) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || run_blocking(args)).await?
}

fn run_blocking(args: ForwardBench) -> anyhow::Result<()> {
    anyhow::ensure!(args.jobs > 0, "--jobs must be at least 1");
    anyhow::ensure!(
        args.outage < args.duration,
        "--outage must be shorter than --duration"
    );
    let work = WorkDir::new(args.dir.as_deref())?;
    let dir = work.path().to_path_buf();
    let ex = exporters(&dir)?;
    let (strata, not_delivered) = strata_path(&args, &dir, &ex)?;
    let prometheus = prometheus_path(&args, &dir, &ex)?;
    let report = Report {
        cpu_ratio: strata.cpu_s_per_million / prometheus.cpu_s_per_million.max(1e-9),
        strata,
        prometheus,
        strata_stored_not_delivered: not_delivered,
        duration_s: args.duration.as_secs_f64(),
        outage_s: args.outage.as_secs_f64(),
        jobs: args.jobs * 2,
        interval_ms: args.interval.as_millis() as u64,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "forward: {} jobs every {} ms for {} s, receiver stopped {} s",
        report.jobs, report.interval_ms, report.duration_s, report.outage_s
    );
    println!(
        "{:<12} {:>14} {:>12} {:>12} {:>10} {:>10}",
        "path", "CPU s/M samp", "peak RSS MB", "delivered", "scrapes", "missing"
    );
    for (name, f) in [
        ("strata", &report.strata),
        ("prometheus", &report.prometheus),
    ] {
        println!(
            "{name:<12} {:>14.2} {:>12.1} {:>12} {:>10} {:>10}",
            f.cpu_s_per_million,
            f.peak_rss_bytes as f64 / 1e6,
            f.delivered,
            f.scrapes,
            f.missing
        );
    }
    println!(
        "strata/prometheus CPU per sample: {:.2}; samples the region stored but VictoriaMetrics lacks: {}",
        report.cpu_ratio, report.strata_stored_not_delivered
    );
    Ok(())
}
