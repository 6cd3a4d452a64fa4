//! Tests of the /proc parsers (and of the network ones of `procfs::net`) on fixture texts.

use super::*;
use crate::procfs::net::*;
use crate::procfs::testing::Seen;

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
fn stat_counters_near_the_end_of_u64_saturate() {
    // found by the fuzz target: the ticks' sum overflowed
    let mut ticks = Vec::new();
    parse_stat(
        "cpu  1 2 18446744073709551610 0 0 0 9 100 0 0\n",
        &mut Seen::default(),
        &mut ticks,
    );
    assert_eq!(ticks[0].total, u64::MAX);
    assert_eq!(ticks[0].busy, u64::MAX);
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
    let devices: std::collections::BTreeSet<&str> = seen.0.iter().map(|r| r.1.as_str()).collect();
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
