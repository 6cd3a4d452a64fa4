//! Who may call what over gRPC, walked method by method: every method of the regional API
//! (at a member, and routed by a broker) and of the centre's, taken from the `.proto` files
//! so that none is missed, called with no certificate (`UNAUTHENTICATED`), with an operator
//! certificate whose user's role or regions do not allow it (`PERMISSION_DENIED`), and with
//! one whose user's do (answered). An operator's certificate speaks for the user of its
//! name; one that speaks for nobody is refused everywhere; a scoped user's list of services
//! holds only its regions'; an acknowledgement over gRPC is signed and audited with the user.

use std::time::Duration;

use strata_proto::identity::{Expect, Role};
use strata_proto::v1::sub_manager_client::SubManagerClient;
use strata_proto::v1::super_manager_client::SuperManagerClient;
use strata_proto::v1::*;
use strata_testkit::ca::impostor_channel;
use strata_testkit::{Mesh, MeshCa, Region, block_on, get_json, wait_for};
use strata_web::auth::policy::Action;
use strata_web::auth::{Principals, Role as UserRole, Scope};
use tonic::Code;
use tonic::transport::Channel;

/// The service the centre's methods ask about: its components all in east.
const SHOP: &str =
    r#"{"name":"shop","components":[{"name":"web","region":"east","host":"~east-.*"}]}"#;
/// The host whose agent the per-resource methods reach.
const HOST: &str = "east/east-host";

/// The methods of `service` in the `.proto` file `text`.
fn methods(text: &str, service: &str) -> Vec<String> {
    let start = text
        .find(&format!("service {service} {{"))
        .unwrap_or_else(|| panic!("no service {service}"));
    let body = &text[start..start + text[start..].find("\n}").unwrap()];
    body.lines()
        .filter_map(|l| l.trim().strip_prefix("rpc "))
        .map(|l| l.split('(').next().unwrap().trim().to_string())
        .collect()
}

/// What a method needs of a user: an action over the region east (or, `All`, every region);
/// `None`: closed to every user.
#[derive(Clone, Copy, Debug)]
enum Needs {
    East(Action),
    All,
    /// Any user: the answer is cut to the user's regions.
    Scoped,
    Closed,
}

/// The regional API's methods, as docs/security.md writes them.
fn regional_needs(method: &str) -> Needs {
    match method {
        "AcknowledgeEvent" => Needs::East(Action::Operate),
        "ConfigureAgent" | "PutRules" | "GetNotify" | "PutNotify" | "PutAgentFiles" => {
            Needs::East(Action::Admin)
        }
        // Peer: members of the region only (checked at the end), no user
        "SignAgent" | "PutPrincipals" | "Peer" => Needs::Closed,
        _ => Needs::East(Action::Read),
    }
}

/// The centre's methods: reports and placement span regions, the list of services is cut
/// to the caller's; the rest read east (the service shop, or the host).
fn centre_needs(method: &str) -> Needs {
    match method {
        "Report" | "Placement" => Needs::All,
        "ListServices" => Needs::Scoped,
        // WatchCentre: super-managers only (checked at the end), no user
        "WatchCentre" => Needs::Closed,
        _ => Needs::East(Action::Read),
    }
}

/// The user refused a method, and the one allowed it.
fn users_for(needs: Needs) -> (Option<&'static str>, Option<&'static str>) {
    match needs {
        Needs::East(Action::Read) => (Some("viewer-west"), Some("viewer-east")),
        Needs::East(Action::Operate) => (Some("viewer-east"), Some("operator-east")),
        Needs::East(Action::Admin) => (Some("operator-east"), Some("admin-east")),
        Needs::All => (Some("viewer-east"), Some("viewer-all")),
        Needs::Scoped => (None, Some("viewer-west")),
        Needs::Closed => (Some("test"), None),
    }
}

/// A minute of the host's CPU.
fn last_minute() -> QueryRangeRequest {
    let now = strata_proto::now_ms();
    QueryRangeRequest {
        region: "east".into(),
        resource_id: HOST.into(),
        name: "cpu.usage".into(),
        from_ms: now - 60_000,
        to_ms: now,
        ..Default::default()
    }
}

/// The host's three busiest processes.
fn top_three() -> AgentSnapshotRequest {
    AgentSnapshotRequest {
        region: "east".into(),
        resource_id: HOST.into(),
        top: 3,
        ..Default::default()
    }
}

