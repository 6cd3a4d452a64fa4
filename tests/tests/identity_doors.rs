//! Every gRPC door of a running mesh (the real binaries, over mutual TLS) refuses a caller
//! without a certificate, with one from another CA, expired, revoked, of a role the door is
//! closed to, or of another region — each with the status and words that say why, counted
//! in `/metrics` — while the callers it is open to get their answers. And no one acts under
//! another member's name at the brokers.

use std::path::PathBuf;
use std::time::Duration;

use strata_proto::identity::enrol::{request, signing_request};
use strata_proto::identity::{Identity, Role};
use strata_proto::v1::agent_client::AgentClient;
use strata_proto::v1::broker_client::BrokerClient;
use strata_proto::v1::sub_manager_client::SubManagerClient;
use strata_proto::v1::super_manager_client::SuperManagerClient;
use strata_proto::v1::{
    AgentConfigRequest, AgentRegistration, DescribeRequest, HeartbeatRequest, ListServicesRequest,
    Member, RegionSummaryRequest, RegisterAgentsRequest, ResolveRequest, WatchAssignmentRequest,
};
use strata_testkit::ca::impostor_channel;
use strata_testkit::{Mesh, MeshCa, Region, block_on, get_json, http_get, wait_for};
use tonic::Code;
use tonic::transport::Channel;

/// The door of one role: where it listens, and who may call it and who may not.
struct Door {
    name: &'static str,
    addr: String,
    /// An identity the door is open to.
    open_to: (Role, &'static str, &'static str),
    /// An identity of a role the door is closed to.
    wrong_role: (Role, &'static str, &'static str),
}

/// One call of the door, by its name; the status code when refused.
fn call(door: &str, channel: Channel) -> Result<(), (Code, String)> {
    let refused = |s: tonic::Status| (s.code(), s.message().to_string());
    block_on(async move {
        match door {
            "agent" => AgentClient::new(channel)
                .describe(DescribeRequest::default())
                .await
                .map(|_| ()),
            "sub-manager" => SubManagerClient::new(channel)
                .region_summary(RegionSummaryRequest {
                    region: "eu".into(),
                })
                .await
                .map(|_| ()),
            "broker" => BrokerClient::new(channel)
                .resolve(ResolveRequest {
                    region: "eu".into(),
                })
                .await
                .map(|_| ()),
            _ => SuperManagerClient::new(channel)
                .list_services(ListServicesRequest {})
                .await
                .map(|_| ()),
        }
        .map_err(refused)
    })
}

/// Makes `name` a user (as the tests' operator user is) in the principals of the data
/// directories `dirs` of `mesh`: an operator's certificate speaks for the user of its name.
fn user(mesh: &Mesh, dirs: &[&str], name: &str) {
    for dir in dirs {
        strata_web::auth::PrincipalsFile::open(mesh.dir().join(dir).join("principals.json"))
            .unwrap()
            .change(|p| {
                let test = p.users[strata_testkit::access::OPERATOR].clone();
                p.users.insert(name.into(), test);
                Ok(())
            })
            .unwrap();
    }
}

fn node(ca: &MeshCa, (role, region, id): (Role, &str, &str)) -> PathBuf {
    ca.node(role, region, id).unwrap()
}

fn refused_with(door: &Door, what: &str, channel: Channel, code: Code, words: &str) {
    match call(door.name, channel) {
        Ok(()) => panic!("{}: a caller {what} was answered", door.name),
        Err((c, message)) => assert!(
            c == code && message.contains(words),
            "{}: a caller {what}: {c:?} {message} (expected {code:?} with '{words}')",
            door.name
        ),
    }
}

