//! `strata bench overview`: the super-manager's answers at enterprise scale — 100 regions of
//! 1,000 hosts each and 200 services — timed from its REST API.
//!
//! The regions are simulated as WatchRegion streams: a small broker of the bench's own lists
//! one sub-manager per region and answers each member's stream with a snapshot of its hosts
//! (a few of them down or with incidents), then changes a host now and then, as a region
//! would. The super-manager is the real library, with its store in a temporary directory and
//! the 200 services in a services file.

mod regions;

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use strata_proto::v1::broker_server::BrokerServer;
use strata_proto::v1::sub_manager_server::SubManagerServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::measure::{http, percentile};
use regions::{FakeRegions, PROBE, probe_run, region_name};
use strata_super_manager::SuperManagerConfig;

/// Options of `strata bench overview`.
#[derive(Args, Debug)]
pub struct OverviewBench {
    /// Simulated regions.
    #[arg(long, default_value_t = 100)]
    pub regions: usize,
    /// Hosts per region.
    #[arg(long, default_value_t = 1000)]
    pub resources: usize,
    /// Services.
    #[arg(long, default_value_t = 200)]
    pub services: usize,
    /// Requests timed per kind.
    #[arg(long, default_value_t = 200)]
    pub requests: usize,
    /// Hosts per region running an HTTP probe (their runs stream to the centre's QoS store).
    #[arg(long, default_value_t = 50)]
    pub probes: usize,
    /// How often each probe runs.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    pub probe_every: Duration,
    /// Print the figures as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What `--json` prints.
#[derive(Debug, Serialize)]
pub struct OverviewFigures {
    pub overview_p50_ms: f64,
    pub overview_p99_ms: f64,
    /// GET /api/v1/services: every service with its health.
    pub service_p99_ms: f64,
    /// GET /api/v1/services/{name}: one service down to its hosts and their incidents.
    pub drill_p99_ms: f64,
    pub service_p50_ms: f64,
    pub drill_p50_ms: f64,
    /// GET /api/v1/services/{name}/qos: a service's response time over the last hour.
    pub qos_p99_ms: f64,
    pub qos_p50_ms: f64,
    /// Probe runs the super-manager recorded per second while the requests were timed.
    pub probe_runs_per_second: f64,
    /// Probe runs the regions sent per second.
    pub probe_runs_sent_per_second: f64,
    /// Probe runs one QoS store records per second on its own (the centre's ceiling).
    pub qos_store_runs_per_second: f64,
    pub regions: usize,
    pub resources: usize,
    pub services: usize,
    /// This process's resident memory grown while the super-manager took the regions in
    /// (the simulated regions are generated as they are streamed), per 1,000 resources.
    pub rss_bytes_per_1000_resources: f64,
    /// This process's peak resident memory, simulated regions included.
    pub peak_rss_bytes: u64,
    /// From a restart of the super-manager (same data) until every region's stream is open
    /// again and every host is counted.
    pub resubscribe_s: f64,
}

/// The services file: service i has a web tier of 50 hosts in one region, a database host in
/// the next, and the probes of its region in front; nine in ten depend on the next service.
fn services_file(services: usize, regions: usize) -> String {
    let mut out = String::new();
    for i in 0..services {
        out.push_str(&format!(
            "[[services]]\nname = \"svc-{i:03}\"\n{}\
             [[services.components]]\nname = \"web\"\nregion = \"{}\"\nhost = \"~host-0{}[0-4][0-9]\"\n\
             [[services.components]]\nname = \"db\"\nregion = \"{}\"\nhost = \"host-0500\"\n\
             [[services.components]]\nname = \"front\"\nregion = \"{}\"\ncheck = \"{PROBE}\"\n\n",
            if i % 10 != 9 && i + 1 < services {
                format!("depends_on = [\"svc-{:03}\"]\n", i + 1)
            } else {
                String::new()
            },
            region_name(i % regions),
            i % 10,
            region_name((i + 1) % regions),
            region_name(i % regions),
        ));
    }
    out
}

/// The value of the unlabelled `metric` at the /metrics of the super-manager at `addr`.
fn metric(addr: &str, metric: &str) -> anyhow::Result<f64> {
    let (_, body) = http(addr, "GET", "/metrics", b"")?;
    crate::measure::metric_value(&body, metric).with_context(|| format!("no {metric} in /metrics"))
}

/// The probe runs the super-manager at `addr` has recorded.
fn recorded_runs(addr: &str) -> anyhow::Result<f64> {
    metric(addr, "strata_super_manager_probe_runs_recorded_total")
}

/// Waits until the super-manager at `addr` has opened a stream for each of `regions` (at
/// most ten minutes).
async fn every_region_followed(addr: &str, regions: usize) -> anyhow::Result<()> {
    let addr = addr.to_string();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let opened = metric(&addr, "strata_super_manager_region_streams_opened_total")
                .unwrap_or(0.0) as usize;
            if opened >= regions {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "only {opened} of {regions} region streams open after 600 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await?
}

/// How many probe runs per second a QoS store in `dir` records on its own (100,000 runs of
/// 1,000 probes).
fn qos_store_rate(dir: std::path::PathBuf) -> anyhow::Result<f64> {
    let store = strata_super_manager::qos::QosStore::open(
        strata_tsdb::Journal::open(&dir, 1)?,
        strata_super_manager::qos::Retention::default(),
    )?;
    let now = strata_proto::now_ms();
    let started = Instant::now();
    let n = 100_000;
    for i in 0..n {
        store.record(&probe_run(
            i % 10,
            i % 1000,
            now - 3_600_000 + i as i64 * 30,
        ))?;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// Times `requests` GETs of `path`, in milliseconds, sorted.
fn time(addr: &str, path: &str, requests: usize) -> anyhow::Result<Vec<f64>> {
    let mut times = Vec::with_capacity(requests);
    for _ in 0..requests {
        let started = Instant::now();
        let (status, body) = http(addr, "GET", path, b"")?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(status == 200, "GET {path}: {status}: {body}");
    }
    times.sort_by(f64::total_cmp);
    Ok(times)
}

/// Waits until the super-manager at `addr` counts `total` hosts (at most ten minutes).
async fn every_host_counted(addr: &str, total: u64) -> anyhow::Result<()> {
    let addr = addr.to_string();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(600);
        let mut reported = Instant::now();
        loop {
            let seen = match http(&addr, "GET", "/api/v1/overview", b"") {
                Ok((200, body)) => {
                    let v: serde_json::Value = serde_json::from_str(&body)?;
                    v["regions"]
                        .as_array()
                        .map(|rs| {
                            rs.iter()
                                .map(|r| r["resources"]["total"].as_u64().unwrap_or(0))
                                .sum()
                        })
                        .unwrap_or(0)
                }
                // not serving yet (a restart)
                _ => 0,
            };
            if seen == total {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "only {seen} of {total} hosts after 600 s"
            );
            if reported.elapsed() > Duration::from_secs(15) {
                eprintln!("  {seen} of {total} hosts counted");
                reported = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    })
    .await?
}

/// Runs `strata bench overview`.
pub async fn run(args: OverviewBench) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.regions > 0 && args.resources > 500,
        "--regions > 0 and --resources > 500"
    );
    let dir = tempfile::tempdir().context("create a temporary directory")?;
    let shutdown = CancellationToken::new();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let broker_addr = listener.local_addr()?.to_string();
    anyhow::ensure!(
        args.probes <= args.resources,
        "--probes is at most --resources"
    );
    let store_rate = qos_store_rate(dir.path().join("qos-alone"))?;
    let fake = FakeRegions {
        regions: args.regions,
        hosts: args.resources,
        probes: args.probes,
        probe_every: args.probe_every,
    };
    let stop = shutdown.clone();
    let broker = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(BrokerServer::new(fake.clone()))
            .add_service(
                SubManagerServer::new(fake)
                    .max_encoding_message_size(256 << 20)
                    .max_decoding_message_size(256 << 20),
            )
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                stop.cancelled_owned(),
            ),
    );
    let services_path = dir.path().join("services.toml");
    std::fs::write(&services_path, services_file(args.services, args.regions))?;
    // the bench's requests go as the test kit's admin
    strata_testkit::access::seed(&dir.path().join("super"))?;
    let rss_before = crate::measure::rss("self");
    let config = strata_super_manager::SuperManagerConfig {
        http: "127.0.0.1:0".into(),
        brokers: vec![broker_addr],
        data_dir: dir.path().join("super"),
        services_file: Some(services_path),
        // the regions are simulated by a plaintext stand-in broker: this bench measures the
        // overview's aggregation, not the links
        tls: strata_proto::identity::TlsConfig {
            insecure: true,
            ..Default::default()
        },
        grpc_listen: Some(String::new()),
        ..Default::default()
    };
    let bound = strata_super_manager::bind(config.clone()).await?;
    let http_addr = bound.local_addr().to_string();
    let sup_stop = CancellationToken::new();
    let stop = sup_stop.clone();
    let sup = tokio::spawn(async move { bound.run(stop).await });
    let total = (args.regions * args.resources) as u64;
    eprintln!(
        "overview: waiting for {total} hosts of {} regions",
        args.regions
    );
    every_host_counted(&http_addr, total).await?;
    let rss_loaded = crate::measure::rss("self");
    eprintln!("overview: timing {} requests of each kind", args.requests);
    let addr = http_addr.clone();
    let requests = args.requests;
    let (overview, list, drill, qos, (recorded, seconds)) =
        tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let started = (Instant::now(), recorded_runs(&addr)?);
            let timed = (
                time(&addr, "/api/v1/overview", requests)?,
                time(&addr, "/api/v1/services", requests)?,
                time(&addr, "/api/v1/services/svc-042", requests)?,
                time(&addr, "/api/v1/services/svc-042/qos?period=1h", requests)?,
            );
            let recorded = recorded_runs(&addr)? - started.1;
            Ok((
                timed.0,
                timed.1,
                timed.2,
                timed.3,
                (recorded, started.0.elapsed().as_secs_f64()),
            ))
        })
        .await??;
    // the centre restarts on its data: every region's stream opens again from its cursor
    sup_stop.cancel();
    let _ = sup.await;
    eprintln!("overview: restarting the super-manager");
    let restarted = Instant::now();
    let bound = strata_super_manager::bind(SuperManagerConfig {
        http: http_addr.clone(),
        ..config
    })
    .await?;
    let stop = shutdown.clone();
    let sup = tokio::spawn(async move { bound.run(stop).await });
    every_host_counted(&http_addr, total).await?;
    every_region_followed(&http_addr, args.regions).await?;
    let resubscribe_s = restarted.elapsed().as_secs_f64();
    shutdown.cancel();
    let _ = sup.await;
    let _ = broker.await;
    let figures = OverviewFigures {
        overview_p50_ms: percentile(&overview, 0.5),
        overview_p99_ms: percentile(&overview, 0.99),
        service_p50_ms: percentile(&list, 0.5),
        service_p99_ms: percentile(&list, 0.99),
        drill_p50_ms: percentile(&drill, 0.5),
        drill_p99_ms: percentile(&drill, 0.99),
        qos_p50_ms: percentile(&qos, 0.5),
        qos_p99_ms: percentile(&qos, 0.99),
        probe_runs_per_second: recorded / seconds,
        probe_runs_sent_per_second: (args.regions * args.probes) as f64
            / args.probe_every.as_secs_f64(),
        qos_store_runs_per_second: store_rate,
        regions: args.regions,
        resources: args.regions * args.resources,
        services: args.services,
        rss_bytes_per_1000_resources: rss_loaded.saturating_sub(rss_before) as f64
            / (total as f64 / 1000.0),
        peak_rss_bytes: crate::measure::peak_rss("self"),
        resubscribe_s,
    };
    if args.json {
        println!("{}", serde_json::to_string(&figures)?);
    } else {
        println!(
            "super-manager at {} regions x {} hosts, {} services ({} requests each)",
            args.regions, args.resources, args.services, args.requests
        );
        println!(
            "  overview            p50 {:.1} ms  p99 {:.1} ms",
            figures.overview_p50_ms, figures.overview_p99_ms
        );
        println!(
            "  services (all)      p50 {:.1} ms  p99 {:.1} ms",
            figures.service_p50_ms, figures.service_p99_ms
        );
        println!(
            "  service drill-down  p50 {:.1} ms  p99 {:.1} ms",
            figures.drill_p50_ms, figures.drill_p99_ms
        );
        println!(
            "  service QoS (1 h)   p50 {:.1} ms  p99 {:.1} ms",
            figures.qos_p50_ms, figures.qos_p99_ms
        );
        println!(
            "  probe runs: {:.0}/s recorded of {:.0}/s sent; one QoS store alone records {:.0}/s",
            figures.probe_runs_per_second,
            figures.probe_runs_sent_per_second,
            figures.qos_store_runs_per_second
        );
        println!(
            "  memory: {:.0} KB per 1,000 resources (peak {:.0} MB, simulated regions included); \
             every region followed again {:.1} s after a restart",
            figures.rss_bytes_per_1000_resources / 1e3,
            figures.peak_rss_bytes as f64 / 1e6,
            figures.resubscribe_s
        );
    }
    Ok(())
}
