//! Strata's agent: collects host metrics and runs checks and probes into a bounded buffer
//! that sub-managers poll.
//!
//! The agent is pull-based: it connects out only to register with its region's brokers (when
//! configured to), and never sends data unasked. Samples wait in a sequence-numbered
//! buffer until every poller has acknowledged them (see [`buffer`]), so that a sub-manager
//! failover loses nothing. The binary links neither RocksDB nor a web stack.
//!
//! # Layout
//! - [`config`]: the local TOML config and its validation.
//! - [`checks`]: checks and probes, each on its own interval, with Nagios-style states.
//! - [`collector`]: host readings, once per cycle.
//! - [`procfs`]: node_exporter-like host detail read straight from /proc and /sys, and
//!   per-process readings.
//! - [`items`]: the groups of host series, each with its own interval or switched off.
//! - [`control`]: what a sub-manager may change at run time (`Agent.Configure`).
//! - [`snapshot`]: live processes, connections and interfaces (`Agent.Snapshot`).
//! - [`series`]: the collector's series table, so a cycle allocates nothing for known series.
//! - [`buffer`]: the unacknowledged-sample buffer with per-poller cursors.
//! - [`service`]: the Agent gRPC service over a registry of buffers.
//! - [`server`]: the one place the gRPC server and the broker client are built.
//! - [`registration`]: registration with the region's brokers.
//! - [`sim`]: simulated agents for load and loss tests (`strata sim`).
//! - [`metrics`]: the agent's own metrics.
//! - [`error`]: the crate's error enum.
#![forbid(unsafe_code)]

pub mod buffer;
pub mod checks;
pub mod collector;
pub mod config;
pub mod control;
pub mod error;
pub mod items;
pub mod metrics;
pub mod procfs;
pub mod registration;
pub mod series;
pub mod server;
pub mod service;
pub mod sim;
pub mod snapshot;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use regex::Regex;
use tokio::sync::watch;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

pub use config::AgentConfig;
pub use error::{AgentError, Result};

use buffer::SampleBuffer;
use collector::HostCollector;
use control::Control;
use items::{Item, ItemConfig, Schedule};
use procfs::Emit;
use series::SeriesTable;
use service::{AgentEntry, Registry};

/// An agent whose listener is bound but which does not serve yet.
pub struct BoundAgent {
    config: AgentConfig,
    listener: TcpListener,
}

/// Binds the agent's gRPC listener.
pub async fn bind(config: AgentConfig) -> Result<BoundAgent> {
    let listener = TcpListener::bind(&config.listen)
        .await
        .map_err(|source| AgentError::Bind {
            addr: config.listen.clone(),
            source,
        })?;
    Ok(BoundAgent { config, listener })
}

/// Runs an agent with `config` until `shutdown` is cancelled.
pub async fn run(config: AgentConfig, shutdown: CancellationToken) -> Result<()> {
    bind(config).await?.run(shutdown).await
}

impl BoundAgent {
    /// The address the gRPC server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Collects, checks and serves until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        let config = self.config;
        let collector = HostCollector::new();
        let mut registry = Registry::new(config.max_poll_samples);
        let entry = registry.add(AgentEntry {
            id: config.id.clone(),
            hostname: config::default_hostname(),
            cpu_count: collector.cpu_count() as u32,
            collect_interval_ms: config.collect_interval.as_millis() as u64,
            buffer: Mutex::new(SampleBuffer::new(config.buffer_capacity, config.poller_ttl)),
            checks: Mutex::default(),
        });
        let addr = self.listener.local_addr().ok();
        info!(agent = %config.id, ?addr, checks = config.checks.len(), "agent serving");
        let registry = Arc::new(registry);
        if let Some(listen) = &config.metrics_listen {
            let r = registry.clone();
            let bound = strata_proto::telemetry::spawn(
                listen,
                Arc::new(move || metrics::render(&r)),
                shutdown.clone(),
            )
            .await
            .map_err(|source| AgentError::Bind {
                addr: listen.clone(),
                source,
            })?;
            info!(addr = %bound, "metrics served");
        }
        let (control, items) = Control::start(
            &config,
            entry.clone(),
            collector.processes(),
            shutdown.clone(),
        );
        let control = Arc::new(control);
        let registrations: Vec<_> = config
            .registration
            .brokers
            .iter()
            .map(|broker| {
                let r = &config.registration;
                let advertise = r
                    .advertise
                    .clone()
                    .or_else(|| addr.map(|a| a.to_string()))
                    .unwrap_or_else(|| config.listen.clone());
                tokio::spawn(registration::register_loop(
                    broker.clone(),
                    r.region.clone(),
                    r.token.clone(),
                    vec![(config.id.clone(), advertise)],
                    shutdown.clone(),
                ))
            })
            .collect();
        let collect = tokio::spawn(
            collect_loop(
                collector,
                entry,
                registry.clone(),
                config.collect_interval,
                items,
                shutdown.clone(),
            )
            .instrument(info_span!("collect", agent = %config.id)),
        );
        let served = server::serve(
            self.listener,
            registry,
            Some(control.clone()),
            shutdown.clone(),
        )
        .await;
        shutdown.cancel();
        let _ = collect.await;
        for r in registrations {
            let _ = r.await;
        }
        if let Ok(control) = Arc::try_unwrap(control) {
            control.stop().await;
        }
        info!(agent = %config.id, "agent stopped");
        served
    }
}

