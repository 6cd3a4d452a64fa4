//! A host's routing table in the agent's inventory, and a change of it as a check result the
//! region turns into an event. The real agent runs on a host of its own (a network
//! namespace the test makes, on a LAN of the test's own addresses), so that the test can
//! add and remove routes there without touching this machine's.
//!
//! Making namespaces needs root and iproute2; without them the test says so and skips.

use std::process::Command;
use std::time::Duration;

use strata_proto::identity::{Expect, Role};
use strata_proto::v1::agent_client::AgentClient;
use strata_proto::v1::{CheckResult, CheckState, SnapshotRequest, SnapshotResponse};
use strata_testkit::netns::Network;
use strata_testkit::{MeshCa, Proc, Spec, block_on, wait_for, write_config};
use tonic::transport::Channel;

fn snapshot(agent: &Channel) -> Result<SnapshotResponse, String> {
    block_on(async {
        AgentClient::new(agent.clone())
            .snapshot(SnapshotRequest {
                top: 1,
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner())
            .map_err(|s| format!("Snapshot: {}", s.message()))
    })
}

fn routes_check(agent: &Channel) -> Result<CheckResult, String> {
    snapshot(agent)?
        .checks
        .into_iter()
        .find(|c| c.name == "table")
        .ok_or_else(|| "no result of the routes check yet".to_string())
}

/// The routes check's result once it is in `state`, within 10 s.
fn once_in(agent: &Channel, state: CheckState, what: &str) -> CheckResult {
    wait_for(what, Duration::from_secs(10), || {
        let c = routes_check(agent)?;
        match c.state == state as i32 {
            true => Ok(c),
            false => Err(c.message),
        }
    })
}

/// Runs `ip -n <netns> route <args>`.
fn route(netns: &str, args: &[&str]) {
    let out = Command::new("ip")
        .args(["-n", netns, "route"])
        .args(args)
        .output()
        .expect("ip");
    assert!(
        out.status.success(),
        "ip route {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_route_added_and_removed_is_in_the_inventory_and_judged_a_change() {
    let mut net = match Network::new() {
        Ok(net) => net,
        Err(why) => {
            strata_testkit::cannot_run("the routes test", &format!("{why}; run it as root"));
            return;
        }
    };
    let lan = net.lan("lan", "198.18.7");
    net.workstation(&lan, 254);
    let host = net.host("host", &lan, 10);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = MeshCa::open(d).unwrap();
    let tls = ca.node(Role::Agent, "lab", "routed").unwrap();
    let config = format!(
        "id = 'routed'\nlisten = '{}:0'\ncollect_interval = '1s'\n\
         [[checks]]\nname = 'table'\nkind = 'routes'\ninterval = '300ms'\nhold = '2s'\n\
         [tls]\ndir = '{}'\n",
        host.ip,
        tls.display()
    );
    let path = write_config(d, "agent.toml", &config);
    let agent =
        Proc::spawn(Spec::new("agent", "strata-agent", &["--config", &path], d).netns(&host.netns));
    let channel = ca.channel_as(
        (Role::SubManager, "lab", "test"),
        &agent.addr,
        Expect::Role(Role::Agent),
    );

    // the host's table as the namespace has it: its LAN, no more
    let first = wait_for("the first routes result", Duration::from_secs(20), || {
        routes_check(&channel)
    });
    assert_eq!(first.state, CheckState::Ok as i32, "{}", first.message);
    let table = snapshot(&channel).unwrap().routes;
    assert!(
        table
            .iter()
            .any(|r| r.destination == "198.18.7.0/24" && r.gateway.is_empty()),
        "{table:?}"
    );

    // a network behind a gateway on the LAN appears: in the inventory, and a warning
    route(
        &host.netns,
        &["add", "198.19.0.0/16", "via", "198.18.7.254"],
    );
    let changed = once_in(&channel, CheckState::Warning, "the change judged");
    assert!(
        changed.message.contains("1 added, 0 removed"),
        "{}",
        changed.message
    );
    assert!(
        changed
            .detail
            .iter()
            .any(|l| l.starts_with("+ 198.19.0.0/16 via 198.18.7.254")),
        "{:?}",
        changed.detail
    );
    let table = snapshot(&channel).unwrap().routes;
    assert!(
        table
            .iter()
            .any(|r| r.destination == "198.19.0.0/16" && r.gateway == "198.18.7.254"),
        "{table:?}"
    );
    // the table stays put for the hold: OK again by itself
    once_in(&channel, CheckState::Ok, "OK after the hold");
    // and the route's removal is a change too
    route(&host.netns, &["del", "198.19.0.0/16"]);
    let removed = once_in(&channel, CheckState::Warning, "the removal judged");
    assert!(
        removed
            .detail
            .iter()
            .any(|l| l.starts_with("- 198.19.0.0/16")),
        "{:?}",
        removed.detail
    );
    drop(agent);
}
