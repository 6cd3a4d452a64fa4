//! The agents served by this process, by id, and the counters of the work done for them.
//!
//! A real agent registers one entry (its host); `strata sim` registers thousands behind one
//! port. Both are answered from here, so simulated agents exercise exactly the code that real
//! ones run.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use strata_proto::v1::{PollRequest, PollResponse};

use crate::entry::AgentEntry;
use crate::metrics::AgentMetrics;

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

    /// Answers `req` for `entry`: records the pollers assigned, frees what the poller
    /// acknowledged and returns what follows (at most the registry's bound), with the latest
    /// check results; counts the poll.
    pub fn poll(&self, entry: &AgentEntry, req: &PollRequest) -> PollResponse {
        let max = match req.max_samples {
            0 => self.max_poll_samples,
            n => (n as usize).min(self.max_poll_samples),
        };
        let checks = entry.latest_checks();
        let now = Instant::now();
        let mut response = {
            let mut buffer = entry.buffer.lock().expect("buffer lock poisoned");
            buffer.assign(&req.assigned, now);
            buffer.poll(
                &req.poller,
                req.ack_seq,
                req.epoch,
                (req.dictionary, req.known_series),
                max,
                now,
            )
        };
        response.agent_id = entry.id.clone();
        response.checks = checks;
        self.metrics.polls.fetch_add(1, Ordering::Relaxed);
        response
    }
}
