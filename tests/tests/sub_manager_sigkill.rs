//! A region with two sub-managers loses one to SIGKILL: the region must stay queryable
//! through the broker, and the dead member's agents must be polled by the survivor with no
//! sample missing from the handover on.

use std::time::Duration;

use serde_json::Value;
use strata_proto::identity::Role;
use strata_proto::v1::sub_manager_client::SubManagerClient;
use strata_proto::v1::{AgentSnapshotRequest, ListResourcesRequest};
use strata_testkit::{Mesh, Region, block_on, get_json, http_get, now_ms, wait_for};
use tonic::transport::Channel;

const AGENTS: usize = 7; // the real agent and six simulated ones

fn west(overview: &Value) -> Result<Value, String> {
    overview["regions"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["name"] == "west").cloned())
        .ok_or_else(|| format!("no region west in {overview}"))
}

fn resources(http: &str) -> Result<Vec<Value>, String> {
    let list = get_json(http, "/api/v1/resources?region=west")?;
    Ok(list.as_array().cloned().unwrap_or_default())
}

/// The real agent's live processes, asked through the broker (routed to its poller).
fn broker_agent_snapshot(broker: &Channel) -> Result<usize, String> {
    block_on(async {
        let mut client = SubManagerClient::new(broker.clone());
        let answer = client
            .agent_snapshot(AgentSnapshotRequest {
                region: "west".into(),
                resource_id: "west/host-1".into(),
                top: 5,
                ..Default::default()
            })
            .await
            .map_err(|s| format!("AgentSnapshot through the broker: {}", s.message()))?;
        Ok(answer.into_inner().processes.len())
    })
}

fn broker_list_resources(broker: &Channel) -> Result<usize, String> {
    block_on(async {
        let mut client = SubManagerClient::new(broker.clone());
        let answer = client
            .list_resources(ListResourcesRequest {
                region: "west".into(),
            })
            .await
            .map_err(|s| format!("ListResources through the broker: {}", s.message()))?;
        Ok(answer.into_inner().resources.len())
    })
}

