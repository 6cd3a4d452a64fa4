//! What reaches a host over its agent's door is bounded by the host: a pushed configuration
//! never runs a command line of its own, a command with arguments its local entry does not
//! allow, or reads a file outside `allow_paths` (a marker file the command would make stays
//! absent); a poll under another poller's name is refused and frees nothing; a stolen agent
//! key cannot answer for another agent of its region. And a member
//! renews a certificate of a few seconds' life with no gap in what it stores, and is refused
//! once revoked.

use std::time::Duration;

use strata_agent::sim::{Registration, SimConfig, Simulation, serve};
use strata_proto::identity::{Expect, Identity, Role};
use strata_proto::v1::agent_client::AgentClient;
use strata_proto::v1::broker_client::BrokerClient;
use strata_proto::v1::sub_manager_client::SubManagerClient;
use strata_proto::v1::{
    AgentRegistration, ConfigureRequest, ConfigureResponse, DescribeRequest, GetConfigRequest,
    ListResourcesRequest, PollRequest, RegisterAgentsRequest,
};
use strata_testkit::{
    Mesh, MeshCa, Proc, Region, block_on, http_get, now_ms, stored_values, wait_for, write_config,
};
use tonic::Code;
use tonic::transport::Channel;

fn push(agent: &Channel, toml: &str) -> ConfigureResponse {
    block_on(async {
        AgentClient::new(agent.clone())
            .configure(ConfigureRequest {
                config_toml: toml.into(),
                ..Default::default()
            })
            .await
            .expect("Configure answers")
            .into_inner()
    })
}

fn refused_naming(agent: &Channel, toml: &str, key: &str, words: &str) {
    let r = push(agent, toml);
    assert!(!r.applied, "applied: {toml}");
    assert!(
        r.problems
            .iter()
            .any(|p| p.contains(key) && p.contains(words)),
        "{toml}: {:?} names neither '{key}' nor '{words}'",
        r.problems
    );
}

fn poll(agent: &Channel, poller: &str, ack_seq: u64) -> Result<(u64, u64), (Code, String)> {
    block_on(async {
        AgentClient::new(agent.clone())
            .poll(PollRequest {
                poller: poller.into(),
                ack_seq,
                max_samples: 100_000,
                ..Default::default()
            })
            .await
            .map(|r| {
                let r = r.into_inner();
                let first = r.samples.first().map_or(0, |s| s.seq);
                (first, r.last_seq)
            })
            .map_err(|s| (s.code(), s.message().to_string()))
    })
}

