//! What simulated hosts measure: the series of each profile and how their values move.
//!
//! Values are computed from (seed, agent, series, tick) alone, with no state, so that any
//! sample can be recomputed by a test or a benchmark. They have the precision real
//! collectors give: byte and packet counters are integers, CPU seconds have two decimals
//! (USER_HZ), memory moves in pages, loads have two decimals; only the usage ratios that
//! the agent itself derives carry full float precision.

use std::f64::consts::TAU;
use std::sync::LazyLock;

/// Which series each simulated agent produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// The 19 series of the agent's own collector summary: enough for the judge, the
    /// console and exact sample counting (`sim_sample_number`).
    #[default]
    Basic,
    /// About 200 node_exporter-like series: the basic ones plus per-core CPU seconds by
    /// mode, memory detail, four filesystems, three disks, three interfaces with errors and
    /// drops, TCP states, kernel counters and temperatures.
    Host,
}

impl std::str::FromStr for Profile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "basic" => Ok(Self::Basic),
            "host" => Ok(Self::Host),
            other => Err(format!("unknown profile {other:?} (basic or host)")),
        }
    }
}

/// How a series' values move.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Shape {
    /// CPU-like ratio with a daily shape (full precision).
    Cpu,
    Load,
    MemTotal,
    MemUsed,
    MemRatio,
    SwapTotal,
    SwapUsed,
    FsSize,
    FsUsed,
    FsRatio,
    /// Monotonic counter since the simulation started, growing by a noisy `rate` per second.
    Counter(f64),
    /// Monotonic counter since the host booted (up to 30 days before), growing by a noisy
    /// `per_s`, rounded to `decimals`.
    SinceBoot {
        per_s: f64,
        decimals: i32,
    },
    /// A gauge around `base` (scaled per host by 0.5–1.5), moving with the day by `daily`
    /// and per sample by `spread` (both relative), rounded to a multiple of `quantum`.
    Gauge {
        base: f64,
        daily: f64,
        spread: f64,
        quantum: f64,
    },
    /// A value that never changes.
    Constant(f64),
    /// The tick number.
    Number,
    /// The sample's time in seconds (a clock).
    Time,
}

