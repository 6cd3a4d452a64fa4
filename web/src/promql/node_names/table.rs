//! The table of node_exporter's names and the Strata series each is answered from.
//!
//! Every entry: node_exporter's metric name; Strata's; the labels with fixed values that pick
//! the entry's series among Strata's (`kind="mem_free"`), which the node_exporter series does
//! not carry; and whether node_exporter's `device` is Strata's `interface`. Every entry also
//! has `instance` for Strata's `agent` and `job="node"` (see the module's docs).

use std::collections::HashMap;
use std::sync::LazyLock;

/// One node_exporter metric and where it comes from.
#[derive(Debug, Clone)]
pub struct Entry {
    /// node_exporter's name, e.g. `node_memory_MemFree_bytes`.
    pub node: String,
    /// Strata's name, e.g. `host_memory_detail_bytes`.
    pub host: String,
    /// The labels (and values) that pick this entry's series among `host`'s.
    pub fixed: Vec<(&'static str, String)>,
    /// Whether node_exporter's `device` is Strata's `interface` (network metrics).
    pub device_is_interface: bool,
}

/// Names that differ only in their prefix (`node_` for `host_`), labels unchanged.
const SAME: &[&str] = &[
    "cpu_seconds_total",
    "cpu_guest_seconds_total",
    "load1",
    "load5",
    "load15",
    "boot_time_seconds",
    "time_seconds",
    "context_switches_total",
    "forks_total",
    "procs_running",
    "procs_blocked",
    "entropy_available_bits",
    "filesystem_avail_bytes",
    "filesystem_free_bytes",
    "filesystem_size_bytes",
    "filesystem_files",
    "filesystem_files_free",
    "disk_io_now",
    "disk_io_time_seconds_total",
    "disk_io_time_weighted_seconds_total",
    "disk_read_bytes_total",
    "disk_read_time_seconds_total",
    "disk_reads_completed_total",
    "disk_reads_merged_total",
    "disk_write_time_seconds_total",
    "disk_writes_completed_total",
    "disk_writes_merged_total",
    "disk_written_bytes_total",
    "schedstat_running_seconds_total",
    "schedstat_timeslices_total",
    "schedstat_waiting_seconds_total",
    "softnet_processed_total",
    "softnet_dropped_total",
    "softnet_times_squeezed_total",
    "tcp_connection_states",
    "uname_info",
    "os_info",
];

/// Names that differ beyond their prefix: (node_exporter's, Strata's).
const RENAMED: &[(&str, &str)] = &[
    ("node_intr_total", "host_interrupts_total"),
    ("node_filefd_allocated", "host_file_handles_allocated"),
    ("node_filefd_maximum", "host_file_handles_max"),
    ("node_nf_conntrack_entries", "host_conntrack_entries"),
    (
        "node_nf_conntrack_entries_limit",
        "host_conntrack_entries_limit",
    ),
    ("node_hwmon_temp_celsius", "host_temperature_celsius"),
    ("node_processes_threads", "host_threads"),
    ("node_processes_state", "host_processes"),
];

/// Network metrics: node_exporter's name after `node_network_`, Strata's after
/// `host_network_` (node_exporter's `device` is Strata's `interface`).
const NETWORK: &[(&str, &str)] = &[
    ("receive_bytes_total", "receive_bytes_total"),
    ("receive_packets_total", "receive_packets_total"),
    ("receive_errs_total", "receive_errors_total"),
    ("receive_drop_total", "receive_drop_total"),
    ("receive_fifo_total", "receive_fifo_total"),
    ("receive_frame_total", "receive_frame_total"),
    ("receive_compressed_total", "receive_compressed_total"),
    ("receive_multicast_total", "receive_multicast_total"),
    ("transmit_bytes_total", "transmit_bytes_total"),
    ("transmit_packets_total", "transmit_packets_total"),
    ("transmit_errs_total", "transmit_errors_total"),
    ("transmit_drop_total", "transmit_drop_total"),
    ("transmit_fifo_total", "transmit_fifo_total"),
    ("transmit_colls_total", "transmit_colls_total"),
    ("transmit_carrier_total", "transmit_carrier_total"),
    ("transmit_compressed_total", "transmit_compressed_total"),
    ("transmit_queue_length", "transmit_queue_length"),
    ("carrier_changes_total", "carrier_changes_total"),
    ("up", "up"),
    ("mtu_bytes", "mtu_bytes"),
    ("speed_bytes", "speed_bytes"),
    ("info", "info"),
];

/// /proc/meminfo's fields: node_exporter's `node_memory_<field>_bytes`, Strata's
/// `host_memory_detail_bytes{kind="<field in snake case>"}`.
const MEMINFO: &[(&str, &str)] = &[
    ("MemTotal", "mem_total"),
    ("MemFree", "mem_free"),
    ("MemAvailable", "mem_available"),
    ("Buffers", "buffers"),
    ("Cached", "cached"),
    ("SwapCached", "swap_cached"),
    ("Active", "active"),
    ("Inactive", "inactive"),
    ("Active_anon", "active_anon"),
    ("Inactive_anon", "inactive_anon"),
    ("Active_file", "active_file"),
    ("Inactive_file", "inactive_file"),
    ("Unevictable", "unevictable"),
    ("Mlocked", "mlocked"),
    ("SwapTotal", "swap_total"),
    ("SwapFree", "swap_free"),
    ("Zswap", "zswap"),
    ("Zswapped", "zswapped"),
    ("Dirty", "dirty"),
    ("Writeback", "writeback"),
    ("AnonPages", "anon_pages"),
    ("Mapped", "mapped"),
    ("Shmem", "shmem"),
    ("KReclaimable", "kreclaimable"),
    ("Slab", "slab"),
    ("SReclaimable", "sreclaimable"),
    ("SUnreclaim", "sunreclaim"),
    ("KernelStack", "kernel_stack"),
    ("PageTables", "page_tables"),
    ("NFS_Unstable", "nfs_unstable"),
    ("Bounce", "bounce"),
    ("WritebackTmp", "writeback_tmp"),
    ("CommitLimit", "commit_limit"),
    ("Committed_AS", "committed_as"),
    ("VmallocTotal", "vmalloc_total"),
    ("VmallocUsed", "vmalloc_used"),
    ("VmallocChunk", "vmalloc_chunk"),
    ("Percpu", "percpu"),
    ("HardwareCorrupted", "hardware_corrupted"),
    ("AnonHugePages", "anon_huge_pages"),
    ("ShmemHugePages", "shmem_huge_pages"),
    ("ShmemPmdMapped", "shmem_pmd_mapped"),
    ("FileHugePages", "file_huge_pages"),
    ("FilePmdMapped", "file_pmd_mapped"),
    ("Hugepagesize", "hugepagesize"),
    ("Hugetlb", "hugetlb"),
    ("DirectMap4k", "direct_map4k"),
    ("DirectMap2M", "direct_map2_m"),
    ("DirectMap1G", "direct_map1_g"),
];

/// /proc/net/snmp and netstat counters: node_exporter's `node_netstat_<Proto>_<Counter>`,
/// Strata's `host_netstat_total{protocol, counter}`.
const NETSTAT: &[(&str, &str, &str, &str)] = &[
    ("Tcp", "ActiveOpens", "tcp", "active_opens"),
    ("Tcp", "PassiveOpens", "tcp", "passive_opens"),
    ("Tcp", "InSegs", "tcp", "in_segs"),
    ("Tcp", "OutSegs", "tcp", "out_segs"),
    ("Tcp", "RetransSegs", "tcp", "retrans_segs"),
    ("Tcp", "InErrs", "tcp", "in_errs"),
    ("Tcp", "OutRsts", "tcp", "out_rsts"),
    ("Udp", "InDatagrams", "udp", "in_datagrams"),
    ("Udp", "OutDatagrams", "udp", "out_datagrams"),
    ("Udp", "InErrors", "udp", "in_errors"),
    ("Udp", "NoPorts", "udp", "no_ports"),
    ("Udp", "RcvbufErrors", "udp", "rcvbuf_errors"),
    ("Udp", "SndbufErrors", "udp", "sndbuf_errors"),
    ("Icmp", "InMsgs", "icmp", "in_msgs"),
    ("Icmp", "OutMsgs", "icmp", "out_msgs"),
    ("Icmp", "InErrors", "icmp", "in_errors"),
    ("IpExt", "InOctets", "ip_ext", "in_octets"),
    ("IpExt", "OutOctets", "ip_ext", "out_octets"),
    ("TcpExt", "ListenDrops", "tcp_ext", "listen_drops"),
    ("TcpExt", "ListenOverflows", "tcp_ext", "listen_overflows"),
    ("TcpExt", "SyncookiesSent", "tcp_ext", "syncookies_sent"),
    ("TcpExt", "SyncookiesRecv", "tcp_ext", "syncookies_recv"),
    ("TcpExt", "SyncookiesFailed", "tcp_ext", "syncookies_failed"),
];

/// Sockets in use (/proc/net/sockstat): node_exporter's `node_sockstat_<Proto>_<kind>`,
/// Strata's `host_sockets{protocol, kind}`.
const SOCKSTAT: &[(&str, &str, &str, &str)] = &[
    ("sockets", "used", "sockets", "used"),
    ("TCP", "inuse", "tcp", "inuse"),
    ("TCP", "orphan", "tcp", "orphan"),
    ("TCP", "tw", "tcp", "tw"),
    ("TCP", "alloc", "tcp", "alloc"),
    ("TCP", "mem", "tcp", "mem"),
    ("UDP", "inuse", "udp", "inuse"),
    ("UDP", "mem", "udp", "mem"),
    ("UDPLITE", "inuse", "udplite", "inuse"),
    ("RAW", "inuse", "raw", "inuse"),
    ("FRAG", "inuse", "frag", "inuse"),
    ("FRAG", "memory", "frag", "memory"),
];

/// /proc/vmstat events: node_exporter's `node_vmstat_<event>`, Strata's
/// `host_vmstat_total{event}`.
const VMSTAT: &[&str] = &[
    "pgfault",
    "pgmajfault",
    "pgpgin",
    "pgpgout",
    "pswpin",
    "pswpout",
    "oom_kill",
];

/// Pressure stall information: node_exporter's `node_pressure_<resource>_<waiting|stalled>_
/// seconds_total`, Strata's `host_pressure_<waiting|stalled>_seconds_total{resource}`.
const PRESSURE: &[(&str, &str)] = &[
    ("cpu", "waiting"),
    ("memory", "waiting"),
    ("memory", "stalled"),
    ("io", "waiting"),
    ("io", "stalled"),
    ("irq", "stalled"),
];

fn entry(node: String, host: &str, fixed: &[(&'static str, &str)]) -> Entry {
    Entry {
        node,
        host: host.to_string(),
        fixed: fixed.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        device_is_interface: false,
    }
}

fn build() -> Vec<Entry> {
    let mut out = Vec::new();
    for name in SAME {
        out.push(entry(format!("node_{name}"), &format!("host_{name}"), &[]));
    }
    for (node, host) in RENAMED {
        out.push(entry(node.to_string(), host, &[]));
    }
    for (node, host) in NETWORK {
        let mut e = entry(
            format!("node_network_{node}"),
            &format!("host_network_{host}"),
            &[],
        );
        e.device_is_interface = true;
        out.push(e);
    }
    for (field, kind) in MEMINFO {
        out.push(entry(
            format!("node_memory_{field}_bytes"),
            "host_memory_detail_bytes",
            &[("kind", kind)],
        ));
    }
    for (proto, counter, protocol, field) in NETSTAT {
        out.push(entry(
            format!("node_netstat_{proto}_{counter}"),
            "host_netstat_total",
            &[("protocol", protocol), ("counter", field)],
        ));
    }
    out.push(entry(
        "node_netstat_Tcp_CurrEstab".into(),
        "host_tcp_connections",
        &[("state", "established")],
    ));
    for (proto, kind, protocol, field) in SOCKSTAT {
        out.push(entry(
            format!("node_sockstat_{proto}_{kind}"),
            "host_sockets",
            &[("protocol", protocol), ("kind", field)],
        ));
    }
    for event in VMSTAT {
        out.push(entry(
            format!("node_vmstat_{event}"),
            "host_vmstat_total",
            &[("event", event)],
        ));
    }
    for (resource, what) in PRESSURE {
        let host = if *what == "waiting" {
            "host_pressure_waiting_seconds_total"
        } else {
            "host_pressure_stalled_seconds_total"
        };
        out.push(entry(
            format!("node_pressure_{resource}_{what}_seconds_total"),
            host,
            &[("resource", resource)],
        ));
    }
    out
}

/// Every entry, in the order above.
pub static ENTRIES: LazyLock<Vec<Entry>> = LazyLock::new(build);

/// The entries by node_exporter's name.
pub static BY_NODE: LazyLock<HashMap<&'static str, &'static Entry>> =
    LazyLock::new(|| ENTRIES.iter().map(|e| (e.node.as_str(), e)).collect());

/// The entries by Strata's name (several for names with fixed labels).
pub static BY_HOST: LazyLock<HashMap<&'static str, Vec<&'static Entry>>> = LazyLock::new(|| {
    let mut out: HashMap<&'static str, Vec<&'static Entry>> = HashMap::new();
    for e in ENTRIES.iter() {
        out.entry(e.host.as_str()).or_default().push(e);
    }
    out
});
