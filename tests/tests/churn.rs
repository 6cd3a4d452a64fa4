//! One noisy agent never hurts its region.
//!
//! A real agent watches the processes named `churn-*` on a host where a new one, with a
//! name never seen before, starts five times a second and lives one second: six series
//! each, over a thousand in all. Beside it, two simulated agents go on as usual. The
//! agent forgets the series of processes gone for three seconds (`forget_series_after`),
//! and the region's dictionary of it follows: both stay flat while the names pile up,
//! and the other agents' every tick is stored, nothing of theirs left out.
//!
//! Then each limit in turn: the region's per-agent series, label and hourly limits, and the
//! agent's own `max_series`, each counted where an operator looks (`ListAgents`, the
//! admin page's source, and `/metrics` of the agent and of the member).

use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use strata_proto::identity::Role;
use strata_proto::v1::sub_manager_client::SubManagerClient;
use strata_proto::v1::{AgentInfo, ListAgentsRequest};
use strata_testkit::{
    Mesh, Region, block_on, http_get, metric_value, now_ms, stored_values, wait_for,
};
use tonic::transport::Channel;

/// Every agent of region `lab` as its member sees it, by id.
fn agents(sub: &Channel) -> Result<Vec<AgentInfo>, String> {
    block_on(async {
        let mut agents = SubManagerClient::new(sub.clone())
            .list_agents(ListAgentsRequest {
                region: "lab".into(),
            })
            .await
            .map_err(|s| format!("ListAgents: {}", s.message()))?
            .into_inner()
            .agents;
        agents.sort_by(|a, b| a.agent_id.cmp(&b.agent_id));
        Ok(agents)
    })
}

fn agent(sub: &Channel, id: &str) -> Result<AgentInfo, String> {
    agents(sub)?
        .into_iter()
        .find(|a| a.agent_id == id && a.polled_ms > 0)
        .ok_or_else(|| format!("{id} not polled yet"))
}

/// Resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Starts a process named `churn-<n>` every `every` until `stop`, each living `life`;
/// returns how many it started.
fn churn(dir: &Path, every: Duration, life: Duration, stop: Arc<AtomicBool>) -> usize {
    let sleep = ["/bin/sleep", "/usr/bin/sleep"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("sleep(1)");
    let mut running: Vec<Child> = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        // a process's name is its program's file name: a link of its own per process
        let link = dir.join(format!("churn-{n}"));
        std::os::unix::fs::symlink(sleep, &link).expect("link sleep");
        running.push(
            Command::new(&link)
                .arg(format!("{}", life.as_secs_f64()))
                .spawn()
                .expect("start a churning process"),
        );
        n += 1;
        running.retain_mut(|c| !matches!(c.try_wait(), Ok(Some(_))));
        std::thread::sleep(every);
    }
    for mut c in running {
        let _ = c.kill();
        let _ = c.wait();
    }
    n
}

/// Serves `body` as a Prometheus text exposition to every request, for the life of the
/// test process; returns its address.
fn exporter(body: &'static str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an exporter");
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match std::io::Read::read(&mut stream, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = std::io::Write::write_all(&mut stream, answer.as_bytes());
        }
    });
    addr
}

/// A mesh of region `lab` alone, polled and sampled every 500 ms, made of `region`.
fn lab(region: Region) -> Mesh {
    Mesh::builder()
        .brokers(0)
        .super_managers(0)
        .interval(Duration::from_millis(500))
        .sample_interval(Duration::from_millis(500))
        .region(region.listed())
        .start()
}

const AGENT: &str = "id = 'churny'\nmetrics_listen = '127.0.0.1:0'\n";

