//! Bad input never kills or stalls the agent. The real `strata-agent` binary runs checks fed
//! with binary garbage and 1 MB lines, a script that never exits, one that forks children
//! that outlive it, and a probe of a port that never answers; it must go on answering polls
//! with a judged result for each. Then a sub-manager's pushes (one bad, one good) through
//! `Agent.Configure`, a live `Agent.Snapshot`, and a config with a wrongly typed key, which
//! must be refused with the key named.

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use strata_proto::identity::{Expect, Role};
use strata_proto::v1::agent_client::AgentClient;
use strata_proto::v1::{
    CheckResult, CheckState, ConfigureRequest, DescribeRequest, PollRequest, SnapshotRequest,
};
use strata_testkit::{MeshCa, Proc, bin, wait_for, write_config};
use tonic::transport::Channel;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The latest check results of the agent at `addr`, by one poll that names no cursor.
fn checks(rt: &tokio::runtime::Runtime, agent: &Channel) -> Result<Vec<CheckResult>, String> {
    rt.block_on(async {
        let mut c = AgentClient::new(agent.clone());
        let started = Instant::now();
        let r = tokio::time::timeout(
            Duration::from_secs(5),
            c.poll(PollRequest {
                poller: "test".into(),
                max_samples: 10,
                ..Default::default()
            }),
        )
        .await
        .map_err(|_| "poll stalled for 5 s".to_string())?
        .map_err(|s| format!("poll: {}", s.message()))?;
        if started.elapsed() > Duration::from_secs(2) {
            return Err(format!("poll took {:?}", started.elapsed()));
        }
        Ok(r.into_inner().checks)
    })
}

fn find<'a>(results: &'a [CheckResult], name: &str) -> Result<&'a CheckResult, String> {
    results
        .iter()
        .find(|c| c.name == name)
        .ok_or_else(|| format!("no result yet for '{name}'"))
}

