//! Routing of SubManager calls from the centre to a region.
//!
//! After a failover a region's resources and their history can lie on several of its
//! members, so region-wide calls fan out to every healthy member and merge the answers;
//! a member that fails is marked suspect (skipped until its next heartbeat) and the call is
//! answered from the others. WatchRegion streams are per member: the caller names the member
//! whose journal it follows, and the broker pipes that member's stream through. Calls about
//! one resource (AgentSnapshot, ConfigureAgent) go to a member that polls it: of its pollers (two with a
//! replica count of 2), the one [`crate::balance`] picks, then the others, then any healthy
//! member, each with the call timeout; a member that says it does not poll the resource is
//! passed over, one that fails is marked suspect.
//!
//! Here: the [`Router`] and how it reaches members (fan-out, pollers first, suspects).
//! Beside it: `sub_manager` (the SubManager service answered through the router) and
//! `merge` (how the members' answers are merged).

mod merge;
mod promql;
mod sub_manager;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use futures::future::join_all;
use strata_proto::ResourceId;
use strata_proto::identity::authz::FOR;
use strata_proto::identity::{Role, caller_of};
use strata_proto::rendezvous::owners;
use strata_proto::v1::sub_manager_client::SubManagerClient;
use strata_proto::v1::{ListResourcesRequest, Member, Resource};
use tonic::transport::Channel;
use tonic::{Code, Request, Response, Status};
use tracing::{Instrument, info_span, warn};

pub use merge::{merge_resources, merge_series};

use crate::state::BrokerState;

/// A SubManager client of one member.
pub type Client = SubManagerClient<Channel>;

/// Where the router gets its clients to a region's members; the door implements it (with
/// one cached channel per address), tests may stub it.
pub trait MemberClients: std::fmt::Debug + Send + Sync {
    /// A client to `member`, or the status to answer if none can be made.
    fn client(&self, member: &Member) -> Result<Client, Status>;
}

/// Implements the SubManager service by routing to the region's members.
#[derive(Debug, Clone)]
pub struct Router {
    state: Arc<BrokerState>,
    clients: Arc<dyn MemberClients>,
}

impl Router {
    /// A router over `state`, reaching the members through `clients`.
    pub fn new(state: Arc<BrokerState>, clients: Arc<dyn MemberClients>) -> Self {
        Self { state, clients }
    }

    fn healthy(&self, region: &str) -> Result<Vec<Member>, Status> {
        if region.is_empty() {
            return Err(Status::invalid_argument("field 'region' is empty"));
        }
        let members = self
            .state
            .with_membership(|m, now| m.healthy_sub_managers(region, now));
        if members.is_empty() {
            return Err(Status::unavailable(format!(
                "no healthy sub-manager in region '{region}'"
            )));
        }
        Ok(members)
    }

    /// Calls `f` on every healthy member of `region` concurrently, with the broker's call
    /// timeout; returns the answers of those that answered, or an error if none did.
    async fn fan_out<T, F, Fut>(
        &self,
        region: &str,
        op: &'static str,
        f: F,
    ) -> Result<Vec<T>, Status>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<Response<T>, Status>>,
    {
        let members = self.healthy(region)?;
        let calls = members
            .iter()
            .map(|member| self.call(region, member, op, &f));
        self.state
            .metrics
            .routed_calls
            .fetch_add(members.len() as u64, Ordering::Relaxed);
        let results = join_all(calls).await;
        let mut answers = Vec::with_capacity(results.len());
        let mut errors = Vec::new();
        for (member, result) in members.iter().zip(results) {
            match result {
                Ok(answer) => answers.push(answer),
                // The request itself is wrong: every member would say so; not the member's fault.
                Err(status) if !member_fault(&status) => return Err(status),
                Err(status) => {
                    self.member_failed(region, &member.id, op, &status);
                    errors.push(format!("{}: {}", member.id, status.message()));
                }
            }
        }
        if answers.is_empty() {
            return Err(Status::unavailable(format!(
                "{op} in region '{region}': every member failed: {}",
                errors.join("; ")
            )));
        }
        Ok(answers)
    }

