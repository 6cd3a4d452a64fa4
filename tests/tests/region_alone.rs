//! A region on its own, with the brokers unreachable: a member restarted meanwhile polls
//! again the agents that had registered themselves with the brokers (its last share, kept
//! in its data directory), not only the `[[agents]]` of its config, and hands back to the
//! brokers' assignment when they return.

use std::time::Duration;

use strata_proto::identity::Role;
use strata_proto::v1::ListResourcesRequest;
use strata_proto::v1::sub_manager_client::SubManagerClient;
use strata_testkit::{Mesh, Region, block_on, now_ms, wait_for};

const AGENTS: usize = 3;

/// The simulated agents the member polled since `since_ms`, as it says itself.
fn polled_since(mesh: &Mesh, since_ms: i64) -> Result<Vec<String>, String> {
    let addr = mesh.regions[0].member_addrs[0].clone();
    let channel = mesh.channel(&addr, Role::SubManager);
    block_on(async move {
        let answer = SubManagerClient::new(channel)
            .list_resources(ListResourcesRequest {
                region: "west".into(),
            })
            .await
            .map_err(|s| format!("ListResources: {}", s.message()))?;
        Ok(answer
            .into_inner()
            .resources
            .into_iter()
            .filter(|r| r.host.starts_with("sim-") && r.last_poll_ms > since_ms)
            .map(|r| r.host)
            .collect())
    })
}

/// Waits until every simulated agent was polled since `since_ms`.
fn wait_all_polled(mesh: &Mesh, what: &str, since_ms: i64) {
    wait_for(what, Duration::from_secs(30), || {
        let polled = polled_since(mesh, since_ms)?;
        if polled.len() == AGENTS {
            Ok(())
        } else {
            Err(format!("polled: {polled:?}"))
        }
    });
}

#[test]
fn a_member_restarted_with_the_brokers_stopped_polls_its_self_registered_agents() {
    let mut mesh = Mesh::builder()
        .super_managers(0)
        .broker_toml("lease = \"2s\"\n")
        .interval(Duration::from_millis(500))
        .region(
            Region::new("west")
                .member_ids(&["west-1"])
                .member_toml("lease = \"2s\"\n[poll]\ntimeout = \"2s\"\n")
                // registered with the brokers: the member's config lists none of them
                .sim("sim", "sim-", AGENTS),
        )
        .start();
    wait_all_polled(&mesh, "the registered agents polled", 0);

    mesh.brokers[0].kill();
    let member = &mut mesh.region("west").members[0];
    member.restart();
    let restarted = now_ms();
    wait_all_polled(
        &mesh,
        "the agents polled again after the restart",
        restarted,
    );
    let log = mesh.region("west").members[0].log_text();
    assert!(
        log.contains("polling the last share"),
        "the member said nothing of its kept share: {log}"
    );

    // the brokers back: their assignment takes over, with no gap in the polls
    mesh.brokers[0].restart();
    let back = now_ms();
    wait_all_polled(&mesh, "the agents polled under the brokers again", back);
}
