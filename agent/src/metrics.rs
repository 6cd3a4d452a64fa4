//! The agent's own metrics, served at `/metrics` on `metrics_listen` when it is set.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use strata_proto::telemetry::Exposition;

use strata_proto::v1::CheckState;

use crate::entry::AgentEntry;
use crate::series::HostSnapshot;

/// Counters of the agent's work.
#[derive(Debug, Default)]
pub struct AgentMetrics {
    /// Poll calls answered.
    pub polls: AtomicU64,
    /// Host collection cycles completed.
    pub collections: AtomicU64,
    /// Series the host collector produces.
    pub series: AtomicU64,
    /// Scrapes of exporters (`[[scrape]]`), and those that failed.
    pub scrapes: AtomicU64,
    pub scrape_failures: AtomicU64,
    /// The host collector's last cycle, exposed beside the agent's own metrics.
    pub host: Mutex<HostSnapshot>,
}

/// Renders the counters `m` and the buffer and checks of every agent of `agents`.
pub fn render<'a>(
    m: &AgentMetrics,
    agents: impl IntoIterator<Item = &'a Arc<AgentEntry>>,
) -> String {
    let agents: Vec<&AgentEntry> = agents.into_iter().map(|a| a.as_ref()).collect();
    let mut e = Exposition::new();
    e.build_info("agent", env!("CARGO_PKG_VERSION"));
    e.single(
        "strata_agent_polls_total",
        "counter",
        "Poll calls answered.",
        m.polls.load(Ordering::Relaxed) as f64,
    );
    e.single(
        "strata_agent_scrapes_total",
        "counter",
        "Scrapes of the exporters of [[scrape]].",
        m.scrapes.load(Ordering::Relaxed) as f64,
    );
    e.single(
        "strata_agent_scrape_failures_total",
        "counter",
        "Scrapes that failed (their target's up is 0).",
        m.scrape_failures.load(Ordering::Relaxed) as f64,
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
    let mut stats: Vec<_> = agents
        .iter()
        .map(|a| {
            let b = a.buffer.lock().expect("buffer lock poisoned");
            let journal = b
                .journal_state()
                .map(|(bytes, broken)| (bytes, broken.is_none()));
            (a.id.clone(), b.stats(), journal)
        })
        .collect();
    stats.sort_by(|a, b| a.0.cmp(&b.0));
    type Of = fn(&strata_proto::v1::BufferStats) -> u64;
    let per_buffer: [(&str, &str, &str, Of); 5] = [
        (
            "strata_agent_buffer_samples",
            "gauge",
            "Samples waiting for acknowledgement.",
            |s| s.len,
        ),
        (
            "strata_agent_buffer_dropped_samples_total",
            "counter",
            "Samples dropped because the buffer was full.",
            |s| s.dropped_total,
        ),
        (
            "strata_agent_dictionary_series",
            "gauge",
            "Series in the buffer's dictionary (bounded by max_series).",
            |s| s.series,
        ),
        (
            "strata_agent_series_refused_total",
            "counter",
            "New series refused because the dictionary held max_series.",
            |s| s.series_refused_total,
        ),
        (
            "strata_agent_series_forgotten_total",
            "counter",
            "Series forgotten after forget_series_after without a sample.",
            |s| s.series_forgotten_total,
        ),
    ];
    for (name, kind, help, of) in per_buffer {
        e.family(name, kind, help);
        for (id, s, _) in &stats {
            e.sample(name, &[("agent", id)], of(s) as f64);
        }
    }
    let journaled: Vec<_> = stats
        .iter()
        .filter_map(|(id, _, j)| j.map(|j| (id, j)))
        .collect();
    if !journaled.is_empty() {
        e.family(
            "strata_agent_buffer_disk_bytes",
            "gauge",
            "Bytes of samples the buffer keeps on disk.",
        );
        for (id, (bytes, _)) in &journaled {
            e.sample(
                "strata_agent_buffer_disk_bytes",
                &[("agent", id)],
                *bytes as f64,
            );
        }
        e.family(
            "strata_agent_buffer_disk_ok",
            "gauge",
            "1 while the buffer is written to disk, 0 once writing failed (memory only).",
        );
        for (id, (_, ok)) in &journaled {
            e.sample(
                "strata_agent_buffer_disk_ok",
                &[("agent", id)],
                f64::from(u8::from(*ok)),
            );
        }
    }
    render_checks(&mut e, &agents);
    render_host(&mut e, &m.host.lock().expect("host snapshot lock poisoned"));
    e.finish()
}

/// How many checks each agent runs, by the state of their last result ("pending" before
/// the first), so that the agent's own health page shows failing checks at a glance.
fn render_checks(e: &mut Exposition, agents: &[&AgentEntry]) {
    const STATES: [(Option<CheckState>, &str); 5] = [
        (Some(CheckState::Ok), "ok"),
        (Some(CheckState::Warning), "warning"),
        (Some(CheckState::Critical), "critical"),
        (Some(CheckState::Unknown), "unknown"),
        (None, "pending"),
    ];
    let mut rows: Vec<(String, [usize; 5])> = agents
        .iter()
        .map(|a| {
            let mut counts = [0; 5];
            for result in a
                .checks
                .lock()
                .expect("check results lock poisoned")
                .values()
            {
                let state = result
                    .as_ref()
                    .map(|r| CheckState::try_from(r.state).unwrap_or(CheckState::Unknown));
                let slot = STATES.iter().position(|(s, _)| *s == state).unwrap_or(3);
                counts[slot] += 1;
            }
            (a.id.clone(), counts)
        })
        .filter(|(_, counts)| counts.iter().sum::<usize>() > 0)
        .collect();
    if rows.is_empty() {
        return;
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    e.family(
        "strata_agent_checks",
        "gauge",
        "Checks running, by the state of their last result.",
    );
    for (id, counts) in &rows {
        for (i, (_, state)) in STATES.iter().enumerate() {
            e.sample(
                "strata_agent_checks",
                &[("agent", id), ("state", state)],
                counts[i] as f64,
            );
        }
    }
}

/// The host series of the last cycle in Prometheus text, as node_exporter would expose
/// them (`_total` names as counters, the rest as gauges); the agent's own series, which
/// the collector also buffers, are rendered above with their help texts instead.
fn render_host(e: &mut Exposition, snapshot: &HostSnapshot) {
    let mut family = "";
    for (name, labels, value) in snapshot.readings() {
        if name.starts_with("strata_agent_") {
            continue;
        }
        if name != family {
            let kind = if name.ends_with("_total") {
                "counter"
            } else {
                "gauge"
            };
            e.family(name, kind, "Host metric collected by strata-agent.");
            family = name;
        }
        let labels: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        e.sample(name, &labels, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procfs::Emit;
    use crate::registry::Registry;
    use crate::series::SeriesTable;

    #[test]
    fn host_series_are_exposed_one_family_each_after_the_agents_own() {
        let registry = Registry::new(100);
        let mut table = SeriesTable::default();
        table.emit(
            "host_cpu_seconds_total",
            &[("cpu", "0"), ("mode", "idle")],
            12.5,
        );
        table.emit("host_load1", &[], 0.25);
        table.emit(
            "host_cpu_seconds_total",
            &[("cpu", "0"), ("mode", "user")],
            3.0,
        );
        table.emit("strata_agent_buffer_samples", &[], 7.0);
        table.snapshot_into(&mut registry.metrics.host.lock().unwrap());
        let text = render(&registry.metrics, registry.iter());
        assert_eq!(
            text.matches("# TYPE host_cpu_seconds_total counter")
                .count(),
            1
        );
        assert!(text.contains("# TYPE host_load1 gauge\n"), "{text}");
        assert!(text.contains("host_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 12.5\n"));
        assert!(text.contains("host_load1 0.25\n"));
        assert_eq!(
            text.matches("# TYPE strata_agent_buffer_samples").count(),
            1,
            "the agent's own series are not repeated: {text}"
        );
        assert!(
            !text.contains("strata_agent_checks"),
            "no checks, no family"
        );
    }

    #[test]
    fn checks_are_counted_by_their_last_state() {
        use crate::buffer::SampleBuffer;
        use std::sync::Mutex;
        let mut registry = Registry::new(100);
        let entry = registry.add(AgentEntry {
            id: "a".into(),
            hostname: "a".into(),
            cpu_count: 1,
            collect_interval_ms: 1000,
            buffer: Mutex::new(SampleBuffer::new(10, std::time::Duration::from_secs(60))),
            checks: Mutex::default(),
        });
        {
            let mut checks = entry.checks.lock().unwrap();
            let result = |state: CheckState| {
                Some(strata_proto::v1::CheckResult {
                    state: state as i32,
                    ..Default::default()
                })
            };
            checks.insert("web".into(), result(CheckState::Critical));
            checks.insert("db".into(), result(CheckState::Ok));
            checks.insert("disk".into(), result(CheckState::Critical));
            checks.insert("new".into(), None);
        }
        let text = render(&registry.metrics, registry.iter());
        assert!(
            text.contains("strata_agent_checks{agent=\"a\",state=\"critical\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("strata_agent_checks{agent=\"a\",state=\"ok\"} 1\n"));
        assert!(text.contains("strata_agent_checks{agent=\"a\",state=\"pending\"} 1\n"));
        assert!(text.contains("strata_agent_checks{agent=\"a\",state=\"warning\"} 0\n"));
    }
}
