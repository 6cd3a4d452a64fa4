//! The Broker gRPC service: heartbeats, membership watches, region resolution, agent
//! registration and assignment streams.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use strata_proto::config::is_host_port;
use strata_proto::identity::{self, caller_of};
use strata_proto::v1::broker_server::Broker;
use strata_proto::v1::{
    Assignment, HeartbeatRequest, HeartbeatResponse, Member, MembershipView, RegisterAgentsRequest,
    RegisterAgentsResponse, ResolveRequest, ResolveResponse, Role, WatchAssignmentRequest,
    WatchMembershipRequest,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, WatchStream};
use tonic::{Request, Response, Status};
use tracing::{Instrument, debug, info, info_span};

use crate::assignment::split;
use crate::router::MemberClients;
use crate::state::BrokerState;

/// Most agents one RegisterAgents call may carry.
pub const MAX_REGISTRATIONS_PER_CALL: usize = 100_000;

/// Implements the Broker service over the shared state.
#[derive(Debug, Clone)]
pub struct BrokerService {
    state: Arc<BrokerState>,
    /// Reaches the members that sign enrolments.
    clients: Arc<dyn MemberClients>,
    /// The broker's identity and trust: its revocation list is handed to members and agents.
    transport: strata_proto::identity::Transport,
}

impl BrokerService {
    /// A service over `state`, reaching members through `clients`, handing out the
    /// revocations `transport` knows.
    pub fn new(
        state: Arc<BrokerState>,
        clients: Arc<dyn MemberClients>,
        transport: strata_proto::identity::Transport,
    ) -> Self {
        Self {
            state,
            clients,
            transport,
        }
    }
}

type ViewStream = Pin<Box<dyn Stream<Item = Result<MembershipView, Status>> + Send>>;
type AssignmentStream = Pin<Box<dyn Stream<Item = Result<Assignment, Status>> + Send>>;

/// Refuses a caller whose certificate does not name `member` (id, role and region): no one
/// heartbeats or watches assignments under another member's name.
fn check_member<T>(request: &Request<T>, member: &Member) -> Result<(), Status> {
    let Some(caller) = caller_of(request) else {
        return Ok(()); // insecure door
    };
    let role = match Role::try_from(member.role) {
        Ok(Role::SubManager) => identity::Role::SubManager,
        Ok(Role::SuperManager) => identity::Role::SuperManager,
        _ => {
            return Err(Status::permission_denied(format!(
                "{caller} may not act as a member of role {}",
                member.role
            )));
        }
    };
    let region_ok = !role.regional() || caller.region == member.region;
    if caller.role != role || caller.id != member.id || !region_ok {
        return Err(Status::permission_denied(format!(
            "{caller} may not act as member '{}' of region '{}' ({})",
            member.id, member.region, role
        )));
    }
    Ok(())
}

/// Refuses a registration the caller may not make: an agent registers only itself (or, as
/// a simulator does, agents named after it with a number: `<id>0001`), in its own region; a
/// sub-manager only agents of its own region.
fn check_registration(request: &Request<RegisterAgentsRequest>) -> Result<(), Status> {
    let Some(caller) = caller_of(request) else {
        return Ok(());
    };
    let req = request.get_ref();
    if caller.region != req.region {
        return Err(Status::permission_denied(format!(
            "{caller} may not register agents of region '{}'",
            req.region
        )));
    }
    if caller.role == identity::Role::Agent
        && let Some(other) = req.agents.iter().find(|a| !caller.serves_agent(&a.id))
    {
        return Err(Status::permission_denied(format!(
            "{caller} may not register agent '{}'",
            other.id
        )));
    }
    Ok(())
}

/// Checks a region or id: non-empty and without '/'.
fn check_name(what: &str, value: &str) -> Result<(), Status> {
    if value.trim().is_empty() || value.contains('/') {
        return Err(Status::invalid_argument(format!(
            "{what}: '{value}' must be non-empty and without '/'"
        )));
    }
    Ok(())
}

