//! Parsers of the /proc files, each writing readings to an [`Emit`].

use super::Emit;

/// Clock ticks per second of /proc/stat (USER_HZ, 100 on every Linux architecture).
const USER_HZ: f64 = 100.0;
const SECTOR: f64 = 512.0;

pub(crate) fn first_number(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}

const CPU_MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

/// Busy and total clock ticks of one CPU line of /proc/stat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTicks {
    pub busy: u64,
    pub total: u64,
}

/// /proc/stat: per-core seconds by mode and the kernel's counters; `ticks` gets the busy
/// and total ticks of the all-CPU line, then of each core, in order.
pub fn parse_stat(text: &str, out: &mut impl Emit, ticks: &mut Vec<CpuTicks>) {
    ticks.clear();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(key) = fields.next() else { continue };
        if let Some(cpu) = key.strip_prefix("cpu") {
            let mut t = CpuTicks::default();
            for (mode, field) in CPU_MODES.iter().zip(fields) {
                let Ok(n) = field.parse::<u64>() else {
                    break;
                };
                // saturating: a corrupt or hostile text may hold counters near u64's end
                t.total = t.total.saturating_add(n);
                if !matches!(*mode, "idle" | "iowait") {
                    t.busy = t.busy.saturating_add(n);
                }
                if !cpu.is_empty() {
                    // the all-CPU line is the sum of the per-core ones: not a series
                    out.emit(
                        "host_cpu_seconds_total",
                        &[("cpu", cpu), ("mode", mode)],
                        n as f64 / USER_HZ,
                    );
                }
            }
            if !cpu.is_empty() {
                // guest time is counted in user and nice already: its own series, as
                // node_exporter's node_cpu_guest_seconds_total
                for (mode, field) in ["user", "nice"]
                    .iter()
                    .zip(line.split_ascii_whitespace().skip(9))
                {
                    if let Ok(n) = field.parse::<u64>() {
                        out.emit(
                            "host_cpu_guest_seconds_total",
                            &[("cpu", cpu), ("mode", mode)],
                            n as f64 / USER_HZ,
                        );
                    }
                }
            }
            ticks.push(t);
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

/// The figures of /proc/meminfo the host summary needs, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MemSummary {
    pub total: f64,
    pub available: f64,
    pub swap_total: f64,
    pub swap_free: f64,
}

/// /proc/loadavg: the 1, 5 and 15 minute load averages.
pub fn parse_loadavg(text: &str, out: &mut impl Emit) {
    let mut fields = text.split_ascii_whitespace();
    for name in ["host_load1", "host_load5", "host_load15"] {
        if let Some(Ok(v)) = fields.next().map(str::parse::<f64>) {
            out.emit(name, &[], v);
        }
    }
}

/// /proc/meminfo: every field, in bytes, labelled by its name in snake case; returns the
/// figures of the summary.
pub fn parse_meminfo(
    text: &str,
    names: &mut Vec<(String, Box<str>)>,
    out: &mut impl Emit,
) -> MemSummary {
    let mut summary = MemSummary::default();
    let mut kind = String::with_capacity(32);
    let mut i = 0;
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
        let bytes = value * scale;
        match key {
            "MemTotal" => summary.total = bytes,
            "MemAvailable" => summary.available = bytes,
            "SwapTotal" => summary.swap_total = bytes,
            "SwapFree" => summary.swap_free = bytes,
            _ => {}
        }
        // the snake-case name of the i-th field, worked out once (the fields keep their order)
        if names.get(i).is_none_or(|(k, _)| k != key) {
            snake_case(key, &mut kind);
            names.truncate(i);
            names.push((key.to_string(), Box::from(kind.as_str())));
        }
        out.emit("host_memory_detail_bytes", &[("kind", &names[i].1)], bytes);
        i += 1;
    }
    summary
}