#[test]
fn every_door_refuses_who_it_should_and_answers_who_it_should() {
    let mut mesh = Mesh::builder()
        .region(
            Region::new("eu")
                .member_ids(&["eu-1"])
                .member_toml("[tls]\nreload_interval = \"300ms\"\n")
                .agent("id = \"web-1\"\n[tls]\nreload_interval = \"300ms\"\n"),
        )
        .super_toml("[tls]\nreload_interval = \"300ms\"\n")
        .broker_toml("metrics_listen = \"127.0.0.1:0\"\n[tls]\nreload_interval = \"300ms\"\n")
        .start();
    // the whole mesh works over mutual TLS: the agent is polled and seen at the centre
    let http = mesh.http();
    wait_for("web-1 up at the centre", Duration::from_secs(30), || {
        let r = get_json(&http, "/api/v1/resources")?;
        let up = r
            .as_array()
            .is_some_and(|l| l.iter().any(|x| x["host"] == "web-1" && x["state"] == "up"));
        if up { Ok(()) } else { Err(r.to_string()) }
    });
    user(&mesh, &["super", "eu-1"], "doomed");
    let ca = mesh.ca().clone();
    let other_ca = MeshCa::temp();
    let doors = [
        Door {
            name: "agent",
            addr: mesh.region("eu").agents[0].addr.clone(),
            open_to: (Role::SubManager, "eu", "eu-1"),
            wrong_role: (Role::Operator, "", "test"),
        },
        Door {
            name: "sub-manager",
            addr: mesh.region("eu").members[0].addr.clone(),
            open_to: (Role::Operator, "", "test"),
            wrong_role: (Role::Agent, "eu", "web-1"),
        },
        Door {
            name: "broker",
            addr: mesh.brokers[0].addr.clone(),
            open_to: (Role::Operator, "", "test"),
            wrong_role: (Role::Agent, "eu", "web-1"),
        },
        Door {
            name: "super-manager",
            addr: mesh.super_manager().field("grpc").expect("a gRPC address"),
            open_to: (Role::Operator, "", "test"),
            wrong_role: (Role::Broker, "", "broker-1"),
        },
    ];
    // certificates that expire a second after they are made, one per door's open identity
    let expired: Vec<PathBuf> = doors
        .iter()
        .map(|d| {
            let (role, region, _) = d.open_to;
            let who = Identity::new(role, region, "short-lived").unwrap();
            let dir = mesh.dir().join(format!("expired-{}", d.name));
            ca.issue_into(&who, Duration::from_secs(1), &dir).unwrap();
            dir
        })
        .collect();
    // identities that will be revoked, each first answered on an open connection
    let doomed: Vec<(Identity, Channel)> = doors
        .iter()
        .map(|d| {
            let (role, region, _) = d.open_to;
            let who = Identity::new(role, region, "doomed").unwrap();
            let channel = impostor_channel(&d.addr, Some(&node(&ca, (role, region, "doomed"))));
            wait_for(
                &format!("{}: doomed answered before", d.name),
                Duration::from_secs(10),
                || call(d.name, channel.clone()).map_err(|e| format!("{e:?}")),
            );
            (who, channel)
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));

    for (i, door) in doors.iter().enumerate() {
        let as_open = impostor_channel(&door.addr, Some(&node(&ca, door.open_to)));
        assert_eq!(
            call(door.name, as_open),
            Ok(()),
            "{}: the open identity",
            door.name
        );
        let (role, _, id) = door.open_to;
        refused_with(
            door,
            "without a certificate",
            impostor_channel(&door.addr, None),
            Code::Unauthenticated,
            "no client certificate",
        );
        refused_with(
            door,
            "from another CA",
            impostor_channel(&door.addr, Some(&node(&other_ca, door.open_to))),
            Code::Unauthenticated,
            "not issued by this mesh's CA",
        );
        refused_with(
            door,
            "whose certificate expired",
            impostor_channel(&door.addr, Some(&expired[i])),
            Code::Unauthenticated,
            "expired",
        );
        refused_with(
            door,
            "of a role it is closed to",
            impostor_channel(&door.addr, Some(&node(&ca, door.wrong_role))),
            Code::PermissionDenied,
            "may not call",
        );
        if role.regional() {
            refused_with(
                door,
                "of another region",
                impostor_channel(&door.addr, Some(&node(&ca, (role, "us", id)))),
                Code::PermissionDenied,
                "may not call",
            );
        }
    }

    // revocation reaches every door within its reload interval, open connections included
    for (who, _) in &doomed {
        ca.revoke(who).unwrap();
    }
    for (door, (who, channel)) in doors.iter().zip(&doomed) {
        wait_for(
            &format!("{} refuses {who}", door.name),
            Duration::from_secs(10),
            || match call(door.name, channel.clone()) {
                Err((Code::Unauthenticated, m)) if m.contains("revoked") => Ok(()),
                other => Err(format!("{other:?}")),
            },
        );
    }

    // the broker counts what it refused, by reason
    let metrics = mesh.brokers[0].field("metrics").expect("broker metrics");
    let (_, text) = http_get(&metrics, "/metrics").unwrap();
    for reason in [
        "no_certificate",
        "untrusted",
        "expired",
        "revoked",
        "forbidden",
    ] {
        let line = format!("strata_broker_refusals_total{{reason=\"{reason}\"}} ");
        let n: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix(&line))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {line} in\n{text}"));
        assert!(n >= 1, "{line}{n}");
    }
    assert!(text.contains("strata_broker_insecure 0\n"), "{text}");
}

