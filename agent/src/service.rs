//! The Agent gRPC service: a thin adapter that finds the agent a request names in the
//! [`Registry`], hands the request to the domain code ([`crate::entry`], [`crate::registry`],
//! [`crate::control`], [`crate::snapshot`]) and maps the answer or the error to gRPC.
//!
//! Real and simulated agents are answered by this one implementation; the server that carries
//! it is built in [`crate::door`].

use std::sync::Arc;

use strata_proto::v1::agent_server::Agent;
use strata_proto::v1::{
    ConfigureRequest, ConfigureResponse, DescribeRequest, DescribeResponse, GetConfigRequest,
    GetConfigResponse, PollRequest, PollResponse, PutFilesRequest, PutFilesResponse,
    RunActionRequest, RunActionResponse, SnapshotRequest, SnapshotResponse,
};
use tonic::{Request, Response, Status};
use tracing::{Instrument, debug, info_span};

use crate::control::Control;
use crate::entry::AgentEntry;
use crate::error::AgentError;
use crate::procfs::processes::Order;
use crate::registry::Registry;
use crate::snapshot;

/// The gRPC face of a [`Registry`].
#[derive(Clone)]
pub struct AgentService {
    registry: Arc<Registry>,
    control: Option<Arc<Control>>,
}

impl AgentService {
    /// Serves the agents of `registry`; `control` answers Configure and Snapshot.
    pub fn new(registry: Arc<Registry>, control: Option<Arc<Control>>) -> Self {
        Self { registry, control }
    }

    fn control(&self) -> Result<&Arc<Control>, Status> {
        self.control.as_ref().ok_or_else(|| {
            Status::unimplemented(
                "this endpoint serves simulated agents: no configuration or live snapshot",
            )
        })
    }

    fn entry(&self, id: &str) -> Result<&Arc<AgentEntry>, Status> {
        self.registry
            .get(id)
            .ok_or_else(|| Status::not_found(format!("no agent '{id}' is served here")))
    }
}

/// The gRPC status of an error of a request's handling.
fn status(error: AgentError) -> Status {
    match error {
        AgentError::ActionRefused { .. } => Status::permission_denied(error.to_string()),
        AgentError::ActionStart { .. } => Status::failed_precondition(error.to_string()),
        _ => Status::internal(error.to_string()),
    }
}

#[tonic::async_trait]
impl Agent for AgentService {
    async fn describe(
        &self,
        request: Request<DescribeRequest>,
    ) -> Result<Response<DescribeResponse>, Status> {
        let entry = self.entry(&request.get_ref().agent_id)?;
        Ok(Response::new(entry.describe()))
    }

    async fn poll(&self, request: Request<PollRequest>) -> Result<Response<PollResponse>, Status> {
        // a poller's cursor frees samples: only the poller itself may move it
        strata_proto::identity::authz::require_claim(
            &request,
            "poller",
            &request.get_ref().poller,
        )?;
        let req = request.into_inner();
        let entry = self.entry(&req.agent_id)?;
        let span = info_span!("poll", agent = %entry.id, poller = %req.poller, ack_seq = req.ack_seq, known_series = req.known_series);
        let _guard = span.enter();
        let response = self.registry.poll(entry, &req);
        debug!(
            samples = response.samples.len(),
            last_seq = response.last_seq,
            "answered poll"
        );
        Ok(Response::new(response))
    }

    async fn configure(
        &self,
        request: Request<ConfigureRequest>,
    ) -> Result<Response<ConfigureResponse>, Status> {
        let req = request.into_inner();
        let entry = self.entry(&req.agent_id)?;
        let control = self.control()?;
        let span = info_span!("configure", agent = %entry.id, bytes = req.config_toml.len());
        let outcome = control.configure(&req.config_toml).instrument(span).await;
        Ok(Response::new(match outcome {
            Ok(checks) => ConfigureResponse {
                applied: true,
                problems: Vec::new(),
                checks,
            },
            Err(problems) => ConfigureResponse {
                applied: false,
                problems,
                checks: Vec::new(),
            },
        }))
    }

    async fn get_config(
        &self,
        request: Request<GetConfigRequest>,
    ) -> Result<Response<GetConfigResponse>, Status> {
        self.entry(&request.get_ref().agent_id)?;
        let control = self.control()?;
        let policy = control.policy_summary();
        Ok(Response::new(GetConfigResponse {
            pushed_toml: control.pushed_text(),
            commands: policy.commands.into_iter().map(|c| c.name).collect(),
            allow_paths: policy.allow_paths,
        }))
    }

    async fn put_files(
        &self,
        request: Request<PutFilesRequest>,
    ) -> Result<Response<PutFilesResponse>, Status> {
        let req = request.into_inner();
        let entry = self.entry(&req.agent_id)?;
        let files = self
            .control()?
            .files()
            .ok_or_else(|| Status::unimplemented("this agent takes no files"))?;
        let bundle = req
            .bundle
            .ok_or_else(|| Status::invalid_argument("PutFiles: field 'bundle' is missing"))?;
        let span = info_span!("put_files", agent = %entry.id, bytes = bundle.manifest.len());
        Ok(Response::new(files.put(&bundle).instrument(span).await))
    }

    async fn run_action(
        &self,
        request: Request<RunActionRequest>,
    ) -> Result<Response<RunActionResponse>, Status> {
        let req = request.into_inner();
        let entry = self.entry(&req.agent_id)?;
        let control = self.control()?;
        let span =
            info_span!("run_action", agent = %entry.id, action = %req.action, reason = %req.reason);
        control
            .run_action(&req.action, &req.reason)
            .instrument(span)
            .await
            .map(Response::new)
            .map_err(status)
    }

    async fn snapshot(
        &self,
        request: Request<SnapshotRequest>,
    ) -> Result<Response<SnapshotResponse>, Status> {
        let req = request.into_inner();
        let entry = self.entry(&req.agent_id)?.clone();
        let processes = self.control()?.processes.clone();
        let top = match req.top {
            0 => 20,
            n => n.min(1000) as usize,
        };
        let order = Order::parse(&req.order).map_err(Status::invalid_argument)?;
        let span = info_span!("snapshot", agent = %entry.id, top, order = %req.order);
        let (processes, process_count, connections, interfaces, routes) =
            tokio::task::spawn_blocking(move || {
                let (list, count) = snapshot::processes(&processes, top, order);
                let proc_root = std::path::Path::new("/proc");
                (
                    list,
                    count,
                    snapshot::connections(proc_root),
                    snapshot::interfaces(),
                    snapshot::routes(proc_root),
                )
            })
            .instrument(span)
            .await
            .map_err(|e| Status::internal(format!("snapshot failed: {e}")))?;
        Ok(Response::new(SnapshotResponse {
            agent_id: entry.id.clone(),
            ts_ms: strata_proto::now_ms(),
            processes,
            connections,
            interfaces,
            checks: entry.latest_checks(),
            process_count,
            routes,
        }))
    }
}