/// `MemTotal` → `mem_total`, `Active(anon)` → `active_anon`, `HugePages_Total` →
/// `huge_pages_total`, into `out`.
pub(crate) fn snake_case(key: &str, out: &mut String) {
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

/// The first `N` fields as numbers, or None if fewer are numbers.
pub(crate) fn numbers<'a, const N: usize>(
    fields: impl Iterator<Item = &'a str>,
) -> Option<[f64; N]> {
    let mut values = [0f64; N];
    let mut n = 0;
    for (slot, field) in values.iter_mut().zip(fields) {
        *slot = field.parse().ok()?;
        n += 1;
    }
    (n == N).then_some(values)
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
        let Some(values) = numbers::<11>(fields) else {
            continue;
        };
        for (i, name, scale) in FIELDS {
            out.emit(name, &[("device", device)], values[i] * scale);
        }
    }
}

/// /proc/schedstat: per CPU, seconds spent running and waiting to run, and timeslices.
pub fn parse_schedstat(text: &str, out: &mut impl Emit) {
    for line in text.lines() {
        let mut f = line.split_ascii_whitespace();
        let Some(cpu) = f.next().and_then(|c| c.strip_prefix("cpu")) else {
            continue;
        };
        // the last three fields: running ns, waiting ns, timeslices
        let fields: Vec<&str> = f.collect();
        if fields.len() < 3 {
            continue;
        }
        let tail = &fields[fields.len() - 3..];
        let (Ok(run), Ok(wait), Ok(slices)) = (
            tail[0].parse::<f64>(),
            tail[1].parse::<f64>(),
            tail[2].parse::<f64>(),
        ) else {
            continue;
        };
        out.emit(
            "host_schedstat_running_seconds_total",
            &[("cpu", cpu)],
            run / 1e9,
        );
        out.emit(
            "host_schedstat_waiting_seconds_total",
            &[("cpu", cpu)],
            wait / 1e9,
        );
        out.emit("host_schedstat_timeslices_total", &[("cpu", cpu)], slices);
    }
}

/// /proc/softirqs: soft interrupts by type, summed over the CPUs.
pub fn parse_softirqs(text: &str, out: &mut impl Emit) {
    let mut kind = String::with_capacity(16);
    for line in text.lines().skip(1) {
        let Some((name, counts)) = line.split_once(':') else {
            continue;
        };
        let total: f64 = counts
            .split_ascii_whitespace()
            .filter_map(|c| c.parse::<f64>().ok())
            .sum();
        kind.clear();
        kind.extend(name.trim().chars().map(|c| c.to_ascii_lowercase()));
        out.emit("host_softirqs_total", &[("kind", &kind)], total);
    }
}

/// `/proc/pressure/<resource>`: seconds some tasks waited (`some`) and all tasks stalled
/// (`full`) on `resource` (cpu, memory or io).
pub fn parse_pressure(text: &str, resource: &str, out: &mut impl Emit) {
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let name = match fields.next() {
            Some("some") => "host_pressure_waiting_seconds_total",
            Some("full") => "host_pressure_stalled_seconds_total",
            _ => continue,
        };
        if let Some(micros) = fields
            .find_map(|f| f.strip_prefix("total="))
            .and_then(|t| t.parse::<f64>().ok())
        {
            out.emit(name, &[("resource", resource)], micros / 1e6);
        }
    }
}

/// /proc/vmstat: page faults, swapping, paging and OOM kills.
pub fn parse_vmstat(text: &str, out: &mut impl Emit) {
    // paging and swapping, memory reclaim (scanning and stealing by kswapd or in direct
    // reclaim, stalls), compaction, transparent huge pages, NUMA placement, refaults
    const EVENTS: [&str; 24] = [
        "pgfault",
        "pgmajfault",
        "pgpgin",
        "pgpgout",
        "pswpin",
        "pswpout",
        "oom_kill",
        "pgscan_kswapd",
        "pgscan_direct",
        "pgsteal_kswapd",
        "pgsteal_direct",
        "pgrefill",
        "allocstall_normal",
        "allocstall_movable",
        "compact_stall",
        "compact_fail",
        "compact_success",
        "thp_fault_alloc",
        "thp_fault_fallback",
        "thp_collapse_alloc",
        "numa_hit",
        "numa_miss",
        "workingset_refault_file",
        "workingset_refault_anon",
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
mod tests;
