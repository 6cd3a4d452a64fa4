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
                t.total += n;
                if !matches!(*mode, "idle" | "iowait") {
                    t.busy += n;
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
pub(crate) mod tests {
    use super::*;
    use crate::procfs::net::*;

    /// Readings as (name, labels joined, value).
    #[derive(Default)]
    pub(crate) struct Seen(pub(crate) Vec<(String, String, f64)>);

    impl Emit for Seen {
        fn emit(&mut self, name: &'static str, labels: &[(&'static str, &str)], value: f64) {
            let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            self.0.push((name.to_string(), labels.join(","), value));
        }
    }

    impl Seen {
        /// Asserts each (name, labels, value) was seen.
        pub(crate) fn expect(&self, want: &[(&str, &str, f64)]) {
            for (name, labels, value) in want {
                assert_eq!(self.get(name, labels), Some(*value), "{name}{{{labels}}}");
            }
        }

        pub(crate) fn get(&self, name: &str, labels: &str) -> Option<f64> {
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
        let mut ticks = Vec::new();
        parse_stat(text, &mut seen, &mut ticks);
        assert_eq!(
            ticks,
            vec![
                CpuTicks {
                    busy: 31,
                    total: 335
                },
                CpuTicks {
                    busy: 16,
                    total: 168
                },
                CpuTicks {
                    busy: 22,
                    total: 174
                },
            ]
        );
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
        let summary = parse_meminfo(text, &mut Vec::new(), &mut seen);
        assert_eq!(summary.total, 16318412.0 * 1024.0);
        assert_eq!(summary.available, 0.0, "absent");
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
        assert_eq!(seen.0.len(), 32);
        assert_eq!(
            seen.get("host_network_transmit_bytes_total", "interface=eth0"),
            Some(6000.0)
        );
    }

    #[test]
    fn snmp_and_sockstat_give_protocol_counters_and_tcp_states() {
        let snmp = "Ip: Forwarding DefaultTTL InReceives\nIp: 2 64 132597\n\
                    Tcp: RtoMin ActiveOpens CurrEstab RetransSegs\nTcp: 200 2032 7 459\n\
                    Udp: InDatagrams NoPorts\nUdp: 31 0\n\
                    UdpLite: InDatagrams\nUdpLite: 0\n";
        let mut seen = Seen::default();
        parse_snmp(snmp, &mut SnmpPlans::default(), &mut seen);
        seen.expect(&[
            (
                "host_netstat_total",
                "protocol=ip,counter=in_receives",
                132597.0,
            ),
            (
                "host_netstat_total",
                "protocol=tcp,counter=retrans_segs",
                459.0,
            ),
            ("host_tcp_connections", "state=established", 7.0),
        ]);
        assert_eq!(seen.0.len(), 6, "no configuration values, no UDP-Lite");
        let sockstat = "sockets: used 9\nTCP: inuse 1 orphan 0 tw 934 alloc 1 mem 30\n";
        let mut seen = Seen::default();
        parse_sockstat(sockstat, &mut seen);
        seen.expect(&[
            ("host_tcp_connections", "state=time_wait", 934.0),
            ("host_sockets", "protocol=sockets,kind=used", 9.0),
            ("host_sockets", "protocol=tcp,kind=mem", 30.0),
        ]);
    }

    #[test]
    fn netstat_keeps_the_selected_extended_counters() {
        let text = "TcpExt: SyncookiesSent ListenDrops TCPHPHits\nTcpExt: 1 2 3\n\
                    IpExt: InNoRoutes InOctets InNoECTPkts\nIpExt: 4 5 6\n";
        let mut seen = Seen::default();
        parse_snmp(text, &mut SnmpPlans::default(), &mut seen);
        seen.expect(&[
            (
                "host_netstat_total",
                "protocol=tcp_ext,counter=syncookies_sent",
                1.0,
            ),
            (
                "host_netstat_total",
                "protocol=tcp_ext,counter=listen_drops",
                2.0,
            ),
            (
                "host_netstat_total",
                "protocol=ip_ext,counter=in_octets",
                5.0,
            ),
        ]);
        assert_eq!(seen.0.len(), 4, "TCPHPHits and InNoECTPkts are not kept");
    }

    #[test]
    fn snmp6_schedstat_and_softirqs() {
        let mut seen = Seen::default();
        parse_snmp6(
            "Ip6InReceives                   \t12\nIp6InTooBigErrors 1\nUdp6NoPorts 3\nIcmp6InMsgs 4\n",
            &mut seen,
        );
        parse_schedstat(
            "version 15\ntimestamp 1\ncpu0 0 0 0 0 0 0 2000000000 500000000 7\ndomain0 3 1 2\n",
            &mut seen,
        );
        parse_softirqs(
            "                    CPU0       CPU1\n          HI:          1          2\n      NET_RX:         10         20\n",
            &mut seen,
        );
        seen.expect(&[
            (
                "host_netstat_total",
                "protocol=ip6,counter=in_receives",
                12.0,
            ),
            ("host_netstat_total", "protocol=udp6,counter=no_ports", 3.0),
            ("host_netstat_total", "protocol=icmp6,counter=in_msgs", 4.0),
            ("host_schedstat_running_seconds_total", "cpu=0", 2.0),
            ("host_schedstat_waiting_seconds_total", "cpu=0", 0.5),
            ("host_schedstat_timeslices_total", "cpu=0", 7.0),
            ("host_softirqs_total", "kind=hi", 3.0),
            ("host_softirqs_total", "kind=net_rx", 30.0),
        ]);
        assert_eq!(seen.0.len(), 8);
    }

    #[test]
    fn pressure_and_softnet() {
        let mut seen = Seen::default();
        parse_pressure(
            "some avg10=0.00 avg60=2.29 avg300=4.02 total=393686341\n\
             full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
            "cpu",
            &mut seen,
        );
        let cpus = ["0".to_string(), "1".to_string()];
        parse_softnet(
            "00024cb2 00000001 0000000a 0\n000249af 00000000 00000000 0\n",
            &cpus,
            &mut seen,
        );
        seen.expect(&[
            (
                "host_pressure_waiting_seconds_total",
                "resource=cpu",
                393.686341,
            ),
            ("host_pressure_stalled_seconds_total", "resource=cpu", 0.0),
            ("host_softnet_processed_total", "cpu=0", 150706.0),
            ("host_softnet_times_squeezed_total", "cpu=0", 10.0),
            ("host_softnet_dropped_total", "cpu=1", 0.0),
        ]);
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
}
