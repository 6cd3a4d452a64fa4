//! Load isolation: a sub-manager given more polling than it can keep up with (one poll at a
//! time, hundreds of agents sampling four times a second) still answers its regional API
//! promptly, shows the overload (late polls, an ingest lag past the interval), keeps its
//! memory bounded, and loses no sample: the backlog waits in the agents' buffers.

use std::time::{Duration, Instant};

use strata_proto::identity::{Expect, Role};
use strata_proto::v1::sub_manager_client::SubManagerClient;
use strata_testkit::ticks::{ticks, ticks_query};
use strata_testkit::{Mesh, Proc, Region, http_get, wait_for};

const AGENTS: usize = 800;

/// The value of the unlabelled `metric` at the `/metrics` of `member` (its address).
fn metric(member: &str, name: &str) -> f64 {
    let (_, text) = http_get(member, "/metrics").unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Observations of the ingest lag at or below `le` seconds, and all of them.
fn lag_at_most(member: &str, le: &str) -> (f64, f64) {
    let bucket = |le: &str| {
        metric(
            member,
            &format!("strata_sub_manager_ingest_lag_seconds_bucket{{le=\"{le}\"}}"),
        )
    };
    (bucket(le), bucket("+Inf"))
}

/// Resident memory of process `pid`, in bytes.
fn rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[test]
fn an_overloaded_member_answers_its_api_shows_the_overload_and_loses_nothing() {
    let mut mesh = Mesh::builder()
        .interval(Duration::from_millis(250))
        .super_managers(0)
        .region(
            Region::new("west")
                .consoles()
                .member_toml(
                    "metrics_listen = \"127.0.0.1:0\"\n\
                     [poll]\nconcurrency = 1\nworkers = 1\ntimeout = \"5s\"\n",
                )
                .sim("sim", "sim-", AGENTS),
        )
        .start();
    let (member, console, pid, addr) = {
        let m: &Proc = &mesh.region("west").members[0];
        (
            m.field("metrics").expect("metrics_listen"),
            strata_tests::console_addr(m),
            m.pid(),
            m.addr.clone(),
        )
    };
    wait_for("every agent assigned", Duration::from_secs(30), || {
        match metric(&member, "strata_sub_manager_assigned_agents") as usize {
            AGENTS => Ok(()),
            n => Err(format!("{n} agents")),
        }
    });

    // fifteen seconds of overload: the API is asked all along, the memory read
    let started = Instant::now();
    let (mut took, mut peak, mut first_rss) = (Vec::new(), 0u64, 0u64);
    let host = "/api/v1/resources/west/sim-0200/metrics?name=sim_sample_number&period=5m";
    while started.elapsed() < Duration::from_secs(15) {
        for path in [
            "/api/v1/resources",
            host,
            "/api/v1/query?query=count(sim_sample_number)",
        ] {
            let t = Instant::now();
            let (status, body) = http_get(&console, path).unwrap();
            assert_eq!(status, 200, "{path}: {body}");
            took.push(t.elapsed());
        }
        let now = rss(pid);
        if first_rss == 0 && started.elapsed() > Duration::from_secs(3) {
            first_rss = now;
        }
        peak = peak.max(now);
        std::thread::sleep(Duration::from_millis(200));
    }
    took.sort();
    let p99 = took[(took.len() - 1) * 99 / 100];
    eprintln!(
        "{} API requests under overload: p50 {:?}, p99 {:?}; member RSS {} MB after 3 s, peak {} MB",
        took.len(),
        took[took.len() / 2],
        p99,
        first_rss >> 20,
        peak >> 20
    );
    // (1) the API answers within its bound, polling on runtime threads of its own
    assert!(
        p99 < Duration::from_secs(2),
        "the API waited on the polls: p99 {p99:?}"
    );
    // (2) the overload shows: polls late, samples stored more than an interval old
    let late = metric(&member, "strata_sub_manager_polls_late_total");
    let (in_time, all) = lag_at_most(&member, "0.25");
    eprintln!("{late} polls late; {in_time} of {all} samples stored within the interval");
    assert!(late > AGENTS as f64, "{late} polls counted late");
    assert!(
        in_time < 0.5 * all,
        "{in_time} of {all} samples stored within the interval: no overload to see"
    );
    // (3) memory stays bounded: the backlog is in the agents' buffers, not here
    assert!(
        peak < first_rss + (64 << 20),
        "the member grew from {} MB to {} MB",
        first_rss >> 20,
        peak >> 20
    );

    // (4) nothing lost: every agent's ticks stored so far run 1..=last with no hole
    let channel = mesh.ca().channel_as(
        (Role::SuperManager, "", "test"),
        &addr,
        Expect::Role(Role::SubManager),
    );
    let answer = strata_testkit::block_on(async move {
        SubManagerClient::new(channel)
            .max_decoding_message_size(256 << 20)
            .query_range(ticks_query("west", Vec::new()))
            .await
    })
    .unwrap()
    .into_inner();
    assert_eq!(answer.series.len(), AGENTS, "an agent with nothing stored");
    let mut stored = 0;
    for series in &answer.series {
        let ticks = ticks(series);
        let last = *ticks.last().unwrap();
        assert_eq!(
            ticks.len() as u64,
            last,
            "{:?}: ticks missing below {last}",
            series.labels
        );
        stored += last;
    }
    eprintln!("{stored} ticks stored, none missing");
}