/// Sends `member`'s share on `tx` now and after every change of membership or registry,
/// until the receiver is gone; then records that the stream broke.
async fn follow_assignment(
    state: Arc<BrokerState>,
    member: Member,
    generation: u64,
    tx: mpsc::Sender<Result<Assignment, Status>>,
) {
    let (id, region) = (member.id.clone(), member.region.clone());
    let mut members_rx = state.with_membership(|m, _| m.subscribe());
    let mut agents_rx = state.with_registry(|r, _| r.subscribe());
    let replicas = state.config.replicas(&region);
    let warm_at = tokio::time::Instant::from_std(state.warm_at());
    // what was sent last: a change of any of it (a member back at another address
    // included) is sent again
    let mut last: Option<Assignment> = None;
    loop {
        let (members, peers) = state.with_membership(|m, now| {
            let ids = m.assignable(&region, now);
            let peers: Vec<Member> = ids
                .iter()
                .filter_map(|i| m.get(i, now))
                .map(|p| Member {
                    id: p.id,
                    role: p.role,
                    region: p.region,
                    address: p.address,
                    ..Member::default()
                })
                .collect();
            (ids, peers)
        });
        let agents = state.with_registry(|r, _| r.agents(&region));
        let warm = Instant::now() >= state.warm_at();
        let (mine, standby) = split(&id, &members, &agents, replicas);
        let now = Assignment {
            broker_id: state.config.id.clone(),
            version: 0,
            region: region.clone(),
            replicas,
            members,
            agents: mine,
            warm,
            standby,
            peers,
        };
        if last.as_ref() != Some(&now) {
            let version = *members_rx.borrow_and_update() + *agents_rx.borrow_and_update();
            debug!(
                agents = now.agents.len(),
                members = now.members.len(),
                version,
                "assignment sent"
            );
            let assignment = Assignment {
                version,
                ..now.clone()
            };
            if tx.send(Ok(assignment)).await.is_err() {
                break;
            }
            last = Some(now);
        }
        tokio::select! {
            _ = tx.closed() => break,
            changed = members_rx.changed() => if changed.is_err() { break },
            changed = agents_rx.changed() => if changed.is_err() { break },
            _ = tokio::time::sleep_until(warm_at), if !warm => {}
        }
    }
    info!("assignment stream ended; the member's agents go to the others");
    state.with_membership(|m, _| m.stream_closed(&id, generation));
}

#[tonic::async_trait]
impl Broker for BrokerService {
    async fn heartbeat(
        &self,
        request: Request<HeartbeatRequest>,
    ) -> Result<Response<HeartbeatResponse>, Status> {
        if let Some(member) = &request.get_ref().member {
            check_member(&request, member)?;
        }
        let req = request.into_inner();
        let member = req
            .member
            .ok_or_else(|| Status::invalid_argument("heartbeat: field 'member' is missing"))?;
        if member.id.is_empty() {
            return Err(Status::invalid_argument(
                "heartbeat: field 'member.id' is empty",
            ));
        }
        self.state
            .metrics
            .heartbeats
            .fetch_add(1, Ordering::Relaxed);
        let region = member.region.clone();
        let id = member.id.clone();
        let (lease, region_members, known) = self.state.with_membership(|m, now| {
            let known = m.get(&id, now).is_some_and(|old| old.healthy);
            let lease = m.heartbeat(member, Duration::from_millis(req.lease_ms), now);
            let members = m
                .members(&region, now)
                .into_iter()
                .filter(|x| x.healthy)
                .collect::<Vec<_>>();
            (lease, members, known)
        });
        if !known {
            info!(member = %id, %region, "member joined or returned");
        } else {
            debug!(member = %id, "heartbeat");
        }
        Ok(Response::new(HeartbeatResponse {
            broker_id: self.state.config.id.clone(),
            lease_ms: lease.as_millis() as u64,
            region_members,
            revoked: self.transport.revoked_text(),
        }))
    }

    type WatchMembershipStream = ViewStream;

