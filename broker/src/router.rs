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

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use futures::Stream;
use futures::future::join_all;
use strata_proto::rendezvous::owners;
use strata_proto::v1::sub_manager_client::SubManagerClient;
use strata_proto::v1::sub_manager_server::SubManager;
use strata_proto::v1::{
    AcknowledgeEventRequest, AcknowledgeEventResponse, ConfigureAgentRequest, ConfigureResponse,
    GetNotifyRequest, GetRulesRequest, ListAgentsRequest, ListAgentsResponse,
    ListNotificationsRequest, ListNotificationsResponse, NotifyResponse, PutNotifyRequest,
    PutRulesRequest, RulesResponse,
};
use strata_proto::v1::{
    AgentSnapshotRequest, Aggregation, ListResourcesRequest, ListResourcesResponse, Member, Point,
    QueryRangeRequest, QueryRangeResponse, RegionSummaryRequest, RegionSummaryResponse,
    RegionUpdate, Resource, ResourceState, Series, Severity, SnapshotResponse, WatchRegionRequest,
};
use tonic::transport::Channel;
use tonic::{Code, Request, Response, Status};
use tracing::{Instrument, info_span, warn};

use crate::state::BrokerState;

/// Implements the SubManager service by routing to the region's members.
#[derive(Debug, Clone)]
pub struct Router {
    state: Arc<BrokerState>,
}

type Client = SubManagerClient<Channel>;

