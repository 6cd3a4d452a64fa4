//! Linux host detail read straight from /proc and /sys, the way node_exporter's default
//! collectors read it: per-core CPU seconds by mode and usage, load, kernel counters, every
//! meminfo field, disk I/O per device, every interface counter, MTU and link state,
//! IP/ICMP/TCP/UDP counters, sockets and TCP connection states, vmstat events, file handles
//! and temperatures.
//!
//! Each file is read into one reused buffer and parsed in place (`parse`), so a cycle
//! allocates nothing but what a new series needs; a missing or unreadable file is skipped
//! (containers and other kernels lack some), and a malformed line is ignored rather than
//! fatal.
//!
//! Here: the [`ProcFs`] reader and its cycle. Beside it: `files` (re-reading open files),
//! `parse` and `net` (the /proc parsers), `system` (uname, os-release, uptime), `sysfs`
//! (interfaces and temperatures), `mounts` (filesystems), `tcp_states` (sock_diag) and
//! [`processes`] (per-process readings).

mod files;
pub mod mounts;
mod net;
mod parse;
pub mod processes;
pub mod routes;
mod sysfs;
mod system;
pub mod tcp_states;
#[cfg(test)]
mod testing;

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

pub use net::*;
pub use parse::*;
pub use system::hostname;

use files::{ONE_PIECE, reread};
use mounts::{Mount, emit_filesystems, local_mounts};
use sysfs::Interface;
use system::HostInfo;

use crate::items::{Item, ItemSet};

/// Receives readings: metric name, labels, value.
pub trait Emit {
    fn emit(&mut self, name: &'static str, labels: &[(&'static str, &str)], value: f64);
}

/// Reads host detail from a proc and a sys tree (`/proc` and `/sys`, or fixtures).
#[derive(Debug)]
pub struct ProcFs {
    proc_root: PathBuf,
    sys_root: PathBuf,
    buf: String,
    /// CPU ticks of this cycle and the last (all-CPU line first, then each core).
    ticks: Vec<CpuTicks>,
    prev_ticks: Vec<CpuTicks>,
    /// Per-core label values, "0", "1", ... (made once).
    cpu_names: Vec<String>,
    /// /proc files kept open and read again from the start each cycle (saves the path
    /// walk of an open; the kernel regenerates their text on every read from 0).
    open_files: HashMap<&'static str, File>,
    /// /proc files that could not be opened (absent from this kernel).
    missing: std::collections::HashSet<&'static str>,
    /// Interfaces of /sys/class/net with their attribute files, found every
    /// [`RESCAN_EVERY`] cycles.
    interfaces: Vec<Interface>,
    /// Local filesystems, found every [`RESCAN_EVERY`] cycles.
    mounts: Vec<Mount>,
    /// hwmon temperature inputs (chip, sensor, file), found every [`RESCAN_EVERY`] cycles.
    sensors: Vec<(String, String, File)>,
    /// Snake-case names of the meminfo fields, in order.
    meminfo_names: Vec<(String, Box<str>)>,
    /// The sock_diag socket counting TCP connections by state.
    tcp_states: tcp_states::TcpStates,
    /// Column plans of the snmp and netstat tables.
    snmp_plans: SnmpPlans,
    /// Uname and OS release, read on the first cycle.
    info: Option<HostInfo>,
    /// Cycles collected so far.
    cycles: u64,
    /// The host's root, when not `/`: filesystems from its init's mount table, measured
    /// under it.
    host_root: Option<PathBuf>,
}

/// Cycles between two scans of /sys/class/net and /proc/mounts for interfaces and
/// filesystems that came or went.
const RESCAN_EVERY: u64 = 60;

impl Default for ProcFs {
    fn default() -> Self {
        Self::new("/proc", "/sys")
    }
}

impl ProcFs {
    /// Reads from `proc_root` and `sys_root`.
    pub fn new(proc_root: impl Into<PathBuf>, sys_root: impl Into<PathBuf>) -> Self {
        Self {
            proc_root: proc_root.into(),
            sys_root: sys_root.into(),
            buf: String::with_capacity(64 * 1024),
            ticks: Vec::new(),
            prev_ticks: Vec::new(),
            cpu_names: Vec::new(),
            open_files: HashMap::new(),
            missing: Default::default(),
            interfaces: Vec::new(),
            mounts: Vec::new(),
            sensors: Vec::new(),
            info: None,
            snmp_plans: SnmpPlans::default(),
            tcp_states: Default::default(),
            meminfo_names: Vec::new(),
            cycles: 0,
            host_root: None,
        }
    }

    /// Takes filesystems from the mount table of the host's init and measures them under
    /// `root`, the host's root filesystem as mounted here (none or `/`: this process's own).
    pub fn with_host_root(mut self, root: &Path) -> Self {
        self.host_root = (root != Path::new("/")).then(|| root.to_path_buf());
        self
    }

