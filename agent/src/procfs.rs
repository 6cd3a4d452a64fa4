//! Linux host detail read straight from /proc and /sys, the way node_exporter's default
//! collectors read it: per-core CPU seconds by mode, kernel counters, every meminfo field,
//! disk I/O per device, interface errors and drops, MTU and link state, TCP connection
//! states, vmstat events, file handles and temperatures.
//!
//! Each file is read into one reused buffer and parsed in place, so a cycle allocates
//! nothing but what a new series needs; a missing or unreadable file is skipped (containers
//! and other kernels lack some), and a malformed line is ignored rather than fatal.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Receives readings: metric name, labels, value.
pub trait Emit {
    fn emit(&mut self, name: &'static str, labels: &[(&'static str, &str)], value: f64);
}

/// Clock ticks per second of /proc/stat (USER_HZ, 100 on every Linux architecture).
const USER_HZ: f64 = 100.0;
const SECTOR: f64 = 512.0;

/// Reads host detail from a proc and a sys tree (`/proc` and `/sys`, or fixtures).
#[derive(Debug)]
pub struct ProcFs {
    proc_root: PathBuf,
    sys_root: PathBuf,
    buf: String,
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
        }
    }

    /// Reads `path` into the buffer; false if it cannot be read.
    fn load(&mut self, path: &Path) -> bool {
        self.buf.clear();
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_string(&mut self.buf))
            .is_ok()
    }

    fn load_proc(&mut self, rel: &str) -> bool {
        let path = self.proc_root.join(rel);
        self.load(&path)
    }

    /// Emits every reading of this cycle.
    pub fn collect(&mut self, out: &mut impl Emit) {
        if self.load_proc("stat") {
            parse_stat(&self.buf, out);
        }
        if self.load_proc("meminfo") {
            parse_meminfo(&self.buf, out);
        }
        if self.load_proc("diskstats") {
            parse_diskstats(&self.buf, out);
        }
        if self.load_proc("net/dev") {
            parse_net_dev(&self.buf, out);
        }
        let mut states = [0u32; TCP_STATES.len()];
        for table in ["net/tcp", "net/tcp6"] {
            if self.load_proc(table) {
                count_tcp_states(&self.buf, &mut states);
            }
        }
        for (state, count) in TCP_STATES.iter().zip(states) {
            out.emit(
                "host_tcp_connections",
                &[("state", state)],
                f64::from(count),
            );
        }
        if self.load_proc("vmstat") {
            parse_vmstat(&self.buf, out);
        }
        if self.load_proc("sys/fs/file-nr")
            && let Some(allocated) = first_number(&self.buf)
        {
            out.emit("host_file_handles_allocated", &[], allocated);
        }
        if self.load_proc("sys/kernel/random/entropy_avail")
            && let Some(bits) = first_number(&self.buf)
        {
            out.emit("host_entropy_available_bits", &[], bits);
        }
        self.collect_interfaces(out);
        self.collect_temperatures(out);
    }

    /// MTU and link state of every interface, from /sys/class/net.
    fn collect_interfaces(&mut self, out: &mut impl Emit) {
        let Ok(entries) = std::fs::read_dir(self.sys_root.join("class/net")) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let dir = entry.path();
            if self.load(&dir.join("mtu"))
                && let Some(mtu) = first_number(&self.buf)
            {
                out.emit("host_network_mtu_bytes", &[("interface", name)], mtu);
            }
            if self.load(&dir.join("operstate")) {
                let up = matches!(self.buf.trim(), "up" | "unknown");
                out.emit(
                    "host_network_up",
                    &[("interface", name)],
                    f64::from(u8::from(up)),
                );
            }
        }
    }

    /// Every hwmon temperature input, in degrees Celsius.
    fn collect_temperatures(&mut self, out: &mut impl Emit) {
        let Ok(chips) = std::fs::read_dir(self.sys_root.join("class/hwmon")) else {
            return;
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
                if self.load(&file.path())
                    && let Some(milli) = first_number(&self.buf)
                {
                    out.emit(
                        "host_temperature_celsius",
                        &[("chip", &chip_name), ("sensor", sensor)],
                        milli / 1000.0,
                    );
                }
            }
        }
    }
}

fn first_number(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}

const CPU_MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

