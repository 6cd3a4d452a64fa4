//! The agent's own metrics, served at `/metrics` on `metrics_listen` when it is set.

use std::sync::atomic::{AtomicU64, Ordering};

use strata_proto::telemetry::Exposition;

use crate::service::Registry;

/// Counters of the agent's work.
#[derive(Debug, Default)]
pub struct AgentMetrics {
    /// Poll calls answered.
    pub polls: AtomicU64,
    /// Host collection cycles completed.
    pub collections: AtomicU64,
    /// Series the host collector produces.
    pub series: AtomicU64,
}

/// Renders the agent's metrics, including the buffer of every agent served.
pub fn render(registry: &Registry) -> String {
    let m = &registry.metrics;
    let mut e = Exposition::new();
    e.build_info("agent", env!("CARGO_PKG_VERSION"));
    e.single(
        "strata_agent_polls_total",
        "counter",
        "Poll calls answered.",
        m.polls.load(Ordering::Relaxed) as f64,
    );
    e.single(
        "strata_agent_collections_total",
        "counter",
        "Host collection cycles completed.",
        m.collections.load(Ordering::Relaxed) as f64,
    );
    e.single(
        "strata_agent_series",
        "gauge",
        "Series the host collector produces.",
        m.series.load(Ordering::Relaxed) as f64,
    );
    let mut stats: Vec<_> = registry
        .iter()
        .map(|a| {
            (
                a.id.clone(),
                a.buffer.lock().expect("buffer lock poisoned").stats(),
            )
        })
        .collect();
    stats.sort_by(|a, b| a.0.cmp(&b.0));
    e.family(
        "strata_agent_buffer_samples",
        "gauge",
        "Samples waiting for acknowledgement.",
    );
    for (id, s) in &stats {
        e.sample(
            "strata_agent_buffer_samples",
            &[("agent", id)],
            s.len as f64,
        );
    }
    e.family(
        "strata_agent_buffer_dropped_samples_total",
        "counter",
        "Samples dropped because the buffer was full.",
    );
    for (id, s) in &stats {
        e.sample(
            "strata_agent_buffer_dropped_samples_total",
            &[("agent", id)],
            s.dropped_total as f64,
        );
    }
    e.finish()
}
