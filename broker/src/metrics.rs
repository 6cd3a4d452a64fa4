//! The broker's own metrics, served at `/metrics` on `metrics_listen` when it is set.

use std::sync::atomic::{AtomicU64, Ordering};

use strata_proto::names::role_name;
use strata_proto::telemetry::Exposition;
use strata_proto::v1::{Member, Role};

/// Counters of the broker's work.
#[derive(Debug, Default)]
pub struct BrokerMetrics {
    /// Heartbeats received.
    pub heartbeats: AtomicU64,
    /// Calls routed to a sub-manager (one per member asked).
    pub routed_calls: AtomicU64,
    /// Routed calls that failed (the member was marked suspect).
    pub routed_failures: AtomicU64,
    /// Agent registrations received (refreshes included).
    pub registrations: AtomicU64,
}

/// Renders the counters `m`, the known `members` and the number of agents `registered` per
/// region.
pub fn render(m: &BrokerMetrics, members: &[Member], registered: &[(String, usize)]) -> String {
    let mut e = Exposition::new();
    e.build_info("broker", env!("CARGO_PKG_VERSION"));
    e.single(
        "strata_broker_heartbeats_total",
        "counter",
        "Heartbeats received.",
        m.heartbeats.load(Ordering::Relaxed) as f64,
    );
    e.single(
        "strata_broker_routed_calls_total",
        "counter",
        "Calls routed to a sub-manager.",
        m.routed_calls.load(Ordering::Relaxed) as f64,
    );
    e.single(
        "strata_broker_routed_call_failures_total",
        "counter",
        "Routed calls that failed.",
        m.routed_failures.load(Ordering::Relaxed) as f64,
    );
    e.single(
        "strata_broker_registrations_total",
        "counter",
        "Agent registrations received, refreshes included.",
        m.registrations.load(Ordering::Relaxed) as f64,
    );
    e.family(
        "strata_broker_registered_agents",
        "gauge",
        "Registered agents, by region.",
    );
    for (region, n) in registered {
        e.sample(
            "strata_broker_registered_agents",
            &[("region", region.as_str())],
            *n as f64,
        );
    }
    e.family(
        "strata_broker_members",
        "gauge",
        "Known members, by role and health.",
    );
    for role in [Role::SubManager, Role::SuperManager] {
        for healthy in [true, false] {
            let n = members
                .iter()
                .filter(|x| x.role == role as i32 && x.healthy == healthy)
                .count();
            let health = if healthy { "healthy" } else { "unhealthy" };
            e.sample(
                "strata_broker_members",
                &[("role", role_name(role)), ("health", health)],
                n as f64,
            );
        }
    }
    e.finish()
}
