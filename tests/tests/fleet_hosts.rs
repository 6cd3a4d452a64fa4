//! A fleet rehearsed across hosts: every part on a host of its own, made as a network
//! namespace by the test, with addresses of the test's own. The centre (super-manager) and
//! two brokers on the core LAN 198.18.1.0/24; site eu on its LAN 198.18.2.0/24 behind a
//! router (198.18.0.0/15, the range kept for benchmarks, so as to clash with no real
//! network): two sub-managers, two hosts with a real agent each, a host of fourteen steady
//! simulated agents and a host of two flapping ones. The test process is the operator's
//! workstation, on both LANs.
//!
//! Managers hold the certificates an operator issued them; the agents and simulators hold
//! nothing but the brokers' addresses, the CA's fingerprint and the region's join token:
//! they listen on 0.0.0.0, make their keys, enrol over the network and advertise their
//! host's address. Then the site's uplink is cut with `ip link set ... down` (a real
//! partition: packets dropped, no process killed) while a flapping host goes down and comes
//! back, and healed; then a sub-manager's own cable is pulled and put back. Through both,
//! the samples and incidents are accounted for exactly, as in the fault tests
//! (`strata_tests::accounting`), and the real agents' samples have no gap.
//!
//! Making namespaces needs root and iproute2; without them the test says so and skips
//! (docs/deploying.md, "Rehearsing a fleet", says how to run it).

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use strata_proto::identity::Role;
use strata_proto::identity::ca::Ca;
use strata_proto::v1::sub_manager_client::SubManagerClient;
use strata_proto::v1::{ListResourcesRequest, QueryRangeRequest, Resource, ResourceState};
use strata_testkit::http::https_get_json;
use strata_testkit::netns::{Host, Link, Network};
use strata_testkit::{MeshCa, Proc, Spec, block_on, now_ms, wait_for, write_config};
use strata_tests::accounting::Accounts;
use tonic::transport::Channel;

const TOKEN: &str = "eu-join-rehearsal";
const INTERVAL_MS: u64 = 500;
/// Steady simulated agents: sim-0007 runs at warning CPU, sim-0013 at critical.
const STEADY: usize = 14;
const FLAPPING: usize = 2;
const REAL: [&str; 2] = ["host-a1", "host-a2"];
const MEMBERS: [&str; 2] = ["eu-1", "eu-2"];

/// The rehearsal's hosts and the processes on them.
struct Fleet {
    _net: Network,
    _dir: tempfile::TempDir,
    ca: MeshCa,
    /// The centre's HTTPS address and the certificate it serves.
    centre: (String, String),
    brokers: Vec<String>,
    members: Vec<(Host, Proc)>,
    flap: Proc,
    site_uplink: Link,
    _procs: Vec<Proc>,
}

/// A daemon of `binary` on `host`, logging into `dir`.
fn on(host: &Host, name: &str, binary: &str, args: &[&str], dir: &Path) -> Proc {
    Proc::spawn(Spec::new(name, binary, args, dir).netns(&host.netns))
}

fn s(path: &Path) -> String {
    path.display().to_string()
}

