//! The SubManager service as the broker answers it: each call routed through the [`Router`]
//! to the region's members and their answers merged.

use std::pin::Pin;
use std::sync::atomic::Ordering;

use futures::Stream;
use strata_proto::v1::sub_manager_server::SubManager;
use strata_proto::v1::{
    AcknowledgeEventRequest, AcknowledgeEventResponse, AgentSnapshotRequest, ConfigureAgentRequest,
    ConfigureResponse, GetNotifyRequest, GetRulesRequest, ListAgentsRequest, ListAgentsResponse,
    ListForwardingRequest, ListForwardingResponse, ListNotificationsRequest,
    ListNotificationsResponse, ListResourcesRequest, ListResourcesResponse, Member, NotifyResponse,
    PutAgentFilesRequest, PutFilesResponse, PutNotifyRequest, PutRulesRequest, QueryRangeRequest,
    QueryRangeResponse, RegionSummaryRequest, RegionSummaryResponse, RegionUpdate, ResourceState,
    RulesResponse, Severity, SnapshotResponse, WatchRegionRequest,
};
use tonic::{Request, Response, Status};
use tracing::{Instrument, warn};

use super::merge::merge_series;
use super::{For, Router, chosen, member_fault};

type UpdateStream = Pin<Box<dyn Stream<Item = Result<RegionUpdate, Status>> + Send>>;

#[tonic::async_trait]
impl SubManager for Router {
    async fn region_summary(
        &self,
        request: Request<RegionSummaryRequest>,
    ) -> Result<Response<RegionSummaryResponse>, Status> {
        let on = For::of(&request);
        let region = request.into_inner().region;
        let resources = self.merged_resources(&region, &on).await?;
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
        let on = For::of(&request);
        let region = request.into_inner().region;
        let resources = self.merged_resources(&region, &on).await?;
        Ok(Response::new(ListResourcesResponse { resources }))
    }

