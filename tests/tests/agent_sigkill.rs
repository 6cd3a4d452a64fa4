//! Agents killed with SIGKILL ten times while they are polled lose nothing and count
//! nothing twice, because their buffer and their log checks' places are kept on disk.
//!
//! A simulator with `--state-dir` serves two agents whose `sim_sample_number` counts their
//! ticks: the region must store exactly the ticks 1..=n of each, in order, none missing and
//! none twice, across the ten lives. A real agent with `state_dir` follows a log file that a
//! writer appends to all along: its line counters, stored after each run, must never go
//! back (a counter reset would mean the place was lost) and must end at exactly the lines
//! written, by severity (a line read again would count twice, a skipped one not at all: a
//! log check opens its file at the end, unless it resumes a place).

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use strata_proto::identity::Role;
use strata_proto::v1::sub_manager_client::SubManagerClient;
use strata_proto::v1::{Label, QueryRangeRequest};
use strata_testkit::{Mesh, Region, block_on, now_ms, wait_for};
use tonic::transport::Channel;

/// The raw points `(ts, value)` of `name` (with `matchers`) of host `host` stored in "lab".
fn stored(
    sub: &Channel,
    host: &str,
    name: &str,
    matchers: &[(&str, &str)],
) -> Result<Vec<(i64, f64)>, String> {
    block_on(async {
        let answer = SubManagerClient::new(sub.clone())
            .query_range(QueryRangeRequest {
                region: "lab".into(),
                resource_id: format!("lab/{host}"),
                name: name.into(),
                matchers: matchers
                    .iter()
                    .map(|(n, v)| Label {
                        name: n.to_string(),
                        value: v.to_string(),
                    })
                    .collect(),
                from_ms: 0,
                to_ms: now_ms() + 60_000,
                ..Default::default()
            })
            .await
            .map_err(|s| format!("QueryRange {host} {name}: {}", s.message()))?
            .into_inner();
        let mut points: Vec<(i64, f64)> = answer
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| (p.ts_ms, p.value)))
            .collect();
        points.sort_by_key(|p| p.0);
        Ok(points)
    })
}

/// Appends lines to `path` until `stop`: `info`, `warn` and `FATAL` in turn; gives how many
/// of each it wrote.
fn write_lines(path: std::path::PathBuf, stop: Arc<AtomicBool>) -> [u64; 3] {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open the log");
    let mut written = [0u64; 3];
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let (kind, text) = [(0, "info"), (1, "warn"), (2, "FATAL")][n % 3];
        writeln!(file, "{text} line {n}").expect("append to the log");
        written[kind] += 1;
        n += 1;
        std::thread::sleep(Duration::from_millis(7));
    }
    written
}

#[test]
fn agents_killed_ten_times_lose_and_repeat_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("app.log");
    std::fs::write(&log, b"").expect("create the log");
    let state = dir.path().join("agent-state");
    let mut mesh = Mesh::builder()
        .brokers(0)
        .super_managers(0)
        .interval(Duration::from_millis(300))
        .sample_interval(Duration::from_millis(200))
        .region(
            Region::new("lab")
                .member_toml("[poll]\ntimeout = \"1s\"\nbackoff_max = \"300ms\"\n")
                .durable_sim("sim-1", "sim-", 2)
                .agent(&format!(
                    "id = 'web-1'\nstate_dir = '{}'\nbuffer_sync_interval = '500ms'\n\
                     [[checks]]\nname = 'app-log'\nkind = 'log'\npath = '{}'\n\
                     interval = '250ms'\n\
                     rules = [{{ pattern = 'FATAL', severity = 'critical' }}, \
                     {{ pattern = 'warn', severity = 'warning' }}]\n",
                    state.display(),
                    log.display()
                ))
                .listed(),
        )
        .start();
    let addr = mesh.region("lab").members[0].addr.clone();
    let sub = mesh.channel(&addr, Role::SubManager);

    // the check opens the file at its end in its first life: lines before that are not its
    wait_for(
        "the log check's first run stored",
        Duration::from_secs(20),
        || match stored(&sub, "web-1", "strata_check_log_lines_total", &[])?.len() {
            0 => Err("no run stored".to_string()),
            _ => Ok(()),
        },
    );
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (log, stop) = (log.clone(), stop.clone());
        std::thread::spawn(move || write_lines(log, stop))
    };
    for round in 0..10u64 {
        // lives of uneven length, so that the kills fall at different points of a cycle
        std::thread::sleep(Duration::from_millis(600 + (round * 317) % 700));
        let region = mesh.region("lab");
        region.sim("sim-1").restart();
        region.agents[0].restart();
    }
    std::thread::sleep(Duration::from_millis(800));
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().expect("the writer thread");

    // every tick of both simulated agents, in order, once
    for host in ["sim-0001", "sim-0002"] {
        let ticks = wait_for(
            &format!("{host}: forty ticks stored"),
            Duration::from_secs(30),
            || {
                let points = stored(&sub, host, "sim_sample_number", &[])?;
                if points.len() >= 40 {
                    Ok(points)
                } else {
                    Err(format!("{} ticks", points.len()))
                }
            },
        );
        let values: Vec<f64> = ticks.iter().map(|p| p.1).collect();
        let expected: Vec<f64> = (1..=values.len()).map(|t| t as f64).collect();
        assert_eq!(
            values, expected,
            "{host}: a tick is missing or stored twice"
        );
    }

    // the log check's counters end at exactly what was written, and never went back
    let severities = ["ok", "warning", "critical"];
    let finals = wait_for(
        "the log check counted every line written",
        Duration::from_secs(20),
        || {
            let mut finals = Vec::new();
            for severity in severities {
                let points = stored(
                    &sub,
                    "web-1",
                    "strata_check_log_lines_total",
                    &[("severity", severity)],
                )?;
                finals.push(points);
            }
            let last: Vec<u64> = finals
                .iter()
                .map(|p| p.last().map_or(0, |l| l.1 as u64))
                .collect();
            if last == written {
                Ok(finals)
            } else {
                Err(format!("stored {last:?}, written {written:?}"))
            }
        },
    );
    for (severity, points) in severities.iter().zip(&finals) {
        for pair in points.windows(2) {
            assert!(
                pair[1].1 >= pair[0].1,
                "{severity} lines went back from {} to {}: the place in the file was lost",
                pair[0].1,
                pair[1].1
            );
        }
    }
    let agent_log = mesh.region("lab").agents[0].log_text();
    assert_eq!(
        agent_log.matches("buffer resumed from disk").count(),
        11,
        "each of the agent's lives opened the buffer on disk"
    );
}
