//! The sub-manager's side of the brokers: heartbeats, assignment streams and the
//! registration of the agents its config lists.
//!
//! Each broker gets its own tasks, so that one unreachable broker delays nothing. Heartbeats
//! renew the member's lease; the assignment stream brings this member's share of the region
//! at once after every change (and, by breaking, tells the broker at once that this process
//! died); the agents of the config (a discovery file) are registered with every broker and
//! refreshed at a third of the granted ttl, so that a restarted broker relearns them.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;
use strata_proto::v1::{
    AgentRegistration, HeartbeatRequest, Member, RegisterAgentsRequest, WatchAssignmentRequest,
};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::assignment::Shares;
use crate::config::SubManagerConfig;
use crate::contact::Contact;
use crate::door;
use crate::metrics::SubManagerMetrics;

/// What the tasks of one broker share.
#[derive(Clone)]
pub struct BrokerLink {
    pub addr: String,
    pub me: Member,
    pub config: Arc<SubManagerConfig>,
    pub shares: Arc<Shares>,
    pub metrics: Arc<SubManagerMetrics>,
    /// Where the channels to the broker are made.
    pub door: door::Door,
    /// Told of every heartbeat answered.
    pub contact: Arc<Contact>,
}

/// Sleeps `d` unless `shutdown` comes first; returns whether it was shutdown.
async fn pause(d: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => true,
        _ = tokio::time::sleep(d) => false,
    }
}

/// Heartbeats to the broker every `heartbeat_interval` until `shutdown`.
pub async fn heartbeat_loop(link: BrokerLink, shutdown: CancellationToken) {
    let span = info_span!("heartbeat", broker = %link.addr, member = %link.me.id, region = %link.me.region);
    async move {
        let interval = link.config.heartbeat_interval;
        let mut client = match link.door.broker_client(&link.addr) {
            Ok(c) => c,
            Err(error) => {
                warn!(%error, "bad broker address; no heartbeats to it");
                return;
            }
        };
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut reachable = None;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let request = HeartbeatRequest {
                member: Some(link.me.clone()),
                lease_ms: link.config.lease.as_millis() as u64,
            };
            let answer = tokio::time::timeout(interval, client.heartbeat(request)).await;
            match answer {
                Ok(Ok(answer)) => {
                    link.contact.heard(strata_proto::now_ms());
                    link.door.transport().merge_revoked(&answer.get_ref().revoked);
                    if reachable != Some(true) {
                        info!("broker reachable");
                        reachable = Some(true);
                    }
                }
                Ok(Err(status)) => {
                    link.metrics.heartbeat_failures.fetch_add(1, Ordering::Relaxed);
                    if reachable != Some(false) {
                        warn!(error = %status.message(), "broker unreachable; retrying every heartbeat");
                        reachable = Some(false);
                    }
                }
                Err(_) => {
                    link.metrics.heartbeat_failures.fetch_add(1, Ordering::Relaxed);
                    if reachable != Some(false) {
                        warn!("heartbeat timed out; retrying every heartbeat");
                        reachable = Some(false);
                    }
                }
            }
        }
    }
    .instrument(span)
    .await
}

/// Follows this member's assignment from the broker, reopening the stream after a break,
/// until `shutdown`.
pub async fn assignment_loop(link: BrokerLink, shutdown: CancellationToken) {
    let span = info_span!("assignment", broker = %link.addr, member = %link.me.id);
    async move {
        let mut client = match link.door.broker_client(&link.addr) {
            Ok(c) => c,
            Err(error) => {
                warn!(%error, "bad broker address; no assignment from it");
                return;
            }
        };
        let retry = link.config.heartbeat_interval;
        loop {
            let request = WatchAssignmentRequest {
                member: Some(link.me.clone()),
            };
            let opened = tokio::time::timeout(retry * 4, client.watch_assignment(request)).await;
            match opened {
                Ok(Ok(stream)) => {
                    let mut stream = stream.into_inner();
                    loop {
                        let next = tokio::select! {
                            _ = shutdown.cancelled() => return,
                            next = stream.next() => next,
                        };
                        match next {
                            Some(Ok(assignment)) => {
                                debug!(
                                    agents = assignment.agents.len(),
                                    members = assignment.members.len(),
                                    version = assignment.version,
                                    warm = assignment.warm,
                                    "assignment received"
                                );
                                link.metrics.assignments.fetch_add(1, Ordering::Relaxed);
                                link.shares.received(&link.addr, assignment);
                            }
                            Some(Err(status)) => {
                                warn!(error = %status.message(), "assignment stream broke; reopening");
                                break;
                            }
                            None => {
                                warn!("assignment stream ended; reopening");
                                break;
                            }
                        }
                    }
                    link.shares.closed(&link.addr);
                }
                Ok(Err(status)) => {
                    debug!(error = %status.message(), "assignment stream could not open");
                }
                Err(_) => debug!("opening the assignment stream timed out"),
            }
            if pause(retry, &shutdown).await {
                return;
            }
        }
    }
    .instrument(span)
    .await
}

/// Registers the config's agents with the broker at a third of the granted ttl, until
/// `shutdown`.
pub async fn register_loop(link: BrokerLink, shutdown: CancellationToken) {
    if link.config.agents.is_empty() {
        return;
    }
    let span = info_span!("register", broker = %link.addr, region = %link.me.region);
    async move {
        let mut client = match link.door.broker_client(&link.addr) {
            Ok(c) => c,
            Err(error) => {
                warn!(%error, "bad broker address; agents not registered with it");
                return;
            }
        };
        let request = RegisterAgentsRequest {
            region: link.config.region.clone(),
            token: link.config.join_token.clone().unwrap_or_default(),
            agents: link
                .config
                .agents
                .iter()
                .map(|a| AgentRegistration {
                    id: a.id.clone(),
                    address: a.address.clone(),
                })
                .collect(),
            ttl_ms: 0,
        };
        let retry = link.config.heartbeat_interval;
        loop {
            let call = client.register_agents(request.clone());
            let next = match tokio::time::timeout(retry * 4, call).await {
                Ok(Ok(answer)) => {
                    let answer = answer.into_inner();
                    link.door.transport().merge_revoked(&answer.revoked);
                    Duration::from_millis(answer.ttl_ms / 3).max(retry)
                }
                Ok(Err(status)) => {
                    warn!(error = %status.message(), "registering the config's agents failed");
                    retry
                }
                Err(_) => retry,
            };
            if pause(next, &shutdown).await {
                return;
            }
        }
    }
    .instrument(span)
    .await
}