fn quoted(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("\"{i}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Fleet {
    /// The network, the managers, then the enrolled agents; none if namespaces cannot be made.
    fn start() -> Option<Fleet> {
        let mut net = match Network::new() {
            Ok(net) => net,
            Err(why) => {
                strata_testkit::cannot_run(
                    "the multi-host rehearsal",
                    &format!(
                        "{why}; run it as root with iproute2 (docs/deploying.md, \
                         \"Rehearsing a fleet\")"
                    ),
                );
                return None;
            }
        };
        let mut core = net.lan("core", "198.18.1");
        let mut site = net.lan("site", "198.18.2");
        let uplinks = net.router("router", &mut [&mut core, &mut site], 250);
        net.workstation(&core, 254);
        net.workstation(&site, 254);
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ca = MeshCa::open(d).unwrap();
        let mut procs = Vec::new();

        // the centre's hosts: two brokers, the super-manager serving HTTPS for its address
        let mut brokers = Vec::new();
        for (n, id) in ["broker-1", "broker-2"].iter().enumerate() {
            let host = net.host(id, &core, 2 + n as u8);
            let config = format!(
                "id = \"{id}\"\nlisten = \"0.0.0.0:7600\"\nlease = \"2s\"\n\
                 registration_ttl = \"6s\"\ncall_timeout = \"3s\"\n\
                 [regions.eu]\njoin_token = \"{TOKEN}\"\n[tls]\ndir = \"{}\"\n",
                s(&ca.node(Role::Broker, "", id).unwrap())
            );
            let path = write_config(d, &format!("{id}.toml"), &config);
            procs.push(on(&host, id, "strata-broker", &["--config", &path], d));
            brokers.push(format!("{}:7600", host.ip));
        }
        let centre_host = net.host("centre", &core, 1);
        let made = rcgen::generate_simple_self_signed(vec![centre_host.ip.clone()]).unwrap();
        std::fs::write(d.join("console.crt"), made.cert.pem()).unwrap();
        std::fs::write(d.join("console.key"), made.signing_key.serialize_pem()).unwrap();
        let data = d.join("centre-data");
        strata_testkit::access::seed(&data).unwrap();
        let config = format!(
            "id = \"centre-1\"\nhttp = \"0.0.0.0:8443\"\ngrpc_listen = \"0.0.0.0:7500\"\n\
             brokers = [{}]\ndata_dir = \"{}\"\nresubscribe_delay = \"200ms\"\n\
             [https]\ncert_file = \"{}\"\nkey_file = \"{}\"\n[tls]\ndir = \"{}\"\n",
            quoted(&brokers),
            s(&data),
            s(&d.join("console.crt")),
            s(&d.join("console.key")),
            s(&ca.node(Role::SuperManager, "", "centre-1").unwrap())
        );
        let path = write_config(d, "centre.toml", &config);
        procs.push(on(
            &centre_host,
            "centre",
            "strata-super-manager",
            &["--config", &path],
            d,
        ));
        let centre = (format!("{}:8443", centre_host.ip), made.cert.pem());

        // the site: two sub-managers with the region's CA to sign enrolments
        let mut members = Vec::new();
        for (n, id) in MEMBERS.iter().enumerate() {
            let host = net.host(id, &site, 11 + n as u8);
            let data = d.join(format!("{id}-data"));
            strata_testkit::access::seed(&data).unwrap();
            let config = format!(
                "id = \"{id}\"\nregion = \"eu\"\nlisten = \"0.0.0.0:7700\"\n\
                 metrics_listen = \"0.0.0.0:9700\"\n\
                 advertise = \"{}:7700\"\ndata_dir = \"{}\"\nbrokers = [{}]\n\
                 [poll]\ninterval = \"{INTERVAL_MS}ms\"\nbackoff_max = \"1s\"\ntimeout = \"2s\"\n\
                 down_after_failures = 2\n[tls]\ndir = \"{}\"\n",
                host.ip,
                s(&data),
                quoted(&brokers),
                s(&ca.node(Role::SubManager, "eu", id).unwrap())
            );
            let path = write_config(d, &format!("{id}.toml"), &config);
            let member = on(&host, id, "strata-sub-manager", &["--config", &path], d);
            members.push((host, member));
        }

        // agents that hold only what enrolment needs
        let pin = format!("sha256:{}", Ca::load(&ca.dir()).unwrap().fingerprint());
        for (n, id) in REAL.iter().enumerate() {
            let host = net.host(id, &site, 21 + n as u8);
            let tls = d.join(id).join("tls");
            std::fs::create_dir_all(&tls).unwrap();
            let config = format!(
                "id = \"{id}\"\nlisten = \"0.0.0.0:7801\"\ncollect_interval = \"{INTERVAL_MS}ms\"\n\
                 [registration]\nbrokers = [{}]\nregion = \"eu\"\nadvertise = \"{}:7801\"\n\
                 [enrol]\nca_fingerprint = \"{pin}\"\ntoken = \"{TOKEN}\"\n[tls]\ndir = \"{}\"\n",
                quoted(&brokers),
                host.ip,
                s(&tls)
            );
            let path = write_config(d, &format!("{id}.toml"), &config);
            let agent = on(&host, id, "strata-agent", &["--config", &path], d);
            assert!(
                agent.first_line.contains("0.0.0.0:7801"),
                "{}",
                agent.first_line
            );
            assert!(
                tls.join("node.key").exists(),
                "{id}: the key is made on its host"
            );
            procs.push(agent);
        }
        let sim = |net: &mut Network, name: &str, prefix: &str, count: usize, last: u8| {
            let host = net.host(name, &site, last);
            let tls = s(&d.join(name).join("tls"));
            let advertise = format!("{}:7900", host.ip);
            let count = count.to_string();
            let args = [
                "sim",
                "--agents",
                &count,
                "--prefix",
                prefix,
                "--interval",
                &format!("{INTERVAL_MS}ms"),
                "--listen",
                "0.0.0.0:7900",
                "--advertise",
                &advertise,
                "--brokers",
                &brokers.join(","),
                "--region",
                "eu",
                "--token",
                TOKEN,
                "--ca-fingerprint",
                &pin,
                "--tls-dir",
                &tls,
            ];
            on(&host, name, "strata", &args, d)
        };
        procs.push(sim(&mut net, "sims", "sim-", STEADY, 31));
        let flap = sim(&mut net, "flaps", "flap-", FLAPPING, 32);
        let fleet = Fleet {
            _net: net,
            _dir: dir,
            ca,
            centre,
            brokers,
            members,
            flap,
            site_uplink: uplinks[1].clone(),
            _procs: procs,
        };
        fleet.wait_all_up("the fleet to start");
        Some(fleet)
    }

    /// GET from the centre's API over HTTPS, trusting its certificate only.
    fn get(&self, path: &str) -> Result<Value, String> {
        https_get_json(&self.centre.0, &self.centre.1, path)
    }

    fn accounts() -> Accounts {
        Accounts {
            region: "eu".into(),
            steady: STEADY,
            flapping: FLAPPING,
            interval_ms: INTERVAL_MS,
        }
    }

    /// An operator's channel to the first broker.
    fn broker(&self) -> Channel {
        self.ca.channel(&self.brokers[0], Role::Broker)
    }

    /// Every agent up in the centre's view, both members healthy, both steady incidents.
    fn wait_all_up(&self, what: &str) {
        let agents = (REAL.len() + STEADY + FLAPPING) as u64;
        wait_for(what, Duration::from_secs(90), || {
            let (healthy, up, eu) = Self::accounts().region_health(&|p| self.get(p))?;
            let steady = Self::accounts()
                .incidents(&|p| self.get(p), "open")?
                .iter()
                .filter(|(i, _, _)| i.0.contains("/sim-"))
                .count();
            if healthy == MEMBERS.len() && up == agents && steady == 2 {
                Ok(())
            } else {
                let all = Self::accounts().all_incidents(&|p| self.get(p))?;
                Err(format!(
                    "{healthy} healthy members, {up} of {agents} up; {eu}; incidents {all:?}"
                ))
            }
        });
    }

    /// A member's region-wide resources, asked from the workstation directly.
    fn member_resources(&self, i: usize) -> Result<Vec<Resource>, String> {
        let addr = format!("{}:7700", self.members[i].0.ip);
        let channel = self.ca.channel(&addr, Role::SubManager);
        block_on(async move {
            let answer = SubManagerClient::new(channel)
                .list_resources(ListResourcesRequest {
                    region: "eu".into(),
                })
                .await
                .map_err(|s| format!("ListResources at {addr}: {}", s.message()))?;
            Ok(answer.into_inner().resources)
        })
    }

    /// Waits until the flapping agents are in `state` at the members that can be asked.
    fn wait_flaps(&self, state: ResourceState, reachable: &[usize]) {
        wait_for(
            &format!("the flapping agents {state:?} in the region"),
            Duration::from_secs(30),
            || {
                let mut states = std::collections::BTreeMap::new();
                for &i in reachable {
                    for r in self.member_resources(i).unwrap_or_default() {
                        if r.host.starts_with("flap-") && r.last_poll_ms > 0 {
                            states.insert(r.host.clone(), r.state());
                        }
                    }
                }
                if states.len() == FLAPPING && states.values().all(|s| *s == state) {
                    Ok(())
                } else {
                    Err(format!("{states:?}"))
                }
            },
        );
    }

    /// Takes the flapping host down until the region judges its agents down, then up again.
    fn flap(&mut self, reachable: &[usize]) {
        self.flap.kill();
        self.wait_flaps(ResourceState::Down, reachable);
        self.flap.restart();
        self.wait_flaps(ResourceState::Up, reachable);
    }

    /// The timestamps of `host_load1` of a real agent, read through a broker.
    fn real_times(&self, host: &str) -> Vec<i64> {
        let channel = self.broker();
        let host = host.to_string();
        block_on(async move {
            let answer = SubManagerClient::new(channel)
                .query_range(QueryRangeRequest {
                    region: "eu".into(),
                    resource_id: format!("eu/{host}"),
                    name: "host_load1".into(),
                    from_ms: 0,
                    to_ms: i64::MAX,
                    ..Default::default()
                })
                .await
                .unwrap_or_else(|s| panic!("QueryRange of {host}: {}", s.message()))
                .into_inner();
            let mut times: Vec<i64> = answer
                .series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.ts_ms))
                .collect();
            times.sort_unstable();
            times.dedup();
            times
        })
    }

    /// Each real agent's samples run with no gap longer than three intervals up to `until`.
    fn no_gap_in_real_agents(&self, until: i64) {
        for host in REAL {
            let times = wait_for(
                &format!("{host}'s samples up to now"),
                Duration::from_secs(30),
                || {
                    let times = self.real_times(host);
                    match times.last() {
                        Some(last) if *last >= until => Ok(times),
                        last => Err(format!("{} samples, last {last:?}", times.len())),
                    }
                },
            );
            for pair in times.windows(2) {
                assert!(
                    pair[1] - pair[0] <= 3 * INTERVAL_MS as i64,
                    "{host}: a gap of {} ms at {}",
                    pair[1] - pair[0],
                    pair[0]
                );
            }
        }
    }
}