/// /proc/stat: per-core seconds by mode and the kernel's counters.
pub fn parse_stat(text: &str, out: &mut impl Emit) {
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(key) = fields.next() else { continue };
        if let Some(cpu) = key.strip_prefix("cpu") {
            if cpu.is_empty() {
                continue; // the all-CPU line: the per-core lines sum to it
            }
            for (mode, field) in CPU_MODES.iter().zip(fields) {
                if let Ok(ticks) = field.parse::<f64>() {
                    out.emit(
                        "host_cpu_seconds_total",
                        &[("cpu", cpu), ("mode", mode)],
                        ticks / USER_HZ,
                    );
                }
            }
            continue;
        }
        let name = match key {
            "ctxt" => "host_context_switches_total",
            "intr" => "host_interrupts_total",
            "processes" => "host_forks_total",
            "procs_running" => "host_procs_running",
            "procs_blocked" => "host_procs_blocked",
            "btime" => "host_boot_time_seconds",
            _ => continue,
        };
        if let Some(Ok(v)) = fields.next().map(str::parse::<f64>) {
            out.emit(name, &[], v);
        }
    }
}

/// /proc/meminfo: every field, in bytes, labelled by its name in snake case.
pub fn parse_meminfo(text: &str, out: &mut impl Emit) {
    let mut kind = String::with_capacity(32);
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let mut parts = rest.split_ascii_whitespace();
        let Some(Ok(value)) = parts.next().map(str::parse::<f64>) else {
            continue;
        };
        let scale = if parts.next() == Some("kB") {
            1024.0
        } else {
            1.0
        };
        snake_case(key, &mut kind);
        out.emit(
            "host_memory_detail_bytes",
            &[("kind", &kind)],
            value * scale,
        );
    }
}

/// `MemTotal` → `mem_total`, `Active(anon)` → `active_anon`, `HugePages_Total` →
/// `huge_pages_total`, into `out`.
fn snake_case(key: &str, out: &mut String) {
    out.clear();
    let mut prev_lower = false;
    for c in key.chars() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && prev_lower && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
            prev_lower = false;
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
}

/// Whether a block device is a whole disk worth reporting (not a partition, RAM disk,
/// loop device or floppy), as node_exporter's default filter decides.
fn is_reported_disk(name: &str) -> bool {
    let skip_prefix = ["ram", "zram", "loop", "fd"];
    if skip_prefix.iter().any(|p| name.starts_with(p)) {
        return false;
    }
    let partition = if name.starts_with("nvme") || name.starts_with("mmcblk") {
        // nvme0n1p2, mmcblk0p1
        name.rsplit_once('p').is_some_and(|(head, n)| {
            head.ends_with(|c: char| c.is_ascii_digit())
                && !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
        })
    } else {
        // sda1, vdb2, xvda1
        ["sd", "hd", "vd", "xvd"]
            .iter()
            .any(|p| name.starts_with(p))
            && name.ends_with(|c: char| c.is_ascii_digit())
    };
    !partition
}

/// /proc/diskstats: I/O counters of every whole disk.
pub fn parse_diskstats(text: &str, out: &mut impl Emit) {
    // (field index after the device name, metric, scale)
    const FIELDS: [(usize, &str, f64); 11] = [
        (0, "host_disk_reads_completed_total", 1.0),
        (1, "host_disk_reads_merged_total", 1.0),
        (2, "host_disk_read_bytes_total", SECTOR),
        (3, "host_disk_read_time_seconds_total", 0.001),
        (4, "host_disk_writes_completed_total", 1.0),
        (5, "host_disk_writes_merged_total", 1.0),
        (6, "host_disk_written_bytes_total", SECTOR),
        (7, "host_disk_write_time_seconds_total", 0.001),
        (8, "host_disk_io_now", 1.0),
        (9, "host_disk_io_time_seconds_total", 0.001),
        (10, "host_disk_io_time_weighted_seconds_total", 0.001),
    ];
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace().skip(2);
        let Some(device) = fields.next() else {
            continue;
        };
        if !is_reported_disk(device) {
            continue;
        }
        let mut values = [0f64; 11];
        let mut n = 0;
        for (slot, field) in values.iter_mut().zip(fields) {
            match field.parse() {
                Ok(v) => {
                    *slot = v;
                    n += 1;
                }
                Err(_) => break,
            }
        }
        if n < values.len() {
            continue;
        }
        for (i, name, scale) in FIELDS {
            out.emit(name, &[("device", device)], values[i] * scale);
        }
    }
}