#[test]
fn a_host_whose_process_names_churn_keeps_both_dictionaries_flat_and_hurts_no_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut mesh = lab(Region::new("lab")
        .member_toml("[poll]\ntimeout = \"1s\"\nbackoff_max = \"300ms\"\n")
        .sim("sim-1", "quiet-", 2)
        .agent(&format!(
            "{AGENT}forget_series_after = '3s'\n\
             [items.processes]\nwatch = ['^churn-']\ninterval = '500ms'\n\
             [items.tcp]\ninterval = '500ms'\n"
        )));
    let member = mesh.region("lab").members[0].addr.clone();
    let member_pid = mesh.region("lab").members[0].pid();
    let sub = mesh.channel(&member, Role::SubManager);
    let agent_pid = mesh.region("lab").agents[0].pid();

    let before = wait_for("every agent polled", Duration::from_secs(30), || {
        let all = agents(&sub)?;
        match all.iter().all(|a| a.polled_ms > 0) && all.len() == 3 {
            true => Ok(all),
            false => Err(format!("{} agents, not all polled", all.len())),
        }
    });
    let quiet_series: Vec<u64> = before[1..].iter().map(|a| a.series).collect();
    let started_ms = now_ms();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicUsize::new(0));
    let churner = {
        let (dir, stop, started) = (dir.path().to_path_buf(), stop.clone(), started.clone());
        std::thread::spawn(move || {
            let n = churn(
                &dir,
                Duration::from_millis(200),
                Duration::from_secs(1),
                stop,
            );
            started.store(n, Ordering::Relaxed);
        })
    };

    // the churn runs 36 s; sizes and memory are read every 2 s after the first 12
    let deadline = Instant::now() + Duration::from_secs(36);
    std::thread::sleep(Duration::from_secs(12));
    let mut agent_sizes = Vec::new();
    let mut region_sizes = Vec::new();
    let rss_then = (rss_kib(agent_pid), rss_kib(member_pid));
    while Instant::now() < deadline {
        let churny = agent(&sub, "churny").expect("the churning agent listed");
        let buffer = churny.buffer.expect("polled");
        agent_sizes.push(buffer.series);
        region_sizes.push(churny.series);
        std::thread::sleep(Duration::from_secs(2));
    }
    let rss_now = (rss_kib(agent_pid), rss_kib(member_pid));
    stop.store(true, Ordering::Relaxed);
    churner.join().expect("the churning thread");
    let names = started.load(Ordering::Relaxed);

    let churny = agent(&sub, "churny").unwrap();
    let buffer = churny.buffer.unwrap();
    let first = before[0].buffer.unwrap().series;
    eprintln!(
        "{names} process names; agent dictionary {first} before, {agent_sizes:?} after \
         (forgot {}), region's {region_sizes:?}; RSS KiB agent {} -> {}, member {} -> {}",
        buffer.series_forgotten_total, rss_then.0, rss_now.0, rss_then.1, rss_now.1
    );
    assert!(names >= 150, "only {names} processes started");
    // six series per name would have added 6 * names (over 1,000); forgetting keeps those
    // alive or gone for less than five seconds (three idle, then a check every second),
    // 6 * 5 * 5 at five names a second, and idle ones up to a quarter of the dictionary
    let bound = (first + 6 * 5 * 5) * 4 / 3;
    assert!(
        buffer.series_forgotten_total >= 6 * (names as u64) / 2,
        "forgot {} of {} series",
        buffer.series_forgotten_total,
        6 * names
    );
    for (what, sizes) in [("agent's", &agent_sizes), ("region's", &region_sizes)] {
        assert!(
            sizes.iter().all(|&s| s <= bound),
            "the {what} dictionary grew past {bound}: {sizes:?}"
        );
        // and it does not creep up: the last readings peak no higher than the first
        let third = sizes.len() / 3;
        let peak = |s: &[u64]| s.iter().copied().max().unwrap_or(0);
        assert!(
            peak(&sizes[2 * third..]) <= peak(&sizes[..third]) + 6 * 5 * 3,
            "the {what} dictionary creeps up: {sizes:?}"
        );
    }
    // flat: the agent's memory did not grow with the names (a dictionary that kept them
    // would hold ~1,000 more series of labels and keys, in both tables)
    assert!(
        rss_now.0 <= rss_then.0 + 2048,
        "the agent's RSS grew from {} to {} KiB",
        rss_then.0,
        rss_now.0
    );
    // nothing of the churning agent was left out by the region's limits either
    assert_eq!(
        (churny.series_over_limit, churny.series_over_hourly_limit),
        (0, 0)
    );

    // the quiet agents: every tick since the churn began stored, no series left out
    let quiet = &agents(&sub).unwrap()[1..];
    for (a, series_before) in quiet.iter().zip(&quiet_series) {
        assert_eq!(
            a.series, *series_before,
            "{}: its dictionary moved",
            a.agent_id
        );
        assert_eq!(
            (
                a.series_over_limit,
                a.series_over_label_limit,
                a.series_over_hourly_limit,
                a.samples_dropped_total
            ),
            (0, 0, 0, 0),
            "{}",
            a.agent_id
        );
        let host = format!("lab/{}", a.agent_id);
        let stored = stored_values(&sub, &host, "sim_sample_number", started_ms).unwrap();
        assert!(stored.len() >= 60, "{}: {} ticks", a.agent_id, stored.len());
        assert!(
            stored.windows(2).all(|w| w[1] == w[0] + 1.0),
            "{}: a tick missing: {stored:?}",
            a.agent_id
        );
    }
}

