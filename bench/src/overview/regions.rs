//! The simulated regions of `strata bench overview`: a broker of the bench's own that lists
//! one sub-manager per region and answers each member's WatchRegion stream with a snapshot
//! of its hosts (a few down or with incidents), then a change now and then, and its probes'
//! runs, as a region would; a stream resumed from a cursor goes on after it, without a
//! snapshot, as a sub-manager's journal does.

use std::pin::Pin;
use std::time::Duration;

use futures::{Stream, StreamExt};
use strata_proto::ResourceId;
use strata_proto::v1::broker_server::Broker;
use strata_proto::v1::region_update::Kind;
use strata_proto::v1::sub_manager_server::SubManager;
use strata_proto::v1::{
    AcknowledgeEventRequest, AcknowledgeEventResponse, GetNotifyRequest, GetRulesRequest,
    ListAgentsRequest, ListAgentsResponse, ListForwardingRequest, ListForwardingResponse,
    ListNotificationsRequest, ListNotificationsResponse, NotifyResponse, PutNotifyRequest,
    PutRulesRequest, RulesResponse,
};
use strata_proto::v1::{
    AgentSnapshotRequest, Assignment, CheckState, CheckStatus, Event, HeartbeatRequest,
    HeartbeatResponse, ListResourcesRequest, ListResourcesResponse, Member, MembershipView,
    ProbeRun, QueryRangeRequest, QueryRangeResponse, RegionSummaryRequest, RegionSummaryResponse,
    RegionUpdate, RegisterAgentsRequest, RegisterAgentsResponse, ResolveRequest, ResolveResponse,
    Resource, ResourceState, Role, Severity, Snapshot, SnapshotResponse, WatchAssignmentRequest,
    WatchMembershipRequest, WatchRegionRequest,
};
use tonic::{Request, Response, Status};

pub(super) fn region_name(r: usize) -> String {
    format!("r{r:03}")
}

pub(super) fn host_name(h: usize) -> String {
    format!("host-{h:04}")
}

/// The hosts of region `r`: every 97th down, every 31st with a critical incident.
/// The name of the bench's probe on every probing host.
pub(super) const PROBE: &str = "http-probe";

