//! A region whose brokers are all gone fails over on its own: its members watch each other
//! (`SubManager.Peer`), and when one is SIGKILLed the other polls its agents within the
//! lease, as the brokers would have made it; the killed member, restarted while the brokers
//! are still away, takes its agents back, and the brokers' assignment is in force again when
//! they return. Every tick of every simulated agent is stored once across the two members.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use strata_proto::identity::Role;
use strata_proto::rendezvous::owners;
use strata_proto::v1::sub_manager_client::SubManagerClient;
use strata_proto::v1::{ListResourcesRequest, QueryRangeRequest, Resource, ResourceState};
use strata_testkit::{Mesh, Region, block_on, now_ms, wait_for};

const AGENTS: usize = 8;
const LEASE: Duration = Duration::from_secs(4);
const MEMBERS: [&str; 2] = ["eu-1", "eu-2"];

/// The resources member `i` says it holds.
fn resources(mesh: &Mesh, i: usize) -> Result<Vec<Resource>, String> {
    let channel = mesh.channel(&mesh.regions[0].member_addrs[i], Role::SubManager);
    block_on(async move {
        let answer = SubManagerClient::new(channel)
            .list_resources(ListResourcesRequest {
                region: "eu".into(),
            })
            .await
            .map_err(|s| format!("ListResources at {}: {}", MEMBERS[i], s.message()))?;
        Ok(answer.into_inner().resources)
    })
}

/// The agents of `agents` that member `i` polled, and found up, since `since_ms`.
fn polled_since(mesh: &Mesh, i: usize, agents: &[String], since_ms: i64) -> Result<usize, String> {
    Ok(resources(mesh, i)?
        .into_iter()
        .filter(|r| {
            agents.contains(&r.host) && r.state() == ResourceState::Up && r.last_poll_ms > since_ms
        })
        .count())
}

/// The ticks of `agent`'s `sim_sample_number` member `i` stores, by value, with their times.
fn ticks(mesh: &Mesh, i: usize, agent: &str, into: &mut BTreeMap<u64, BTreeSet<i64>>) {
    let channel = mesh.channel(&mesh.regions[0].member_addrs[i], Role::SubManager);
    let answer = block_on(async move {
        SubManagerClient::new(channel)
            .query_range(QueryRangeRequest {
                region: "eu".into(),
                resource_id: format!("eu/{agent}"),
                name: "sim_sample_number".into(),
                from_ms: 0,
                to_ms: now_ms() + 60_000,
                ..Default::default()
            })
            .await
    })
    .unwrap_or_else(|s| panic!("QueryRange at {}: {}", MEMBERS[i], s.message()))
    .into_inner();
    for p in answer.series.iter().flat_map(|s| &s.points) {
        into.entry(p.value as u64).or_default().insert(p.ts_ms);
    }
}

/// Waits until both members' logs say `said`.
fn both_logged(mesh: &Mesh, what: &str, said: &str) {
    wait_for(what, Duration::from_secs(20), || {
        let members = &mesh.regions[0].members;
        let saying = members
            .iter()
            .filter(|m| m.log_text().contains(said))
            .count();
        if saying == members.len() {
            Ok(())
        } else {
            Err(format!("{saying} of {} say '{said}'", members.len()))
        }
    });
}