#[test]
fn no_one_heartbeats_watches_or_registers_under_another_name() {
    let mut mesh = Mesh::builder()
        .region(Region::new("eu").member_ids(&["eu-1"]))
        .super_managers(0)
        .start();
    let broker = mesh.brokers[0].addr.clone();
    let ca = mesh.ca().clone();
    let as_who = |who: (Role, &str, &str)| {
        BrokerClient::new(impostor_channel(&broker, Some(&node(&ca, who))))
    };
    let member = |id: &str, region: &str| Member {
        id: id.into(),
        role: strata_proto::v1::Role::SubManager as i32,
        region: region.into(),
        address: "127.0.0.1:1".into(),
        healthy: true,
        ..Default::default()
    };
    block_on(async {
        // eu-2 cannot heartbeat or watch assignments as eu-1
        let mut eu2 = as_who((Role::SubManager, "eu", "eu-2"));
        let s = eu2
            .heartbeat(HeartbeatRequest {
                member: Some(member("eu-1", "eu")),
                lease_ms: 0,
            })
            .await
            .unwrap_err();
        assert_eq!(s.code(), Code::PermissionDenied, "{s:?}");
        assert!(
            s.message().contains("may not act as member 'eu-1'"),
            "{s:?}"
        );
        let s = eu2
            .watch_assignment(WatchAssignmentRequest {
                member: Some(member("eu-1", "eu")),
            })
            .await
            .unwrap_err();
        assert_eq!(s.code(), Code::PermissionDenied, "{s:?}");
        // nor can a member of another region join this one under its own id
        let mut us1 = as_who((Role::SubManager, "us", "eu-9"));
        let s = us1
            .heartbeat(HeartbeatRequest {
                member: Some(member("eu-9", "eu")),
                lease_ms: 0,
            })
            .await
            .unwrap_err();
        assert_eq!(s.code(), Code::PermissionDenied, "{s:?}");
        // a member heartbeating as itself is taken (region lab: the mesh's eu is untouched)
        let mut lab9 = as_who((Role::SubManager, "lab", "lab-9"));
        lab9.heartbeat(HeartbeatRequest {
            member: Some(member("lab-9", "lab")),
            lease_ms: 0,
        })
        .await
        .expect("a heartbeat under one's own name");
        // an agent registers itself, never another host, never in another region
        let mut web1 = as_who((Role::Agent, "eu", "web-1"));
        let register = |id: &str, region: &str| RegisterAgentsRequest {
            region: region.into(),
            agents: vec![AgentRegistration {
                id: id.into(),
                address: "127.0.0.1:9".into(),
            }],
            ..Default::default()
        };
        for (id, region) in [("db-1", "eu"), ("web-1", "us")] {
            let s = web1
                .register_agents(register(id, region))
                .await
                .unwrap_err();
            assert_eq!(s.code(), Code::PermissionDenied, "{id}/{region}: {s:?}");
        }
        web1.register_agents(register("web-1", "eu"))
            .await
            .expect("an agent registers itself");
    });
    // the real member is unaffected by all this
    let sub = mesh.region("eu").members[0].addr.clone();
    let channel = mesh.channel(&sub, Role::SubManager);
    block_on(async {
        SubManagerClient::new(channel)
            .region_summary(RegionSummaryRequest {
                region: "eu".into(),
            })
            .await
            .expect("the member answers its operator")
    });
}