    async fn query_range(
        &self,
        request: Request<QueryRangeRequest>,
    ) -> Result<Response<QueryRangeResponse>, Status> {
        let on = For::of(&request);
        let req = request.into_inner();
        if !req.promql.is_empty() {
            let span =
                tracing::info_span!("query_range", region = %req.region, promql = %req.promql);
            let series = super::promql::evaluate(self, on, &req)
                .instrument(span)
                .await?;
            return Ok(Response::new(QueryRangeResponse { series }));
        }
        let aggregation = req.aggregation();
        let answers = self
            .fan_out(&req.region, "QueryRange", |mut c| {
                let req = on.wrap(req.clone());
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
        let on = For::of(&request);
        let req = request.into_inner();
        let (region, resource) = (req.region.clone(), req.resource_id.clone());
        self.to_pollers(&region, &resource, "AgentSnapshot", |mut c| {
            let req = on.wrap(req.clone());
            async move { c.agent_snapshot(req).await }
        })
        .await
        .map(Response::new)
    }

    async fn configure_agent(
        &self,
        request: Request<ConfigureAgentRequest>,
    ) -> Result<Response<ConfigureResponse>, Status> {
        let on = For::of(&request);
        let req = request.into_inner();
        let (region, resource) = (req.region.clone(), req.resource_id.clone());
        self.to_pollers(&region, &resource, "ConfigureAgent", |mut c| {
            let req = on.wrap(req.clone());
            async move { c.configure_agent(req).await }
        })
        .await
        .map(Response::new)
    }

    async fn put_agent_files(
        &self,
        request: Request<PutAgentFilesRequest>,
    ) -> Result<Response<PutFilesResponse>, Status> {
        let on = For::of(&request);
        let req = request.into_inner();
        let (region, resource) = (req.region.clone(), req.resource_id.clone());
        self.to_pollers(&region, &resource, "PutAgentFiles", |mut c| {
            let req = on.wrap(req.clone());
            async move { c.put_agent_files(req).await }
        })
        .await
        .map(Response::new)
    }

    async fn acknowledge_event(
        &self,
        request: Request<AcknowledgeEventRequest>,
    ) -> Result<Response<AcknowledgeEventResponse>, Status> {
        let on = For::of(&request);
        let req = request.into_inner();
        // every member holding a copy of the event acknowledges its own
        let answers = self
            .fan_out(&req.region, "AcknowledgeEvent", |mut c| {
                let req = on.wrap(req.clone());
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
        let on = For::of(&request);
        let req = request.into_inner();
        let answers = self
            .fan_out(&req.region, "GetRules", |mut c| {
                let req = on.wrap(req.clone());
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
        let on = For::of(&request);
        let req = request.into_inner();
        let answers = self
            .fan_out(&req.region, "PutRules", |mut c| {
                let req = on.wrap(req.clone());
                async move { c.put_rules(req).await }
            })
            .await?;
        chosen("PutRules", answers.into_iter().next())
    }

    async fn put_principals(
        &self,
        request: Request<strata_proto::v1::PutPrincipalsRequest>,
    ) -> Result<Response<strata_proto::v1::PutPrincipalsResponse>, Status> {
        let on = For::of(&request);
        let req = request.into_inner();
        let answers = self
            .fan_out(&req.region, "PutPrincipals", |mut c| {
                let req = on.wrap(req.clone());
                async move { c.put_principals(req).await }
            })
            .await?;
        // every member answered: the lowest version any has in force
        chosen(
            "PutPrincipals",
            answers.into_iter().min_by_key(|a| a.version),
        )
    }

    async fn list_forwarding(
        &self,
        request: Request<ListForwardingRequest>,
    ) -> Result<Response<ListForwardingResponse>, Status> {
        let on = For::of(&request);
        let req = request.into_inner();
        let answers = self
            .fan_out(&req.region, "ListForwarding", |mut c| {
                let req = on.wrap(req.clone());
                async move { c.list_forwarding(req).await }
            })
            .await?;
        // each member forwards what it stored itself: one row per member and destination
        let mut destinations: Vec<_> = answers.into_iter().flat_map(|a| a.destinations).collect();
        destinations.sort_by(|a, b| (&a.name, &a.member_id).cmp(&(&b.name, &b.member_id)));
        Ok(Response::new(ListForwardingResponse { destinations }))
    }

    async fn list_agents(
        &self,
        request: Request<ListAgentsRequest>,
    ) -> Result<Response<ListAgentsResponse>, Status> {
        let on = For::of(&request);
        let req = request.into_inner();
        let answers = self
            .fan_out(&req.region, "ListAgents", |mut c| {
                let req = on.wrap(req.clone());
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
        let on = For::of(&request);
        let req = request.into_inner();
        let answers = self
            .fan_out(&req.region, "GetNotify", |mut c| {
                let req = on.wrap(req.clone());
                async move { c.get_notify(req).await }
            })
            .await?;
        // the most recently installed channels: a put reaches every member
        chosen("GetNotify", answers.into_iter().max_by_key(|a| a.loaded_ms))
    }

    async fn get_agent_config(
        &self,
        request: Request<strata_proto::v1::AgentConfigRequest>,
    ) -> Result<Response<strata_proto::v1::GetConfigResponse>, Status> {
        let on = For::of(&request);
        let req = request.into_inner();
        let (region, resource) = (req.region.clone(), req.resource_id.clone());
        self.to_pollers(&region, &resource, "GetAgentConfig", |mut c| {
            let req = on.wrap(req.clone());
            async move { c.get_agent_config(req).await }
        })
        .await
        .map(Response::new)
    }

    async fn sign_agent(
        &self,
        _request: Request<strata_proto::v1::EnrolRequest>,
    ) -> Result<Response<strata_proto::v1::EnrolResponse>, Status> {
        Err(Status::permission_denied(
            "agents enrol through Broker.Enrol, which checks their token; SignAgent is not routed",
        ))
    }

    async fn peer(
        &self,
        _request: Request<strata_proto::v1::PeerRequest>,
    ) -> Result<Response<strata_proto::v1::PeerResponse>, Status> {
        Err(Status::permission_denied(
            "Peer is between the members of a region, which call each other directly; it is not routed",
        ))
    }

    async fn put_notify(
        &self,
        request: Request<PutNotifyRequest>,
    ) -> Result<Response<NotifyResponse>, Status> {
        let on = For::of(&request);
        let req = request.into_inner();
        let answers = self
            .fan_out(&req.region, "PutNotify", |mut c| {
                let req = on.wrap(req.clone());
                async move { c.put_notify(req).await }
            })
            .await?;
        chosen("PutNotify", answers.into_iter().next())
    }

    async fn list_notifications(
        &self,
        request: Request<ListNotificationsRequest>,
    ) -> Result<Response<ListNotificationsResponse>, Status> {
        let on = For::of(&request);
        let req = request.into_inner();
        let answers = self
            .fan_out(&req.region, "ListNotifications", |mut c| {
                let req = on.wrap(req.clone());
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
        let on = For::of(&request);
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
            let mut client = self.clients.client(&member)?;
            match client.watch_region(on.wrap(req.clone())).await {
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
