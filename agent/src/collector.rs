//! The host collector: everything of [`crate::procfs`] (CPU usage and seconds by mode,
//! load, memory, swap, filesystems, disks, interfaces, protocol counters...), once per
//! cycle, emitted into a [`crate::series::SeriesTable`].
//!
//! One long-lived [`HostCollector`] keeps the previous CPU ticks, so CPU usage is over the
//! last interval; it is primed with a first reading when made. [`collect_loop`] runs it at
//! each item's own interval into the agent's buffer.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use regex::Regex;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::HostPaths;
use crate::entry::AgentEntry;
use crate::items::{Item, ItemConfig, ItemSet, Schedule};
use crate::procfs::processes::ProcessTable;
use crate::procfs::{Emit, ProcFs};
use crate::registry::Registry;
use crate::series::SeriesTable;

/// Reads host resources; keep one for the life of the agent.
pub struct HostCollector {
    /// Where the host's files are (to make a fresh collector after a panic).
    host: HostPaths,
    procfs: ProcFs,
    /// Shared with live snapshots, which rescan it when it is stale.
    processes: Arc<Mutex<ProcessTable>>,
    /// Process names reported by CPU and by memory.
    top: usize,
    /// Process names always reported.
    watch: Vec<Regex>,
}

/// An [`Emit`] that drops everything (priming).
struct Discard;

impl Emit for Discard {
    fn emit(&mut self, _: &'static str, _: &[(&'static str, &str)], _: f64) {}
}

impl Default for HostCollector {
    fn default() -> Self {
        Self::new()
    }
}

/// Process names reported by CPU and by memory unless `[items.processes] top` says otherwise.
pub const DEFAULT_TOP: usize = 10;

impl HostCollector {
    /// A collector of this host's /proc and /sys, primed with a first reading, so that the
    /// first CPU usage is meaningful.
    pub fn new() -> Self {
        Self::with_host(&HostPaths::default())
    }

    /// A collector of the host whose files are at `host` (an agent in a container), primed.
    pub fn with_host(host: &HostPaths) -> Self {
        let procfs = ProcFs::new(&host.proc, &host.sys).with_host_root(&host.root);
        let mut collector = Self {
            host: host.clone(),
            procfs,
            processes: Arc::default(),
            top: DEFAULT_TOP,
            watch: Vec::new(),
        };
        collector.procfs.collect(ItemSet::all(), &mut Discard);
        if collector.procfs.cpu_count() == 0 {
            warn!(
                proc = %host.proc.display(),
                "stat is not readable there: CPU, memory and network will not be collected"
            );
        }
        collector
    }

    /// Reports the top `top` process names and every name matching `watch`.
    pub fn set_processes(&mut self, top: usize, watch: Vec<Regex>) {
        self.top = top;
        self.watch = watch;
    }

    /// The process table, shared with snapshots.
    pub fn processes(&self) -> Arc<Mutex<ProcessTable>> {
        self.processes.clone()
    }

    /// Number of logical CPUs.
    pub fn cpu_count(&self) -> usize {
        self.procfs.cpu_count()
    }

    /// Emits the readings of the items `due`.
    pub fn collect(&mut self, due: ItemSet, out: &mut impl Emit) {
        self.procfs.collect(due, out);
        if due.has(Item::Processes) {
            let mut table = self.processes.lock().expect("process table lock poisoned");
            table.scan();
            table.emit(self.top, &self.watch, out);
        }
    }
}

/// The process settings of an items table: top-N and compiled watch patterns.
fn process_settings(items: &BTreeMap<String, ItemConfig>) -> (usize, Vec<Regex>) {
    let Some(p) = items.get(Item::Processes.name()) else {
        return (DEFAULT_TOP, Vec::new());
    };
    let watch = p.watch.iter().filter_map(|w| Regex::new(w).ok()).collect();
    (p.top.unwrap_or(DEFAULT_TOP), watch)
}