    /// Calls `f` on `member` with the broker's call timeout, timing it for the balancer.
    fn call<'a, T, F, Fut>(
        &'a self,
        region: &str,
        member: &Member,
        op: &'static str,
        f: &'a F,
    ) -> impl Future<Output = Result<T, Status>> + 'a
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<Response<T>, Status>> + 'a,
        T: 'a,
    {
        let timeout = self.state.config.call_timeout;
        let client = self.clients.client(member);
        let id = member.id.clone();
        let span = info_span!("route", %region, member = %member.id, op);
        async move {
            let client = client?;
            let started = Instant::now();
            self.state.latencies.start(&id, started);
            let result = match tokio::time::timeout(timeout, f(client)).await {
                Ok(r) => r.map(Response::into_inner),
                Err(_) => Err(Status::deadline_exceeded(format!(
                    "{op} timed out after {timeout:?}"
                ))),
            };
            let now = Instant::now();
            self.state.latencies.end(&id, now - started, now);
            result
        }
        .instrument(span)
    }

    /// Counts a member's failed call and skips the member until its next heartbeat.
    fn member_failed(&self, region: &str, member: &str, op: &'static str, status: &Status) {
        self.state
            .metrics
            .routed_failures
            .fetch_add(1, Ordering::Relaxed);
        warn!(%region, %member, op, error = %status.message(), "routed call failed; member marked suspect");
        self.state.with_membership(|m, _| m.mark_failed(member));
    }

    /// Whether the region's agents are polled by two members, so that two members' answers
    /// about one series are copies rather than parts.
    fn copies(&self, region: &str) -> bool {
        self.state.config.replicas(region) > 1
    }

    /// Calls `f` on a member that polls `resource_id`: its pollers first, as the balancer
    /// orders them, then any healthy member (should this broker's view lag behind the
    /// members'), each with the call timeout; a member that says it does not poll the
    /// resource is passed over, one that fails is marked suspect.
    async fn to_pollers<T, F, Fut>(
        &self,
        region: &str,
        resource_id: &str,
        op: &'static str,
        f: F,
    ) -> Result<T, Status>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<Response<T>, Status>>,
    {
        let agent = match ResourceId::parse_in(resource_id, region) {
            Some(id) => id.into_parts().1,
            None => {
                return Err(Status::invalid_argument(format!(
                    "{op}: resource_id '{resource_id}' is not '{region}/<host>'"
                )));
            }
        };
        let healthy = self.healthy(region)?;
        let assignable = self
            .state
            .with_membership(|m, now| m.assignable(region, now));
        let ids: Vec<&str> = assignable.iter().map(String::as_str).collect();
        let holders = owners(&agent, &ids, self.state.config.replicas(region) as usize);
        let (polling, others): (Vec<Member>, Vec<Member>) = healthy
            .into_iter()
            .partition(|m| holders.contains(&m.id.as_str()));
        let mut order = self.state.latencies.order(polling, |m| m.id.as_str());
        order.extend(others);
        let mut last = Status::unavailable(format!("no member polls {resource_id}"));
        for member in &order {
            self.state
                .metrics
                .routed_calls
                .fetch_add(1, Ordering::Relaxed);
            match self.call(region, member, op, &f).await {
                Ok(answer) => return Ok(answer),
                Err(status) if status.code() == Code::FailedPrecondition => last = status,
                Err(status) if member_fault(&status) => {
                    self.member_failed(region, &member.id, op, &status);
                    last = status;
                }
                Err(status) => return Err(status),
            }
        }
        Err(last)
    }

    async fn merged_resources(&self, region: &str, on: &For) -> Result<Vec<Resource>, Status> {
        let answers = self
            .fan_out(region, "ListResources", |mut c| {
                let req = on.wrap(ListResourcesRequest {
                    region: region.to_string(),
                });
                async move { c.list_resources(req).await }
            })
            .await?;
        Ok(merge_resources(
            answers.into_iter().flat_map(|a| a.resources),
        ))
    }
}

/// Whom a routed call is for: the operator who made it, named to the members (which judge
/// the operator's user); nobody for a mesh component's call.
#[derive(Debug, Clone, Default)]
pub struct For(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl For {
    /// Whom `request` is for: its caller, when an operator.
    pub fn of<T>(request: &Request<T>) -> Self {
        Self(
            caller_of(request)
                .filter(|c| c.role == Role::Operator)
                .and_then(|c| c.uri().parse().ok()),
        )
    }

    /// `message` as a request to a member, naming whom it is for.
    pub fn wrap<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        if let Some(value) = &self.0 {
            request.metadata_mut().insert(FOR, value.clone());
        }
        request
    }
}

/// The answer chosen among the members', or UNAVAILABLE naming `op` when none answered.
fn chosen<T>(op: &str, answer: Option<T>) -> Result<Response<T>, Status> {
    answer
        .map(Response::new)
        .ok_or_else(|| Status::unavailable(format!("{op}: no member answered")))
}

/// Whether an error says the member (not the request) failed, so that another member may
/// answer and this one should be skipped for a while.
pub fn member_fault(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Unknown
            | Code::Cancelled
            | Code::Aborted
            | Code::Internal
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_requests_are_not_member_faults() {
        assert!(member_fault(&Status::unavailable("down")));
        assert!(member_fault(&Status::deadline_exceeded("slow")));
        assert!(!member_fault(&Status::invalid_argument("bad step")));
        assert!(!member_fault(&Status::not_found("no such region")));
    }
}