/// /proc/net/dev: the counters the host summary does not already give (drops, FIFO and
/// frame errors, multicast, collisions, carrier losses, compressed packets).
pub fn parse_net_dev(text: &str, out: &mut impl Emit) {
    // columns after the name: rx bytes packets errs drop fifo frame compressed multicast,
    // tx bytes packets errs drop fifo colls carrier compressed
    const FIELDS: [(usize, &str); 10] = [
        (3, "host_network_receive_drop_total"),
        (4, "host_network_receive_fifo_total"),
        (5, "host_network_receive_frame_total"),
        (6, "host_network_receive_compressed_total"),
        (7, "host_network_receive_multicast_total"),
        (11, "host_network_transmit_drop_total"),
        (12, "host_network_transmit_fifo_total"),
        (13, "host_network_transmit_colls_total"),
        (14, "host_network_transmit_carrier_total"),
        (15, "host_network_transmit_compressed_total"),
    ];
    for line in text.lines() {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        let mut values = [0f64; 16];
        let mut n = 0;
        for (slot, field) in values.iter_mut().zip(rest.split_ascii_whitespace()) {
            match field.parse() {
                Ok(v) => {
                    *slot = v;
                    n += 1;
                }
                Err(_) => break,
            }
        }
        if n < values.len() {
            continue;
        }
        for (i, metric) in FIELDS {
            out.emit(metric, &[("interface", name)], values[i]);
        }
    }
}

/// TCP states in the order of their codes (1 to 11) in /proc/net/tcp.
const TCP_STATES: [&str; 11] = [
    "established",
    "syn_sent",
    "syn_recv",
    "fin_wait1",
    "fin_wait2",
    "time_wait",
    "close",
    "close_wait",
    "last_ack",
    "listen",
    "closing",
];

/// Adds the connections of a /proc/net/tcp(6) table to `states`, by state.
pub fn count_tcp_states(text: &str, states: &mut [u32; 11]) {
    for line in text.lines().skip(1) {
        let Some(code) = line.split_ascii_whitespace().nth(3) else {
            continue;
        };
        if let Ok(code) = u8::from_str_radix(code, 16)
            && (1..=11).contains(&code)
        {
            states[usize::from(code - 1)] += 1;
        }
    }
}