impl Router {
    /// A router over `state`.
    pub fn new(state: Arc<BrokerState>) -> Self {
        Self { state }
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
        let client = self.state.sub_manager(member);
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
        let agent = match resource_id.split_once('/') {
            Some((r, host)) if r == region && !host.is_empty() => host.to_string(),
            _ => {
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

    async fn merged_resources(&self, region: &str) -> Result<Vec<Resource>, Status> {
        let answers = self
            .fan_out(region, "ListResources", |mut c| {
                let req = ListResourcesRequest {
                    region: region.to_string(),
                };
                async move { c.list_resources(req).await }
            })
            .await?;
        Ok(merge_resources(
            answers.into_iter().flat_map(|a| a.resources),
        ))
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

/// Merges resource lists by id, keeping the most recently updated record of each.
pub fn merge_resources(resources: impl IntoIterator<Item = Resource>) -> Vec<Resource> {
    let mut by_id: BTreeMap<String, Resource> = BTreeMap::new();
    for r in resources {
        match by_id.get(&r.id) {
            Some(old) if (old.last_poll_ms, old.updated_ms) >= (r.last_poll_ms, r.updated_ms) => {}
            _ => {
                by_id.insert(r.id.clone(), r);
            }
        }
    }
    by_id.into_values().collect()
}

/// Series identity (name, labels) -> the merged series and the index of each timestamp in it.
type SeriesMerge = BTreeMap<(String, Vec<(String, String)>), (Series, HashMap<i64, usize>)>;

/// Merges series answered by several members: same name and labels become one series whose
/// points are the union by timestamp. A step present on two members is combined by
/// `aggregation`: if the members hold `copies` (a replica count of 2), the more complete copy
/// wins (the larger sum, count or increase); otherwise they hold parts (a resource that moved
/// during the step), added for sums, counts and increases. Min and max take theirs; other
/// aggregations the mean of the two.
pub fn merge_series(
    series: impl IntoIterator<Item = Series>,
    aggregation: Aggregation,
    copies: bool,
) -> Vec<Series> {
    let mut merged: SeriesMerge = BTreeMap::new();
    for s in series {
        let key = (
            s.name.clone(),
            s.labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect(),
        );
        let (target, index) = merged.entry(key).or_insert_with(|| {
            (
                Series {
                    name: s.name.clone(),
                    labels: s.labels.clone(),
                    points: Vec::new(),
                },
                HashMap::new(),
            )
        });
        for p in s.points {
            match index.get(&p.ts_ms) {
                Some(&i) => {
                    let old = &mut target.points[i].value;
                    *old = match aggregation {
                        Aggregation::Min => old.min(p.value),
                        Aggregation::Max => old.max(p.value),
                        Aggregation::Sum
                        | Aggregation::Count
                        | Aggregation::Increase
                        | Aggregation::Rate
                            if copies =>
                        {
                            old.max(p.value)
                        }
                        Aggregation::Sum
                        | Aggregation::Count
                        | Aggregation::Increase
                        | Aggregation::Rate => *old + p.value,
                        _ => (*old + p.value) / 2.0,
                    };
                }
                None => {
                    index.insert(p.ts_ms, target.points.len());
                    target.points.push(p);
                }
            }
        }
    }
    merged
        .into_values()
        .map(|(mut s, _)| {
            s.points.sort_by_key(|p: &Point| p.ts_ms);
            s
        })
        .collect()
}

type UpdateStream = Pin<Box<dyn Stream<Item = Result<RegionUpdate, Status>> + Send>>;

#[tonic::async_trait]
impl SubManager for Router {
    async fn region_summary(
        &self,
        request: Request<RegionSummaryRequest>,
    ) -> Result<Response<RegionSummaryResponse>, Status> {
        let region = request.into_inner().region;
        let resources = self.merged_resources(&region).await?;
        let mut s = RegionSummaryResponse {
            region,
            resources_total: resources.len() as u32,
            ..Default::default()
        };
        for r in &resources {
            match r.state() {
                ResourceState::Up => s.resources_up += 1,
                ResourceState::Down => s.resources_down += 1,
                _ => s.resources_unknown += 1,
            }
            match r.severity() {
                Severity::Warning => s.events_warning += 1,
                Severity::Critical => s.events_critical += 1,
                _ => {}
            }
        }
        Ok(Response::new(s))
    }

    async fn list_resources(
        &self,
        request: Request<ListResourcesRequest>,
    ) -> Result<Response<ListResourcesResponse>, Status> {
        let region = request.into_inner().region;
        let resources = self.merged_resources(&region).await?;
        Ok(Response::new(ListResourcesResponse { resources }))
    }

    async fn query_range(
        &self,
        request: Request<QueryRangeRequest>,
    ) -> Result<Response<QueryRangeResponse>, Status> {
        let req = request.into_inner();
        let aggregation = req.aggregation();
        let answers = self
            .fan_out(&req.region, "QueryRange", |mut c| {
                let req = req.clone();
                async move { c.query_range(req).await }
            })
            .await?;
        let copies = self.copies(&req.region);
        let series = merge_series(
            answers.into_iter().flat_map(|a| a.series),
            aggregation,
            copies,
        );
        Ok(Response::new(QueryRangeResponse { series }))
    }

    async fn agent_snapshot(
        &self,
        request: Request<AgentSnapshotRequest>,
    ) -> Result<Response<SnapshotResponse>, Status> {
        let req = request.into_inner();
        let (region, resource) = (req.region.clone(), req.resource_id.clone());
        self.to_pollers(&region, &resource, "AgentSnapshot", |mut c| {
            let req = req.clone();
            async move { c.agent_snapshot(req).await }
        })
        .await
        .map(Response::new)
    }

    async fn configure_agent(
        &self,
        request: Request<ConfigureAgentRequest>,
    ) -> Result<Response<ConfigureResponse>, Status> {
        let req = request.into_inner();
        let (region, resource) = (req.region.clone(), req.resource_id.clone());
        self.to_pollers(&region, &resource, "ConfigureAgent", |mut c| {
            let req = req.clone();
            async move { c.configure_agent(req).await }
        })
        .await
        .map(Response::new)
    }

    async fn acknowledge_event(
        &self,
        request: Request<AcknowledgeEventRequest>,
    ) -> Result<Response<AcknowledgeEventResponse>, Status> {
        let req = request.into_inner();
        // every member holding a copy of the event acknowledges its own
        let answers = self
            .fan_out(&req.region, "AcknowledgeEvent", |mut c| {
                let req = req.clone();
                async move { c.acknowledge_event(req).await }
            })
            .await?;
        Ok(Response::new(AcknowledgeEventResponse {
            events: answers.into_iter().flat_map(|a| a.events).collect(),
        }))
    }

    async fn get_rules(
        &self,
        request: Request<GetRulesRequest>,
    ) -> Result<Response<RulesResponse>, Status> {
        let req = request.into_inner();
        let answers = self
            .fan_out(&req.region, "GetRules", |mut c| {
                let req = req.clone();
                async move { c.get_rules(req).await }
            })
            .await?;
        // the most recently loaded set: the members' API rules are put together
        chosen("GetRules", answers.into_iter().max_by_key(|a| a.loaded_ms))
    }

    async fn put_rules(
        &self,
        request: Request<PutRulesRequest>,
    ) -> Result<Response<RulesResponse>, Status> {
        let req = request.into_inner();
        let answers = self
            .fan_out(&req.region, "PutRules", |mut c| {
                let req = req.clone();
                async move { c.put_rules(req).await }
            })
            .await?;
        chosen("PutRules", answers.into_iter().next())
    }

    async fn list_agents(
        &self,
        request: Request<ListAgentsRequest>,
    ) -> Result<Response<ListAgentsResponse>, Status> {
        let req = request.into_inner();
        let answers = self
            .fan_out(&req.region, "ListAgents", |mut c| {
                let req = req.clone();
                async move { c.list_agents(req).await }
            })
            .await?;
        // each member lists the agents it polls: an agent with replicas once per poller
        let mut agents: Vec<_> = answers.into_iter().flat_map(|a| a.agents).collect();
        agents.sort_by(|a, b| (&a.agent_id, &a.member_id).cmp(&(&b.agent_id, &b.member_id)));
        Ok(Response::new(ListAgentsResponse { agents }))
    }

    async fn get_notify(
        &self,
        request: Request<GetNotifyRequest>,
    ) -> Result<Response<NotifyResponse>, Status> {
        let req = request.into_inner();
        let answers = self
            .fan_out(&req.region, "GetNotify", |mut c| {
                let req = req.clone();
                async move { c.get_notify(req).await }
            })
            .await?;
        // the most recently installed channels: a put reaches every member
        chosen("GetNotify", answers.into_iter().max_by_key(|a| a.loaded_ms))
    }

    async fn put_notify(
        &self,
        request: Request<PutNotifyRequest>,
    ) -> Result<Response<NotifyResponse>, Status> {
        let req = request.into_inner();
        let answers = self
            .fan_out(&req.region, "PutNotify", |mut c| {
                let req = req.clone();
                async move { c.put_notify(req).await }
            })
            .await?;
        chosen("PutNotify", answers.into_iter().next())
    }

    async fn list_notifications(
        &self,
        request: Request<ListNotificationsRequest>,
    ) -> Result<Response<ListNotificationsResponse>, Status> {
        let req = request.into_inner();
        let answers = self
            .fan_out(&req.region, "ListNotifications", |mut c| {
                let req = req.clone();
                async move { c.list_notifications(req).await }
            })
            .await?;
        let mut notifications: Vec<_> = answers.into_iter().flat_map(|a| a.notifications).collect();
        notifications.sort_by_key(|n| std::cmp::Reverse(n.created_ms));
        if req.limit > 0 {
            notifications.truncate(req.limit as usize);
        }
        Ok(Response::new(ListNotificationsResponse { notifications }))
    }

    type WatchRegionStream = UpdateStream;

    async fn watch_region(
        &self,
        request: Request<WatchRegionRequest>,
    ) -> Result<Response<Self::WatchRegionStream>, Status> {
        let req = request.into_inner();
        let candidates: Vec<Member> = self
            .healthy(&req.region)?
            .into_iter()
            .filter(|m| req.member_id.is_empty() || m.id == req.member_id)
            .collect();
        if candidates.is_empty() {
            return Err(Status::unavailable(format!(
                "member '{}' of region '{}' is not healthy",
                req.member_id, req.region
            )));
        }
        // A named member is the only candidate; otherwise each healthy member in turn.
        let mut last = Status::unavailable("no member could open the stream");
        for member in candidates {
            let mut client = self.state.sub_manager(&member)?;
            match client.watch_region(req.clone()).await {
                Ok(stream) => return Ok(Response::new(Box::pin(stream.into_inner()))),
                Err(status) if !member_fault(&status) => return Err(status),
                Err(status) => {
                    warn!(member = %member.id, error = %status.message(), "WatchRegion could not be opened");
                    self.state
                        .metrics
                        .routed_failures
                        .fetch_add(1, Ordering::Relaxed);
                    self.state.with_membership(|m, _| m.mark_failed(&member.id));
                    last = status;
                }
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_proto::labels::label;

    fn res(id: &str, last_poll_ms: i64, owner: &str) -> Resource {
        Resource {
            id: id.into(),
            last_poll_ms,
            owner: owner.into(),
            ..Default::default()
        }
    }

    #[test]
    fn bad_requests_are_not_member_faults() {
        assert!(member_fault(&Status::unavailable("down")));
        assert!(member_fault(&Status::deadline_exceeded("slow")));
        assert!(!member_fault(&Status::invalid_argument("bad step")));
        assert!(!member_fault(&Status::not_found("no such region")));
    }

    #[test]
    fn resources_merge_by_id_keeping_the_freshest() {
        let merged = merge_resources(vec![
            res("eu/a", 10, "old"),
            res("eu/b", 5, "x"),
            res("eu/a", 20, "new"),
        ]);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].owner, "new");
    }

    #[test]
    fn series_merge_unions_points_and_combines_duplicates() {
        let s = |pts: &[(i64, f64)]| Series {
            name: "m".into(),
            labels: vec![label("agent", "a")],
            points: pts
                .iter()
                .map(|&(ts_ms, value)| Point { ts_ms, value })
                .collect(),
        };
        let merged = merge_series(
            vec![s(&[(1, 1.0), (2, 4.0)]), s(&[(2, 2.0), (3, 3.0)])],
            Aggregation::Max,
            false,
        );
        assert_eq!(merged.len(), 1);
        let pts: Vec<(i64, f64)> = merged[0]
            .points
            .iter()
            .map(|p| (p.ts_ms, p.value))
            .collect();
        assert_eq!(pts, vec![(1, 1.0), (2, 4.0), (3, 3.0)]);
        let sum = |copies| {
            merge_series(
                vec![s(&[(2, 5.0)]), s(&[(2, 4.0)])],
                Aggregation::Sum,
                copies,
            )[0]
            .points[0]
                .value
        };
        assert_eq!(sum(false), 9.0, "parts of a moved resource add up");
        assert_eq!(sum(true), 5.0, "of two copies, the more complete one");
    }
}
