//! Fault tests with the real binaries: SIGKILL of a sub-manager, of a broker and of the
//! super-manager, and a region cut off from the centre and healed. Each asserts the exact
//! samples stored for simulated agents and the exact list of incidents.
//!
//! The mesh: two brokers; region west with three sub-managers; twenty steady simulated agents
//! (`sim-0001`..`sim-0020`: sim-0007 runs at warning CPU, sim-0013 at critical, from their
//! first poll on) and three flapping ones (`flap-0001`..`flap-0003`, in a second simulator
//! that the tests kill and restart, so that `reachable` incidents open and resolve); the
//! super-manager. Every connection between the region and the centre goes through a proxy
//! that the partition test cuts.
//!
//! Samples and incidents are accounted for exactly, as `strata_tests::accounting` says.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use strata_proto::identity::Role;
use strata_proto::v1::sub_manager_client::SubManagerClient;
use strata_proto::v1::{ListResourcesRequest, Resource, ResourceState};
use strata_testkit::{Region, RegionProcs, block_on, get_json, wait_for};
use strata_tests::accounting::{Accounts, Incident, Listed};

/// The meshes of these tests are heavy for a 2-core machine: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const STEADY: usize = 20;
const FLAPPING: usize = 3;
const SUBS: [&str; 3] = ["west-1", "west-2", "west-3"];
/// Sample and poll interval.
const INTERVAL_MS: u64 = 500;

/// The scenario's mesh, with the helpers its assertions need.
struct Mesh {
    kit: strata_testkit::Mesh,
}

impl Mesh {
    fn start() -> Mesh {
        let kit = strata_testkit::Mesh::builder()
            .brokers(2)
            .broker_toml("lease = \"2s\"\nregistration_ttl = \"6s\"\ncall_timeout = \"3s\"\n")
            .interval(Duration::from_millis(INTERVAL_MS))
            // every connection between the region and the centre goes through a proxy
            .proxied()
            .region(
                Region::new("west")
                    .member_ids(&SUBS)
                    .member_toml("[poll]\ntimeout = \"2s\"\ndown_after_failures = 2\n")
                    .sim("sim-steady", "sim-", STEADY)
                    .sim("sim-flap", "flap-", FLAPPING),
            )
            .super_toml("resubscribe_delay = \"200ms\"\n")
            .start();
        let mesh = Mesh { kit };
        mesh.wait_all_up("the mesh to start");
        mesh
    }

    fn http(&self) -> String {
        self.kit.http()
    }

    fn west(&mut self) -> &mut RegionProcs {
        self.kit.region("west")
    }

    /// Every agent up in the centre's view, the three members healthy, both steady
    /// incidents seen.
    fn wait_all_up(&self, what: &str) {
        let http = self.http();
        wait_for(what, Duration::from_secs(60), || {
            let (healthy, up, west) = accounts().region_health(&|p| get_json(&http, p))?;
            let incidents = open_incidents(&http)?;
            if healthy == SUBS.len() && up == (STEADY + FLAPPING) as u64 && incidents.len() >= 2 {
                Ok(())
            } else {
                Err(format!("{healthy} healthy members, {up} up; {west}"))
            }
        });
    }

    /// A region-wide ListResources at one member, directly.
    fn member_resources(&self, i: usize) -> Result<Vec<Resource>, String> {
        let addr = self.kit.regions[0].member_addrs[i].clone();
        let channel = self.kit.channel(&addr, Role::SubManager);
        block_on(async move {
            let mut c = SubManagerClient::new(channel.clone());
            let r = c
                .list_resources(ListResourcesRequest {
                    region: "west".into(),
                })
                .await
                .map_err(|s| format!("ListResources at {addr}: {}", s.message()))?;
            Ok(r.into_inner().resources)
        })
    }

    /// The state of each flapping agent as the members that poll them say.
    fn flap_states(&self) -> Result<Vec<ResourceState>, String> {
        let mut states = BTreeMap::new();
        for i in 0..SUBS.len() {
            for r in self.member_resources(i).unwrap_or_default() {
                if r.host.starts_with("flap-") {
                    states.insert(r.host.clone(), r.state());
                }
            }
        }
        if states.len() != FLAPPING {
            return Err(format!(
                "{} flapping agents reported: {states:?}",
                states.len()
            ));
        }
        Ok(states.into_values().collect())
    }

    /// Kills the flapping simulator until the region judges its agents down, then restarts
    /// it until they are up again: one `reachable` incident per flapping agent. Watches the
    /// members directly, so it works with the centre cut off.
    fn flap(&mut self) {
        self.west().sim("sim-flap").kill();
        wait_for(
            "the flapping agents down in the region",
            Duration::from_secs(30),
            || {
                let s = self.flap_states()?;
                if s.iter().all(|s| *s == ResourceState::Down) {
                    Ok(())
                } else {
                    Err(format!("{s:?}"))
                }
            },
        );
        self.west().sim("sim-flap").restart();
        wait_for(
            "the flapping agents up again in the region",
            Duration::from_secs(30),
            || {
                let s = self.flap_states()?;
                if s.iter().all(|s| *s == ResourceState::Up) {
                    Ok(())
                } else {
                    Err(format!("{s:?}"))
                }
            },
        );
    }

    /// A channel to broker `b`, as an operator.
    fn broker(&self, b: usize) -> tonic::transport::Channel {
        self.kit.channel(&self.kit.brokers[b].addr, Role::Broker)
    }