#[test]
fn revocations_reach_members_and_agents_through_the_brokers() {
    let mut mesh = Mesh::builder()
        .broker_toml("registration_ttl = \"3s\"\n[tls]\nreload_interval = \"300ms\"\n")
        .region(
            Region::new("eu")
                .member_ids(&["eu-1"])
                .member_toml("[tls]\nreload_interval = \"300ms\"\n")
                .agent("id = \"web-1\"\n[tls]\nreload_interval = \"300ms\"\n"),
        )
        .super_managers(0)
        .start();
    let ca = mesh.ca().clone();
    let member = mesh.region("eu").members[0].addr.clone();
    let agent = mesh.region("eu").agents[0].addr.clone();
    let mallory = (Role::Operator, "", "mallory");
    let rogue = (Role::SubManager, "eu", "rogue");
    let at_member = impostor_channel(&member, Some(&node(&ca, mallory)));
    let at_agent = impostor_channel(&agent, Some(&node(&ca, rogue)));
    user(&mesh, &["eu-1"], "mallory");
    wait_for("mallory answered", Duration::from_secs(10), || {
        call("sub-manager", at_member.clone()).map_err(|e| format!("{e:?}"))
    });
    assert_eq!(call("agent", at_agent.clone()), Ok(()));
    // revoked at the CA, and the list handed to the broker alone
    let authority = strata_proto::identity::ca::Ca::load(&ca.dir()).unwrap();
    for (role, region, id) in [mallory, rogue] {
        authority
            .revoke(&Identity::new(role, region, id).unwrap())
            .unwrap();
    }
    let broker_dir = node(&ca, (Role::Broker, "", "broker-1"));
    std::fs::copy(authority.revoked_path(), broker_dir.join("revoked.txt")).unwrap();
    // the member learns it with its heartbeats, the agent with its registrations
    for (door, channel) in [("sub-manager", at_member), ("agent", at_agent)] {
        wait_for(
            &format!("the {door} refuses the revoked identity"),
            Duration::from_secs(15),
            || match call(door, channel.clone()) {
                Err((Code::Unauthenticated, m)) if m.contains("revoked") => Ok(()),
                other => Err(format!("{other:?}")),
            },
        );
    }
    let kept = std::fs::read_to_string(node(&ca, (Role::Agent, "eu", "web-1")).join("revoked.txt"))
        .unwrap();
    assert!(
        kept.contains("spiffe://strata/sub-manager/eu/rogue"),
        "{kept}"
    );
}

