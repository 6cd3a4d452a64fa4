//! Strata's broker: who is alive, and routing from the centre to the regions.
//!
//! Brokers are soft state: members (sub-managers, super-managers) heartbeat to every broker
//! with a lease, so any number of brokers can run side by side with no consensus, and a
//! restarted broker relearns the mesh within one heartbeat period. The broker also serves the
//! SubManager service itself and routes each call to the healthy members of the named region.
//!
//! # Layout
//! This file is the composition root: it builds the state, the door and the expiry task.
//!
//! Data:
//! - [`config`]: the TOML config and its validation.
//! - [`membership`]: the lease table, the broker's failure detector.
//! - [`registry`]: the agents registered per region.
//! - [`assignment`]: each member's share of its region's agents.
//! - [`balance`]: which of several members answers a call (p2c over Peak-EWMA latency).
//! - [`metrics`]: the broker's own counters and their Prometheus exposition.
//! - [`state`]: the state shared by the services (the above, no network).
//! - [`error`]: the crate's error enum.
//!
//! Adapters:
//! - [`service`]: the Broker gRPC service (Heartbeat, WatchMembership, Resolve,
//!   RegisterAgents, WatchAssignment).
//! - [`router`]: the SubManager gRPC service, routed and merged across a region's members.
//! - [`enrol`]: agents' enrolments and renewals, checked here and signed by a member.
//! - [`door`]: the one place every listener, server and client channel is built.
#![forbid(unsafe_code)]

pub mod assignment;
pub mod balance;
pub mod config;
pub mod door;
pub mod enrol;
pub mod error;
pub mod membership;
pub mod metrics;
pub mod registry;
pub mod router;
pub mod service;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use strata_proto::identity::{Role, Transport};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

pub use config::BrokerConfig;
pub use error::{BrokerError, Result};

use state::BrokerState;

/// A broker whose listener is bound but which does not serve yet.
pub struct BoundBroker {
    config: BrokerConfig,
    listener: TcpListener,
    /// The metrics listener, when `metrics_listen` is set.
    metrics: Option<TcpListener>,
    transport: Transport,
}

/// Loads the broker's identity (its certificate must name `config.id`) and binds its
/// listeners.
pub async fn bind(config: BrokerConfig) -> Result<BoundBroker> {
    let transport = Transport::load(&config.tls, Role::Broker, None, Some(&config.id))?;
    let listener = door::bind(&config.listen).await?;
    let metrics = match &config.metrics_listen {
        None => None,
        Some(addr) => Some(door::bind(addr).await?),
    };
    Ok(BoundBroker {
        config,
        listener,
        metrics,
        transport,
    })
}

/// Runs a broker with `config` until `shutdown` is cancelled.
pub async fn run(config: BrokerConfig, shutdown: CancellationToken) -> Result<()> {
    bind(config).await?.run(shutdown).await
}

impl BoundBroker {
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

    /// Serves until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        let state = Arc::new(BrokerState::new(self.config.clone()));
        info!(broker = %self.config.id, addr = %self.local_addr(), "broker serving");
        let transport = self.transport;
        transport.spawn_reload(shutdown.clone());
        if let Some(listener) = self.metrics {
            let (s, t) = (state.clone(), transport.clone());
            let render = Arc::new(move || {
                let members = s.with_membership(|m, now| m.members("", now));
                let registered = s.with_registry(|r, _| r.counts());
                metrics::render(&s.metrics, &members, &registered)
                    + &t.render_metrics("strata_broker")
            });
            info!(addr = ?listener.local_addr().ok(), "metrics served");
            door::serve_metrics(listener, render, shutdown.clone());
        }
        let expiry = tokio::spawn(expire_loop(state.clone(), shutdown.clone()));
        let served = door::serve(self.listener, &transport, state, shutdown.clone()).await;
        shutdown.cancel();
        let _ = expiry.await;
        info!(broker = %self.config.id, "broker stopped");
        served
    }
}

/// Notices expired leases promptly, so that watchers learn of a dead member within a tenth of
/// a lease after it expires.
async fn expire_loop(state: Arc<BrokerState>, shutdown: CancellationToken) {
    let period = (state.config.lease / 10).max(Duration::from_millis(50));
    let mut ticker = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {
                state.with_membership(|m, now| m.expire(now));
                state.with_registry(|r, now| r.expire(now));
            }
        }
    }
}