    /// Reads `path` into the buffer; false if it cannot be read.
    fn load(&mut self, path: &Path) -> bool {
        self.buf.clear();
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_string(&mut self.buf))
            .is_ok()
    }

    fn load_proc(&mut self, rel: &'static str) -> bool {
        self.buf.clear();
        if !self.open_files.contains_key(rel) {
            // a file this kernel lacks is looked for again only when mounts are rescanned
            if self.missing.contains(rel) && !self.cycles.is_multiple_of(RESCAN_EVERY) {
                return false;
            }
            match File::open(self.proc_root.join(rel)) {
                Ok(f) => {
                    self.missing.remove(rel);
                    self.open_files.insert(rel, f);
                }
                Err(_) => {
                    self.missing.insert(rel);
                    return false;
                }
            }
        }
        let file = self.open_files.get(rel).expect("inserted above");
        if !reread(file, &mut self.buf, ONE_PIECE.contains(&rel)) {
            // reopened next cycle
            self.open_files.remove(rel);
            return false;
        }
        true
    }

    /// Logical CPUs seen in the last /proc/stat read.
    pub fn cpu_count(&self) -> usize {
        self.ticks.len().saturating_sub(1)
    }

    /// Emits every reading of this cycle; CPU usage ratios from the second cycle on (they
    /// are the busy share of the ticks since the previous one).
    pub fn collect(&mut self, due: ItemSet, out: &mut impl Emit) {
        if due.has(Item::Cpu) && self.load_proc("stat") {
            std::mem::swap(&mut self.ticks, &mut self.prev_ticks);
            parse_stat(&self.buf, out, &mut self.ticks);
            self.emit_cpu_usage(out);
            if self.load_proc("schedstat") {
                parse_schedstat(&self.buf, out);
            }
            if self.load_proc("softirqs") {
                parse_softirqs(&self.buf, out);
            }
        }
        if due.has(Item::Load) && self.load_proc("loadavg") {
            parse_loadavg(&self.buf, out);
        }
        if due.has(Item::Memory) && self.load_proc("meminfo") {
            let m = parse_meminfo(&self.buf, &mut self.meminfo_names, out);
            let used = m.total - m.available;
            let ratio = if m.total > 0.0 { used / m.total } else { 0.0 };
            for (name, value) in [
                ("host_memory_total_bytes", m.total),
                ("host_memory_used_bytes", used),
                ("host_memory_available_bytes", m.available),
                ("host_memory_used_ratio", ratio),
                ("host_swap_total_bytes", m.swap_total),
                ("host_swap_used_bytes", m.swap_total - m.swap_free),
            ] {
                out.emit(name, &[], value);
            }
        }
        if due.has(Item::Disk) && self.load_proc("diskstats") {
            parse_diskstats(&self.buf, out);
        }
        if due.has(Item::Network) && self.load_proc("net/dev") {
            parse_net_dev(&self.buf, out);
        }
        let protocols = due.has(Item::Protocols);
        for table in ["net/snmp", "net/netstat"] {
            if protocols && self.load_proc(table) {
                parse_snmp(&self.buf, &mut self.snmp_plans, out);
            }
        }
        if protocols && self.load_proc("net/snmp6") {
            parse_snmp6(&self.buf, out);
        }
        if protocols && self.load_proc("net/softnet_stat") {
            parse_softnet(&self.buf, &self.cpu_names, out);
        }
        for (file, resource) in [
            ("pressure/cpu", "cpu"),
            ("pressure/memory", "memory"),
            ("pressure/io", "io"),
        ] {
            if due.has(Item::Pressure) && self.load_proc(file) {
                parse_pressure(&self.buf, resource, out);
            }
        }
        for (file, name) in [
            (
                "sys/net/netfilter/nf_conntrack_count",
                "host_conntrack_entries",
            ),
            (
                "sys/net/netfilter/nf_conntrack_max",
                "host_conntrack_entries_limit",
            ),
        ] {
            if protocols
                && self.load_proc(file)
                && let Some(v) = first_number(&self.buf)
            {
                out.emit(name, &[], v);
            }
        }
        for table in ["net/sockstat", "net/sockstat6"] {
            if protocols && self.load_proc(table) {
                parse_sockstat(&self.buf, out);
            }
        }
        if due.has(Item::Vmstat) && self.load_proc("vmstat") {
            parse_vmstat(&self.buf, out);
        }
        if due.has(Item::System) {
            self.collect_system(out);
        }
        if due.has(Item::System) && self.load_proc("sys/fs/file-nr") {
            // allocated, allocated but unused, maximum
            let mut fields = self.buf.split_ascii_whitespace();
            let allocated = fields.next().and_then(|f| f.parse::<f64>().ok());
            let max = fields.nth(1).and_then(|f| f.parse::<f64>().ok());
            if let Some(v) = allocated {
                out.emit("host_file_handles_allocated", &[], v);
            }
            if let Some(v) = max {
                out.emit("host_file_handles_max", &[], v);
            }
        }
        if due.has(Item::System)
            && self.load_proc("sys/kernel/random/entropy_avail")
            && let Some(bits) = first_number(&self.buf)
        {
            out.emit("host_entropy_available_bits", &[], bits);
        }
        let table = if self.host_root.is_some() {
            "1/mounts"
        } else {
            "mounts"
        };
        if self.cycles.is_multiple_of(RESCAN_EVERY) && self.load_proc(table) {
            self.mounts = local_mounts(&self.buf);
        }
        if due.has(Item::Tcp) {
            self.tcp_states.collect(out);
        }
        if due.has(Item::Filesystem) {
            emit_filesystems(&self.mounts, self.host_root.as_deref(), out);
        }
        if due.has(Item::Network) {
            self.collect_interfaces(out);
        }
        if due.has(Item::Temperature) {
            self.collect_temperatures(out);
        }
        self.cycles += 1;
    }

    /// Busy share of each CPU's ticks since the last cycle, and of all of them.
    fn emit_cpu_usage(&mut self, out: &mut impl Emit) {
        if self.prev_ticks.len() != self.ticks.len() {
            return; // first cycle, or CPUs came or went: wait for a comparable one
        }
        while self.cpu_names.len() + 1 < self.ticks.len() {
            self.cpu_names.push(self.cpu_names.len().to_string());
        }
        for (i, (now, before)) in self.ticks.iter().zip(&self.prev_ticks).enumerate() {
            let total = now.total.saturating_sub(before.total);
            let busy = now.busy.saturating_sub(before.busy);
            let ratio = if total > 0 {
                (busy as f64 / total as f64).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let cpu = if i == 0 {
                "total"
            } else {
                &self.cpu_names[i - 1]
            };
            out.emit("host_cpu_usage_ratio", &[("cpu", cpu)], ratio);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::Seen;
    use super::*;

    #[test]
    fn cpu_usage_is_the_busy_share_since_the_last_cycle() {
        let dir = tempfile::tempdir().unwrap();
        let stat = dir.path().join("stat");
        let mut procfs = ProcFs::new(dir.path(), dir.path().join("no-sys"));
        std::fs::write(&stat, "cpu  10 0 10 80 0 0 0 0\ncpu0 10 0 10 80 0 0 0 0\n").unwrap();
        let mut seen = Seen::default();
        procfs.collect(ItemSet::all(), &mut seen);
        assert_eq!(
            seen.get("host_cpu_usage_ratio", "cpu=total"),
            None,
            "no previous cycle"
        );
        assert_eq!(procfs.cpu_count(), 1);
        // 100 more ticks, 25 of them busy
        std::fs::write(
            &stat,
            "cpu  20 0 25 155 0 0 0 0\ncpu0 20 0 25 155 0 0 0 0\n",
        )
        .unwrap();
        let mut seen = Seen::default();
        procfs.collect(ItemSet::all(), &mut seen);
        assert_eq!(seen.get("host_cpu_usage_ratio", "cpu=total"), Some(0.25));
        assert_eq!(seen.get("host_cpu_usage_ratio", "cpu=0"), Some(0.25));
    }

    #[test]
    fn a_host_root_measures_the_filesystems_of_the_host_s_init_under_it() {
        // a host root with one filesystem at /data; the agent's own mount table says nothing
        let proc = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("data")).unwrap();
        std::fs::create_dir(proc.path().join("1")).unwrap();
        std::fs::write(proc.path().join("1/mounts"), "/dev/vdb /data ext4 rw 0 0\n").unwrap();
        std::fs::write(proc.path().join("mounts"), "overlay / overlay rw 0 0\n").unwrap();
        let mut procfs =
            ProcFs::new(proc.path(), proc.path().join("no-sys")).with_host_root(root.path());
        let mut seen = Seen::default();
        procfs.collect(ItemSet::all(), &mut seen);
        let size = seen.get(
            "host_filesystem_size_bytes",
            "mountpoint=/data,device=/dev/vdb,fstype=ext4",
        );
        assert!(size.is_some_and(|s| s > 0.0), "{:?}", seen.0);
        // `/` is this process's own view: its mount table, as before
        let mut own =
            ProcFs::new(proc.path(), proc.path().join("no-sys")).with_host_root(Path::new("/"));
        let mut seen = Seen::default();
        own.collect(ItemSet::all(), &mut seen);
        assert!(!seen.0.iter().any(|r| r.0 == "host_filesystem_size_bytes"));
    }

    #[test]
    fn this_host_gives_at_least_what_node_exporter_would() {
        let mut seen = Seen::default();
        let mut procfs = ProcFs::default();
        procfs.collect(ItemSet::all(), &mut seen);
        procfs.collect(ItemSet::all(), &mut seen);
        if !Path::new("/proc/stat").exists() {
            return; // not Linux
        }
        for name in [
            "host_cpu_seconds_total",
            "host_memory_detail_bytes",
            "host_tcp_connections",
            "host_context_switches_total",
        ] {
            assert!(seen.0.iter().any(|r| r.0 == name), "{name} missing");
        }
        assert!(seen.0.iter().all(|r| r.2.is_finite()));
    }
}