/// /proc/vmstat: page faults, swapping, paging and OOM kills.
pub fn parse_vmstat(text: &str, out: &mut impl Emit) {
    const EVENTS: [&str; 7] = [
        "pgfault",
        "pgmajfault",
        "pgpgin",
        "pgpgout",
        "pswpin",
        "pswpout",
        "oom_kill",
    ];
    for line in text.lines() {
        let Some((key, value)) = line.split_once(' ') else {
            continue;
        };
        if let Some(event) = EVENTS.iter().find(|e| **e == key)
            && let Ok(v) = value.trim().parse::<f64>()
        {
            out.emit("host_vmstat_total", &[("event", event)], v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Readings as (name, labels joined, value).
    #[derive(Default)]
    struct Seen(Vec<(String, String, f64)>);

    impl Emit for Seen {
        fn emit(&mut self, name: &'static str, labels: &[(&'static str, &str)], value: f64) {
            let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            self.0.push((name.to_string(), labels.join(","), value));
        }
    }

    impl Seen {
        fn get(&self, name: &str, labels: &str) -> Option<f64> {
            self.0
                .iter()
                .find(|(n, l, _)| n == name && l == labels)
                .map(|r| r.2)
        }
    }

    #[test]
    fn stat_gives_seconds_per_core_and_mode_and_kernel_counters() {
        let text = "cpu  10 0 20 300 4 0 1 0 0 0\n\
                    cpu0 5 0 10 150 2 0 1 0 0 0\n\
                    cpu1 5 0 10 150 2 0 0 7 0 0\n\
                    intr 12345 1 2 3\n\
                    ctxt 999\nbtime 1700000000\nprocesses 4242\n\
                    procs_running 3\nprocs_blocked 1\nsoftirq 1 2 3\n";
        let mut seen = Seen::default();
        parse_stat(text, &mut seen);
        assert_eq!(
            seen.get("host_cpu_seconds_total", "cpu=0,mode=idle"),
            Some(1.5)
        );
        assert_eq!(
            seen.get("host_cpu_seconds_total", "cpu=1,mode=steal"),
            Some(0.07)
        );
        assert_eq!(
            seen.0
                .iter()
                .filter(|r| r.0 == "host_cpu_seconds_total")
                .count(),
            16,
            "8 modes × 2 cores, no all-CPU line"
        );
        assert_eq!(seen.get("host_interrupts_total", ""), Some(12345.0));
        assert_eq!(seen.get("host_context_switches_total", ""), Some(999.0));
        assert_eq!(seen.get("host_forks_total", ""), Some(4242.0));
        assert_eq!(seen.get("host_procs_blocked", ""), Some(1.0));
        assert_eq!(seen.get("host_boot_time_seconds", ""), Some(1.7e9));
    }

    #[test]
    fn meminfo_fields_become_bytes_in_snake_case() {
        let text = "MemTotal:       16318412 kB\nActive(anon):     123 kB\n\
                    HugePages_Total:       0\nHugepagesize:       2048 kB\nbroken line\n";
        let mut seen = Seen::default();
        parse_meminfo(text, &mut seen);
        assert_eq!(
            seen.get("host_memory_detail_bytes", "kind=mem_total"),
            Some(16318412.0 * 1024.0)
        );
        assert_eq!(
            seen.get("host_memory_detail_bytes", "kind=active_anon"),
            Some(123.0 * 1024.0)
        );
        assert_eq!(
            seen.get("host_memory_detail_bytes", "kind=huge_pages_total"),
            Some(0.0)
        );
        assert_eq!(seen.0.len(), 4);
    }

    #[test]
    fn diskstats_reports_whole_disks_only() {
        let text = "   8       0 sda 100 5 2000 30 200 6 4000 50 1 70 90 0 0 0 0\n\
                    8       1 sda1 1 1 1 1 1 1 1 1 1 1 1\n\
                    259     0 nvme0n1 1 2 3 4 5 6 7 8 9 10 11\n\
                    259     1 nvme0n1p1 1 2 3 4 5 6 7 8 9 10 11\n\
                    7       0 loop0 1 2 3 4 5 6 7 8 9 10 11\n\
                    253     0 dm-0 1 2 3 4 5 6 7 8 9 10 11\n\
                    8      16 sdb 1 2\n";
        let mut seen = Seen::default();
        parse_diskstats(text, &mut seen);
        assert_eq!(
            seen.get("host_disk_read_bytes_total", "device=sda"),
            Some(2000.0 * 512.0)
        );
        assert_eq!(
            seen.get("host_disk_io_time_seconds_total", "device=sda"),
            Some(0.07)
        );
        let devices: std::collections::BTreeSet<&str> =
            seen.0.iter().map(|r| r.1.as_str()).collect();
        assert_eq!(
            devices.into_iter().collect::<Vec<_>>(),
            vec!["device=dm-0", "device=nvme0n1", "device=sda"]
        );
    }

    #[test]
    fn net_dev_gives_drops_and_errors_per_interface() {
        let text = "Inter-|   Receive                            |  Transmit\n \
            face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n\
            \x20   lo: 100 2 0 0 0 0 0 0 100 2 0 0 0 0 0 0\n\
            \x20 eth0: 5000 40 1 7 0 0 0 3 6000 50 0 2 0 0 1 0\n";
        let mut seen = Seen::default();
        parse_net_dev(text, &mut seen);
        assert_eq!(
            seen.get("host_network_receive_drop_total", "interface=eth0"),
            Some(7.0)
        );
        assert_eq!(
            seen.get("host_network_transmit_carrier_total", "interface=eth0"),
            Some(1.0)
        );
        assert_eq!(seen.0.len(), 20);
    }

    #[test]
    fn tcp_tables_are_counted_by_state() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue\n\
            0: 0100007F:1F90 00000000:0000 0A 00000000:00000000\n\
            1: 0100007F:1F90 0100007F:C350 01 00000000:00000000\n\
            2: 0100007F:C350 0100007F:1F90 01 00000000:00000000\n\
            3: garbage\n";
        let mut states = [0u32; 11];
        count_tcp_states(text, &mut states);
        count_tcp_states(text, &mut states);
        assert_eq!(states[0], 4, "established");
        assert_eq!(states[9], 2, "listen");
    }

    #[test]
    fn snake_case_names() {
        let mut s = String::new();
        for (key, want) in [
            ("MemTotal", "mem_total"),
            ("Active(anon)", "active_anon"),
            ("HugePages_Total", "huge_pages_total"),
            ("DirectMap4k", "direct_map4k"),
            ("SwapCached", "swap_cached"),
        ] {
            snake_case(key, &mut s);
            assert_eq!(s, want, "{key}");
        }
    }

    #[test]
    fn this_host_gives_at_least_what_node_exporter_would() {
        let mut seen = Seen::default();
        ProcFs::default().collect(&mut seen);
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