#[test]
fn enrolment_and_config_calls_refuse_who_they_should() {
    let mut mesh = Mesh::builder()
        .broker_toml("[regions.eu]\njoin_token = \"eu-5ecret\"\n")
        .region(
            Region::new("eu")
                .member_ids(&["eu-1"])
                .agent("id = \"web-1\"\n"),
        )
        .super_managers(0)
        .start();
    let ca = mesh.ca().clone();
    let member = mesh.region("eu").members[0].addr.clone();
    let broker = mesh.brokers[0].addr.clone();
    let as_who =
        |who: (Role, &str, &str), addr: &str| impostor_channel(addr, Some(&node(&ca, who)));
    let operator = (Role::Operator, "", "test");
    let agent = (Role::Agent, "eu", "web-1");
    let (_, csr) = signing_request().unwrap();
    let sign = |channel: Channel| {
        block_on(SubManagerClient::new(channel).sign_agent(request("eu", "web-9", "", csr.clone())))
            .map(|_| ())
            .map_err(|s| (s.code(), s.message().to_string()))
    };
    let config = |channel: Channel| {
        block_on(
            SubManagerClient::new(channel).get_agent_config(AgentConfigRequest {
                region: "eu".into(),
                resource_id: "eu/web-1".into(),
            }),
        )
        .map(|_| ())
        .map_err(|s| (s.code(), s.message().to_string()))
    };
    let enrol = |channel: Channel| {
        block_on(BrokerClient::new(channel).enrol(request("eu", "web-9", "", csr.clone())))
            .map(|_| ())
            .map_err(|s| (s.code(), s.message().to_string()))
    };
    let refused =
        |what: &str, answer: Result<(), (Code, String)>, code: Code, words: &str| match answer {
            Ok(()) => panic!("{what}: answered"),
            Err((c, m)) => assert!(c == code && m.contains(words), "{what}: {c:?} {m}"),
        };
    // a member signs for brokers only: not for an operator, a super-manager or an agent,
    // and a broker does not route the call for anyone
    for who in [operator, (Role::SuperManager, "", "super-1"), agent] {
        let what = format!("SignAgent at the member as {who:?}");
        refused(
            &what,
            sign(as_who(who, &member)),
            Code::PermissionDenied,
            "brokers only",
        );
    }
    refused(
        "SignAgent at the member with no certificate",
        sign(impostor_channel(&member, None)),
        Code::Unauthenticated,
        "certificate",
    );
    refused(
        "SignAgent routed by the broker for an operator",
        sign(as_who(operator, &broker)),
        Code::PermissionDenied,
        "not routed",
    );
    // a host's configuration is read by operators, not by agents
    refused(
        "GetAgentConfig at the member as an agent",
        config(as_who(agent, &member)),
        Code::PermissionDenied,
        "operators only",
    );
    refused(
        "GetAgentConfig routed by the broker for an agent",
        config(as_who(agent, &broker)),
        Code::PermissionDenied,
        "operator",
    );
    // the principals come from the centre: not from an operator, directly or routed
    // the member's own principals (its operator's user kept), at a later version
    let mut held: serde_json::Value =
        serde_json::from_slice(&std::fs::read(mesh.dir().join("eu-1/principals.json")).unwrap())
            .unwrap();
    held["version"] = serde_json::json!(held["version"].as_u64().unwrap_or(0) + 7);
    let principals = |channel: Channel| {
        block_on(SubManagerClient::new(channel).put_principals(
            strata_proto::v1::PutPrincipalsRequest {
                region: "eu".into(),
                principals_json: serde_json::to_vec(&held).unwrap(),
            },
        ))
        .map(|_| ())
        .map_err(|s| (s.code(), s.message().to_string()))
    };
    refused(
        "PutPrincipals at the member as an operator",
        principals(as_who(operator, &member)),
        Code::PermissionDenied,
        "brokers and super-managers only",
    );
    refused(
        "PutPrincipals routed by the broker for an operator",
        principals(as_who(operator, &broker)),
        Code::PermissionDenied,
        "super-manager",
    );
    principals(as_who((Role::SuperManager, "", "super-1"), &broker))
        .expect("a super-manager hands the principals through the broker");
    wait_for(
        "the operator reads web-1's configuration",
        Duration::from_secs(30),
        || config(as_who(operator, &member)).map_err(|e| format!("{e:?}")),
    );
    // enrolment is for agents, and without a certificate only with the region's token
    refused(
        "Enrol as a sub-manager",
        enrol(as_who((Role::SubManager, "eu", "eu-1"), &broker)),
        Code::PermissionDenied,
        "open to",
    );
    refused(
        "Enrol with no certificate and no token",
        enrol(impostor_channel(&broker, None)),
        Code::Unauthenticated,
        "token",
    );
}