#[test]
fn bad_input_is_judged_and_never_stalls_the_agent() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let log = dir.join("app.log");
    std::fs::write(&log, b"").unwrap();
    let forked_pid = dir.join("forked.pid");
    // a duration no other process uses, to find this test's sleepers
    let sleeper = format!("3600.{}", std::process::id());
    // accepts connections (the kernel does) but never reads or writes
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let ca = MeshCa::open(dir).unwrap();
    let tls = ca.node(Role::Agent, "lab", "bad-input").unwrap();
    let config = format!(
        r#"id = "bad-input"
listen = "127.0.0.1:0"
collect_interval = "1s"

[[checks]]
name = "applog"
kind = "log"
path = "{log}"
interval = "1s"
max_line_bytes = 4096
rules = [{{ pattern = "PANIC", severity = "critical" }}, {{ pattern = "WARN", severity = "warning" }}]

[[checks]]
name = "never-exits"
kind = "script"
command = ["/bin/sh", "-c", "echo starting; exec sleep {sleeper}"]
interval = "500ms"
timeout = "400ms"

[[checks]]
name = "forks"
kind = "script"
command = ["/bin/sh", "-c", "sleep 3600 & echo $! > {forked}; echo 'FORKED OK | children=1'; exit 0"]
interval = "1h"

[[checks]]
name = "silent-port"
kind = "port"
address = "{silent_addr}"
send = "HELLO\r\n"
expect = "^OK"
interval = "500ms"
timeout = "300ms"

[[checks]]
name = "silent-http"
kind = "http"
url = "http://{silent_addr}/"
interval = "500ms"
timeout = "300ms"

[commands.pushed-echo]
command = ["/bin/echo", "PUSHED OK"]

[tls]
dir = "{tls}"
"#,
        tls = tls.display(),
        log = log.display(),
        sleeper = sleeper,
        forked = forked_pid.display(),
    );
    let path = write_config(dir, "agent.toml", &config);
    let agent = Proc::start("agent", "strata-agent", &["--config", &path], dir);
    let rt = runtime();
    // the tests poll as a sub-manager of the agent's region (an agent answers no one else)
    let channel = ca.channel_as(
        (Role::SubManager, "lab", "test"),
        &agent.addr,
        Expect::Role(Role::Agent),
    );

    // the follower starts at the end of the file; wait for its first run, then feed it
    wait_for("the log check's first run", Duration::from_secs(20), || {
        find(&checks(&rt, &channel)?, "applog").map(|_| ())
    });
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    let garbage: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    f.write_all(&garbage).unwrap();
    f.write_all(b"\n").unwrap();
    let mut huge = b"PANIC ".to_vec();
    huge.extend(std::iter::repeat_n(b'z', 1 << 20));
    huge.push(b'\n');
    f.write_all(&huge).unwrap();
    f.write_all(b"WARN disk almost full\n").unwrap();
    drop(f);

    let results = wait_for("every check judged", Duration::from_secs(30), || {
        let r = checks(&rt, &channel)?;
        let applog = find(&r, "applog")?;
        if applog.state != CheckState::Critical as i32 {
            return Err(format!("applog: {}", applog.message));
        }
        for name in ["never-exits", "forks", "silent-port", "silent-http"] {
            find(&r, name)?;
        }
        Ok(r)
    });
    let applog = find(&results, "applog").unwrap();
    assert!(
        applog.message.contains("cut at 4096 bytes"),
        "{}",
        applog.message
    );
    assert!(
        applog.detail.iter().all(|l| l.len() <= 1024),
        "kept lines are clipped"
    );
    let never = find(&results, "never-exits").unwrap();
    assert_eq!(never.state, CheckState::Unknown as i32, "{}", never.message);
    assert!(never.message.contains("timed out"), "{}", never.message);
    assert!(never.duration_seconds < 3.0, "{}", never.duration_seconds);
    let forks = find(&results, "forks").unwrap();
    assert_eq!(forks.state, CheckState::Ok as i32, "{}", forks.message);
    assert!(
        forks.detail.iter().any(|d| d.contains("killed")),
        "{:?}",
        forks.detail
    );
    let child: i32 = std::fs::read_to_string(&forked_pid)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_for(
        "the forked child to be killed",
        Duration::from_secs(10),
        || {
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            if stat.is_empty() || stat.contains(") Z ") {
                Ok(())
            } else {
                Err(format!("child {child} still runs"))
            }
        },
    );
    for name in ["silent-port", "silent-http"] {
        let c = find(&results, name).unwrap();
        assert_eq!(
            c.state,
            CheckState::Critical as i32,
            "{name}: {}",
            c.message
        );
        assert!(
            c.message.contains("timed out") || c.message.contains("timeout"),
            "{name}: {}",
            c.message
        );
    }
    // the never-exiting script leaves at most the current run's sleeper, never a pile-up
    let sleepers = || {
        let out = Command::new("pgrep")
            .args(["-f", &format!("^sleep {sleeper}$")])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    assert!(sleepers() <= 1, "{} sleepers survive", sleepers());
    rt.block_on(async {
        let mut c = AgentClient::new(channel.clone());
        // a bad push changes nothing and names the key
        let r = c
            .configure(ConfigureRequest {
                config_toml: "[[checks]]\nname = 'x'\nkind = 'port'\naddress = 'h:1'\ntimeout = 5".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(!r.applied);
        assert!(r.problems.iter().any(|p| p.contains("timeout")), "{:?}", r.problems);
        let r = c
            .configure(ConfigureRequest {
                config_toml: "[items.processes]\ninterval = '1s'\n[[checks]]\nname = 'pushed'\nkind = 'script'\nrun = 'pushed-echo'\ninterval = '1s'".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(r.applied, "{:?}", r.problems);
        assert!(r.checks.contains(&"pushed".to_string()) && r.checks.contains(&"applog".to_string()));
        let snapshot = c
            .snapshot(SnapshotRequest {
                top: 5,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(snapshot.processes.len(), 5.min(snapshot.process_count as usize));
        assert!(snapshot.interfaces.iter().any(|i| i.name == "lo"));
        assert!(snapshot.connections.iter().any(|c| c.state == "LISTEN"));
        let d = c.describe(DescribeRequest::default()).await.unwrap().into_inner();
        assert_eq!(d.agent_id, "bad-input");
    });
    wait_for("the pushed check's result", Duration::from_secs(20), || {
        let r = checks(&rt, &channel)?;
        let pushed = find(&r, "pushed")?;
        if pushed.message == "PUSHED OK" {
            Ok(())
        } else {
            Err(pushed.message.clone())
        }
    });
    // a clean stop kills the script that is running
    let mut agent = agent;
    assert!(
        agent.terminate(Duration::from_secs(10)),
        "the agent stops cleanly"
    );
    wait_for(
        "no sleeper left",
        Duration::from_secs(5),
        || match sleepers() {
            0 => Ok(()),
            n => Err(format!("{n} sleepers")),
        },
    );
    drop(silent);
}

#[test]
fn a_config_value_of_the_wrong_type_is_refused_with_its_key() {
    let tmp = tempfile::tempdir().unwrap();
    for (text, key) in [
        ("buffer_capacity = \"lots\"\n", "buffer_capacity"),
        (
            "[[checks]]\nname = \"p\"\nkind = \"process\"\nmatch = \"x\"\nmin = \"one\"\n",
            "min",
        ),
        ("[items.cpu]\ninterval = 10\n", "interval"),
    ] {
        let path = write_config(tmp.path(), "agent.toml", text);
        let out = Command::new(bin("strata-agent"))
            .args(["--config", &path])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{text}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(key), "{text}: {stderr}");
    }
}