/// A run of the probe of host `h` of region `r` at `ts_ms`: 20 to 70 ms, one in 200 failing.
pub(super) fn probe_run(r: usize, h: usize, ts_ms: i64) -> ProbeRun {
    let total = 0.020 + (((h * 7 + r * 13) as i64 + ts_ms / 1000) % 50) as f64 / 1000.0;
    ProbeRun {
        resource_id: ResourceId::new(region_name(r), host_name(h)).to_string(),
        check: PROBE.into(),
        ts_ms,
        success: (ts_ms / 1000 + h as i64) % 200 != 0,
        phases: [
            ("resolve", total * 0.05),
            ("connect", total * 0.15),
            ("processing", total * 0.7),
            ("transfer", total * 0.1),
            ("total", total),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
    }
}

pub(super) fn region_snapshot(r: usize, hosts: usize, probes: usize, seq: u64) -> RegionUpdate {
    let region = region_name(r);
    let now = strata_proto::now_ms();
    let mut resources = Vec::with_capacity(hosts);
    let mut events = Vec::new();
    for h in 0..hosts {
        let id = ResourceId::new(region.as_str(), host_name(h)).to_string();
        let down = (h + r).is_multiple_of(97);
        let critical = (h + r).is_multiple_of(31);
        let rule = if down { "reachable" } else { "cpu" };
        if down || critical {
            events.push(Event {
                id: format!("{id}/{rule}/{now}"),
                resource_id: id.clone(),
                rule: rule.into(),
                severity: Severity::Critical as i32,
                message: "simulated".into(),
                opened_ms: now,
                ..Default::default()
            });
        }
        resources.push(Resource {
            id,
            region: region.clone(),
            host: host_name(h),
            state: if down {
                ResourceState::Down
            } else {
                ResourceState::Up
            } as i32,
            severity: if down || critical {
                Severity::Critical
            } else {
                Severity::Ok
            } as i32,
            last_poll_ms: now,
            owner: format!("{region}-sub"),
            updated_ms: now,
            open_rules: if down || critical {
                vec![rule.into()]
            } else {
                Vec::new()
            },
            ..Default::default()
        });
    }
    RegionUpdate {
        region: region.clone(),
        member_id: format!("{region}-sub"),
        epoch: "bench".into(),
        seq,
        kind: Some(Kind::Snapshot(Snapshot {
            resources,
            events,
            checks: (0..probes)
                .map(|h| CheckStatus {
                    resource_id: ResourceId::new(region.as_str(), host_name(h)).to_string(),
                    name: PROBE.into(),
                    kind: "http".into(),
                    state: CheckState::Ok as i32,
                    ts_ms: now,
                    ..Default::default()
                })
                .collect(),
        })),
    }
}

/// The bench's broker: one sub-manager per region, whose streams it answers itself.
#[derive(Clone)]
pub(super) struct FakeRegions {
    pub(super) regions: usize,
    pub(super) hosts: usize,
    pub(super) probes: usize,
    pub(super) probe_every: Duration,
}

type Boxed<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl Broker for FakeRegions {
    async fn heartbeat(
        &self,
        _: Request<HeartbeatRequest>,
    ) -> Result<Response<HeartbeatResponse>, Status> {
        Ok(Response::new(HeartbeatResponse::default()))
    }

    type WatchMembershipStream = Boxed<MembershipView>;

    async fn watch_membership(
        &self,
        _: Request<WatchMembershipRequest>,
    ) -> Result<Response<Self::WatchMembershipStream>, Status> {
        let members = (0..self.regions)
            .map(|r| Member {
                id: format!("{}-sub", region_name(r)),
                role: Role::SubManager as i32,
                region: region_name(r),
                address: "127.0.0.1:1".into(),
                healthy: true,
                ..Default::default()
            })
            .collect();
        let view = MembershipView {
            broker_id: "bench".into(),
            version: 1,
            members,
        };
        let stream =
            futures::stream::once(async move { Ok(view) }).chain(futures::stream::pending());
        Ok(Response::new(Box::pin(stream)))
    }

    async fn resolve(
        &self,
        _: Request<ResolveRequest>,
    ) -> Result<Response<ResolveResponse>, Status> {
        Ok(Response::new(ResolveResponse::default()))
    }

    async fn enrol(
        &self,
        _: Request<strata_proto::v1::EnrolRequest>,
    ) -> Result<Response<strata_proto::v1::EnrolResponse>, Status> {
        Err(Status::unimplemented("not simulated"))
    }

    async fn register_agents(
        &self,
        _: Request<RegisterAgentsRequest>,
    ) -> Result<Response<RegisterAgentsResponse>, Status> {
        Err(Status::unimplemented(
            "the bench's broker takes no registrations",
        ))
    }

    type WatchAssignmentStream = Boxed<Assignment>;

    async fn watch_assignment(
        &self,
        _: Request<WatchAssignmentRequest>,
    ) -> Result<Response<Self::WatchAssignmentStream>, Status> {
        Err(Status::unimplemented("the bench's broker assigns nothing"))
    }
}

#[tonic::async_trait]
impl SubManager for FakeRegions {
    async fn region_summary(
        &self,
        _: Request<RegionSummaryRequest>,
    ) -> Result<Response<RegionSummaryResponse>, Status> {
        Err(Status::unimplemented("not simulated"))
    }

    async fn list_resources(
        &self,
        _: Request<ListResourcesRequest>,
    ) -> Result<Response<ListResourcesResponse>, Status> {
        Err(Status::unimplemented("not simulated"))
    }

    async fn query_range(
        &self,
        _: Request<QueryRangeRequest>,
    ) -> Result<Response<QueryRangeResponse>, Status> {
        Err(Status::unimplemented("not simulated"))
    }

    async fn configure_agent(
        &self,
        _: Request<strata_proto::v1::ConfigureAgentRequest>,
    ) -> Result<Response<strata_proto::v1::ConfigureResponse>, Status> {
        Err(Status::unimplemented("not simulated"))
    }

    async fn put_agent_files(
        &self,
        _: Request<strata_proto::v1::PutAgentFilesRequest>,
    ) -> Result<Response<strata_proto::v1::PutFilesResponse>, Status> {
        Err(Status::unimplemented("not simulated"))
    }

    async fn acknowledge_event(
        &self,
        _: Request<AcknowledgeEventRequest>,
    ) -> Result<Response<AcknowledgeEventResponse>, Status> {
        Err(Status::unimplemented("not simulated"))
    }

    async fn get_rules(
        &self,
        _: Request<GetRulesRequest>,
    ) -> Result<Response<RulesResponse>, Status> {
        Err(Status::unimplemented("not simulated"))
    }

    async fn put_rules(
        &self,
        _: Request<PutRulesRequest>,
    ) -> Result<Response<RulesResponse>, Status> {
        Err(Status::unimplemented("not simulated"))
    }

    async fn list_agents(
        &self,
        _: Request<ListAgentsRequest>,
    ) -> Result<Response<ListAgentsResponse>, Status> {
        Err(Status::unimplemented("not simulated"))
    }

    async fn list_forwarding(
        &self,
        _: Request<ListForwardingRequest>,
    ) -> Result<Response<ListForwardingResponse>, Status> {
        Err(Status::unimplemented("not simulated"))
    }

    async fn get_notify(
        &self,
        _: Request<GetNotifyRequest>,
    ) -> Result<Response<NotifyResponse>, Status> {
        Err(Status::unimplemented("not simulated"))
    }

    async fn sign_agent(
        &self,
        _: Request<strata_proto::v1::EnrolRequest>,
    ) -> Result<Response<strata_proto::v1::EnrolResponse>, Status> {
        Err(Status::unimplemented("not simulated"))
    }

    async fn peer(
        &self,
        _: Request<strata_proto::v1::PeerRequest>,
    ) -> Result<Response<strata_proto::v1::PeerResponse>, Status> {
        Err(Status::unimplemented("not simulated"))
    }

    async fn get_agent_config(
        &self,
        _: Request<strata_proto::v1::AgentConfigRequest>,
    ) -> Result<Response<strata_proto::v1::GetConfigResponse>, Status> {
        Err(Status::unimplemented("not simulated"))
    }

    async fn put_principals(
        &self,
        _: Request<strata_proto::v1::PutPrincipalsRequest>,
    ) -> Result<Response<strata_proto::v1::PutPrincipalsResponse>, Status> {
        Err(Status::unimplemented("not simulated"))
    }

    async fn put_notify(
        &self,
        _: Request<PutNotifyRequest>,
    ) -> Result<Response<NotifyResponse>, Status> {
        Err(Status::unimplemented("not simulated"))
    }

    async fn list_notifications(
        &self,
        _: Request<ListNotificationsRequest>,
    ) -> Result<Response<ListNotificationsResponse>, Status> {
        Err(Status::unimplemented("not simulated"))
    }

    type WatchRegionStream = Boxed<RegionUpdate>;

    async fn watch_region(
        &self,
        request: Request<WatchRegionRequest>,
    ) -> Result<Response<Self::WatchRegionStream>, Status> {
        let req = request.into_inner();
        let r: usize = req
            .region
            .trim_start_matches('r')
            .parse()
            .map_err(|_| Status::not_found("no such region"))?;
        let (hosts, probes) = (self.hosts, self.probes);
        // a centre that resumes (its cursor in this epoch) gets what follows its cursor, as
        // from a sub-manager's journal; any other starts with a snapshot
        let resumed = req.epoch == "bench" && req.from_seq > 0;
        let first = (!resumed).then(|| Ok(region_snapshot(r, hosts, probes, 1)));
        let start = if resumed { req.from_seq + 1 } else { 2 };
        // Then, every second, a host changes state, as a live region's would, and the probes
        // due that second send their runs.
        let per_second = probes as f64 / self.probe_every.as_secs_f64().max(0.001);
        let changes = futures::stream::unfold(
            (start, 0usize, 0.0f64),
            move |(seq, next, owed)| async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let h = (seq as usize * 7 + r) % hosts;
                let now = strata_proto::now_ms();
                let mut updates = vec![RegionUpdate {
                    region: region_name(r),
                    member_id: format!("{}-sub", region_name(r)),
                    epoch: "bench".into(),
                    seq,
                    kind: Some(Kind::Resource(Resource {
                        id: ResourceId::new(region_name(r), host_name(h)).to_string(),
                        region: region_name(r),
                        host: host_name(h),
                        state: ResourceState::Up as i32,
                        severity: Severity::Ok as i32,
                        last_poll_ms: now,
                        updated_ms: now,
                        owner: format!("{}-sub", region_name(r)),
                        ..Default::default()
                    })),
                }];
                let owed = owed + per_second;
                let due = owed.floor() as usize;
                let mut seq = seq;
                let mut next = next;
                for i in 0..due {
                    seq += 1;
                    updates.push(RegionUpdate {
                        region: region_name(r),
                        member_id: format!("{}-sub", region_name(r)),
                        epoch: "bench".into(),
                        seq,
                        kind: Some(Kind::ProbeRun(probe_run(r, next, now + i as i64))),
                    });
                    next = (next + 1) % probes.max(1);
                }
                let batch = futures::stream::iter(updates.into_iter().map(Ok));
                Some((batch, (seq + 1, next, owed - due as f64)))
            },
        )
        .flatten();
        let stream = futures::stream::iter(first).chain(changes);
        Ok(Response::new(Box::pin(stream)))
    }

    async fn agent_snapshot(
        &self,
        _: Request<AgentSnapshotRequest>,
    ) -> Result<Response<SnapshotResponse>, Status> {
        Err(Status::unimplemented("not simulated"))
    }
}