#[test]
fn members_fail_over_among_themselves_without_brokers() {
    let mut mesh = Mesh::builder()
        .super_managers(0)
        .broker_toml("lease = \"4s\"\n")
        .interval(Duration::from_millis(300))
        .sample_interval(Duration::from_millis(300))
        .region(
            Region::new("eu")
                .member_ids(&MEMBERS)
                .member_toml(
                    "heartbeat_interval = \"500ms\"\nlease = \"4s\"\n\
                     [poll]\ntimeout = \"1s\"\nbackoff_max = \"300ms\"\n",
                )
                // registered with the brokers: no member's config lists them
                .sim("sim", "sim-", AGENTS),
        )
        .start();
    let agents: Vec<String> = (1..=AGENTS).map(|n| format!("sim-{n:04}")).collect();
    let (first, second): (Vec<String>, Vec<String>) = agents
        .iter()
        .cloned()
        .partition(|a| owners(a, &MEMBERS, 1)[0] == MEMBERS[0]);
    assert!(
        !first.is_empty() && !second.is_empty(),
        "both members poll some of the {AGENTS} agents"
    );
    let view = |id: &str| mesh.dir().join(id).join("view.json");
    wait_for(
        "each member polls its share and knows the region",
        Duration::from_secs(30),
        || {
            let counts = (
                polled_since(&mesh, 0, &first, 0)?,
                polled_since(&mesh, 1, &second, 0)?,
            );
            if counts == (first.len(), second.len()) && MEMBERS.iter().all(|m| view(m).exists()) {
                Ok(())
            } else {
                Err(format!("polled {counts:?}"))
            }
        },
    );

    mesh.brokers[0].kill();
    both_logged(
        &mesh,
        "both members watch each other",
        "the members watch each other",
    );

    // a member dies with no broker to tell: its peer takes its agents within the lease
    let killed_ms = now_ms();
    let killed = Instant::now();
    mesh.region("eu").members[0].kill();
    wait_for("eu-2 polls eu-1's agents", LEASE, || {
        match polled_since(&mesh, 1, &first, killed_ms)? {
            n if n == first.len() => Ok(()),
            n => Err(format!("{n} of {} polled", first.len())),
        }
    });
    eprintln!(
        "eu-1's agents polled by eu-2 {:?} after the kill",
        killed.elapsed()
    );
    assert!(
        mesh.regions[0].members[1]
            .log_text()
            .contains("share recomputed without brokers"),
        "eu-2 did not say why it polls more"
    );

    // back while the brokers are still away: it takes its own agents back, eu-2 lets go
    mesh.region("eu").members[0].restart();
    let back = now_ms();
    wait_for(
        "eu-1 polls its agents again",
        Duration::from_secs(20),
        || match polled_since(&mesh, 0, &first, back)? {
            n if n == first.len() => Ok(()),
            n => Err(format!("{n} of {} polled", first.len())),
        },
    );
    wait_for(
        "eu-2 hands eu-1's agents back",
        Duration::from_secs(20),
        || {
            let recent = polled_since(&mesh, 1, &first, now_ms() - 1500)?;
            if recent == 0 {
                Ok(())
            } else {
                Err(format!("eu-2 still polls {recent}"))
            }
        },
    );

    // the brokers back: their assignment is in force again, with the same shares
    mesh.brokers[0].restart();
    both_logged(
        &mesh,
        "a broker answers both members again",
        "a broker answers again",
    );
    let since = now_ms();
    wait_for(
        "each member polls its own share",
        Duration::from_secs(20),
        || {
            let counts = (
                polled_since(&mesh, 0, &first, since)?,
                polled_since(&mesh, 1, &second, since)?,
            );
            if counts == (first.len(), second.len()) {
                Ok(())
            } else {
                Err(format!("{counts:?}"))
            }
        },
    );

    // every tick of every agent stored once, across the two members
    for agent in &agents {
        let mut stored = BTreeMap::new();
        for i in 0..MEMBERS.len() {
            ticks(&mesh, i, agent, &mut stored);
        }
        let n = stored.keys().next_back().copied().unwrap_or(0);
        assert!(n >= 20, "{agent}: only {n} ticks stored");
        let missing: Vec<u64> = (1..=n).filter(|t| !stored.contains_key(t)).collect();
        assert!(
            missing.is_empty(),
            "{agent}: ticks {missing:?} of 1..={n} are missing"
        );
        let twice: Vec<_> = stored.iter().filter(|(_, ts)| ts.len() > 1).collect();
        assert!(
            twice.is_empty(),
            "{agent}: ticks stored at two times: {twice:?}"
        );
    }
}