/// Calls `method` of the regional API over `channel`, about region east.
fn regional(method: &str, channel: Channel) -> Result<(), tonic::Status> {
    let region = || "east".to_string();
    block_on(async move {
        let mut c = SubManagerClient::new(channel);
        match method {
            "RegionSummary" => c
                .region_summary(RegionSummaryRequest { region: region() })
                .await
                .map(drop),
            "ListResources" => c
                .list_resources(ListResourcesRequest { region: region() })
                .await
                .map(drop),
            "QueryRange" => c.query_range(last_minute()).await.map(drop),
            "WatchRegion" => c
                .watch_region(WatchRegionRequest {
                    region: region(),
                    ..Default::default()
                })
                .await
                .map(drop),
            "AgentSnapshot" => c.agent_snapshot(top_three()).await.map(drop),
            "ConfigureAgent" => c
                .configure_agent(ConfigureAgentRequest {
                    region: region(),
                    resource_id: HOST.into(),
                    config_toml: "[items.processes]\ninterval = '30s'\n".into(),
                })
                .await
                .map(drop),
            // unsigned: handed on, and refused by the agent itself
            "PutAgentFiles" => c
                .put_agent_files(PutAgentFilesRequest {
                    region: region(),
                    resource_id: HOST.into(),
                    bundle: Some(SignedBundle::default()),
                })
                .await
                .map(drop),
            "AcknowledgeEvent" => c
                .acknowledge_event(AcknowledgeEventRequest {
                    region: region(),
                    resource_id: HOST.into(),
                    rule: "no-such-rule".into(),
                    by: "someone else".into(),
                    comment: String::new(),
                })
                .await
                .map(drop),
            "GetRules" => c
                .get_rules(GetRulesRequest { region: region() })
                .await
                .map(drop),
            "PutRules" => c
                .put_rules(PutRulesRequest {
                    region: region(),
                    rules_toml: String::new(),
                })
                .await
                .map(drop),
            "ListNotifications" => c
                .list_notifications(ListNotificationsRequest {
                    region: region(),
                    limit: 5,
                })
                .await
                .map(drop),
            "ListAgents" => c
                .list_agents(ListAgentsRequest { region: region() })
                .await
                .map(drop),
            "ListForwarding" => c
                .list_forwarding(ListForwardingRequest { region: region() })
                .await
                .map(drop),
            "GetNotify" => c
                .get_notify(GetNotifyRequest { region: region() })
                .await
                .map(drop),
            "PutNotify" => c
                .put_notify(PutNotifyRequest {
                    region: region(),
                    use_file: true,
                    ..Default::default()
                })
                .await
                .map(drop),
            "SignAgent" => c.sign_agent(EnrolRequest::default()).await.map(drop),
            "GetAgentConfig" => c
                .get_agent_config(AgentConfigRequest {
                    region: region(),
                    resource_id: HOST.into(),
                })
                .await
                .map(drop),
            "PutPrincipals" => c
                .put_principals(PutPrincipalsRequest {
                    region: region(),
                    ..Default::default()
                })
                .await
                .map(drop),
            "Peer" => c
                .peer(PeerRequest {
                    member_id: "east-9".into(),
                    region: region(),
                })
                .await
                .map(drop),
            other => panic!("the walk has no call for SubManager.{other}: add one"),
        }
    })
}

/// Calls `method` of the centre's API over `channel`.
fn centre(method: &str, channel: Channel) -> Result<(), tonic::Status> {
    let shop = || "shop".to_string();
    block_on(async move {
        let mut c = SuperManagerClient::new(channel);
        match method {
            "ListServices" => c.list_services(ListServicesRequest {}).await.map(drop),
            "GetService" => c
                .get_service(GetServiceRequest { name: shop() })
                .await
                .map(drop),
            "RootCause" => c
                .root_cause(RootCauseRequest {
                    name: shop(),
                    window_ms: 60_000,
                })
                .await
                .map(drop),
            "Sla" => c
                .sla(SlaRequest {
                    name: shop(),
                    period: "1h".into(),
                    ..Default::default()
                })
                .await
                .map(drop),
            "Qos" => c
                .qos(QosRequest {
                    name: shop(),
                    ..Default::default()
                })
                .await
                .map(drop),
            "Report" => c
                .report(ReportRequest {
                    kind: "availability".into(),
                    period: "1h".into(),
                    ..Default::default()
                })
                .await
                .map(drop),
            "Placement" => c
                .placement(PlacementRequest {
                    service: shop(),
                    component: "web".into(),
                    ..Default::default()
                })
                .await
                .map(drop),
            "ResourceMetrics" => c.resource_metrics(last_minute()).await.map(drop),
            "ResourceSnapshot" => c.resource_snapshot(top_three()).await.map(drop),
            "ResourceEvents" => c
                .resource_events(ResourceEventsRequest {
                    resource_id: HOST.into(),
                })
                .await
                .map(drop),
            "WatchCentre" => c
                .watch_centre(WatchCentreRequest::default())
                .await
                .map(drop),
            other => panic!("the walk has no call for SuperManager.{other}: add one"),
        }
    })
}

