//! The regional API: the SubManager gRPC service, a thin adapter over this member's domain
//! (its state, store, rules, notification channels and share of agents). It checks the
//! region asked, hands each call to the domain, and says the outcome as a gRPC answer or
//! status; the server itself is built by [`crate::door`].

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{Stream, StreamExt};
use strata_proto::ResourceId;
use strata_proto::v1::sub_manager_server::SubManager;
use strata_proto::v1::{
    AcknowledgeEventRequest, AcknowledgeEventResponse, AgentSnapshotRequest, ConfigureAgentRequest,
    ConfigureRequest, ConfigureResponse, GetNotifyRequest, GetRulesRequest, ListAgentsRequest,
    ListAgentsResponse, ListForwardingRequest, ListForwardingResponse, ListNotificationsRequest,
    ListNotificationsResponse, ListResourcesRequest, ListResourcesResponse, NotifyResponse,
    PutAgentFilesRequest, PutFilesRequest, PutFilesResponse, PutNotifyRequest, PutRulesRequest,
    QueryRangeRequest, QueryRangeResponse, RegionSummaryRequest, RegionSummaryResponse,
    RegionUpdate, RulesResponse, Series, SnapshotRequest, SnapshotResponse, WatchRegionRequest,
};
use strata_tsdb::Tsdb;
use strata_web::auth::Caller;
use strata_web::auth::grpc::caller_of;
use tonic::{Request, Response, Status};
use tracing::{Instrument, info_span};

use crate::agents::Polled;
use crate::assignment::Shares;
use crate::door::{self, AgentCaller};
use crate::notify::book::NotifyBook;
use crate::notify::outbox::Outbox;
use crate::rules::RuleBook;
use crate::state::RegionState;
use crate::state::watch::{Ended, Subscribers, WatchConfig, follow};

/// Implements the SubManager service for this member.
#[derive(Clone)]
pub struct Api {
    /// The region served.
    pub region: String,
    /// This member's id.
    pub member: String,
    /// The member's store, for metric queries.
    pub tsdb: Arc<Tsdb>,
    /// The member's share of the region: resources, events, the journal.
    pub state: Arc<RegionState>,
    /// The agents polled, asked for live detail with `agent_timeout`.
    pub shares: Arc<Shares>,
    pub agent_timeout: Duration,
    /// The alerting rules in force and their sources.
    pub rules: Arc<RuleBook>,
    /// What the last poll of each agent saw.
    pub polled: Arc<Polled>,
    /// The notification channels in force.
    pub channels: Arc<NotifyBook>,
    /// The notifications made, for ListNotifications.
    pub outbox: Arc<Mutex<Outbox>>,
    /// Where channels to agents are made.
    pub door: door::Door,
    /// Signs the region's agents' certificates.
    pub signer: Arc<crate::enrol::Signer>,
    /// The region's audit log (changes made on the regional console).
    pub audit: Arc<crate::audit::AuditFile>,
    /// The principals the regional console checks: the centre's copy.
    pub principals: Arc<strata_web::auth::PrincipalsFile>,
    /// The remote-write destinations and their figures.
    pub forwarding: Arc<crate::forward::Forwarding>,
    /// The WatchRegion streams open, within `watch`.
    pub subscribers: Arc<Subscribers>,
    pub watch: WatchConfig,
}

