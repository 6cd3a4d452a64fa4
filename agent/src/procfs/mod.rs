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

mod mounts;
mod net;
mod parse;
pub mod processes;
mod tcp_states;

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

pub use net::*;
pub use parse::*;

use mounts::{Mount, local_mounts};

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
}

/// Cycles between two scans of /sys/class/net and /proc/mounts for interfaces and
/// filesystems that came or went.
const RESCAN_EVERY: u64 = 60;

/// What the host runs, read once: uname and /etc/os-release.
#[derive(Debug, Default)]
struct HostInfo {
    sysname: String,
    release: String,
    version: String,
    machine: String,
    nodename: String,
    os_id: String,
    os_version: String,
    os_name: String,
}

impl HostInfo {
    fn read() -> Self {
        let u = rustix::system::uname();
        let text = |s: &std::ffi::CStr| s.to_string_lossy().into_owned();
        let release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        let field = |key: &str| {
            release
                .lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                .map(|v| v.trim_matches('"').to_string())
                .unwrap_or_default()
        };
        Self {
            sysname: text(u.sysname()),
            release: text(u.release()),
            version: text(u.version()),
            machine: text(u.machine()),
            nodename: text(u.nodename()),
            os_id: field("ID"),
            os_version: field("VERSION_ID"),
            os_name: field("PRETTY_NAME"),
        }
    }
}

