//! Strata's agent: collects host metrics into a bounded buffer that sub-managers poll.
//!
//! The agent is pull-based: it never connects out. Samples wait in a sequence-numbered
//! buffer until every poller has acknowledged them (see [`buffer`]), so that a sub-manager
//! failover loses nothing. The binary links neither RocksDB nor a web stack.
//!
//! # Layout
//! - [`config`]: the local TOML config and its validation.
//! - [`collector`]: host readings through sysinfo.
//! - [`procfs`]: node_exporter-like host detail read straight from /proc and /sys.
//! - [`series`]: the collector's series table, so a cycle allocates nothing for known series.
//! - [`buffer`]: the unacknowledged-sample buffer with per-poller cursors.
//! - [`service`]: the Agent gRPC service over a registry of buffers.
//! - [`server`]: the one place the gRPC server is built.
//! - [`sim`]: simulated agents for load and loss tests (`strata sim`).
//! - [`metrics`]: the agent's own metrics.
//! - [`error`]: the crate's error enum.
#![forbid(unsafe_code)]

pub mod buffer;
pub mod collector;
pub mod config;
pub mod error;
pub mod metrics;
pub mod procfs;
pub mod series;
pub mod server;
pub mod service;
pub mod sim;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

pub use config::AgentConfig;
pub use error::{AgentError, Result};

use buffer::SampleBuffer;
use collector::HostCollector;
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

    /// Collects and serves until `shutdown` is cancelled.
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
        });
        let addr = self.listener.local_addr().ok();
        info!(agent = %config.id, ?addr, "agent serving");
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
        let collect = tokio::spawn(
            collect_loop(
                collector,
                entry,
                registry.clone(),
                config.collect_interval,
                shutdown.clone(),
            )
            .instrument(info_span!("collect", agent = %config.id)),
        );
        let served = server::serve(self.listener, registry, shutdown.clone()).await;
        shutdown.cancel();
        let _ = collect.await;
        info!(agent = %config.id, "agent stopped");
        served
    }
}

/// Samples the host every `interval` into the entry's buffer, with the buffer's own counters.
async fn collect_loop(
    mut collector: HostCollector,
    entry: Arc<AgentEntry>,
    registry: Arc<Registry>,
    interval: std::time::Duration,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut table = SeriesTable::default();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let result = tokio::task::spawn_blocking(move || {
            collector.collect(&mut table);
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