impl Api {
    /// Calls the agent of `resource_id` (which this member must poll) with `call`, within the
    /// agent timeout. The agent's own refusal is not this member's fault: it is said as a
    /// failed precondition, so that the broker does not skip the member for it.
    async fn call_agent<T, F, Fut>(
        &self,
        op: &str,
        resource_id: &str,
        call: F,
    ) -> Result<Response<T>, Status>
    where
        F: FnOnce(AgentCaller, String) -> Fut,
        Fut: std::future::Future<Output = Result<Response<T>, Status>>,
    {
        let agent = match ResourceId::parse_in(resource_id, &self.region) {
            Some(id) => id.into_parts().1,
            None => {
                return Err(Status::invalid_argument(format!(
                    "{op}: resource_id '{resource_id}' is not '{}/<host>'",
                    self.region
                )));
            }
        };
        let share = self.shares.current();
        let Some(target) = share.get(&agent) else {
            // Not ours: the broker asks another member.
            return Err(Status::failed_precondition(format!(
                "{op}: {resource_id} is not polled by this member"
            )));
        };
        let client = self
            .door
            .agent(&target.address, &agent, self.agent_timeout)
            .map_err(|e| Status::internal(format!("agent address '{}': {e}", target.address)))?;
        match tokio::time::timeout(self.agent_timeout, call(client, agent)).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(status)) => Err(Status::failed_precondition(format!(
                "{op} of {resource_id}: the agent answered: {}",
                status.message()
            ))),
            Err(_) => Err(Status::failed_precondition(format!(
                "{op} of {resource_id}: the agent did not answer within {:?}",
                self.agent_timeout
            ))),
        }
    }

    fn describe_rules(&self) -> RulesResponse {
        let (rules_toml, count, file, loaded_ms) = self.rules.describe();
        RulesResponse {
            rules_toml,
            count: count as u32,
            file,
            loaded_ms,
        }
    }

    /// Records a change that an operator's user made over gRPC in the region's audit log
    /// before it is answered (the centre's own calls are audited at the centre, the
    /// console's by the console): `result` stands if the record is written.
    fn audited<T>(
        &self,
        caller: Option<&Caller>,
        action: &str,
        subject: &str,
        detail: String,
        result: Result<T, Status>,
    ) -> Result<T, Status> {
        let Some(caller) = caller else {
            return result;
        };
        let outcome = match &result {
            Ok(_) => "ok".to_string(),
            Err(e) => format!("failed: {}", e.message()),
        };
        let detail = if detail.is_empty() {
            "over gRPC".to_string()
        } else {
            format!("over gRPC; {detail}")
        };
        let record = caller.audit(action, subject, &outcome, detail);
        self.audit.settle(&record, result, Status::internal)
    }

    fn check_region(&self, region: &str) -> Result<(), Status> {
        if region.is_empty() || region == self.region {
            Ok(())
        } else {
            Err(Status::not_found(format!(
                "region '{region}' is not served here (this is region '{}')",
                self.region
            )))
        }
    }
}

/// Runs a query against the store (blocking; call from a blocking thread): the domain's
/// [`crate::query::series`], its refusal said as a gRPC status.
pub fn query(tsdb: &Tsdb, region: &str, req: &QueryRangeRequest) -> Result<Vec<Series>, Status> {
    crate::query::series(tsdb, region, req).map_err(Status::from)
}

type UpdateStream = Pin<Box<dyn Stream<Item = Result<RegionUpdate, Status>> + Send>>;

#[tonic::async_trait]
impl SubManager for Api {
    async fn region_summary(
        &self,
        request: Request<RegionSummaryRequest>,
    ) -> Result<Response<RegionSummaryResponse>, Status> {
        self.check_region(&request.get_ref().region)?;
        Ok(Response::new(self.state.summary()))
    }

    async fn list_resources(
        &self,
        request: Request<ListResourcesRequest>,
    ) -> Result<Response<ListResourcesResponse>, Status> {
        self.check_region(&request.get_ref().region)?;
        Ok(Response::new(ListResourcesResponse {
            resources: self.state.resources(),
        }))
    }

    async fn query_range(
        &self,
        request: Request<QueryRangeRequest>,
    ) -> Result<Response<QueryRangeResponse>, Status> {
        let req = request.into_inner();
        self.check_region(&req.region)?;
        if !req.promql.is_empty() {
            let series = crate::promql::evaluate(
                self.tsdb.clone(),
                &self.region,
                &req.promql,
                req.from_ms,
                req.to_ms,
                req.step_ms.max(1),
            )
            .instrument(info_span!("query_range", region = %self.region, promql = %req.promql))
            .await?;
            return Ok(Response::new(QueryRangeResponse { series }));
        }
        let span = info_span!("query_range", region = %self.region, name = %req.name, resource = %req.resource_id);
        let tsdb = self.tsdb.clone();
        let region = self.region.clone();
        let series = tokio::task::spawn_blocking(move || {
            let _guard = span.enter();
            query(&tsdb, &region, &req)
        })
        .await
        .map_err(|e| Status::internal(format!("query task failed: {e}")))??;
        Ok(Response::new(QueryRangeResponse { series }))
    }