/// One network interface and its attribute files, kept open.
#[derive(Debug)]
struct Interface {
    name: String,
    /// MAC address (read when found).
    address: String,
    operstate: Option<File>,
    carrier_changes: Option<File>,
    /// Settings (MTU, speed, queue length): metric, scale (speed is in Mbit/s), file and
    /// the last value read; read every [`SETTINGS_EVERY`] cycles, reported every cycle.
    settings: [(&'static str, f64, Option<File>, Option<f64>); 3],
}

/// Cycles between two reads of an interface's settings: they change only when an operator
/// or a link renegotiation changes them, and reading the speed takes the kernel's network
/// configuration lock.
const SETTINGS_EVERY: u64 = 6;

/// /proc files the kernel writes in one piece (a single `show`, or a sysctl): a read into a
/// buffer larger than the text returns all of it, so a short read is their end. Files of
/// many records (net/dev, diskstats, vmstat...) come a page at a time and are read to 0.
const ONE_PIECE: [&str; 17] = [
    "stat",
    "loadavg",
    "meminfo",
    "net/snmp",
    "net/netstat",
    "net/sockstat",
    "net/sockstat6",
    "net/snmp6",
    "softirqs",
    "pressure/cpu",
    "pressure/memory",
    "pressure/io",
    "sys/net/netfilter/nf_conntrack_count",
    "sys/net/netfilter/nf_conntrack_max",
    "sys/fs/file-nr",
    "sys/kernel/random/entropy_avail",
    "uptime",
];

/// Reads `file` again from its start into `buf` by positional reads (no seek, and none of
/// the size probing `read_to_string` does); false on error or text that is not UTF-8. A
/// file written in one piece (see [`ONE_PIECE`]; sysfs attributes too) ends at the first
/// short read, which saves the read that would return 0.
fn reread(file: &File, buf: &mut String, one_piece: bool) -> bool {
    let mut bytes = std::mem::take(buf).into_bytes();
    bytes.clear();
    loop {
        let len = bytes.len();
        let room = (bytes.capacity() - len).max(4096);
        bytes.resize(len + room, 0);
        match file.read_at(&mut bytes[len..], len as u64) {
            Ok(0) => {
                bytes.truncate(len);
                break;
            }
            Ok(n) => {
                bytes.truncate(len + n);
                if one_piece && n < room {
                    break;
                }
            }
            Err(_) => return false,
        }
    }
    match String::from_utf8(bytes) {
        Ok(text) => {
            *buf = text;
            true
        }
        Err(_) => false,
    }
}

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
        }
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
        if self.cycles.is_multiple_of(RESCAN_EVERY) && self.load_proc("mounts") {
            self.mounts = local_mounts(&self.buf);
        }
        if due.has(Item::Tcp) {
            self.tcp_states.collect(out);
        }
        if due.has(Item::Filesystem) {
            self.collect_filesystems(out);
        }
        if due.has(Item::Network) {
            self.collect_interfaces(out);
        }
        if due.has(Item::Temperature) {
            self.collect_temperatures(out);
        }
        self.cycles += 1;
    }

    /// Space and inodes of every local filesystem found in /proc/mounts, by statvfs.
    /// Uptime, the clock, and what the host runs (kernel, distribution) as info series.
    fn collect_system(&mut self, out: &mut impl Emit) {
        if self.load_proc("uptime")
            && let Some(up) = first_number(&self.buf)
        {
            out.emit("host_uptime_seconds", &[], up);
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        out.emit("host_time_seconds", &[], now);
        let info = self.info.get_or_insert_with(HostInfo::read);
        out.emit(
            "host_uname_info",
            &[
                ("sysname", info.sysname.as_str()),
                ("release", info.release.as_str()),
                ("version", info.version.as_str()),
                ("machine", info.machine.as_str()),
                ("nodename", info.nodename.as_str()),
            ],
            1.0,
        );
        out.emit(
            "host_os_info",
            &[
                ("id", info.os_id.as_str()),
                ("version_id", info.os_version.as_str()),
                ("pretty_name", info.os_name.as_str()),
            ],
            1.0,
        );
    }

    fn collect_filesystems(&mut self, out: &mut impl Emit) {
        for m in &self.mounts {
            let Ok(st) = rustix::fs::statvfs(m.mount.as_str()) else {
                continue;
            };
            let unit = st.f_frsize as f64;
            let size = st.f_blocks as f64 * unit;
            let free = st.f_bfree as f64 * unit;
            let avail = st.f_bavail as f64 * unit;
            let used = size - free;
            // as df: the share of what users may fill
            let ratio = if used + avail > 0.0 {
                used / (used + avail)
            } else {
                0.0
            };
            let l = [
                ("mountpoint", m.mount.as_str()),
                ("device", m.device.as_str()),
                ("fstype", m.fstype.as_str()),
            ];
            out.emit("host_filesystem_size_bytes", &l, size);
            out.emit("host_filesystem_free_bytes", &l, free);
            out.emit("host_filesystem_avail_bytes", &l, avail);
            out.emit("host_filesystem_used_bytes", &l, used);
            out.emit("host_filesystem_used_ratio", &l, ratio);
            out.emit("host_filesystem_files", &l, st.f_files as f64);
            out.emit("host_filesystem_files_free", &l, st.f_ffree as f64);
        }
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

    /// MTU, link state, MAC address, speed, queue length and carrier changes of every
    /// interface, from /sys/class/net. The interfaces and
    /// their attribute files are found once a minute or so ([`RESCAN_EVERY`] cycles) and
    /// kept open in between.
    fn collect_interfaces(&mut self, out: &mut impl Emit) {
        if self.cycles.is_multiple_of(RESCAN_EVERY) {
            self.interfaces.clear();
            if let Ok(entries) = std::fs::read_dir(self.sys_root.join("class/net")) {
                for entry in entries.flatten() {
                    let Ok(name) = entry.file_name().into_string() else {
                        continue;
                    };
                    let dir = entry.path();
                    let address = std::fs::read_to_string(dir.join("address"))
                        .map(|a| a.trim().to_string())
                        .unwrap_or_default();
                    let open = |attr: &str| File::open(dir.join(attr)).ok();
                    self.interfaces.push(Interface {
                        name,
                        address,
                        operstate: open("operstate"),
                        carrier_changes: open("carrier_changes"),
                        settings: [
                            ("host_network_mtu_bytes", 1.0, open("mtu"), None),
                            ("host_network_speed_bytes", 125_000.0, open("speed"), None),
                            (
                                "host_network_transmit_queue_length",
                                1.0,
                                open("tx_queue_len"),
                                None,
                            ),
                        ],
                    });
                }
            }
        }
        let read_settings = self.cycles.is_multiple_of(SETTINGS_EVERY);
        for iface in &mut self.interfaces {
            let l = [("interface", iface.name.as_str())];
            if let Some(f) = &mut iface.operstate
                && reread(f, &mut self.buf, true)
            {
                let state = self.buf.trim();
                let up = matches!(state, "up" | "unknown");
                out.emit("host_network_up", &l, f64::from(u8::from(up)));
                out.emit(
                    "host_network_info",
                    &[
                        ("interface", iface.name.as_str()),
                        ("address", iface.address.as_str()),
                        ("operstate", state),
                    ],
                    1.0,
                );
            }
            if let Some(f) = &mut iface.carrier_changes
                && reread(f, &mut self.buf, true)
                && let Some(v) = first_number(&self.buf)
            {
                out.emit("host_network_carrier_changes_total", &l, v);
            }
            // virtual interfaces refuse to read some attributes (speed): skipped
            for (name, scale, file, last) in &mut iface.settings {
                if read_settings && let Some(f) = file {
                    *last = (reread(f, &mut self.buf, true))
                        .then(|| first_number(&self.buf))
                        .flatten()
                        .filter(|v| *v >= 0.0);
                }
                if let Some(v) = last {
                    out.emit(name, &l, *v * *scale);
                }
            }
        }
    }

    /// Every hwmon temperature input, in degrees Celsius.
    fn collect_temperatures(&mut self, out: &mut impl Emit) {
        if self.cycles.is_multiple_of(RESCAN_EVERY) {
            self.sensors = self.find_sensors();
        }
        for (chip, sensor, file) in &self.sensors {
            if reread(file, &mut self.buf, true)
                && let Some(milli) = first_number(&self.buf)
            {
                out.emit(
                    "host_temperature_celsius",
                    &[("chip", chip), ("sensor", sensor)],
                    milli / 1000.0,
                );
            }
        }
    }

    /// Every hwmon temperature input: chip name, sensor and the open file.
    fn find_sensors(&mut self) -> Vec<(String, String, File)> {
        let mut found = Vec::new();
        let Ok(chips) = std::fs::read_dir(self.sys_root.join("class/hwmon")) else {
            return found;
        };
        for chip in chips.flatten() {
            let dir = chip.path();
            let chip_name = if self.load(&dir.join("name")) {
                self.buf.trim().to_string()
            } else {
                chip.file_name().to_string_lossy().into_owned()
            };
            let Ok(files) = std::fs::read_dir(&dir) else {
                continue;
            };
            for file in files.flatten() {
                let file_name = file.file_name();
                let Some(sensor) = file_name
                    .to_str()
                    .and_then(|f| f.strip_suffix("_input"))
                    .filter(|f| f.starts_with("temp"))
                else {
                    continue;
                };
                if let Ok(f) = File::open(file.path()) {
                    found.push((chip_name.clone(), sensor.to_string(), f));
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::parse::tests::Seen;
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
