//! The Agent gRPC service over a registry of buffers.
//!
//! A real agent registers one buffer (its host); `strata sim` registers thousands behind one
//! port. Both answer through this one implementation, so simulated agents exercise exactly
//! the code that real ones run.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use strata_proto::v1::agent_server::Agent;
use strata_proto::v1::{
    CheckResult, ConfigureRequest, ConfigureResponse, DescribeRequest, DescribeResponse,
    PollRequest, PollResponse, RunActionRequest, RunActionResponse, SnapshotRequest,
    SnapshotResponse,
};
use tonic::{Request, Response, Status};
use tracing::{Instrument, debug, info_span};

use crate::buffer::SampleBuffer;
use crate::control::Control;
use crate::metrics::AgentMetrics;
use crate::snapshot;

/// One agent served by this process.
#[derive(Debug)]
pub struct AgentEntry {
    pub id: String,
    pub hostname: String,
    pub cpu_count: u32,
    pub collect_interval_ms: u64,
    pub buffer: Mutex<SampleBuffer>,
    /// The latest result of each running check (None until its first run).
    pub checks: Mutex<BTreeMap<String, Option<CheckResult>>>,
}

/// The agents served by this process, by id.
#[derive(Debug, Default)]
pub struct Registry {
    agents: HashMap<String, Arc<AgentEntry>>,
    /// Answers requests that name no agent (the real agent's own id).
    default_id: Option<String>,
    max_poll_samples: usize,
    /// Counters of the work done for these agents.
    pub metrics: AgentMetrics,
}

impl Registry {
    /// An empty registry whose polls answer at most `max_poll_samples` by default.
    pub fn new(max_poll_samples: usize) -> Self {
        Self {
            agents: HashMap::new(),
            default_id: None,
            max_poll_samples: max_poll_samples.max(1),
            metrics: AgentMetrics::default(),
        }
    }

    /// Adds an agent; the first one added answers requests that name no agent.
    pub fn add(&mut self, entry: AgentEntry) -> Arc<AgentEntry> {
        let entry = Arc::new(entry);
        if self.default_id.is_none() {
            self.default_id = Some(entry.id.clone());
        }
        self.agents.insert(entry.id.clone(), entry.clone());
        entry
    }

    /// The agent named `id`, or the default one when `id` is empty.
    pub fn get(&self, id: &str) -> Option<&Arc<AgentEntry>> {
        let id = if id.is_empty() {
            self.default_id.as_deref()?
        } else {
            id
        };
        self.agents.get(id)
    }

    /// Every agent, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<AgentEntry>> {
        self.agents.values()
    }

    /// Number of agents.
    pub fn len(&self) -> usize {
        self.agents.len()
    }

    /// Whether no agent is registered.
    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
    }
}

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

#[tonic::async_trait]
impl Agent for AgentService {
    async fn describe(
        &self,
        request: Request<DescribeRequest>,
    ) -> Result<Response<DescribeResponse>, Status> {
        let entry = self.entry(&request.get_ref().agent_id)?;
        let buffer = entry.buffer.lock().expect("buffer lock poisoned").stats();
        Ok(Response::new(DescribeResponse {
            agent_id: entry.id.clone(),
            hostname: entry.hostname.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            os: std::env::consts::OS.to_string(),
            cpu_count: entry.cpu_count,
            collect_interval_ms: entry.collect_interval_ms,
            buffer: Some(buffer),
        }))
    }

    async fn poll(&self, request: Request<PollRequest>) -> Result<Response<PollResponse>, Status> {
        let req = request.into_inner();
        let entry = self.entry(&req.agent_id)?;
        let span = info_span!("poll", agent = %entry.id, poller = %req.poller, ack_seq = req.ack_seq, known_series = req.known_series);
        let _guard = span.enter();
        let max = match req.max_samples {
            0 => self.registry.max_poll_samples,
            n => (n as usize).min(self.registry.max_poll_samples),
        };
        let checks = latest_checks(entry);
        let now = Instant::now();
        let mut response = {
            let mut buffer = entry.buffer.lock().expect("buffer lock poisoned");
            buffer.assign(&req.assigned, now);
            buffer.poll(
                &req.poller,
                req.ack_seq,
                req.epoch,
                req.known_series,
                max,
                now,
            )
        };
        response.agent_id = entry.id.clone();
        response.checks = checks;
        self.registry.metrics.polls.fetch_add(1, Ordering::Relaxed);
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
        let span = info_span!("snapshot", agent = %entry.id, top);
        let (processes, process_count, connections, interfaces) =
            tokio::task::spawn_blocking(move || {
                let (list, count) = snapshot::processes(&processes, top);
                (
                    list,
                    count,
                    snapshot::connections(std::path::Path::new("/proc")),
                    snapshot::interfaces(),
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
            checks: latest_checks(&entry),
            process_count,
        }))
    }
}

/// The latest result of every check of `entry` that has run.
fn latest_checks(entry: &AgentEntry) -> Vec<CheckResult> {
    entry
        .checks
        .lock()
        .expect("check results lock poisoned")
        .values()
        .flatten()
        .cloned()
        .collect()
}