/// The walk's users, in the principals file of each data directory of `dirs`.
fn users(dirs: &[std::path::PathBuf]) {
    let east = || Scope::parse("east").unwrap();
    let mut made = Principals::default();
    for (name, role, scope) in [
        ("viewer-east", UserRole::Viewer, east()),
        (
            "viewer-west",
            UserRole::Viewer,
            Scope::parse("west").unwrap(),
        ),
        ("viewer-all", UserRole::Viewer, Scope::All),
        ("operator-east", UserRole::Operator, east()),
        ("admin-east", UserRole::Admin, east()),
    ] {
        made.add_user(name, "a long enough password", role, scope, 1)
            .unwrap();
    }
    strata_tests::login::add_principals(dirs, &made);
}

/// One door: its name, the methods it serves and how each is called.
struct Door {
    name: &'static str,
    addr: String,
    server: Role,
    methods: Vec<String>,
    call: fn(&str, Channel) -> Result<(), tonic::Status>,
    needs: fn(&str) -> Needs,
}

/// Walks every method of `door`; what went wrong, one line each.
fn walk(door: &Door, ca: &MeshCa) -> Vec<String> {
    let as_user = |user: &str| {
        ca.channel_as(
            (Role::Operator, "", user),
            &door.addr,
            Expect::Role(door.server),
        )
    };
    let mut failures = Vec::new();
    for method in &door.methods {
        let mut expect = |who: &str, channel: Channel, want: Option<Code>| {
            let got = (door.call)(method, channel);
            let ok = match (&got, want) {
                (Ok(()), None) => true,
                (Err(s), Some(code)) => s.code() == code,
                _ => false,
            };
            if !ok {
                failures.push(format!(
                    "{} {method} as {who}: {:?} (expected {})",
                    door.name,
                    got.map_err(|s| format!("{:?} {}", s.code(), s.message())),
                    want.map_or("an answer".to_string(), |c| format!("{c:?}"))
                ));
            }
        };
        expect(
            "no certificate",
            impostor_channel(&door.addr, None),
            Some(Code::Unauthenticated),
        );
        expect(
            "a certificate that speaks for no user",
            as_user("stranger"),
            Some(Code::PermissionDenied),
        );
        let (refused, allowed) = users_for((door.needs)(method));
        if let Some(refused) = refused {
            expect(refused, as_user(refused), Some(Code::PermissionDenied));
        }
        if let Some(allowed) = allowed {
            expect(allowed, as_user(allowed), None);
        }
    }
    failures
}