    async fn agent_snapshot(
        &self,
        request: Request<AgentSnapshotRequest>,
    ) -> Result<Response<SnapshotResponse>, Status> {
        let req = request.into_inner();
        self.check_region(&req.region)?;
        let (top, resource) = (req.top, req.resource_id.clone());
        let order = req.order.clone();
        self.call_agent("AgentSnapshot", &req.resource_id, |mut client, agent| {
            let call = SnapshotRequest {
                agent_id: agent,
                top,
                order: order.clone(),
            };
            async move { client.snapshot(call).await }
        })
        .instrument(info_span!("agent_snapshot", region = %self.region, resource = %resource))
        .await
    }

    async fn configure_agent(
        &self,
        request: Request<ConfigureAgentRequest>,
    ) -> Result<Response<ConfigureResponse>, Status> {
        let caller = caller_of(&request).cloned();
        let req = request.into_inner();
        self.check_region(&req.region)?;
        let resource = req.resource_id.clone();
        let answer = self
            .call_agent("ConfigureAgent", &req.resource_id, |mut client, agent| {
                let call = ConfigureRequest {
                    agent_id: agent,
                    config_toml: req.config_toml.clone(),
                };
                async move { client.configure(call).await }
            })
            .instrument(info_span!("configure_agent", region = %self.region, resource = %resource))
            .await;
        let answer = self.audited(
            caller.as_ref(),
            "configure agent",
            &resource,
            String::new(),
            answer,
        )?;
        tracing::info!(%resource, applied = answer.get_ref().applied, "agent configuration pushed");
        Ok(answer)
    }

    async fn put_agent_files(
        &self,
        request: Request<PutAgentFilesRequest>,
    ) -> Result<Response<PutFilesResponse>, Status> {
        let caller = caller_of(&request).cloned();
        let req = request.into_inner();
        self.check_region(&req.region)?;
        let resource = req.resource_id.clone();
        let bundle = req
            .bundle
            .ok_or_else(|| Status::invalid_argument("PutAgentFiles: field 'bundle' is missing"))?;
        // the region hands the bundle on; the agent checks the centre's signature itself
        let answer = self
            .call_agent("PutAgentFiles", &req.resource_id, |mut client, agent| {
                let call = PutFilesRequest {
                    agent_id: agent,
                    bundle: Some(bundle.clone()),
                };
                async move { client.put_files(call).await }
            })
            .instrument(info_span!("put_agent_files", region = %self.region, resource = %resource))
            .await;
        let answer = self.audited(
            caller.as_ref(),
            "put files",
            &resource,
            String::new(),
            answer,
        )?;
        tracing::info!(%resource, outcome = answer.get_ref().outcome, "file bundle handed to the agent");
        Ok(answer)
    }

    async fn acknowledge_event(
        &self,
        request: Request<AcknowledgeEventRequest>,
    ) -> Result<Response<AcknowledgeEventResponse>, Status> {
        let caller = caller_of(&request).cloned();
        let mut req = request.into_inner();
        self.check_region(&req.region)?;
        if let Some(c) = &caller {
            // an operator's user signs its acknowledgement: a `by` sent is not taken
            req.by.clone_from(&c.principal.name);
        }
        for (field, value) in [
            ("resource_id", &req.resource_id),
            ("rule", &req.rule),
            ("by", &req.by),
        ] {
            if value.trim().is_empty() {
                return Err(Status::invalid_argument(format!(
                    "AcknowledgeEvent: field '{field}' is empty"
                )));
            }
        }
        let _span = info_span!("acknowledge_event", region = %self.region, resource = %req.resource_id, rule = %req.rule).entered();
        let event = self.state.acknowledge(
            &req.resource_id,
            &req.rule,
            &req.by,
            &req.comment,
            strata_proto::now_ms(),
        );
        if let Some(e) = &event {
            tracing::info!(event = %e.id, by = %req.by, "event acknowledged");
        }
        let subject = format!("{}/{}", req.resource_id, req.rule);
        let outcome = match &event {
            Some(_) => Ok(()),
            None => Err(Status::not_found("no open event of that rule")),
        };
        // nothing open to acknowledge is an empty answer, as before; the log says so
        let _ = self.audited(
            caller.as_ref(),
            "acknowledge",
            &subject,
            String::new(),
            outcome,
        );
        Ok(Response::new(AcknowledgeEventResponse {
            events: event.into_iter().collect(),
        }))
    }

