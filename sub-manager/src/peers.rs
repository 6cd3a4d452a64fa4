//! The members of a region failing over among themselves while no broker answers.
//!
//! Brokers decide who polls what; cut off from every broker, a region must still cover a
//! member that dies. So while no assignment stream is open, each member asks its peers
//! (the members of the last view, at their addresses) whether they live, once per heartbeat
//! interval, with `SubManager.Peer`. A peer that has not answered for a lease is taken for
//! dead (at once when its connection is refused: its host is up and its process gone, as
//! a broken assignment stream tells a broker), and the member recomputes its share over
//! the members that answer, by the brokers' own rendezvous rule ([`Shares::take_over`]):
//! it takes exactly the agents the brokers would have given it, and a peer that answers
//! again gets them back the same way. Two
//! members that cannot see each other both poll the agents in between: each has its own
//! cursor at the agent, so that costs polls, never samples. The first broker to answer puts
//! its assignment back in force.
//!
//! Peers' answers also prove this member's network works, like a broker's heartbeat
//! ([`Contact::heard`]), so that a member cut off from the brokers still judges its agents.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::future::join_all;
use strata_proto::v1::PeerRequest;
use strata_proto::v1::sub_manager_client::SubManagerClient;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::assignment::Shares;
use crate::contact::{self, Contact};
use crate::door::Door;
use crate::metrics::SubManagerMetrics;

/// What the peer watch needs.
pub struct PeerWatch {
    /// This member's id and region.
    pub me: String,
    pub region: String,
    pub shares: Arc<Shares>,
    pub door: Door,
    pub contact: Arc<Contact>,
    pub metrics: Arc<SubManagerMetrics>,
    /// How often peers are asked (the heartbeat interval).
    pub interval: Duration,
    /// How long a silent peer is still taken for alive (the lease).
    pub lease: Duration,
}

impl PeerWatch {
    /// Watches the peers while no broker answers, until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let span = info_span!("peers", member = %self.me, region = %self.region);
        async move {
            let mut ticker = tokio::time::interval(self.interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // when each peer last answered; None while the brokers decide
            let mut seen: Option<HashMap<String, Instant>> = None;
            let mut live: Vec<String> = Vec::new();
            let mut clients: HashMap<String, SubManagerClient<Channel>> = HashMap::new();
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = ticker.tick() => {}
                }
                let view = match self.shares.view() {
                    Some(v) if !self.shares.brokers_open() => v,
                    _ => {
                        if seen.take().is_some() {
                            info!("a broker answers again: its assignment is in force");
                        }
                        live.clear();
                        self.metrics.peers_live.store(0, Ordering::Relaxed);
                        continue;
                    }
                };
                let now = Instant::now();
                // every peer is presumed alive for a lease from the moment brokers went away
                let seen = seen.get_or_insert_with(|| {
                    info!(peers = view.members.len().saturating_sub(1),
                        "no broker answers: the members watch each other");
                    HashMap::new()
                });
                let peers: Vec<(&String, &String)> =
                    view.members.iter().filter(|(id, _)| **id != self.me).collect();
                for peer in peers.iter().map(|p| p.0) {
                    seen.entry(peer.clone()).or_insert(now);
                }
                let asks = peers.iter().map(|(id, addr)| {
                    let client = match clients.get(*addr) {
                        Some(c) => Some(c.clone()),
                        None => match self.door.peer_client(addr, self.interval) {
                            Ok(c) => Some(clients.entry(addr.to_string()).or_insert(c).clone()),
                            Err(error) => {
                                warn!(peer = %id, %addr, %error, "bad peer address");
                                None
                            }
                        },
                    };
                    self.ask(id, client)
                });
                let answers = join_all(asks.collect::<Vec<_>>()).await;
                let now = Instant::now();
                for (peer, answer) in peers.iter().map(|p| p.0).zip(answers) {
                    match answer {
                        Answer::Alive => {
                            seen.insert(peer.clone(), now);
                            self.contact.heard(strata_proto::now_ms());
                        }
                        // its host answered: this member's network works, the peer is gone
                        Answer::Gone => {
                            seen.insert(peer.clone(), now.checked_sub(self.lease).unwrap_or(now));
                            self.contact.heard(strata_proto::now_ms());
                        }
                        Answer::Silent => {}
                    }
                }
                let mut alive: Vec<String> = peers
                    .iter()
                    .map(|p| p.0)
                    .filter(|p| seen.get(*p).is_some_and(|t| now.duration_since(*t) < self.lease))
                    .cloned()
                    .collect();
                alive.push(self.me.clone());
                alive.sort();
                if alive != live {
                    let held = self.shares.take_over(&self.me, &alive);
                    self.metrics.peer_takeovers.fetch_add(1, Ordering::Relaxed);
                    info!(live = ?alive, agents = ?held, "members in sight changed: share recomputed without brokers");
                    live = alive;
                }
                self.metrics
                    .peers_live
                    .store(live.len().saturating_sub(1) as u64, Ordering::Relaxed);
            }
        }
        .instrument(span)
        .await
    }

    /// How the peer `id` answered through `client` within the interval: as a member of
    /// this region, not at all, or with a refused connection (its process is gone).
    async fn ask(&self, id: &str, client: Option<SubManagerClient<Channel>>) -> Answer {
        let Some(mut client) = client else {
            return Answer::Silent;
        };
        let request = PeerRequest {
            member_id: self.me.clone(),
            region: self.region.clone(),
        };
        match tokio::time::timeout(self.interval, client.peer(request)).await {
            Ok(Ok(answer)) => {
                let a = answer.into_inner();
                if a.member_id == id && a.region == self.region {
                    Answer::Alive
                } else {
                    warn!(peer = %id, answered = %a.member_id, "another member answers at a peer's address");
                    Answer::Silent
                }
            }
            Ok(Err(status)) if contact::refused(&status) => Answer::Gone,
            Ok(Err(status)) => {
                debug!(peer = %id, error = %status.message(), "peer did not answer");
                Answer::Silent
            }
            Err(_) => {
                debug!(peer = %id, "peer silent");
                Answer::Silent
            }
        }
    }
}

/// How a peer answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// As a member of this region.
    Alive,
    /// Not at all, or not as a member of this region: dead once silent for a lease.
    Silent,
    /// Its connection was refused: nothing listens there, it is dead now.
    Gone,
}