    async fn watch_membership(
        &self,
        request: Request<WatchMembershipRequest>,
    ) -> Result<Response<Self::WatchMembershipStream>, Status> {
        let region = request.into_inner().region;
        let state = self.state.clone();
        let rx = state.with_membership(|m, _| m.subscribe());
        let stream = WatchStream::new(rx).map(move |version| {
            let members = state.with_membership(|m, now| m.members(&region, now));
            Ok(MembershipView {
                broker_id: state.config.id.clone(),
                version,
                members,
            })
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn resolve(
        &self,
        request: Request<ResolveRequest>,
    ) -> Result<Response<ResolveResponse>, Status> {
        let region = request.into_inner().region;
        let members = self
            .state
            .with_membership(|m, now| m.healthy_sub_managers(&region, now));
        Ok(Response::new(ResolveResponse { members }))
    }

    async fn register_agents(
        &self,
        request: Request<RegisterAgentsRequest>,
    ) -> Result<Response<RegisterAgentsResponse>, Status> {
        check_registration(&request)?;
        // a caller with a certificate of the region needs no token: the certificate says more
        let certified = caller_of(&request).is_some();
        let req = request.into_inner();
        check_name("register: field 'region'", &req.region)?;
        if let Some(token) = self.state.config.join_token(&req.region)
            && !certified
            && req.token != token
        {
            return Err(Status::unauthenticated(format!(
                "register: wrong or missing join token for region '{}'",
                req.region
            )));
        }
        if req.agents.len() > MAX_REGISTRATIONS_PER_CALL {
            return Err(Status::invalid_argument(format!(
                "register: {} agents in one call; at most {MAX_REGISTRATIONS_PER_CALL}",
                req.agents.len()
            )));
        }
        for (i, a) in req.agents.iter().enumerate() {
            check_name(&format!("register: agents[{i}].id"), &a.id)?;
            if !is_host_port(&a.address) {
                return Err(Status::invalid_argument(format!(
                    "register: agents[{i}].address: '{}' is not host:port",
                    a.address
                )));
            }
        }
        let max_ttl = self.state.config.registration_ttl * 10;
        let ttl = match req.ttl_ms {
            0 => self.state.config.registration_ttl,
            ms => Duration::from_millis(ms).clamp(Duration::from_secs(1), max_ttl),
        };
        let n = req.agents.len();
        let added = self.state.with_registry(|r, now| {
            r.register(
                &req.region,
                req.agents.into_iter().map(|a| (a.id, a.address)),
                ttl,
                now,
            )
        });
        self.state
            .metrics
            .registrations
            .fetch_add(n as u64, Ordering::Relaxed);
        if added > 0 {
            info!(region = %req.region, added, "agents registered");
        }
        Ok(Response::new(RegisterAgentsResponse {
            broker_id: self.state.config.id.clone(),
            ttl_ms: ttl.as_millis() as u64,
            added,
            revoked: self.transport.revoked_text(),
        }))
    }

    async fn enrol(
        &self,
        request: Request<strata_proto::v1::EnrolRequest>,
    ) -> Result<Response<strata_proto::v1::EnrolResponse>, Status> {
        crate::enrol::enrol(&self.state, &self.clients, request)
            .await
            .map(Response::new)
    }

    type WatchAssignmentStream = AssignmentStream;

    async fn watch_assignment(
        &self,
        request: Request<WatchAssignmentRequest>,
    ) -> Result<Response<Self::WatchAssignmentStream>, Status> {
        if let Some(member) = &request.get_ref().member {
            check_member(&request, member)?;
        }
        let member = request.into_inner().member.ok_or_else(|| {
            Status::invalid_argument("watch assignment: field 'member' is missing")
        })?;
        check_name("watch assignment: field 'member.id'", &member.id)?;
        check_name("watch assignment: field 'member.region'", &member.region)?;
        if member.role != Role::SubManager as i32 {
            return Err(Status::invalid_argument(
                "watch assignment: only sub-managers are assigned agents",
            ));
        }
        let generation = self
            .state
            .with_membership(|m, now| m.stream_opened(member.clone(), Duration::ZERO, now));
        info!(member = %member.id, region = %member.region, "assignment stream opened");
        let (tx, rx) = mpsc::channel(4);
        let span = info_span!("assignment", member = %member.id, region = %member.region);
        tokio::spawn(
            follow_assignment(self.state.clone(), member, generation, tx).instrument(span),
        );
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
