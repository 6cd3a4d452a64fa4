//! The Broker gRPC service: heartbeats, membership watches and region resolution.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::{Stream, StreamExt};
use strata_proto::v1::broker_server::Broker;
use strata_proto::v1::{
    HeartbeatRequest, HeartbeatResponse, MembershipView, ResolveRequest, ResolveResponse,
    WatchMembershipRequest,
};
use tokio_stream::wrappers::WatchStream;
use tonic::{Request, Response, Status};
use tracing::{debug, info};

use crate::state::BrokerState;

/// Implements the Broker service over the shared state.
#[derive(Debug, Clone)]
pub struct BrokerService {
    state: Arc<BrokerState>,
}

impl BrokerService {
    /// A service over `state`.
    pub fn new(state: Arc<BrokerState>) -> Self {
        Self { state }
    }
}

type ViewStream = Pin<Box<dyn Stream<Item = Result<MembershipView, Status>> + Send>>;

#[tonic::async_trait]
impl Broker for BrokerService {
    async fn heartbeat(
        &self,
        request: Request<HeartbeatRequest>,
    ) -> Result<Response<HeartbeatResponse>, Status> {
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
}