#[test]
fn a_fleet_across_hosts_keeps_every_sample_through_a_cut_site_and_a_cut_off_member() {
    let Some(mut fleet) = Fleet::start() else {
        return;
    };
    let accounts = Fleet::accounts();
    let (centre, cert) = fleet.centre.clone();
    let get = |path: &str| https_get_json(&centre, &cert, path);
    let ids = accounts.steady_ids(&get);
    let before = accounts.exact_ticks(&fleet.broker(), 4);

    // the site's uplink cut: the centre loses the region, which works on by itself
    fleet.site_uplink.cut();
    wait_for(
        "the centre to lose the site",
        Duration::from_secs(30),
        || {
            let (healthy, _, eu) = accounts.region_health(&get)?;
            if healthy == 0 {
                Ok(())
            } else {
                Err(eu.to_string())
            }
        },
    );
    let cut_ms = now_ms();
    fleet.flap(&[0, 1]);
    let every_member = || -> Result<Vec<Resource>, String> {
        let mut all = Vec::new();
        for i in 0..MEMBERS.len() {
            all.extend(fleet.member_resources(i)?);
        }
        Ok(all)
    };
    accounts.wait_polled_since(
        "every agent polled in the site meanwhile",
        REAL.len() + STEADY + FLAPPING,
        cut_ms,
        &every_member,
    );
    fleet.site_uplink.heal();
    fleet.wait_all_up("the site back in the centre");
    let healed = accounts.exact_ticks(&fleet.broker(), before + 10);
    accounts.exact_incidents(&get, &accounts.expected(1));
    assert_eq!(accounts.steady_ids(&get), ids);
    fleet.no_gap_in_real_agents(now_ms());

    // a sub-manager's cable pulled: the other member takes its agents over
    let resources = fleet.get("/api/v1/resources?region=eu").unwrap();
    let owner = resources
        .as_array()
        .and_then(|l| l.iter().find(|r| r["host"] == "sim-0013"))
        .and_then(|r| r["owner"].as_str())
        .unwrap_or_else(|| panic!("sim-0013 has no owner: {resources}"))
        .to_string();
    let victim = MEMBERS.iter().position(|m| *m == owner).unwrap();
    let at_cut = accounts.exact_ticks(&fleet.broker(), healed);
    let cut_ms = now_ms();
    fleet.members[victim].0.link.cut();
    wait_for(
        "sim-0013 polled by the other member",
        Duration::from_secs(30),
        || {
            let list = fleet.get("/api/v1/resources?region=eu")?;
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
    fleet.flap(&[1 - victim]);
    // cut off for ten seconds at least: far longer than its polls take to fail
    let during = accounts.exact_ticks_since(&fleet.broker(), at_cut + 20, cut_ms);
    fleet.members[victim].0.link.heal();
    std::fs::write("/tmp/victim.log", fleet.members[victim].1.log_text()).unwrap();
    // cut off, it held its judgements rather than call every agent of its share down
    let metrics = format!("{}:9700", fleet.members[victim].0.ip);
    let (_, text) = strata_testkit::http_get(&metrics, "/metrics").unwrap();
    let held = text
        .lines()
        .find_map(|l| l.strip_prefix("strata_sub_manager_judgements_held_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no judgements_held in {text}"));
    assert!(held > 0.0, "{owner} held no judgement while cut off");
    // and no agent, real or simulated, was ever called unreachable but the flapping ones
    let accused: Vec<_> = accounts
        .incidents(&get, "resolved")
        .unwrap()
        .into_iter()
        .filter(|((resource, rule, _, _), _, _)| {
            rule == "reachable" && !resource.contains("/flap-")
        })
        .collect();
    assert!(accused.is_empty(), "agents accused: {accused:?}");
    fleet.wait_all_up("the cut-off member back");
    accounts.exact_ticks(&fleet.broker(), during + 6);
    accounts.exact_incidents(&get, &accounts.expected(2));
    assert_eq!(
        accounts.steady_ids(&get),
        ids,
        "the steady incidents kept their ids"
    );
    fleet.no_gap_in_real_agents(now_ms());
}