    async fn get_rules(
        &self,
        request: Request<GetRulesRequest>,
    ) -> Result<Response<RulesResponse>, Status> {
        self.check_region(&request.get_ref().region)?;
        Ok(Response::new(self.describe_rules()))
    }

    async fn put_rules(
        &self,
        request: Request<PutRulesRequest>,
    ) -> Result<Response<RulesResponse>, Status> {
        let caller = caller_of(&request).cloned();
        let req = request.into_inner();
        self.check_region(&req.region)?;
        let before = self.rules.describe().0;
        let done = self
            .rules
            .put_api(&req.rules_toml, self.state.journal())
            .map_err(|problems| {
                Status::invalid_argument(format!("PutRules: {}", problems.join("; ")))
            });
        let after = self.describe_rules();
        let detail = strata_web::auth::change_detail(&before, &after.rules_toml);
        self.audited(caller.as_ref(), "put rules", &self.region, detail, done)?;
        tracing::info!(region = %self.region, "rules put through the API are in force");
        Ok(Response::new(self.describe_rules()))
    }

    async fn list_notifications(
        &self,
        request: Request<ListNotificationsRequest>,
    ) -> Result<Response<ListNotificationsResponse>, Status> {
        let req = request.into_inner();
        self.check_region(&req.region)?;
        let limit = if req.limit == 0 {
            100
        } else {
            req.limit as usize
        };
        let notifications = self
            .outbox
            .lock()
            .expect("outbox lock poisoned")
            .newest(limit)
            .iter()
            .map(|d| d.to_proto(&self.member))
            .collect();
        Ok(Response::new(ListNotificationsResponse { notifications }))
    }

    async fn list_forwarding(
        &self,
        request: Request<ListForwardingRequest>,
    ) -> Result<Response<ListForwardingResponse>, Status> {
        self.check_region(&request.get_ref().region)?;
        let destinations = self.forwarding.views(&self.tsdb, &self.member);
        Ok(Response::new(ListForwardingResponse { destinations }))
    }

    async fn list_agents(
        &self,
        request: Request<ListAgentsRequest>,
    ) -> Result<Response<ListAgentsResponse>, Status> {
        self.check_region(&request.get_ref().region)?;
        let agents = self.polled.list(&self.shares.current(), &self.member);
        Ok(Response::new(ListAgentsResponse { agents }))
    }

    async fn get_notify(
        &self,
        request: Request<GetNotifyRequest>,
    ) -> Result<Response<NotifyResponse>, Status> {
        self.check_region(&request.get_ref().region)?;
        Ok(Response::new(self.channels.describe()))
    }

    async fn get_agent_config(
        &self,
        request: Request<strata_proto::v1::AgentConfigRequest>,
    ) -> Result<Response<strata_proto::v1::GetConfigResponse>, Status> {
        let req = request.into_inner();
        self.check_region(&req.region)?;
        let resource = req.resource_id.clone();
        self.call_agent(
            "GetAgentConfig",
            &req.resource_id,
            |mut client, agent| async move {
                client
                    .get_config(strata_proto::v1::GetConfigRequest { agent_id: agent })
                    .await
            },
        )
        .instrument(info_span!("get_agent_config", region = %self.region, resource = %resource))
        .await
    }