    /// Waits for every steady agent's ticks 1..=n, n at least `at_least`, through broker `b`.
    fn exact_ticks(&self, b: usize, at_least: u64) -> u64 {
        accounts().exact_ticks(&self.broker(b), at_least)
    }

    /// As [`Mesh::exact_ticks`], for the ticks stamped from `since_ms` on.
    fn exact_ticks_since(&self, b: usize, at_least: u64, since_ms: i64) -> u64 {
        accounts().exact_ticks_since(&self.broker(b), at_least, since_ms)
    }
}

/// The region's accounts: its steady and flapping agents.
fn accounts() -> Accounts {
    Accounts {
        region: "west".into(),
        steady: STEADY,
        flapping: FLAPPING,
        interval_ms: INTERVAL_MS,
    }
}

fn open_incidents(http: &str) -> Result<Vec<Listed>, String> {
    accounts().incidents(&|path| get_json(http, path), "open")
}

fn expected(flaps: usize) -> Vec<Incident> {
    accounts().expected(flaps)
}

fn exact_incidents(http: &str, want: &[Incident]) {
    accounts().exact_incidents(&|path| get_json(http, path), want);
}

fn steady_ids(http: &str) -> Vec<(String, i64)> {
    accounts().steady_ids(&|path| get_json(http, path))
}

#[test]
fn a_killed_sub_manager_loses_no_sample_and_no_incident() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut mesh = Mesh::start();
    let http = mesh.http();
    let ids = steady_ids(&http);
    let before = mesh.exact_ticks(0, 4);
    // The owner of the critical agent dies.
    let resources = get_json(&http, "/api/v1/resources?region=west").unwrap();
    let owner = resources
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["host"] == "sim-0013")
        .map(|r| r["owner"].as_str().unwrap().to_string())
        .unwrap();
    let victim = SUBS.iter().position(|s| *s == owner).unwrap();
    let killed_ms = strata_testkit::now_ms();
    mesh.west().members[victim].kill();
    wait_for(
        "sim-0013 polled by another member",
        Duration::from_secs(20),
        || {
            let list = get_json(&http, "/api/v1/resources?region=west")?;
            let r = list
                .as_array()
                .and_then(|l| l.iter().find(|r| r["host"] == "sim-0013").cloned())
                .ok_or("sim-0013 not listed")?;
            if r["owner"] != owner.as_str() && r["state"] == "up" {
                Ok(())
            } else {
                Err(r.to_string())
            }
        },
    );
    mesh.flap();
    let during = mesh.exact_ticks_since(0, before + 6, killed_ms);
    mesh.west().members[victim].restart();
    mesh.wait_all_up("the killed member back");
    mesh.exact_ticks(0, during + 6);
    exact_incidents(&http, &expected(1));
    assert_eq!(
        steady_ids(&http),
        ids,
        "the steady incidents kept their ids"
    );
}

#[test]
fn a_killed_broker_changes_nothing_the_centre_sees() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut mesh = Mesh::start();
    let http = mesh.http();
    let ids = steady_ids(&http);
    let before = mesh.exact_ticks(1, 4);
    mesh.kit.brokers[0].kill();
    mesh.flap();
    // Samples and incidents through the surviving broker.
    mesh.exact_ticks(1, before + 6);
    exact_incidents(&http, &expected(1));
    // A restarted broker relearns the mesh (members, registrations) by itself.
    mesh.kit.brokers[0].restart();
    let after = mesh.exact_ticks(0, before + 8);
    mesh.flap();
    mesh.exact_ticks(0, after + 4);
    exact_incidents(&http, &expected(2));
    assert_eq!(steady_ids(&http), ids);
}

#[test]
fn a_killed_super_manager_resumes_every_stream_where_it_stopped() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut mesh = Mesh::start();
    let http = mesh.http();
    let ids = steady_ids(&http);
    mesh.kit.super_manager().kill();
    // Incidents open and resolve while the centre is down.
    mesh.flap();
    mesh.kit.super_manager().restart();
    let http = mesh.http();
    exact_incidents(&http, &expected(1));
    assert_eq!(steady_ids(&http), ids);
    mesh.exact_ticks(0, 4);
}

#[test]
fn a_region_cut_off_from_the_centre_keeps_working_and_replays_in_order() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut mesh = Mesh::start();
    let http = mesh.http();
    let ids = steady_ids(&http);
    let before = mesh.exact_ticks(0, 4);
    for p in &mesh.kit.proxies {
        p.cut();
    }
    // The centre loses the region's members within their lease.
    wait_for(
        "the centre to lose the region",
        Duration::from_secs(30),
        || {
            let (healthy, _, west) = accounts().region_health(&|p| get_json(&http, p))?;
            if healthy == 0 {
                Ok(())
            } else {
                Err(west.to_string())
            }
        },
    );
    // The region polls and judges on its own.
    let cut_ms = strata_testkit::now_ms();
    mesh.flap();
    let every_member = || -> Result<Vec<Resource>, String> {
        let mut all = Vec::new();
        for i in 0..SUBS.len() {
            all.extend(mesh.member_resources(i)?);
        }
        Ok(all)
    };
    accounts().wait_polled_since(
        "every agent polled in the region meanwhile",
        STEADY + FLAPPING,
        cut_ms,
        &every_member,
    );
    for p in &mesh.kit.proxies {
        p.heal();
    }
    mesh.wait_all_up("the region back in the centre");
    mesh.exact_ticks(0, before + 10);
    exact_incidents(&http, &expected(1));
    assert_eq!(steady_ids(&http), ids);
}