/// One simulated series: metric name, labels (without `agent`) and how it moves.
#[derive(Debug, Clone)]
pub struct SimSeries {
    pub name: &'static str,
    pub labels: Vec<(&'static str, String)>,
    pub(crate) shape: Shape,
}

fn s(name: &'static str, labels: &[(&'static str, &str)], shape: Shape) -> SimSeries {
    SimSeries {
        name,
        labels: labels.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        shape,
    }
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
const PAGE: f64 = 4096.0;

fn gauge(base: f64, daily: f64, spread: f64, quantum: f64) -> Shape {
    Shape::Gauge {
        base,
        daily,
        spread,
        quantum,
    }
}

fn since_boot(per_s: f64, decimals: i32) -> Shape {
    Shape::SinceBoot { per_s, decimals }
}

fn basic() -> Vec<SimSeries> {
    let fs = [("mountpoint", "/"), ("device", "sda1"), ("fstype", "ext4")];
    let nic = [("interface", "eth0")];
    vec![
        s("host_cpu_usage_ratio", &[("cpu", "total")], Shape::Cpu),
        s("host_cpu_usage_ratio", &[("cpu", "0")], Shape::Cpu),
        s("host_cpu_usage_ratio", &[("cpu", "1")], Shape::Cpu),
        s("host_load1", &[], Shape::Load),
        s("host_load5", &[], Shape::Load),
        s("host_load15", &[], Shape::Load),
        s("host_memory_total_bytes", &[], Shape::MemTotal),
        s("host_memory_used_bytes", &[], Shape::MemUsed),
        s("host_memory_used_ratio", &[], Shape::MemRatio),
        s("host_swap_total_bytes", &[], Shape::SwapTotal),
        s("host_swap_used_bytes", &[], Shape::SwapUsed),
        s("host_filesystem_size_bytes", &fs, Shape::FsSize),
        s("host_filesystem_used_bytes", &fs, Shape::FsUsed),
        s("host_filesystem_used_ratio", &fs, Shape::FsRatio),
        s(
            "host_network_receive_bytes_total",
            &nic,
            Shape::Counter(250_000.0),
        ),
        s(
            "host_network_transmit_bytes_total",
            &nic,
            Shape::Counter(120_000.0),
        ),
        s(
            "host_network_receive_packets_total",
            &nic,
            Shape::Counter(400.0),
        ),
        s(
            "host_network_transmit_packets_total",
            &nic,
            Shape::Counter(300.0),
        ),
        s("sim_sample_number", &[], Shape::Number),
    ]
}

/// The node_exporter-like additions of [`Profile::Host`].
fn host_detail() -> Vec<SimSeries> {
    let mut out = Vec::with_capacity(190);
    const MODES: [(&str, f64); 8] = [
        ("user", 0.22),
        ("system", 0.06),
        ("idle", 0.68),
        ("iowait", 0.02),
        ("irq", 0.002),
        ("softirq", 0.01),
        ("steal", 0.0),
        ("nice", 0.004),
    ];
    for cpu in 0..8 {
        for (mode, per_s) in MODES {
            let cpu = cpu.to_string();
            out.push(s(
                "host_cpu_seconds_total",
                &[("cpu", &cpu), ("mode", mode)],
                since_boot(per_s, 2),
            ));
        }
    }
    // /proc/meminfo's fields as the agent labels them (snake case of the field's name)
    const MEMORY: [(&str, f64, f64); 16] = [
        ("mem_available", 6.0 * GIB, 0.1),
        ("mem_free", 2.0 * GIB, 0.15),
        ("buffers", 0.3 * GIB, 0.02),
        ("cached", 3.5 * GIB, 0.05),
        ("active", 4.0 * GIB, 0.1),
        ("inactive", 2.5 * GIB, 0.05),
        ("dirty", 0.002 * GIB, 0.5),
        ("writeback", 0.0001 * GIB, 0.5),
        ("slab", 0.4 * GIB, 0.01),
        ("sreclaimable", 0.25 * GIB, 0.01),
        ("shmem", 0.1 * GIB, 0.01),
        ("mapped", 0.6 * GIB, 0.02),
        ("page_tables", 0.03 * GIB, 0.02),
        ("committed_as", 9.0 * GIB, 0.1),
        ("anon_pages", 3.0 * GIB, 0.1),
        ("swap_free", 1.9 * GIB, 0.01),
    ];
    out.push(s(
        "host_memory_detail_bytes",
        &[("kind", "mem_total")],
        Shape::MemTotal,
    ));
    out.push(s(
        "host_memory_detail_bytes",
        &[("kind", "swap_total")],
        Shape::SwapTotal,
    ));
    for (kind, base, daily) in MEMORY {
        out.push(s(
            "host_memory_detail_bytes",
            &[("kind", kind)],
            gauge(base, daily, 0.002, PAGE),
        ));
    }
    for (mount, device, size) in [
        ("/", "sda1", 100.0 * GIB),
        ("/boot", "sda2", 1.0 * GIB),
        ("/var", "sdb1", 500.0 * GIB),
        ("/home", "nvme0n1p1", 200.0 * GIB),
    ] {
        let l = [
            ("mountpoint", mount),
            ("device", device),
            ("fstype", "ext4"),
        ];
        let files = (size / (16.0 * 1024.0)).round();
        if mount != "/" {
            // the basic series hold the size of /
            out.push(s("host_filesystem_size_bytes", &l, Shape::Constant(size)));
        }
        out.push(s(
            "host_filesystem_free_bytes",
            &l,
            gauge(0.4 * size, 0.01, 0.0005, PAGE),
        ));
        out.push(s(
            "host_filesystem_avail_bytes",
            &l,
            gauge(0.35 * size, 0.01, 0.0005, PAGE),
        ));
        out.push(s("host_filesystem_files", &l, Shape::Constant(files)));
        out.push(s(
            "host_filesystem_files_free",
            &l,
            gauge(0.8 * files, 0.001, 0.0001, 1.0),
        ));
    }
    for device in ["sda", "sdb", "nvme0n1"] {
        let l = [("device", device)];
        out.push(s(
            "host_disk_reads_completed_total",
            &l,
            since_boot(20.0, 0),
        ));
        out.push(s(
            "host_disk_writes_completed_total",
            &l,
            since_boot(45.0, 0),
        ));
        out.push(s(
            "host_disk_read_bytes_total",
            &l,
            since_boot(400_000.0, 0),
        ));
        out.push(s(
            "host_disk_written_bytes_total",
            &l,
            since_boot(1_200_000.0, 0),
        ));
        out.push(s(
            "host_disk_io_time_seconds_total",
            &l,
            since_boot(0.05, 3),
        ));
        out.push(s(
            "host_disk_read_time_seconds_total",
            &l,
            since_boot(0.02, 3),
        ));
        out.push(s(
            "host_disk_write_time_seconds_total",
            &l,
            since_boot(0.08, 3),
        ));
        out.push(s("host_disk_io_now", &l, gauge(1.0, 0.5, 2.0, 1.0)));
    }
    for (nic, rate) in [("eth1", 30_000.0), ("lo", 5_000.0)] {
        let l = [("interface", nic)];
        out.push(s(
            "host_network_receive_bytes_total",
            &l,
            since_boot(rate, 0),
        ));
        out.push(s(
            "host_network_transmit_bytes_total",
            &l,
            since_boot(rate * 0.8, 0),
        ));
        out.push(s(
            "host_network_receive_packets_total",
            &l,
            since_boot(rate / 600.0, 0),
        ));
        out.push(s(
            "host_network_transmit_packets_total",
            &l,
            since_boot(rate / 700.0, 0),
        ));
    }
    for (nic, mtu) in [("eth0", 1500.0), ("eth1", 9000.0), ("lo", 65536.0)] {
        let l = [("interface", nic)];
        out.push(s(
            "host_network_receive_errors_total",
            &l,
            since_boot(0.002, 0),
        ));
        out.push(s(
            "host_network_transmit_errors_total",
            &l,
            since_boot(0.001, 0),
        ));
        out.push(s(
            "host_network_receive_drop_total",
            &l,
            since_boot(0.01, 0),
        ));
        out.push(s(
            "host_network_transmit_drop_total",
            &l,
            since_boot(0.001, 0),
        ));
        out.push(s("host_network_up", &l, Shape::Constant(1.0)));
        out.push(s("host_network_mtu_bytes", &l, Shape::Constant(mtu)));
        out.push(s(
            "host_network_speed_bytes",
            &l,
            Shape::Constant(125_000_000.0),
        ));
    }
    for (state, base) in [
        ("established", 60.0),
        ("syn_sent", 0.5),
        ("syn_recv", 0.3),
        ("fin_wait1", 1.0),
        ("fin_wait2", 2.0),
        ("time_wait", 120.0),
        ("close", 0.2),
        ("close_wait", 3.0),
        ("last_ack", 0.5),
        ("listen", 14.0),
        ("closing", 0.1),
    ] {
        out.push(s(
            "host_tcp_connections",
            &[("state", state)],
            gauge(base, 0.6, 0.3, 1.0),
        ));
    }
    out.push(s(
        "host_context_switches_total",
        &[],
        since_boot(6_000.0, 0),
    ));
    out.push(s("host_interrupts_total", &[], since_boot(3_500.0, 0)));
    out.push(s("host_forks_total", &[], since_boot(12.0, 0)));
    out.push(s("host_procs_running", &[], gauge(2.0, 0.5, 1.0, 1.0)));
    out.push(s("host_procs_blocked", &[], gauge(0.3, 0.5, 2.0, 1.0)));
    for (event, per_s) in [
        ("pgfault", 25_000.0),
        ("pgmajfault", 1.5),
        ("pswpin", 0.05),
        ("pswpout", 0.08),
        ("oom_kill", 0.0),
    ] {
        out.push(s(
            "host_vmstat_total",
            &[("event", event)],
            since_boot(per_s, 0),
        ));
    }
    for sensor in ["package", "core0", "core1", "nvme"] {
        out.push(s(
            "host_temperature_celsius",
            &[("sensor", sensor)],
            gauge(48.0, 0.1, 0.03, 0.5),
        ));
    }
    out.push(s("host_boot_time_seconds", &[], Shape::Constant(1.7e9)));
    out.push(s(
        "host_entropy_available_bits",
        &[],
        Shape::Constant(256.0),
    ));
    out.push(s(
        "host_file_handles_allocated",
        &[],
        gauge(6_000.0, 0.2, 0.01, 1.0),
    ));
    out.push(s("host_threads", &[], gauge(900.0, 0.2, 0.01, 1.0)));
    for (state, base) in [("sleeping", 300.0), ("running", 3.0), ("idle", 60.0)] {
        out.push(s(
            "host_processes",
            &[("state", state)],
            gauge(base, 0.1, 0.02, 1.0),
        ));
    }
    out.push(s("host_time_seconds", &[], Shape::Time));
    out.push(s(
        "host_uname_info",
        &[
            ("sysname", "Linux"),
            ("release", "6.1.0-28-amd64"),
            ("machine", "x86_64"),
            ("nodename", "sim"),
        ],
        Shape::Constant(1.0),
    ));
    out
}

static BASIC: LazyLock<Vec<SimSeries>> = LazyLock::new(basic);
static HOST: LazyLock<Vec<SimSeries>> = LazyLock::new(|| {
    let mut all = basic();
    all.extend(host_detail());
    all
});

/// The series of every agent of `profile`, in a fixed order.
pub fn catalog(profile: Profile) -> &'static [SimSeries] {
    match profile {
        Profile::Basic => &BASIC,
        Profile::Host => &HOST,
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Deterministic noise in [0, 1).
fn noise(seed: u64, agent: usize, series: usize, tick: u64) -> f64 {
    let h = splitmix(seed ^ splitmix(agent as u64) ^ splitmix((series as u64) << 32 | tick));
    (h >> 11) as f64 / (1u64 << 53) as f64
}

fn round_to(value: f64, quantum: f64) -> f64 {
    (value / quantum).round() * quantum
}

/// The value of series `series` of `profile` for agent `n` (from 1) at tick `tick`
/// (from 1) stamped `ts_ms`, with samples every `interval_s` seconds.
pub(crate) fn value(
    profile: Profile,
    seed: u64,
    interval_s: f64,
    n: usize,
    series: usize,
    tick: u64,
    ts_ms: i64,
) -> f64 {
    let day = (ts_ms.rem_euclid(86_400_000)) as f64 / 86_400_000.0;
    let daily = 0.5 - 0.5 * (TAU * day).cos(); // 0 at midnight, 1 at noon
    let r = noise(seed, n, series, tick);
    // A few agents run hot: every 25th from 7 near warning, every 50th from 13 critical.
    let base = if n % 50 == 13 {
        0.97
    } else if n % 25 == 7 {
        0.88
    } else {
        0.15 + 0.35 * daily
    };
    // computed only by the shapes that use them (most samples need neither)
    let mem_total = if n.is_multiple_of(2) { 16.0 } else { 8.0 } * GIB;
    let mem_ratio = || 0.35 + 0.2 * daily + 0.05 * noise(seed, n, 100, tick);
    let fs_size = 100.0 * GIB;
    let fs_ratio = || 0.3 + 0.4 * noise(seed, n, 200, 0) + 0.000_001 * tick as f64;
    match catalog(profile)[series].shape {
        Shape::Cpu => (base + 0.04 * (r - 0.5)).clamp(0.0, 1.0),
        // /proc/loadavg has two decimals
        Shape::Load => ((2.0 * base + r * 0.3) * 100.0).round() / 100.0,
        Shape::MemTotal => mem_total,
        Shape::MemUsed => (mem_total * mem_ratio()).round(),
        Shape::MemRatio => mem_ratio(),
        Shape::SwapTotal => 2.0 * GIB,
        Shape::SwapUsed => (64.0 * 1024.0 * 1024.0 * noise(seed, n, 300, 0)).round(),
        Shape::FsSize => fs_size,
        Shape::FsUsed => (fs_size * fs_ratio()).round(),
        Shape::FsRatio => fs_ratio(),
        Shape::Counter(rate) => {
            // Integral of a noisy rate: tick * mean + bounded jitter keeps it monotonic.
            (rate * interval_s * (tick as f64 + 0.5 * r)).round()
        }
        Shape::SinceBoot { per_s, decimals } => {
            let scale = 10f64.powi(decimals);
            let host = 0.5 + noise(seed, n, series, 0);
            let boot_ticks = (noise(seed, n, 1000, 0) * 30.0 * 86_400.0 / interval_s).floor();
            let ticks = boot_ticks + tick as f64 + 0.5 * r;
            (per_s * host * interval_s * ticks * scale).round() / scale
        }
        Shape::Gauge {
            base,
            daily: d,
            spread,
            quantum,
        } => {
            let host = 0.5 + noise(seed, n, series, 0);
            let v = base * host * (1.0 + d * (daily - 0.5) + spread * (r - 0.5));
            round_to(v.max(0.0), quantum)
        }
        Shape::Constant(v) => v,
        Shape::Number => tick as f64,
        Shape::Time => ts_ms as f64 / 1000.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_profile_has_about_200_distinct_series() {
        let host = catalog(Profile::Host);
        assert!((190..=210).contains(&host.len()), "{}", host.len());
        let mut keys: Vec<_> = host.iter().map(|s| (s.name, s.labels.clone())).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), host.len(), "every series is distinct");
        assert_eq!(&host[..19].len(), &catalog(Profile::Basic).len());
    }

    #[test]
    fn counters_never_decrease_and_keep_their_precision() {
        for (s, spec) in catalog(Profile::Host).iter().enumerate() {
            if !matches!(spec.shape, Shape::SinceBoot { .. } | Shape::Counter(_)) {
                continue;
            }
            let mut last = f64::MIN;
            for tick in 1..300 {
                let v = value(Profile::Host, 42, 10.0, 3, s, tick, tick as i64 * 10_000);
                assert!(v >= last, "{} tick {tick}: {v} < {last}", spec.name);
                last = v;
            }
            if let Shape::SinceBoot { decimals, .. } = spec.shape {
                let scaled = last * 10f64.powi(decimals);
                assert!(
                    (scaled - scaled.round()).abs() < 1e-3,
                    "{}: {last}",
                    spec.name
                );
            }
        }
    }
}
