//! A fresh agent on a host that holds nothing but the brokers' addresses, the CA's
//! fingerprint and its region's join token enrols by itself (its key made on the host,
//! signed by a member with the region's CA), is polled, renews a certificate of a few
//! seconds' life again and again with no gap in its samples, and is dropped once revoked.
//! A wrong token, or a broker that cannot prove the pinned CA, gets nothing.

use std::time::Duration;

use strata_proto::identity::ca::Ca;
use strata_proto::identity::enrol::{pinned_channel, request, signing_request};
use strata_proto::identity::{Identity, Role};
use strata_proto::v1::broker_client::BrokerClient;
use strata_proto::v1::sub_manager_client::SubManagerClient;
use strata_proto::v1::{ListResourcesRequest, QueryRangeRequest};
use strata_testkit::{Mesh, Proc, Region, block_on, now_ms, wait_for, write_config};
use tonic::Code;
use tonic::transport::Channel;

const TOKEN: &str = "eu-join-5ecret";

/// When the member last polled `host`, as its operator sees it.
fn last_poll(sub: &Channel, host: &str) -> Result<i64, String> {
    block_on(async {
        let r = SubManagerClient::new(sub.clone())
            .list_resources(ListResourcesRequest {
                region: "eu".into(),
            })
            .await
            .map_err(|s| s.message().to_string())?
            .into_inner();
        r.resources
            .iter()
            .find(|r| r.host == host && r.last_poll_ms > 0)
            .map(|r| r.last_poll_ms)
            .ok_or_else(|| format!("{host} not polled yet"))
    })
}

/// The timestamps of `host_load1` of `host` stored since `from_ms`.
fn stored_times(sub: &Channel, host: &str, from_ms: i64) -> Result<Vec<i64>, String> {
    block_on(async {
        let answer = SubManagerClient::new(sub.clone())
            .query_range(QueryRangeRequest {
                region: "eu".into(),
                resource_id: format!("eu/{host}"),
                name: "host_load1".into(),
                from_ms,
                to_ms: now_ms() + 60_000,
                ..Default::default()
            })
            .await
            .map_err(|s| s.message().to_string())?
            .into_inner();
        Ok(answer
            .series
            .first()
            .map(|s| s.points.iter().map(|p| p.ts_ms).collect())
            .unwrap_or_default())
    })
}