/// Keeps the series of every item in the buffer's dictionary between two of its runs: none
/// is forgotten younger than twice the longest item interval.
fn keep_series_between_runs(entry: &AgentEntry, schedule: &Schedule) {
    entry
        .buffer
        .lock()
        .expect("buffer lock poisoned")
        .set_forget_floor(schedule.longest().unwrap_or_default() * 2);
}

/// Samples the items due at each tick into the entry's buffer, with the buffer's own
/// counters; follows changes of the items pushed by a sub-manager.
pub async fn collect_loop(
    mut collector: HostCollector,
    entry: Arc<AgentEntry>,
    registry: Arc<Registry>,
    base: Duration,
    mut items: watch::Receiver<BTreeMap<String, ItemConfig>>,
    shutdown: CancellationToken,
) {
    let mut schedule = Schedule::new(base, &items.borrow_and_update(), Instant::now());
    let (top, watch) = process_settings(&items.borrow());
    collector.set_processes(top, watch);
    keep_series_between_runs(&entry, &schedule);
    let mut table = SeriesTable::default();
    let mut next = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = items.changed() => {
                if changed.is_err() {
                    return;
                }
                let now = Instant::now();
                schedule = Schedule::new(base, &items.borrow_and_update(), now);
                let (top, watch) = process_settings(&items.borrow());
                collector.set_processes(top, watch);
                keep_series_between_runs(&entry, &schedule);
                next = tokio::time::Instant::now();
                info!(tick = ?schedule.tick(), "collection items changed");
                continue;
            }
            _ = tokio::time::sleep_until(next) => {}
        }
        // every item off: wait for a change
        let tick = schedule.tick().unwrap_or(Duration::from_secs(3600));
        next += tick;
        let now = tokio::time::Instant::now();
        if next < now {
            next = now + tick;
        }
        let due = schedule.due(Instant::now());
        if due.is_empty() {
            continue;
        }
        let host = collector.host.clone();
        let result = tokio::task::spawn_blocking(move || {
            collector.collect(due, &mut table);
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
                collector = HostCollector::with_host(&host);
                let (top, watch) = process_settings(&items.borrow());
                collector.set_processes(top, watch);
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
        buffer.commit();
        drop(buffer);
        registry
            .metrics
            .series
            .store(table.series() as u64, Ordering::Relaxed);
        registry.metrics.collections.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_the_documented_host_series() {
        let mut c = HostCollector::new();
        let mut table = SeriesTable::default();
        c.collect(ItemSet::all(), &mut table);
        let readings: Vec<_> = table.pending_readings().collect();
        let has = |name: &str| readings.iter().any(|r| r.0 == name);
        for name in [
            "host_cpu_usage_ratio",
            "host_load1",
            "host_memory_total_bytes",
            "host_memory_used_bytes",
            "host_swap_total_bytes",
        ] {
            assert!(has(name), "missing {name}");
        }
        let cpu = |r: &&(&str, &strata_proto::labels::LabelMap, f64)| r.0 == "host_cpu_usage_ratio";
        let total_cpu = readings
            .iter()
            .filter(cpu)
            .find(|r| r.1.get("cpu").map(String::as_str) == Some("total"))
            .expect("total cpu");
        assert!((0.0..=1.0).contains(&total_cpu.2), "{}", total_cpu.2);
        let per_core = readings
            .iter()
            .filter(cpu)
            .filter(|r| r.1.get("cpu").map(String::as_str) != Some("total"))
            .count();
        assert_eq!(per_core, c.cpu_count());
        let mem = readings
            .iter()
            .find(|r| r.0 == "host_memory_total_bytes")
            .unwrap();
        assert!(mem.2 > 0.0);
        // a second cycle repeats the same series and adds none (the busiest processes'
        // names aside: they change as the machine's load does)
        let steady = ItemSet::all().without(crate::items::Item::Processes);
        let mut table = SeriesTable::default();
        c.collect(steady, &mut table);
        let series = table.series();
        let mut buffer =
            crate::buffer::SampleBuffer::new(10_000, std::time::Duration::from_secs(60));
        table.store(&mut buffer, 1);
        c.collect(steady, &mut table);
        assert_eq!(table.series(), series);
    }
}