    async fn put_principals(
        &self,
        request: Request<strata_proto::v1::PutPrincipalsRequest>,
    ) -> Result<Response<strata_proto::v1::PutPrincipalsResponse>, Status> {
        let req = request.into_inner();
        self.check_region(&req.region)?;
        let copy: strata_web::auth::Principals = serde_json::from_slice(&req.principals_json)
            .map_err(|e| {
                Status::invalid_argument(format!("PutPrincipals: principals_json: {e}"))
            })?;
        let version = copy.version;
        let replaced = self
            .principals
            .replace_if_different(copy)
            .map_err(|e| Status::internal(format!("PutPrincipals: {e}")))?;
        if replaced {
            tracing::info!(region = %self.region, version, "the centre's principals are in force");
        }
        Ok(Response::new(strata_proto::v1::PutPrincipalsResponse {
            version: self.principals.current().version,
            replaced,
        }))
    }

    async fn peer(
        &self,
        request: Request<strata_proto::v1::PeerRequest>,
    ) -> Result<Response<strata_proto::v1::PeerResponse>, Status> {
        self.check_region(&request.get_ref().region)?;
        Ok(Response::new(strata_proto::v1::PeerResponse {
            member_id: self.member.clone(),
            region: self.region.clone(),
            brokers_reachable: self.shares.brokers_open(),
        }))
    }

    async fn sign_agent(
        &self,
        request: Request<strata_proto::v1::EnrolRequest>,
    ) -> Result<Response<strata_proto::v1::EnrolResponse>, Status> {
        self.signer.sign(request.get_ref()).map(Response::new)
    }

    async fn put_notify(
        &self,
        request: Request<PutNotifyRequest>,
    ) -> Result<Response<NotifyResponse>, Status> {
        let caller = caller_of(&request).cloned();
        let req = request.into_inner();
        self.check_region(&req.region)?;
        let before = self.channels.describe().notify_toml;
        let journal = self.state.journal();
        let done = if req.use_file {
            self.channels.use_file(journal)
        } else {
            self.channels.put_api(&req.notify_toml, journal)
        };
        let done = done.map_err(|problems| {
            Status::invalid_argument(format!("PutNotify: {}", problems.join("; ")))
        });
        let r = self.channels.describe();
        let detail = strata_web::auth::change_detail(&before, &r.notify_toml);
        self.audited(caller.as_ref(), "put notify", &self.region, detail, done)?;
        tracing::info!(region = %self.region, source = %r.source, receivers = r.receivers, routes = r.routes, "notification channels replaced");
        Ok(Response::new(r))
    }

    type WatchRegionStream = UpdateStream;

    async fn watch_region(
        &self,
        request: Request<WatchRegionRequest>,
    ) -> Result<Response<Self::WatchRegionStream>, Status> {
        let req = request.into_inner();
        self.check_region(&req.region)?;
        let max = self.watch.max_subscribers;
        let Some(slot) = self.subscribers.enter(max) else {
            return Err(Status::resource_exhausted(format!(
                "{max} WatchRegion streams are open here already (watch.max_subscribers)"
            )));
        };
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let span = info_span!("watch_region", region = %self.region, from_seq = req.from_seq);
        let ended = Arc::new(std::sync::OnceLock::new());
        let (state, stall, end) = (self.state.clone(), self.watch.stall_timeout, ended.clone());
        let subscribers = self.subscribers.clone();
        tokio::spawn(
            async move {
                // the stream's end is told after the last update: the reason is set before
                // this sender, the channel's last, is dropped
                let why = follow(state, req.epoch, req.from_seq, tx.clone(), stall).await;
                if let Ended::Stalled(reason) = &why {
                    subscribers.stalled.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%reason, "WatchRegion stream ended");
                }
                let _ = end.set(why);
                drop((tx, slot));
            }
            .instrument(span),
        );
        let tail = futures::stream::once(async move {
            match ended.get() {
                Some(Ended::Stalled(why)) => Some(Err(Status::resource_exhausted(why.clone()))),
                // a failure that ends the feed is the server's own
                Some(Ended::Failed(why)) => Some(Err(Status::internal(why.clone()))),
                _ => None,
            }
        })
        .filter_map(std::future::ready);
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx)
            .map(|update| update.map_err(Status::internal))
            .chain(tail);
        Ok(Response::new(Box::pin(stream)))
    }
}