#[test]
fn a_fresh_agent_enrols_renews_with_no_gap_and_is_dropped_once_revoked() {
    let mut mesh =
        Mesh::builder()
            .broker_toml(&format!(
                "registration_ttl = \"3s\"\n[regions.eu]\njoin_token = \"{TOKEN}\"\n\
             [tls]\nreload_interval = \"300ms\"\n"
            ))
            .super_managers(0)
            .interval(Duration::from_millis(500))
            .region(Region::new("eu").member_ids(&["eu-1"]).member_toml(
                "[enrol]\nagent_lifetime = \"6s\"\n[tls]\nreload_interval = \"300ms\"\n",
            ))
            .start();
    let broker = mesh.brokers[0].addr.clone();
    let sub_addr = mesh.region("eu").members[0].addr.clone();
    let sub = mesh.channel(&sub_addr, Role::SubManager);
    let ca = Ca::load(&mesh.ca().dir()).unwrap();
    let pin = ca.fingerprint();

    // nothing for a wrong token, or from a broker that cannot prove the pinned CA
    let (_, csr) = signing_request().unwrap();
    let wrong = block_on(async {
        let channel = pinned_channel(&broker, &pin).unwrap();
        BrokerClient::new(channel)
            .enrol(request("eu", "fresh-1", "guess", csr.clone()))
            .await
            .unwrap_err()
    });
    assert_eq!(wrong.code(), Code::Unauthenticated, "{wrong:?}");
    let other_pin = "00".repeat(32);
    let unproven = block_on(async {
        let channel = pinned_channel(&broker, &other_pin).unwrap();
        BrokerClient::new(channel)
            .enrol(request("eu", "fresh-1", TOKEN, csr))
            .await
            .unwrap_err()
    });
    assert_ne!(unproven.code(), Code::Ok);

    // the agent's host holds no certificate, only what enrolment needs
    let host_dir = mesh.dir().join("fresh-host");
    let tls_dir = host_dir.join("tls");
    std::fs::create_dir_all(&tls_dir).unwrap();
    let config = format!(
        "id = \"fresh-1\"\nlisten = \"127.0.0.1:0\"\ncollect_interval = \"500ms\"\n\
         [registration]\nbrokers = [\"{broker}\"]\nregion = \"eu\"\n\
         [enrol]\nca_fingerprint = \"sha256:{pin}\"\ntoken = \"{TOKEN}\"\n\
         [tls]\ndir = \"{tls}\"\nreload_interval = \"300ms\"\n",
        tls = tls_dir.display()
    );
    let path = write_config(&host_dir, "agent.toml", &config);
    let agent = Proc::start(
        "fresh-agent",
        "strata-agent",
        &["--config", &path],
        &host_dir,
    );
    assert!(
        tls_dir.join("node.key").exists(),
        "the key is made on the host"
    );
    let issued = std::fs::read_to_string(tls_dir.join("node.crt")).unwrap();
    assert!(
        issued.matches("BEGIN CERTIFICATE").count() == 2,
        "leaf and region CA: {issued}"
    );
    wait_for("the enrolled agent polled", Duration::from_secs(30), || {
        last_poll(&sub, "fresh-1")
    });

    // certificates of six seconds, renewed by the agent itself: 15 s with no gap
    let from = now_ms();
    let mut seen = vec![issued];
    let until = std::time::Instant::now() + Duration::from_secs(15);
    while std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(500));
        let now = std::fs::read_to_string(tls_dir.join("node.crt")).unwrap_or_default();
        if !seen.contains(&now) && !now.is_empty() {
            seen.push(now);
        }
    }
    assert!(seen.len() >= 3, "renewed {} times in 15 s", seen.len() - 1);
    let to = now_ms();
    let times = wait_for("the renewal period stored", Duration::from_secs(10), || {
        let t = stored_times(&sub, "fresh-1", from)?;
        if t.last().is_some_and(|l| *l >= to - 1000) {
            Ok(t)
        } else {
            Err(format!("{} points", t.len()))
        }
    });
    for pair in times.windows(2) {
        assert!(
            pair[1] - pair[0] <= 1500,
            "a gap of {} ms across renewals at {}",
            pair[1] - pair[0],
            pair[0]
        );
    }

    // revoked, it renews no more, and its region stops polling it once its certificate ends
    let me = Identity::new(Role::Agent, "eu", "fresh-1").unwrap();
    mesh.ca().revoke(&me).unwrap();
    wait_for(
        "polls of the revoked agent stop",
        Duration::from_secs(30),
        // its registration refused, the region drops it from its share, or its polls fail
        || {
            let Ok(before) = last_poll(&sub, "fresh-1") else {
                return Ok(());
            };
            std::thread::sleep(Duration::from_secs(2));
            match last_poll(&sub, "fresh-1") {
                Ok(after) if after != before => Err(format!("still polled at {after}")),
                _ => Ok(()),
            }
        },
    );
    assert!(
        agent.log_text().contains("renewal failed"),
        "{}",
        agent.log_text()
    );
}

#[test]
fn a_simulator_enrols_with_the_join_token_and_its_agents_are_polled() {
    let mut mesh = Mesh::builder()
        .broker_toml(&format!(
            "registration_ttl = \"3s\"\n[regions.eu]\njoin_token = \"{TOKEN}\"\n"
        ))
        .super_managers(0)
        .interval(Duration::from_millis(500))
        .region(Region::new("eu").member_ids(&["eu-1"]))
        .start();
    let broker = mesh.brokers[0].addr.clone();
    let sub_addr = mesh.region("eu").members[0].addr.clone();
    let sub = mesh.channel(&sub_addr, Role::SubManager);
    let pin = Ca::load(&mesh.ca().dir()).unwrap().fingerprint();

    // the simulator's host holds no certificate either
    let host_dir = mesh.dir().join("sim-host");
    std::fs::create_dir_all(&host_dir).unwrap();
    let tls_dir = host_dir.join("tls");
    let tls = tls_dir.to_string_lossy().into_owned();
    let pin = format!("sha256:{pin}");
    let sim = Proc::start(
        "enrolled-sim",
        "strata",
        &[
            "sim",
            "--agents",
            "3",
            "--prefix",
            "simx-",
            "--interval",
            "500ms",
            "--listen",
            "127.0.0.1:0",
            "--brokers",
            &broker,
            "--region",
            "eu",
            "--token",
            TOKEN,
            "--ca-fingerprint",
            &pin,
            "--tls-dir",
            &tls,
        ],
        &host_dir,
    );
    let issued = std::fs::read_to_string(tls_dir.join("node.crt")).unwrap();
    assert_eq!(issued.matches("BEGIN CERTIFICATE").count(), 2, "{issued}");
    assert!(
        tls_dir.join("node.key").exists(),
        "the key is made on the host"
    );
    for n in 1..=3 {
        let host = format!("simx-{n:04}");
        wait_for(&format!("{host} polled"), Duration::from_secs(30), || {
            last_poll(&sub, &host)
        });
    }
    assert!(sim.log_text().contains("enrolled"), "{}", sim.log_text());
}