#[test]
fn region_stays_queryable_and_polled_after_a_sub_manager_is_killed() {
    let mut mesh = Mesh::builder()
        .broker_toml("lease = \"3s\"\nmetrics_listen = \"127.0.0.1:0\"\n")
        .region(
            Region::new("west")
                .members(2)
                .member_toml("[poll]\ntimeout = \"1s\"\n")
                .agent("id = \"host-1\"\n")
                .sim("sim", "sim-", AGENTS - 1)
                .listed(),
        )
        .start();
    let http = mesh.http();
    let broker = mesh.brokers[0].addr.clone();
    let broker_channel = mesh.channel(&broker, Role::Broker);
    let broker_metrics = mesh.brokers[0]
        .field("metrics")
        .expect("the broker reports its metrics address");
    let subs = &mut mesh.region("west").members;

    // The whole region is up, shared by two healthy members.
    wait_for(
        "region west up on two members",
        Duration::from_secs(30),
        || {
            let w = west(&get_json(&http, "/api/v1/overview")?)?;
            let healthy = w["sub_managers"]
                .as_array()
                .map_or(0, |s| s.iter().filter(|m| m["healthy"] == true).count());
            let up = w["resources"]["up"].as_u64().unwrap_or(0);
            if healthy == 2 && up == AGENTS as u64 {
                Ok(())
            } else {
                Err(w.to_string())
            }
        },
    );
    let before = resources(&http).unwrap();
    let owned = |owner: &str| before.iter().filter(|r| r["owner"] == owner).count();
    let (victim, survivor) = if owned("west-1") >= owned("west-2") {
        (0, 1)
    } else {
        (1, 0)
    };
    let victim_id = subs[victim].name.clone();
    let survivor_id = subs[survivor].name.clone();
    let moved: Vec<String> = before
        .iter()
        .filter(|r| r["owner"] == victim_id.as_str())
        .map(|r| r["host"].as_str().unwrap().to_string())
        .collect();
    assert!(!moved.is_empty(), "{victim_id} owns nothing: {before:?}");

    let killed_at = now_ms();
    subs[victim].kill();

    // Within a lease and a few polls, the survivor polls every agent.
    wait_for(
        "every agent polled by the survivor",
        Duration::from_secs(20),
        || {
            let w = west(&get_json(&http, "/api/v1/overview")?)?;
            let list = resources(&http)?;
            let fresh = list
                .iter()
                .filter(|r| {
                    r["owner"] == survivor_id.as_str()
                        && r["state"] == "up"
                        && r["last_poll_ms"].as_i64().unwrap_or(0) > killed_at
                })
                .count();
            let victim_healthy = w["sub_managers"]
                .as_array()
                .and_then(|s| s.iter().find(|m| m["id"] == victim_id.as_str()))
                .map(|m| m["healthy"] == true);
            if fresh == AGENTS && victim_healthy == Some(false) && w["resources"]["total"] == AGENTS
            {
                Ok(())
            } else {
                Err(format!("{fresh} fresh of {AGENTS}; region {w}"))
            }
        },
    );

    // The broker's own metrics tell the same story.
    let (status, text) = http_get(&broker_metrics, "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(
        text.contains("strata_broker_members{role=\"sub-manager\",health=\"healthy\"} 1\n")
            && text
                .contains("strata_broker_members{role=\"sub-manager\",health=\"unhealthy\"} 1\n"),
        "{text}"
    );

    // The region stays queryable through the broker.
    let listed = wait_for(
        "ListResources through the broker",
        Duration::from_secs(10),
        || {
            broker_list_resources(&broker_channel).and_then(|n| {
                if n == AGENTS {
                    Ok(n)
                } else {
                    Err(format!("{n} resources"))
                }
            })
        },
    );
    assert_eq!(listed, AGENTS);
    // Live detail of the real agent comes through the broker from the member polling it.
    let processes = wait_for(
        "AgentSnapshot through the broker",
        Duration::from_secs(10),
        || broker_agent_snapshot(&broker_channel),
    );
    assert!(processes > 0 && processes <= 5, "{processes} processes");

    // History of a moved simulated agent is readable, and from the handover on no sample is
    // missing: sim_sample_number counts ticks, so its values must be consecutive.
    // The victim owns at least four of seven agents, so at least three simulated ones.
    let host = moved
        .iter()
        .find(|h| h.starts_with("sim-"))
        .cloned()
        .expect("a moved simulated agent");
    {
        let path = format!(
            "/api/v1/resources/west%2F{host}/metrics?name=sim_sample_number&from_ms=0&to_ms={}",
            now_ms() + 60_000
        );
        let values = wait_for(
            "history of a moved agent after the kill",
            Duration::from_secs(10),
            || {
                let answer = get_json(&http, &path)?;
                let points = answer["series"][0]["points"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let after: Vec<(i64, f64)> = points
                    .iter()
                    .map(|p| (p[0].as_i64().unwrap(), p[1].as_f64().unwrap()))
                    .collect();
                if after.iter().filter(|(ts, _)| *ts > killed_at).count() >= 4 {
                    Ok(after)
                } else {
                    Err(format!("{} points", after.len()))
                }
            },
        );
        assert!(values[0].1 >= 1.0, "tick numbers start at 1: {values:?}");
        for pair in values.windows(2) {
            assert_eq!(
                pair[1].1,
                pair[0].1 + 1.0,
                "a sample is missing between {:?} and {:?}",
                pair[0],
                pair[1]
            );
        }
    }
    // A live member's metrics: the real agent's CPU history is readable through the broker.
    let cpu = get_json(
        &http,
        &format!(
            "/api/v1/resources/west/host-1/metrics?name=host_cpu_usage_ratio&from_ms={}",
            killed_at - 60_000
        ),
    )
    .unwrap();
    assert!(
        cpu["series"].as_array().is_some_and(|s| !s.is_empty()),
        "no CPU history: {cpu}"
    );
}