#[test]
fn each_limit_leaves_out_what_passes_it_and_counts_it_where_operators_look() {
    let mut mesh = lab(Region::new("lab")
        .member_toml(
            "metrics_listen = '127.0.0.1:0'\n[poll]\ntimeout = \"1s\"\n\
             max_series_per_agent = 60\nmax_labels_per_series = 4\n\
             max_new_series_per_agent_hour = 100\n",
        )
        .sim("sim-1", "quiet-", 1)
        .agent(&format!("{AGENT}max_series = 300\n"))
        .agent(&format!(
            "id = 'wide'\n[[scrape]]\njob = 'wide'\nurl = 'http://{}/metrics'\n\
             interval = '500ms'\n",
            exporter("# TYPE wide_total counter\nwide_total{a=\"1\",b=\"2\"} 7\n")
        )));
    let member = &mesh.region("lab").members[0];
    let (addr, member_metrics) = (
        member.addr.clone(),
        member
            .field("metrics")
            .expect("the member's metrics address"),
    );
    let sub = mesh.channel(&addr, Role::SubManager);
    let agent_metrics = mesh.region("lab").agents[0]
        .field("metrics")
        .expect("the agent's metrics address");

    // churny refuses its own series past 300, and of those the region stores 60
    let churny = wait_for("churny's limits counted", Duration::from_secs(30), || {
        let a = agent(&sub, "churny")?;
        let b = a.buffer.unwrap_or_default();
        match (b.series_refused_total, a.series_over_limit) {
            (r, s) if r > 0 && s > 0 => Ok(a),
            counts => Err(format!("refused, over series: {counts:?}")),
        }
    });
    assert_eq!(churny.buffer.unwrap().series, 300);
    assert_eq!(
        churny.series - churny.series_over_limit - churny.series_over_label_limit,
        60,
        "{churny:?}"
    );
    assert!(churny.samples_dropped_total > 0);
    // wide scrapes a series with two labels of its own, `job` and `instance`: more than
    // four with `agent`
    let wide = wait_for(
        "wide's label limit counted",
        Duration::from_secs(30),
        || {
            let a = agent(&sub, "wide")?;
            match a.series_over_label_limit {
                0 => Err(format!("{a:?}")),
                _ => Ok(a),
            }
        },
    );
    assert_eq!(wide.buffer.unwrap().series_refused_total, 0);
    // the quiet agent stores all of its series
    let quiet = wait_for("the quiet agent polled", Duration::from_secs(10), || {
        agent(&sub, "quiet-0001")
    });
    assert_eq!(
        (
            quiet.series_over_limit,
            quiet.series_over_label_limit,
            quiet.samples_dropped_total
        ),
        (0, 0, 0)
    );

    let (_, text) = http_get(&member_metrics, "/metrics").expect("member /metrics");
    assert!(
        metric_value(&text, "strata_sub_manager_series_over_agent_limit").unwrap()
            >= (churny.series_over_limit + wide.series_over_limit) as f64
    );
    assert_eq!(
        metric_value(&text, "strata_sub_manager_agents_over_limits"),
        Some(2.0)
    );
    assert!(metric_value(&text, "strata_sub_manager_series_over_label_limit").unwrap() > 0.0);
    assert!(metric_value(&text, "strata_sub_manager_agent_series_refused").unwrap() > 0.0);
    let (_, text) = http_get(&agent_metrics, "/metrics").expect("agent /metrics");
    assert!(
        metric_value(&text, "strata_agent_series_refused_total{agent=\"churny\"}").unwrap() > 0.0
    );
    assert_eq!(
        metric_value(&text, "strata_agent_dictionary_series{agent=\"churny\"}"),
        Some(300.0)
    );
}

#[test]
fn the_hourly_limit_keeps_a_churning_agent_from_filling_the_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut mesh = lab(Region::new("lab")
        .member_toml("[poll]\ntimeout = \"1s\"\nmax_new_series_per_agent_hour = 700\n")
        .agent(&format!(
            "{AGENT}forget_series_after = '2s'\n\
             [items.processes]\nwatch = ['^churn-']\ninterval = '500ms'\n"
        )));
    let addr = mesh.region("lab").members[0].addr.clone();
    let sub = mesh.channel(&addr, Role::SubManager);
    let first = wait_for("the agent polled", Duration::from_secs(30), || {
        agent(&sub, "churny")
    });
    assert_eq!(
        first.series_over_hourly_limit, 0,
        "its own series fit the hour: {first:?}"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let churner = {
        let (dir, stop) = (dir.path().to_path_buf(), stop.clone());
        std::thread::spawn(move || {
            churn(
                &dir,
                Duration::from_millis(100),
                Duration::from_millis(500),
                stop,
            )
        })
    };
    // its host series (about 550) and the first names fill the hour's 700; later names
    // are left out
    let limited = wait_for("the hourly limit reached", Duration::from_secs(40), || {
        let a = agent(&sub, "churny")?;
        match a.series_over_hourly_limit {
            0 => Err(format!("{} series, none over", a.series)),
            _ => Ok(a),
        }
    });
    stop.store(true, Ordering::Relaxed);
    let names = churner.join().expect("the churning thread");
    eprintln!("{names} names; {limited:?}");
    assert!(limited.samples_dropped_total > 0);
}