/// The process settings of an items table: top-N and compiled watch patterns.
fn process_settings(items: &BTreeMap<String, ItemConfig>) -> (usize, Vec<Regex>) {
    let Some(p) = items.get(Item::Processes.name()) else {
        return (collector::DEFAULT_TOP, Vec::new());
    };
    let watch = p.watch.iter().filter_map(|w| Regex::new(w).ok()).collect();
    (p.top.unwrap_or(collector::DEFAULT_TOP), watch)
}

/// Samples the items due at each tick into the entry's buffer, with the buffer's own
/// counters; follows changes of the items pushed by a sub-manager.
async fn collect_loop(
    mut collector: HostCollector,
    entry: Arc<AgentEntry>,
    registry: Arc<Registry>,
    base: std::time::Duration,
    mut items: watch::Receiver<BTreeMap<String, ItemConfig>>,
    shutdown: CancellationToken,
) {
    let mut schedule = Schedule::new(base, &items.borrow_and_update(), Instant::now());
    let (top, watch) = process_settings(&items.borrow());
    collector.set_processes(top, watch);
    let mut table = SeriesTable::default();
    let mut next = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = items.changed() => {
                if changed.is_err() {
                    return;
                }
                let now = Instant::now();
                schedule = Schedule::new(base, &items.borrow_and_update(), now);
                let (top, watch) = process_settings(&items.borrow());
                collector.set_processes(top, watch);
                next = tokio::time::Instant::now();
                info!(tick = ?schedule.tick(), "collection items changed");
                continue;
            }
            _ = tokio::time::sleep_until(next) => {}
        }
        // every item off: wait for a change
        let tick = schedule
            .tick()
            .unwrap_or(std::time::Duration::from_secs(3600));
        next += tick;
        let now = tokio::time::Instant::now();
        if next < now {
            next = now + tick;
        }
        let due = schedule.due(Instant::now());
        if due.is_empty() {
            continue;
        }
        let result = tokio::task::spawn_blocking(move || {
            collector.collect(due, &mut table);
            (collector, table)
        })
        .await;
        match result {
            Ok((c, t)) => {
                collector = c;
                table = t;
            }
            Err(error) => {
                warn!(%error, "host collection panicked; collector restarted");
                table = SeriesTable::default();
                collector = HostCollector::new();
                let (top, watch) = process_settings(&items.borrow());
                collector.set_processes(top, watch);
                continue;
            }
        };
        let ts = strata_proto::now_ms();
        table.snapshot_into(
            &mut registry
                .metrics
                .host
                .lock()
                .expect("host snapshot lock poisoned"),
        );
        let mut buffer = entry.buffer.lock().expect("buffer lock poisoned");
        table.emit(
            "strata_agent_buffer_dropped_samples_total",
            &[],
            buffer.dropped_total() as f64,
        );
        table.emit("strata_agent_buffer_samples", &[], buffer.len() as f64);
        table.store(&mut buffer, ts);
        drop(buffer);
        registry
            .metrics
            .series
            .store(table.series() as u64, std::sync::atomic::Ordering::Relaxed);
        registry
            .metrics
            .collections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}
