//! `strata bench promql`: Strata's PromQL against Prometheus's on one dataset. The dataset
//! (simulated hosts' metrics and a histogram, every series labelled `region="bench"`) is
//! loaded into Strata's store and, with promtool's backfill, into Prometheus; both answer
//! the same query set (`queries`) over HTTP, each as an instant query and, where it makes
//! sense, as a range query; answers are compared series by series (the same label sets,
//! values equal within 1e-9 relative, NaN with NaN). The counts and both engines' latencies
//! are printed (`--json` for the figures alone), and every difference is listed. The set
//! includes the Node Exporter Full dashboard's queries (`node_exporter_full`): Prometheus
//! holds the dataset's host series under node_exporter's names too, Strata answers those
//! names from its own. Then Grafana's requests and each endpoint's errors are replayed
//! against both (`grafana`), the five slowest queries named.

mod compare;
mod grafana;
mod node_exporter_full;
mod queries;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;
use strata_tsdb::{Tsdb, TsdbOptions};
use strata_web::auth::{Caller, Principal, Role, Scope};

use crate::dataset::{self, Line};
use crate::measure::{WorkDir, http, percentile};

/// The region the dataset's series are given.
const REGION: &str = "bench";

/// Options of `strata bench promql`.
#[derive(Args, Debug)]
pub struct PromqlBench {
    /// Simulated hosts in the generated dataset (about 200 series each).
    #[arg(long, default_value_t = 4)]
    pub hosts: usize,
    /// Hours of simulated time (ending now).
    #[arg(long, default_value_t = 2)]
    pub hours: u64,
    /// Sample interval.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Keep the stores and the dataset here (default: a temporary directory, removed after).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Print the figures as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The figures of a run.
#[derive(Debug, Serialize)]
struct Report {
    queries: usize,
    identical: usize,
    differ: usize,
    unsupported: usize,
    strata_p50_ms: f64,
    strata_p99_ms: f64,
    prometheus_p50_ms: f64,
    prometheus_p99_ms: f64,
    /// Grafana's requests and each endpoint's errors, replayed against both.
    grafana_requests: usize,
    /// Those Strata answered as Prometheus did.
    grafana_identical: usize,
}

/// Adds a histogram (`bench_request_seconds_bucket`, cumulative counters growing at a
/// rate of their own per host) and the region label to the dataset at `path`.
fn complete_dataset(path: &Path) -> anyhow::Result<()> {
    let mut lines = Vec::new();
    let mut hosts = BTreeMap::new();
    let mut times: Vec<i64> = Vec::new();
    dataset::for_each(path, |mut line| {
        line.metric.insert("region".into(), REGION.into());
        if let Some(agent) = line.metric.get("agent") {
            hosts.insert(agent.clone(), ());
        }
        if times.is_empty() {
            times = line.timestamps.clone();
        }
        lines.push(line);
        Ok(())
    })?;
    let bounds = ["0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"];
    for (n, agent) in hosts.keys().enumerate() {
        for (b, le) in bounds.iter().enumerate() {
            let share = (b + 1) as f64 / bounds.len() as f64;
            let per_tick = (n as f64 + 1.0) * 10.0 * share.powf(0.5 + n as f64 * 0.1);
            let values = (0..times.len())
                .map(|i| (i as f64 * per_tick).floor())
                .collect();
            lines.push(Line {
                metric: [
                    ("__name__", "bench_request_seconds_bucket"),
                    ("agent", agent.as_str()),
                    ("le", le),
                    ("region", REGION),
                ]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
                values,
                timestamps: times.clone(),
            });
        }
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for line in &lines {
        serde_json::to_writer(&mut out, line)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Writes the dataset at `data` to `out` with, beside each of Strata's series that
/// node_exporter also has, that series as node_exporter names and labels it (what a
/// Prometheus scraping node_exporter on the same hosts would hold), for Prometheus: Strata
/// answers those names from its own series (`strata_web::promql::node_names`).
fn with_node_names(data: &Path, out: &Path) -> anyhow::Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(out)?);
    dataset::for_each(data, |line| {
        if let Some(metric) = strata_web::promql::node_names::to_node(&line.metric) {
            let node = Line {
                metric,
                values: line.values.clone(),
                timestamps: line.timestamps.clone(),
            };
            serde_json::to_writer(&mut w, &node)?;
            w.write_all(b"\n")?;
        }
        serde_json::to_writer(&mut w, &line)?;
        w.write_all(b"\n")?;
        Ok(())
    })?;
    w.flush()?;
    Ok(())
}

/// Loads the dataset into a store at `dir` (the region label is the source's, not stored).
fn load_strata(dir: &Path, data: &Path) -> anyhow::Result<Arc<Tsdb>> {
    let db = Tsdb::open(dir, TsdbOptions::keep_forever())?;
    crate::tsdb::load(&db, data, &["region"], |_| {})?;
    Ok(Arc::new(db))
}

/// The store's Prometheus HTTP API, served on a port of its own until the returned task
/// is dropped; its address.
async fn serve_strata(db: Arc<Tsdb>) -> anyhow::Result<(String, tokio::task::JoinHandle<()>)> {
    let store = strata_sub_manager::promql::Store::new(db, REGION);
    let caller = Caller {
        principal: Principal {
            name: "bench".into(),
            role: Role::Viewer,
            scope: Scope::All,
        },
        address: String::new(),
    };
    let app = strata_web::promql::http::router(Arc::new(strata_sub_manager::promql::Region(
        Arc::new(store),
    )))
    .layer(axum::Extension(caller));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let task = tokio::spawn(async move {
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, task))
}

/// Prometheus over the dataset backfilled into `dir`.
fn start_prometheus(dir: &Path, data: &Path) -> anyhow::Result<strata_testkit::peer::Peer> {
    let blocks = dir.join("data");
    crate::peers::prometheus::backfill(&blocks, data)?;
    crate::peers::prometheus::server(&blocks, dir)
}

/// `path?query` asked of `addr`: the answer's JSON and the time it took.
fn ask(addr: &str, path: &str) -> anyhow::Result<(serde_json::Value, f64)> {
    let started = Instant::now();
    let (_, body) = http(addr, "GET", path, b"")?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok((
        serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
        ms,
    ))
}

/// Runs `strata bench promql`.
pub async fn run(args: PromqlBench) -> anyhow::Result<()> {
    let work = WorkDir::new(args.work_dir.as_deref())?;
    let dir = work.path().to_path_buf();
    let data = dir.join("dataset.jsonl");
    dataset::generate(&data, args.hosts, args.hours, args.interval)?;
    complete_dataset(&data)?;
    let summary = dataset::summary(&data)?;
    eprintln!(
        "dataset: {} series, {} samples",
        summary.series, summary.samples
    );
    let db = tokio::task::spawn_blocking({
        let (dir, data) = (dir.join("strata"), data.clone());
        move || load_strata(&dir, &data)
    })
    .await??;
    let (strata, _server) = serve_strata(db).await?;
    let theirs = dir.join("prometheus.jsonl");
    with_node_names(&data, &theirs)?;
    let prometheus = tokio::task::spawn_blocking({
        let dir = dir.join("prometheus");
        move || start_prometheus(&dir, &theirs)
    })
    .await??;
    let prom_addr = prometheus.addr.clone();

    // instant queries 10 minutes before the end; range queries over the last hour
    let end = summary.to - 10 * 60 * 1000;
    let secs = |ms: i64| format!("{:.3}", ms as f64 / 1000.0);
    let mut cases = Vec::new();
    let host = strata_agent::sim::agent_id("sim-", 1);
    for e in queries::expressions()
        .into_iter()
        .chain(node_exporter_full::expressions(&host))
    {
        let q = strata_web::auth::policy::percent_encode(&e);
        cases.push((
            e.clone(),
            format!("/api/v1/query?query={q}&time={}", secs(end)),
        ));
        cases.push((
            format!("{e} (range)"),
            format!(
                "/api/v1/query_range?query={q}&start={}&end={}&step=60",
                secs(end - 3_600_000),
                secs(end)
            ),
        ));
    }
    let outcome = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let mut tally = compare::Tally::default();
        let mut times = Vec::new();
        for (name, path) in &cases {
            let (a, a_ms) = ask(&strata, path)?;
            let (b, b_ms) = ask(&prom_addr, path)?;
            times.push((a_ms, b_ms, name.clone()));
            tally.add(name, &a, &b);
        }
        let mut replay = Vec::new();
        let requests = grafana::dashboard(&host, (end - 3_600_000) / 1000, end / 1000)
            .into_iter()
            .chain(grafana::errors(end / 1000));
        for request in requests {
            let a = grafana::ask(&strata, &request)?;
            let b = grafana::ask(&prom_addr, &request)?;
            replay.push((request.name.clone(), grafana::difference(&request, &a, &b)));
        }
        Ok((tally, times, replay))
    })
    .await??;
    drop(prometheus);
    let (tally, mut times, replay) = outcome;
    let mut ours: Vec<f64> = times.iter().map(|t| t.0).collect();
    let mut theirs: Vec<f64> = times.iter().map(|t| t.1).collect();
    ours.sort_by(f64::total_cmp);
    theirs.sort_by(f64::total_cmp);
    times.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (a_ms, b_ms, name) in times.iter().take(5) {
        eprintln!("slowest: {a_ms:.2} ms (prometheus {b_ms:.2} ms): {name}");
    }
    let report = Report {
        queries: tally.queries,
        identical: tally.identical,
        differ: tally.differ.len(),
        unsupported: tally.unsupported.len(),
        strata_p50_ms: percentile(&ours, 0.5),
        strata_p99_ms: percentile(&ours, 0.99),
        prometheus_p50_ms: percentile(&theirs, 0.5),
        prometheus_p99_ms: percentile(&theirs, 0.99),
        grafana_requests: replay.len(),
        grafana_identical: replay.iter().filter(|(_, r)| r.is_ok()).count(),
    };
    for (name, outcome) in &replay {
        if let Err(why) = outcome {
            eprintln!("grafana replay differs: {name}: {why}");
        }
    }
    for (name, why) in tally.differ.iter().chain(&tally.unsupported) {
        eprintln!("differs: {name}: {why}");
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "strata bench promql: {} queries, {} identical ({:.1}%), {} differ, {} unsupported",
            report.queries,
            report.identical,
            100.0 * report.identical as f64 / report.queries.max(1) as f64,
            report.differ,
            report.unsupported
        );
        println!(
            "latency (HTTP, ms): strata p50 {:.2} p99 {:.2}; prometheus 2.42 p50 {:.2} p99 {:.2}",
            report.strata_p50_ms,
            report.strata_p99_ms,
            report.prometheus_p50_ms,
            report.prometheus_p99_ms
        );
        println!(
            "grafana replay: {} of {} requests answered as Prometheus answers them",
            report.grafana_identical, report.grafana_requests
        );
    }
    Ok(())
}
