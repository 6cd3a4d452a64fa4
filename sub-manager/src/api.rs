//! The regional API: the SubManager gRPC service over this member's state and store.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::Stream;
use strata_proto::labels::{from_map, to_map};
use strata_proto::v1::sub_manager_server::SubManager;
use strata_proto::v1::{
    AcknowledgeEventRequest, AcknowledgeEventResponse, AgentSnapshotRequest, Aggregation,
    ConfigureAgentRequest, ConfigureRequest, ConfigureResponse, GetNotifyRequest, GetRulesRequest,
    ListAgentsRequest, ListAgentsResponse, ListNotificationsRequest, ListNotificationsResponse,
    ListResourcesRequest, ListResourcesResponse, NotifyResponse, Point, PutNotifyRequest,
    PutRulesRequest, QueryRangeRequest, QueryRangeResponse, RegionSummaryRequest,
    RegionSummaryResponse, RegionUpdate, RulesResponse, Series, SnapshotRequest, SnapshotResponse,
    WatchRegionRequest,
};
use strata_proto::v1::{LabelMatcher, MatchOp};
use strata_tsdb::Tsdb;
use strata_tsdb::matcher::{Matcher, NAME_LABEL};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};
use tracing::{Instrument, debug, info_span};

use crate::assignment::Shares;
use crate::notify::book::NotifyBook;
use crate::notify::outbox::Outbox;
use crate::rules::RuleBook;
use crate::server;
use crate::state::{RegionState, Start};

