//! State shared by the broker's services and background tasks: the membership table, the
//! agent registry, the members' latencies and the broker's counters. Plain data: nothing here
//! serves or calls over the network.

use std::sync::Mutex;
use std::time::Instant;

use crate::balance::Latencies;
use crate::config::BrokerConfig;
use crate::membership::Membership;
use crate::metrics::BrokerMetrics;
use crate::registry::Registry;

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
}