#[test]
fn nothing_pushed_runs_or_reads_what_the_host_did_not_allow() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    std::fs::write(dir.join("secret"), "top secret\n").unwrap();
    let marker = dir.join("marker");
    let ca = MeshCa::open(dir).unwrap();
    let tls = ca.node(Role::Agent, "lab", "host-1").unwrap();
    let config = format!(
        "id = \"host-1\"\nlisten = \"127.0.0.1:0\"\ncollect_interval = \"500ms\"\n\
         allow_paths = [\"{logs}/**\"]\nstate_dir = \"{state}\"\n\
         [commands.greet]\ncommand = [\"/bin/echo\", \"hello\"]\n\
         [tls]\ndir = \"{tls}\"\n",
        logs = dir.join("logs").display(),
        state = dir.join("state").display(),
        tls = tls.display(),
    );
    let path = write_config(dir, "agent.toml", &config);
    let agent = Proc::start("agent", "strata-agent", &["--config", &path], dir);
    let as_member = |id: &str| {
        ca.channel_as(
            (Role::SubManager, "lab", id),
            &agent.addr,
            Expect::Role(Role::Agent),
        )
    };
    let lab1 = as_member("lab-1");
    let touch = format!("touch {}", marker.display());

    // a command line of its own, even one the host has as a local command
    refused_naming(
        &lab1,
        &format!(
            "[[checks]]\nname = 'evil'\nkind = 'script'\ncommand = ['/bin/sh', '-c', '{touch}']\ninterval = '1s'\n"
        ),
        "checks[0]",
        "may not give a command line",
    );
    // arguments the local entry does not allow
    refused_naming(
        &lab1,
        &format!(
            "[[checks]]\nname = 'greet'\nkind = 'script'\nrun = 'greet'\nargs = ['; {touch}']\ninterval = '1s'\n"
        ),
        "checks[0]",
        "does not allow arguments",
    );
    // a command the host does not have
    refused_naming(
        &lab1,
        "[[checks]]\nname = 'x'\nkind = 'script'\nrun = 'backup'\ninterval = '1s'\n",
        "checks[0]",
        "not a local command",
    );
    // files outside allow_paths, straight or through '..'
    for path in [
        "/etc/shadow".to_string(),
        format!("{}/logs/../secret", dir.display()),
        "logs/app.log".to_string(),
    ] {
        refused_naming(
            &lab1,
            &format!(
                "[[checks]]\nname = 'peek'\nkind = 'log'\npath = '{path}'\ninterval = '1s'\n\
                 rules = [{{ pattern = 'secret', severity = 'critical' }}]\n"
            ),
            "checks[0]",
            "path",
        );
    }
    // bounds, with overflow-safe durations
    refused_naming(
        &lab1,
        "[[checks]]\nname = 'slow'\nkind = 'port'\naddress = '127.0.0.1:1'\ninterval = '300000000000years'\n",
        "interval",
        "",
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(!marker.exists(), "a refused push ran its command");

    // what the host allows is taken, kept, and read back
    let good = "[[checks]]\nname = 'greet'\nkind = 'script'\nrun = 'greet'\ninterval = '1s'\n";
    let r = push(&lab1, good);
    assert!(r.applied, "{:?}", r.problems);
    let read_back = block_on(async {
        AgentClient::new(lab1.clone())
            .get_config(GetConfigRequest::default())
            .await
            .expect("GetConfig")
            .into_inner()
    });
    assert_eq!(read_back.pushed_toml, good);
    assert_eq!(read_back.commands, vec!["greet".to_string()]);
    assert!(
        dir.join("state").read_dir().unwrap().next().is_some(),
        "the push is kept"
    );

    // a poll under another poller's name is refused and frees nothing
    wait_for("samples buffered", Duration::from_secs(20), || {
        match poll(&lab1, "lab-1", 0) {
            Ok((first, last)) if first > 0 && last > first => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    let (first, last) = poll(&lab1, "lab-1", 0).unwrap();
    let mallory = as_member("mallory");
    match poll(&mallory, "lab-1", last) {
        Err((Code::PermissionDenied, m)) => assert!(m.contains("poller 'lab-1'"), "{m}"),
        other => panic!("a poll under lab-1's name by mallory: {other:?}"),
    }
    let (again, _) = poll(&lab1, "lab-1", 0).unwrap();
    assert_eq!(again, first, "the refused poll freed samples");
    let described = block_on(async {
        AgentClient::new(lab1.clone())
            .describe(DescribeRequest::default())
            .await
            .unwrap()
            .into_inner()
    });
    assert!(described.buffer.unwrap().first_seq <= first);
    // an agent answers no sub-manager of another region, and no operator
    for who in [
        (Role::SubManager, "us", "us-1"),
        (Role::Operator, "", "test"),
    ] {
        let channel = ca.channel_as(who, &agent.addr, Expect::Role(Role::Agent));
        match poll(&channel, who.2, 0) {
            Err((Code::PermissionDenied, _)) => {}
            other => panic!("{who:?} polled: {other:?}"),
        }
    }
    assert!(!marker.exists());
}

/// The stored values of `sim_sample_number` of sim-0001 since `from_ms`, read as an
/// operator from the member at `sub`.
fn stored(sub: &Channel, from_ms: i64) -> Result<Vec<f64>, String> {
    stored_values(sub, "lab/sim-0001", "sim_sample_number", from_ms)
}

#[test]
fn a_member_renews_a_short_lived_certificate_with_no_gap_and_is_refused_once_revoked() {
    let mut mesh = Mesh::builder()
        .brokers(0)
        .super_managers(0)
        .interval(Duration::from_millis(300))
        .sample_interval(Duration::from_millis(200))
        .region(
            Region::new("lab")
                .member_toml(
                    "[poll]\ntimeout = \"1s\"\nbackoff_max = \"300ms\"\n\
                     [tls]\nreload_interval = \"200ms\"\n",
                )
                .sim("sim-1", "sim-", 1)
                .listed(),
        )
        .start();
    let addr = mesh.region("lab").members[0].addr.clone();
    let sub = mesh.channel(&addr, Role::SubManager);
    let ca = mesh.ca().clone();
    let me = Identity::new(Role::SubManager, "lab", "lab-1").unwrap();
    let node = ca.node(Role::SubManager, "lab", "lab-1").unwrap();
    wait_for("samples stored", Duration::from_secs(30), || {
        let n = stored(&sub, 0)?.len();
        if n >= 5 {
            Ok(())
        } else {
            Err(format!("{n} samples"))
        }
    });
    // certificates of four seconds, renewed every 1.5 s for 12 s: the agent ends the
    // member's connection as each one it was opened with expires
    let from = now_ms();
    let lifetime = Duration::from_secs(4);
    ca.issue_into(&me, lifetime, &node).unwrap();
    let until = std::time::Instant::now() + Duration::from_secs(12);
    while std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(1500));
        ca.issue_into(&me, lifetime, &node).unwrap();
    }
    let to = now_ms();
    let ticks = wait_for("the renewal period stored", Duration::from_secs(10), || {
        let ticks = stored(&sub, from)?;
        let covered = ticks.len() as i64 * 200 >= to - from - 1000;
        if covered {
            Ok(ticks)
        } else {
            Err(format!("{} ticks", ticks.len()))
        }
    });
    for pair in ticks.windows(2) {
        assert_eq!(pair[1], pair[0] + 1.0, "a gap across renewals: {ticks:?}");
    }
    // revoked, the member is refused by the agent: its polls stop landing
    ca.issue_into(&me, Duration::from_secs(3600), &node)
        .unwrap();
    ca.revoke(&me).unwrap();
    let last_poll = || -> Result<i64, String> {
        block_on(async {
            let r = SubManagerClient::new(sub.clone())
                .list_resources(ListResourcesRequest {
                    region: "lab".into(),
                })
                .await
                .map_err(|s| s.message().to_string())?
                .into_inner();
            r.resources
                .iter()
                .find(|r| r.host == "sim-0001")
                .map(|r| r.last_poll_ms)
                .ok_or_else(|| "sim-0001 not listed".to_string())
        })
    };
    wait_for(
        "polls refused after revocation",
        Duration::from_secs(20),
        || {
            let before = last_poll()?;
            std::thread::sleep(Duration::from_secs(2));
            let after = last_poll()?;
            if after == before {
                Ok(())
            } else {
                Err(format!("still polled at {after}"))
            }
        },
    );
}

/// When `host` was last polled, as the member at `sub` sees it (0: never).
fn polled_at(sub: &Channel, region: &str, host: &str) -> i64 {
    block_on(async {
        SubManagerClient::new(sub.clone())
            .list_resources(ListResourcesRequest {
                region: region.into(),
            })
            .await
            .map(|r| r.into_inner().resources)
            .unwrap_or_default()
            .iter()
            .find(|r| r.host == host)
            .map_or(0, |r| r.last_poll_ms)
    })
}

#[test]
fn a_stolen_agent_key_cannot_answer_for_another_agent() {
    let mut mesh = Mesh::builder()
        .broker_toml("registration_ttl = \"60s\"\n")
        .super_managers(0)
        .interval(Duration::from_millis(300))
        .region(
            Region::new("eu")
                .member_ids(&["eu-1"])
                .member_toml("metrics_listen = \"127.0.0.1:0\"\n[poll]\nbackoff_max = \"300ms\"\n")
                .agent("id = \"web-1\"\n"),
        )
        .start();
    let ca = mesh.ca().clone();
    let member = &mesh.region("eu").members[0];
    let (addr, metrics) = (member.addr.clone(), member.field("metrics"));
    let metrics = metrics.expect("member metrics");
    let sub = mesh.channel(&addr, Role::SubManager);
    wait_for(
        "web-1 polled",
        Duration::from_secs(30),
        || match polled_at(&sub, "eu", "web-1") {
            0 => Err("not yet".to_string()),
            _ => Ok(()),
        },
    );

    // web-1's key, stolen, serves an agent db-0001 at an address the region lists for it
    let stolen = ca.transport(Role::Agent, "eu", "web-1").unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let impostor = listener.local_addr().unwrap().to_string();
    let sim = Simulation::new(
        SimConfig {
            agents: 1,
            prefix: "db-".into(),
            interval: Duration::from_millis(200),
            ..SimConfig::default()
        },
        1000,
    );
    let served = runtime.spawn({
        let shutdown = shutdown.clone();
        async move {
            let none = Registration::default();
            serve(listener, &stolen, sim, ("db-", 1), none, shutdown).await
        }
    });
    let broker = ca.channel_as(
        (Role::SubManager, "eu", "eu-1"),
        &mesh.brokers[0].addr,
        Expect::Role(Role::Broker),
    );
    block_on(async {
        BrokerClient::new(broker)
            .register_agents(RegisterAgentsRequest {
                region: "eu".into(),
                agents: vec![AgentRegistration {
                    id: "db-0001".into(),
                    address: impostor.clone(),
                }],
                ..Default::default()
            })
            .await
            .expect("the region lists db-0001")
    });

    // the member takes db-0001 on, and polls web-1 on, but never db-0001
    wait_for(
        "db-0001 assigned to the member",
        Duration::from_secs(15),
        || {
            let (_, text) = http_get(&metrics, "/metrics").map_err(|e| e.to_string())?;
            match text.contains("strata_sub_manager_assigned_agents 2") {
                true => Ok(()),
                false => Err("not yet".to_string()),
            }
        },
    );
    let since = polled_at(&sub, "eu", "web-1");
    wait_for(
        "web-1 polled again and again",
        Duration::from_secs(15),
        || match polled_at(&sub, "eu", "web-1") > since + 2000 {
            true => Ok(()),
            false => Err("not yet".to_string()),
        },
    );
    assert_eq!(
        polled_at(&sub, "eu", "db-0001"),
        0,
        "the impostor was polled"
    );
    shutdown.cancel();
    runtime
        .block_on(served)
        .unwrap()
        .expect("the impostor served");
}