#[test]
fn every_grpc_method_refuses_who_has_no_certificate_or_whose_user_may_not_and_answers_who_may() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut mesh = Mesh::builder()
        .dir(dir)
        .region(Region::new("east").agent("id = 'east-host'"))
        .region(Region::new("west").sim("sim", "west-sim-", 2))
        .start();
    users(&[dir.join("super"), dir.join("east-1"), dir.join("west-1")]);
    let http = mesh.http();
    wait_for(
        "east-host up at the centre",
        Duration::from_secs(30),
        || {
            let r = get_json(&http, "/api/v1/resources")?;
            let up = r.as_array().is_some_and(|l| {
                l.iter()
                    .any(|x| x["host"] == "east-host" && x["state"] == "up")
            });
            if up { Ok(()) } else { Err(r.to_string()) }
        },
    );
    let (code, said) =
        strata_testkit::http_request(&http, "PUT", "/api/v1/services/shop", SHOP).unwrap();
    assert_eq!(code, 200, "{said}");
    let ca = mesh.ca().clone();
    let member = mesh.region("east").members[0].addr.clone();
    let centre_addr = mesh.super_manager().field("grpc").expect("a gRPC address");
    // the users are read within a second of the change
    wait_for("the walk's users known", Duration::from_secs(10), || {
        let channel = ca.channel_as(
            (Role::Operator, "", "viewer-east"),
            &member,
            Expect::Role(Role::SubManager),
        );
        regional("RegionSummary", channel).map_err(|s| s.to_string())
    });

    let regional_methods = methods(
        include_str!("../../proto/proto/strata/v1/sub_manager.proto"),
        "SubManager",
    );
    let centre_methods = methods(
        include_str!("../../proto/proto/strata/v1/super_manager.proto"),
        "SuperManager",
    );
    assert!(regional_methods.len() >= 16 && centre_methods.len() >= 10);
    let doors = [
        Door {
            name: "member east-1",
            addr: member.clone(),
            server: Role::SubManager,
            methods: regional_methods.clone(),
            call: regional,
            needs: regional_needs,
        },
        Door {
            name: "broker (routed)",
            addr: mesh.brokers[0].addr.clone(),
            server: Role::Broker,
            methods: regional_methods,
            call: regional,
            needs: regional_needs,
        },
        Door {
            name: "centre",
            addr: centre_addr.clone(),
            server: Role::SuperManager,
            methods: centre_methods,
            call: centre,
            needs: centre_needs,
        },
    ];
    let mut failures = Vec::new();
    let mut walked = 0;
    for door in &doors {
        walked += door.methods.len();
        failures.extend(walk(door, &ca));
    }
    assert!(
        failures.is_empty(),
        "{} of {walked} methods went wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Peer answers a member of the member's own region, and refuses any other identity
    let peer = |who: (Role, &str, &str), addr: &str, expect: Role| {
        let channel = ca.channel_as(who, addr, Expect::Role(expect));
        block_on(SubManagerClient::new(channel).peer(PeerRequest {
            member_id: who.2.into(),
            region: "east".into(),
        }))
    };
    let answer = peer(
        (Role::SubManager, "east", "east-9"),
        &member,
        Role::SubManager,
    )
    .expect("a member of east may ask east-1 whether it lives")
    .into_inner();
    assert_eq!(
        (answer.member_id.as_str(), answer.region.as_str()),
        ("east-1", "east")
    );
    for who in [
        (Role::SubManager, "west", "west-9"),
        (Role::Agent, "east", "east-host"),
        (Role::Broker, "", "broker-9"),
        (Role::SuperManager, "", "super-9"),
    ] {
        let refused = peer(who, &member, Role::SubManager).expect_err("refused");
        assert_eq!(
            refused.code(),
            Code::PermissionDenied,
            "{who:?}: {refused:?}"
        );
    }
    let routed = peer(
        (Role::SubManager, "east", "east-9"),
        &mesh.brokers[0].addr,
        Role::Broker,
    )
    .expect_err("Peer is not routed");
    assert_eq!(routed.code(), Code::PermissionDenied, "{routed:?}");

    // WatchCentre (another centre's copy of the journal) answers a super-manager, and
    // refuses any other identity
    let watch = |who: (Role, &str, &str), addr: &str, expect: Role| {
        let channel = ca.channel_as(who, addr, Expect::Role(expect));
        block_on(async move {
            let mut stream = SuperManagerClient::new(channel)
                .watch_centre(WatchCentreRequest {
                    centre_id: who.2.into(),
                    ..Default::default()
                })
                .await?
                .into_inner();
            stream.message().await
        })
    };
    let first = watch(
        (Role::SuperManager, "", "super-9"),
        &centre_addr,
        Role::SuperManager,
    )
    .expect("another centre may follow this one")
    .expect("a first change");
    assert_eq!(first.centre_id, "super-1");
    for who in [
        (Role::SubManager, "east", "east-9"),
        (Role::Agent, "east", "east-host"),
        (Role::Broker, "", "broker-9"),
    ] {
        let refused = watch(who, &centre_addr, Role::SuperManager).expect_err("refused");
        assert_eq!(
            refused.code(),
            Code::PermissionDenied,
            "{who:?}: {refused:?}"
        );
    }

    // a scoped user's list of services holds only its regions' services
    let services = |user: &str| {
        let channel = ca.channel_as(
            (Role::Operator, "", user),
            &centre_addr,
            Expect::Role(Role::SuperManager),
        );
        block_on(SuperManagerClient::new(channel).list_services(ListServicesRequest {}))
            .unwrap()
            .into_inner()
            .services
            .into_iter()
            .map(|s| s.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(services("viewer-east"), vec!["shop".to_string()]);
    assert!(services("viewer-west").is_empty());

    // the acknowledgement above, by operator-east at the member, is in the region's audit
    // log under that user's name, from the walk's address
    let audit = std::fs::read_to_string(dir.join("east-1/audit.jsonl")).unwrap_or_default();
    let signed = audit.lines().any(|l| {
        let r: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
        r["who"] == "operator-east"
            && r["action"] == "acknowledge"
            && r["address"]
                .as_str()
                .is_some_and(|a| a.starts_with("127.0.0.1:"))
    });
    assert!(signed, "no acknowledgement by operator-east in:\n{audit}");
    // and the centre keeps the region's line, saying where it was made
    strata_tests::wait_for_centre_audit(
        &http,
        "operator-east",
        &["acknowledge", "in region east (member east-1)"],
    );
}
