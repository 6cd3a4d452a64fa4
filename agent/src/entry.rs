//! One agent served by this process: who it is, its buffer of unacknowledged samples and the
//! latest result of each of its checks.
//!
//! This is the agent's core data, kept apart from the gRPC adapter ([`crate::service`]) so
//! that the collector, the checks, the metrics and the simulator write and read it without
//! knowing how it is served.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata_proto::v1::{CheckResult, DescribeResponse};

use tokio_util::sync::CancellationToken;

use crate::buffer::SampleBuffer;

/// One agent served by this process.
#[derive(Debug)]
pub struct AgentEntry {
    /// The agent's id in its region.
    pub id: String,
    /// The host name it reports.
    pub hostname: String,
    /// Logical CPUs of its host.
    pub cpu_count: u32,
    /// Its base collection interval, in milliseconds.
    pub collect_interval_ms: u64,
    /// Samples waiting for every poller's acknowledgement.
    pub buffer: Mutex<SampleBuffer>,
    /// The latest result of each running check (None until its first run).
    pub checks: Mutex<BTreeMap<String, Option<CheckResult>>>,
}

impl AgentEntry {
    /// The latest result of every check that has run.
    pub fn latest_checks(&self) -> Vec<CheckResult> {
        self.checks
            .lock()
            .expect("check results lock poisoned")
            .values()
            .flatten()
            .cloned()
            .collect()
    }

    /// Makes the buffer's journal durable, when it has one.
    pub fn sync_buffer(&self) {
        self.buffer.lock().expect("buffer lock poisoned").sync();
    }

    /// Syncs the buffer's journal and marks it stopped cleanly (at the end of the process).
    pub fn close_buffer(&self) {
        self.buffer.lock().expect("buffer lock poisoned").close();
    }

    /// What the agent says of itself (`Agent.Describe`).
    pub fn describe(&self) -> DescribeResponse {
        let buffer = self.buffer.lock().expect("buffer lock poisoned").stats();
        DescribeResponse {
            agent_id: self.id.clone(),
            hostname: self.hostname.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            os: std::env::consts::OS.to_string(),
            cpu_count: self.cpu_count,
            collect_interval_ms: self.collect_interval_ms,
            buffer: Some(buffer),
        }
    }
}

/// Syncs `entry`'s buffer to disk every `interval` until `shutdown`, and once more then;
/// returns at once when the buffer is in memory only.
pub async fn sync_loop(entry: Arc<AgentEntry>, interval: Duration, shutdown: CancellationToken) {
    let journaled = entry
        .buffer
        .lock()
        .expect("buffer lock poisoned")
        .journal_state()
        .is_some();
    if !journaled {
        return;
    }
    let mut ticker = tokio::time::interval(crate::durations::period(interval));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stop = tokio::select! {
            _ = shutdown.cancelled() => true,
            _ = ticker.tick() => false,
        };
        // fdatasync waits for the disk: not on the runtime's threads
        let e = entry.clone();
        let _ = tokio::task::spawn_blocking(move || e.sync_buffer()).await;
        if stop {
            return;
        }
    }
}
