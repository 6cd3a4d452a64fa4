//! The host collector: everything of [`crate::procfs`] (CPU usage and seconds by mode,
//! load, memory, swap, filesystems, disks, interfaces, protocol counters...), once per
//! cycle, emitted into a [`crate::series::SeriesTable`].
//!
//! One long-lived [`HostCollector`] keeps the previous CPU ticks, so CPU usage is over the
//! last interval; it is primed with a first reading when made.

use tracing::warn;

use crate::procfs::{Emit, ProcFs};

/// Reads host resources; keep one for the life of the agent.
pub struct HostCollector {
    procfs: ProcFs,
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

impl HostCollector {
    /// A collector primed with a first reading, so that the first CPU usage is meaningful.
    pub fn new() -> Self {
        let mut collector = Self {
            procfs: ProcFs::default(),
        };
        collector.procfs.collect(&mut Discard);
        if collector.procfs.cpu_count() == 0 {
            warn!("/proc/stat is not readable: CPU, memory and network will not be collected");
        }
        collector
    }

    /// Number of logical CPUs.
    pub fn cpu_count(&self) -> usize {
        self.procfs.cpu_count()
    }

    /// Emits this cycle's readings.
    pub fn collect(&mut self, out: &mut impl Emit) {
        self.procfs.collect(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::SeriesTable;

    #[test]
    fn collects_the_documented_host_series() {
        let mut c = HostCollector::new();
        let mut table = SeriesTable::default();
        c.collect(&mut table);
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
        // a second cycle repeats the same series and adds none
        let series = table.series();
        let mut buffer =
            crate::buffer::SampleBuffer::new(10_000, std::time::Duration::from_secs(60));
        table.store(&mut buffer, 1);
        c.collect(&mut table);
        assert_eq!(table.series(), series);
    }
}