/// Most series one QueryRange may return.
pub const MAX_QUERY_SERIES: usize = 10_000;
/// Most points one QueryRange may return per series when a step is given.
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// Implements the SubManager service for this member.
#[derive(Clone)]
pub struct Api {
    pub region: String,
    pub member: String,
    pub tsdb: Arc<Tsdb>,
    pub state: Arc<RegionState>,
    /// The agents polled, asked for live detail with `agent_timeout`.
    pub shares: Arc<Shares>,
    pub agent_timeout: Duration,
    pub rules: Arc<RuleBook>,
    /// What the last poll of each agent saw.
    pub polled: Arc<crate::agents::Polled>,
    /// The notification channels in force.
    pub channels: Arc<NotifyBook>,
    pub outbox: Arc<Mutex<Outbox>>,
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
        F: FnOnce(
            strata_proto::v1::agent_client::AgentClient<tonic::transport::Channel>,
            String,
        ) -> Fut,
        Fut: std::future::Future<Output = Result<Response<T>, Status>>,
    {
        let agent = match resource_id.split_once('/') {
            Some((r, host)) if r == self.region && !host.is_empty() => host.to_string(),
            _ => {
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
        let channel = server::agent_channel(&target.address, self.agent_timeout)
            .map_err(|e| Status::internal(format!("agent address '{}': {e}", target.address)))?;
        let client = strata_proto::v1::agent_client::AgentClient::new(channel);
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

fn to_aggregation(req: &QueryRangeRequest) -> Result<strata_tsdb::Aggregation, Status> {
    use strata_tsdb::Aggregation as A;
    Ok(match req.aggregation() {
        Aggregation::Min => A::Min,
        Aggregation::Max => A::Max,
        Aggregation::Last => A::Last,
        Aggregation::Sum => A::Sum,
        Aggregation::Count => A::Count,
        Aggregation::Increase => A::Increase,
        Aggregation::Rate => A::Rate,
        Aggregation::Quantile if (0.0..=1.0).contains(&req.quantile) => A::Quantile(req.quantile),
        Aggregation::Quantile => {
            return Err(Status::invalid_argument(format!(
                "QueryRange: quantile {} is not between 0 and 1",
                req.quantile
            )));
        }
        Aggregation::Avg | Aggregation::Unspecified => A::Avg,
    })
}

/// Runs a query against the store (blocking; call from a blocking thread).
pub fn query(tsdb: &Tsdb, region: &str, req: &QueryRangeRequest) -> Result<Vec<Series>, Status> {
    if req.name.is_empty() {
        return Err(Status::invalid_argument(
            "QueryRange: field 'name' is empty",
        ));
    }
    if req.from_ms > req.to_ms {
        return Err(Status::invalid_argument(format!(
            "QueryRange: from_ms {} is after to_ms {}",
            req.from_ms, req.to_ms
        )));
    }
    if req.step_ms < 0 {
        return Err(Status::invalid_argument(format!(
            "QueryRange: step_ms {} is negative",
            req.step_ms
        )));
    }
    if req.step_ms > 0 && (req.to_ms - req.from_ms) / req.step_ms > MAX_POINTS_PER_SERIES {
        return Err(Status::invalid_argument(format!(
            "QueryRange: {} steps of {} ms exceed the limit of {MAX_POINTS_PER_SERIES} points; use a larger step_ms",
            (req.to_ms - req.from_ms) / req.step_ms,
            req.step_ms
        )));
    }
    let mut matchers: Vec<Matcher> = vec![Matcher::equal(NAME_LABEL, &req.name)];
    matchers.extend(
        to_map(&req.matchers)
            .iter()
            .map(|(k, v)| Matcher::equal(k, v)),
    );
    for (i, m) in req.label_matchers.iter().enumerate() {
        matchers.push(label_matcher(m).map_err(|e| {
            Status::invalid_argument(format!("QueryRange: label_matchers[{i}] ({}): {e}", m.name))
        })?);
    }
    if !req.resource_id.is_empty() {
        match req.resource_id.split_once('/') {
            Some((r, host)) if r == region && !host.is_empty() => {
                matchers.push(Matcher::equal("agent", host))
            }
            Some((r, _)) if r != region => return Ok(Vec::new()),
            _ => {
                return Err(Status::invalid_argument(format!(
                    "QueryRange: resource_id '{}' is not '<region>/<host>'",
                    req.resource_id
                )));
            }
        }
    }
    let found = tsdb
        .select_matching(&matchers)
        .map_err(|e| Status::internal(e.to_string()))?;
    if found.len() > MAX_QUERY_SERIES {
        return Err(Status::invalid_argument(format!(
            "QueryRange: {} series match '{}', over the limit of {MAX_QUERY_SERIES}; add matchers",
            found.len(),
            req.name
        )));
    }
    let aggregation = to_aggregation(req)?;
    found
        .into_iter()
        .map(|s| {
            let points = tsdb
                .query_range(s.id, req.from_ms, req.to_ms, req.step_ms, aggregation)
                .map_err(|e| Status::internal(e.to_string()))?
                .into_iter()
                .map(|(ts_ms, value)| Point { ts_ms, value })
                .collect();
            Ok(Series {
                name: s.name,
                labels: from_map(&s.labels),
                points,
            })
        })
        .collect()
}

/// A wire matcher as a store matcher.
fn label_matcher(m: &LabelMatcher) -> Result<Matcher, String> {
    if m.name.is_empty() {
        return Err("the label name is empty".into());
    }
    let matcher = match m.op() {
        MatchOp::Equal => Matcher::equal(&m.name, &m.value),
        MatchOp::NotEqual => Matcher::not_equal(&m.name, &m.value),
        MatchOp::Regex => Matcher::regex(&m.name, &m.value).map_err(|e| e.to_string())?,
        MatchOp::NotRegex => Matcher::not_regex(&m.name, &m.value).map_err(|e| e.to_string())?,
        MatchOp::Unspecified => return Err("op is unspecified".into()),
    };
    Ok(matcher)
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
        self.call_agent("AgentSnapshot", &req.resource_id, |mut client, agent| {
            let call = SnapshotRequest {
                agent_id: agent,
                top,
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
            .await?;
        tracing::info!(%resource, applied = answer.get_ref().applied, "agent configuration pushed");
        Ok(answer)
    }

    async fn acknowledge_event(
        &self,
        request: Request<AcknowledgeEventRequest>,
    ) -> Result<Response<AcknowledgeEventResponse>, Status> {
        let req = request.into_inner();
        self.check_region(&req.region)?;
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
        let req = request.into_inner();
        self.check_region(&req.region)?;
        self.rules
            .put_api(&req.rules_toml, self.state.journal())
            .map_err(|problems| {
                Status::invalid_argument(format!("PutRules: {}", problems.join("; ")))
            })?;
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

    async fn put_notify(
        &self,
        request: Request<PutNotifyRequest>,
    ) -> Result<Response<NotifyResponse>, Status> {
        let req = request.into_inner();
        self.check_region(&req.region)?;
        let journal = self.state.journal();
        let done = if req.use_file {
            self.channels.use_file(journal)
        } else {
            self.channels.put_api(&req.notify_toml, journal)
        };
        done.map_err(|problems| {
            Status::invalid_argument(format!("PutNotify: {}", problems.join("; ")))
        })?;
        let r = self.channels.describe();
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
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let span = info_span!("watch_region", region = %self.region, from_seq = req.from_seq);
        tokio::spawn(follow(self.state.clone(), req.epoch, req.from_seq, tx).instrument(span));
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
        Ok(Response::new(Box::pin(stream)))
    }
}

/// Journal records read per step while a subscriber catches up.
const CATCH_UP_BATCH: usize = 1024;

/// Sends a subscriber what it missed after `(epoch, from_seq)` (from the journal, or a
/// snapshot), then every change as it is made; when it falls behind the live tail, it
/// catches up from the journal again. Ends when the subscriber goes away.
async fn follow(
    state: Arc<RegionState>,
    epoch: String,
    from_seq: u64,
    tx: mpsc::Sender<Result<RegionUpdate, Status>>,
) {
    let (start, mut rx) = state.subscribe(&epoch, from_seq);
    let mut sent = match start {
        Start::After(seq) => seq,
        Start::Snapshot(snapshot) => {
            let seq = snapshot.seq;
            if tx.send(Ok(*snapshot)).await.is_err() {
                return;
            }
            seq
        }
    };
    loop {
        // Catch up from the journal until it has nothing after `sent`.
        loop {
            let st = state.clone();
            let read =
                tokio::task::spawn_blocking(move || st.journaled_after(sent, CATCH_UP_BATCH)).await;
            let batch = match read {
                Ok(Ok(Some(batch))) => batch,
                Ok(Ok(None)) => {
                    // trimmed while catching up: start again from a snapshot
                    let snapshot = state.snapshot_now();
                    sent = snapshot.seq;
                    if tx.send(Ok(snapshot)).await.is_err() {
                        return;
                    }
                    continue;
                }
                Ok(Err(error)) => {
                    let _ = tx
                        .send(Err(Status::internal(format!(
                            "read the journal after {sent}: {error}"
                        ))))
                        .await;
                    return;
                }
                Err(error) => {
                    let _ = tx
                        .send(Err(Status::internal(format!(
                            "journal reader failed: {error}"
                        ))))
                        .await;
                    return;
                }
            };
            let n = batch.len();
            for update in batch {
                sent = update.seq;
                if tx.send(Ok(update)).await.is_err() {
                    return;
                }
            }
            if n < CATCH_UP_BATCH {
                break;
            }
        }
        // Follow the live tail; what it repeats of the journal is skipped.
        loop {
            let next = tokio::select! {
                _ = tx.closed() => return,
                next = rx.recv() => next,
            };
            match next {
                Ok(update) if update.seq <= sent => {}
                Ok(update) if update.seq == sent + 1 => {
                    sent = update.seq;
                    if tx.send(Ok(update)).await.is_err() {
                        return;
                    }
                }
                // a gap (a change that could not be journaled, or one made before this
                // receiver existed): the journal has the rest
                Ok(_) => break,
                Err(RecvError::Lagged(n)) => {
                    debug!(
                        skipped = n,
                        "subscriber behind the live tail; catching up from the journal"
                    );
                    rx = rx.resubscribe();
                    break;
                }
                Err(RecvError::Closed) => return,
            }
        }
    }
}
