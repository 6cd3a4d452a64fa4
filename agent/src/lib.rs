//! Strata's agent: collects host metrics and runs checks and probes into a bounded buffer
//! that sub-managers poll.
//!
//! The agent is pull-based: it connects out only to register with its region's brokers (when
//! configured to), and never sends data unasked. Samples wait in a sequence-numbered
//! buffer until every poller has acknowledged them (see [`buffer`]), so that a sub-manager
//! failover loses nothing. The binary links neither RocksDB nor a web stack.
//!
//! # Layout
//! This file is the composition root: it builds the parts below and wires them together.
//!
//! Data:
//! - [`buffer`]: the unacknowledged-sample buffer with per-poller cursors.
//! - [`entry`]: one agent served: its identity, buffer and latest check results.
//! - [`registry`]: the agents served by this process, and how a poll is answered.
//! - [`items`]: the groups of host series, each with its own interval or switched off.
//! - [`series`]: the collector's series table, so a cycle allocates nothing for known series.
//!
//! Work:
//! - [`config`]: the local TOML config (with `[registration]`) and its validation.
//! - [`procfs`]: node_exporter-like host detail read straight from /proc and /sys, and
//!   per-process readings.
//! - [`collector`]: host readings once per cycle, and the loop that runs them at each
//!   item's interval into the buffer.
//! - [`checks`]: checks and probes, each on its own interval, with Nagios-style states.
//! - [`scrape`]: exporters scraped into the buffer (`[[scrape]]`), Prometheus text and
//!   OpenMetrics.
//! - [`policy`]: what the local config allows configuration it did not write: commands run
//!   by name (`[commands]`), `allow_paths`, `[push_limits]`.
//! - [`durations`]: configured durations bounded and clamped before they meet a clock.
//! - [`control`]: what a sub-manager may change at run time (`Agent.Configure`), vetted
//!   against the policy and kept across restarts (`state_dir`), and the whitelisted actions
//!   (`Agent.RunAction`).
//! - [`snapshot`]: live processes, connections and interfaces (`Agent.Snapshot`).
//! - [`sim`]: simulated agents for load and loss tests (`strata sim`).
//! - [`metrics`]: the agent's own counters and their Prometheus exposition.
//! - [`error`]: the crate's error enum.
//!
//! Adapters:
//! - [`service`]: the Agent gRPC service, a thin adapter over the registry and control.
//! - [`door`]: the one place every listener, server and client channel is built (the gRPC
//!   server, `/metrics`, the Broker client).
//! - [`registration`]: registration with the region's brokers, through the door's client.
//! - [`enrol`]: the agent's certificate got and renewed by itself with a join token.
#![forbid(unsafe_code)]

pub mod buffer;
pub mod checks;
pub mod collector;
pub mod config;
pub mod control;
pub mod door;
pub mod durations;
pub mod enrol;
pub mod entry;
pub mod error;
pub mod files;
pub mod items;
pub mod metrics;
pub mod policy;
pub mod procfs;
pub mod registration;
pub mod registry;
pub mod scrape;
pub mod series;
pub mod service;
pub mod sim;
pub mod snapshot;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use strata_proto::identity::{Role, Transport};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span};

pub use config::AgentConfig;
pub use error::{AgentError, Result};

use buffer::SampleBuffer;
use collector::{HostCollector, collect_loop};
use control::Control;
use entry::AgentEntry;
use registry::Registry;

/// An agent whose listener is bound but which does not serve yet.
pub struct BoundAgent {
    config: AgentConfig,
    listener: TcpListener,
    /// The metrics listener, when `metrics_listen` is set.
    metrics: Option<TcpListener>,
    transport: Transport,
}

/// Loads the agent's identity (its certificate must name `config.id`, and the registration's
/// region when set) and binds its listeners.
pub async fn bind(config: AgentConfig) -> Result<BoundAgent> {
    enrol::ensure(&config).await?;
    let region = Some(config.registration.region.as_str()).filter(|r| !r.is_empty());
    let transport = Transport::load(&config.tls, Role::Agent, region, Some(&config.id))?;
    let listener = door::bind(&config.listen).await?;
    let metrics = match &config.metrics_listen {
        None => None,
        Some(addr) => Some(door::bind(addr).await?),
    };
    Ok(BoundAgent {
        config,
        listener,
        metrics,
        transport,
    })
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

    /// The address `/metrics` is served on, when it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Collects, checks and serves until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        let config = self.config;
        let transport = self.transport;
        transport.spawn_reload(shutdown.clone());
        let renewal = tokio::spawn(enrol::renew_loop(
            config.clone(),
            transport.clone(),
            shutdown.clone(),
        ));
        let collector = HostCollector::with_host(&config.host);
        let mut registry = Registry::new(config.max_poll_samples);
        let mut buffer = match config.journal() {
            None => SampleBuffer::new(config.buffer_capacity, config.poller_ttl),
            Some(journal) => {
                let dir = journal.dir.clone();
                let b = SampleBuffer::durable(config.buffer_capacity, config.poller_ttl, journal)
                    .map_err(|source| AgentError::Buffer { dir, source })?;
                info!(
                    samples = b.len(),
                    first = b.stats().first_seq,
                    last = b.last_seq(),
                    "buffer resumed from disk"
                );
                b
            }
        };
        buffer.set_series_limits(config.series_limits());
        let entry = registry.add(AgentEntry {
            id: config.id.clone(),
            hostname: procfs::hostname(),
            cpu_count: collector.cpu_count() as u32,
            collect_interval_ms: config.collect_interval.as_millis() as u64,
            buffer: Mutex::new(buffer),
            checks: Mutex::default(),
        });
        let kept = entry.clone();
        let syncs = tokio::spawn(entry::sync_loop(
            entry.clone(),
            config.buffer_sync_interval,
            shutdown.clone(),
        ));
        let addr = self.listener.local_addr().ok();
        info!(agent = %config.id, ?addr, checks = config.checks.len(), "agent serving");
        let registry = Arc::new(registry);
        if let Some(listener) = self.metrics {
            let (r, t) = (registry.clone(), transport.clone());
            let render = Arc::new(move || {
                metrics::render(&r.metrics, r.iter()) + &t.render_metrics("strata_agent")
            });
            info!(addr = ?listener.local_addr().ok(), "metrics served");
            door::serve_metrics(listener, render, shutdown.clone());
        }
        let (control, items) = Control::start(
            &config,
            entry.clone(),
            collector.processes(),
            shutdown.clone(),
        );
        let control = Arc::new(control.with_files(files::Files::new(
            config.accept_files.clone(),
            config.state_dir.clone(),
            transport.clone(),
        )));
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
                    transport.clone(),
                    broker.clone(),
                    r.region.clone(),
                    r.token.clone(),
                    vec![(config.id.clone(), advertise)],
                    shutdown.clone(),
                ))
            })
            .collect();
        let scrapes = scrape::start(
            &config.scrape,
            entry.clone(),
            registry.clone(),
            shutdown.clone(),
        );
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
        let served = door::serve(
            self.listener,
            &transport,
            registry,
            Some(control.clone()),
            shutdown.clone(),
        )
        .await;
        shutdown.cancel();
        let _ = collect.await;
        for s in scrapes {
            let _ = s.await;
        }
        let _ = syncs.await;
        let _ = renewal.await;
        for r in registrations {
            let _ = r.await;
        }
        if let Ok(control) = Arc::try_unwrap(control) {
            control.stop().await;
        }
        // what the checks stored while stopping reaches the disk too, and the next life
        // keeps the epoch
        kept.close_buffer();
        info!(agent = %config.id, "agent stopped");
        served
    }
}
