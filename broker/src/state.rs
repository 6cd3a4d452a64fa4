//! State shared by the broker's services: the membership table and the client channels to
//! sub-managers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use strata_proto::v1::Member;
use strata_proto::v1::sub_manager_client::SubManagerClient;
use tonic::transport::Channel;

use crate::balance::Latencies;
use crate::config::BrokerConfig;
use crate::membership::Membership;
use crate::metrics::BrokerMetrics;
use crate::registry::Registry;
use crate::server;

/// The broker's state, shared by its gRPC services and background tasks.
#[derive(Debug)]
pub struct BrokerState {
    pub config: BrokerConfig,
    pub membership: Mutex<Membership>,
    /// Registered agents per region.
    pub registry: Mutex<Registry>,
    pub metrics: BrokerMetrics,
    /// Latency estimates of the members, to pick among several that can answer.
    pub latencies: Latencies,
    /// When this broker started: its registry is complete half a registration ttl later.
    pub started: Instant,
    channels: Mutex<HashMap<String, Channel>>,
}

impl BrokerState {
    /// Fresh state for a broker with `config`.
    pub fn new(config: BrokerConfig) -> Self {
        Self {
            membership: Mutex::new(Membership::new(config.lease)),
            registry: Mutex::new(Registry::default()),
            metrics: BrokerMetrics::default(),
            latencies: Latencies::default(),
            started: Instant::now(),
            channels: Mutex::new(HashMap::new()),
            config,
        }
    }

    /// Runs `f` on the membership table.
    pub fn with_membership<T>(&self, f: impl FnOnce(&mut Membership, Instant) -> T) -> T {
        let mut m = self.membership.lock().expect("membership lock poisoned");
        f(&mut m, Instant::now())
    }

    /// Runs `f` on the agent registry.
    pub fn with_registry<T>(&self, f: impl FnOnce(&mut Registry, Instant) -> T) -> T {
        let mut r = self.registry.lock().expect("registry lock poisoned");
        f(&mut r, Instant::now())
    }

    /// When the registry holds every agent that refreshes its registration: half a
    /// registration ttl after start, since registrants refresh every third of it.
    pub fn warm_at(&self) -> Instant {
        self.started + self.config.registration_ttl / 2
    }

    /// A client for a sub-manager, over a channel cached per address.
    pub fn sub_manager(&self, member: &Member) -> Result<SubManagerClient<Channel>, tonic::Status> {
        let mut channels = self.channels.lock().expect("channel lock poisoned");
        if let Some(ch) = channels.get(&member.address) {
            return Ok(server::sub_manager_client(ch.clone()));
        }
        let ch = server::channel(&member.address, &self.config).map_err(|e| {
            tonic::Status::internal(format!(
                "bad address '{}' of member {}: {e}",
                member.address, member.id
            ))
        })?;
        channels.insert(member.address.clone(), ch.clone());
        Ok(server::sub_manager_client(ch))
    }
}
