//! Targets fed by the host and the servers the agent probes or scrapes: /proc files, the
//! connection tables, access-log lines, plugin output, DNS replies, certificates, and
//! exposition text. Seeds are small literals; samples are this machine's own files (the
//! kernel's real text), which the corpus writer keeps in `fuzz/corpus/`.

use std::hint::black_box;

use strata_agent::checks::spec::{AccessFormat, TimeUnit};
use strata_agent::checks::{access, dns, perfdata, tls};
use strata_agent::procfs::{self, Emit, SnmpPlans, mounts, routes, tcp_states};
use strata_agent::scrape::parse::{self as exposition, Format};
use strata_agent::snapshot;

use super::{Target, none, pick, seeds, text, variants};

/// Takes what a parser emits, so that nothing it computes is optimised away.
struct Sink(u64);

impl Emit for Sink {
    fn emit(&mut self, name: &'static str, labels: &[(&'static str, &str)], value: f64) {
        self.0 = self
            .0
            .wrapping_add(name.len() as u64 + labels.len() as u64 + value.to_bits());
    }
}

/// The files at `paths` that this machine has.
fn read(paths: &[&str]) -> Vec<Vec<u8>> {
    paths.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// The files at `paths` that this machine has, each behind `prefix` (a variant byte).
fn files(paths: &[(u8, &str)]) -> Vec<Vec<u8>> {
    paths
        .iter()
        .filter_map(|(prefix, p)| {
            let mut data = vec![*prefix];
            data.extend(std::fs::read(p).ok()?);
            Some(data)
        })
        .collect()
}

/// /proc/stat (CPU ticks, context switches, processes).
pub const PROC_STAT: Target = Target {
    name: "proc_stat",
    run: |data| {
        let mut ticks = Vec::new();
        let mut out = Sink(0);
        procfs::parse_stat(&text(data), &mut out, &mut ticks);
        // a second cycle, as the collector does: differences against the first
        procfs::parse_stat(&text(data), &mut out, &mut ticks);
        black_box(out.0);
    },
    seeds: || seeds(&["cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 2 3 4\nctxt 5\nbtime 1\n"]),
    samples: || read(&["/proc/stat"]),
};

/// /proc/meminfo.
pub const PROC_MEMINFO: Target = Target {
    name: "proc_meminfo",
    run: |data| {
        let mut names = Vec::new();
        let mut out = Sink(0);
        black_box(procfs::parse_meminfo(&text(data), &mut names, &mut out));
        black_box(procfs::parse_meminfo(&text(data), &mut names, &mut out));
    },
    seeds: || seeds(&["MemTotal: 100 kB\nMemAvailable: 5 kB\nHugePages_Total: 0\n"]),
    samples: || read(&["/proc/meminfo"]),
};

/// The small files of /proc, the first byte choosing which: loadavg, diskstats,
/// schedstat, softirqs, pressure, vmstat.
pub const PROC_SMALL_FILES: Target = Target {
    name: "proc_small_files",
    run: |data| {
        let (which, rest) = pick(data, 6);
        let (t, mut out) = (text(rest), Sink(0));
        match which {
            0 => procfs::parse_loadavg(&t, &mut out),
            1 => procfs::parse_diskstats(&t, &mut out),
            2 => procfs::parse_schedstat(&t, &mut out),
            3 => procfs::parse_softirqs(&t, &mut out),
            4 => procfs::parse_pressure(&t, "io", &mut out),
            _ => procfs::parse_vmstat(&t, &mut out),
        }
        black_box(out.0);
    },
    seeds: || {
        variants(&[
            (0, "0.52 0.58 0.59 2/1094 123456\n"),
            (
                1,
                "   8       0 sda 100 2 300 4 50 6 70 8 0 90 100 1 2 3 4 5 6\n",
            ),
            (
                2,
                "version 15\ntimestamp 4294\ncpu0 0 0 0 0 0 0 1234 567 89\n",
            ),
            (
                3,
                "                    CPU0       CPU1\n          HI:          1          0\n",
            ),
            (
                4,
                "some avg10=0.00 avg60=0.10 avg300=0.00 total=1234\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=5\n",
            ),
            (5, "nr_free_pages 12345\npgfault 678\n"),
        ])
    },
    samples: || {
        files(&[
            (0, "/proc/loadavg"),
            (1, "/proc/diskstats"),
            (2, "/proc/schedstat"),
            (3, "/proc/softirqs"),
            (4, "/proc/pressure/io"),
            (4, "/proc/pressure/memory"),
            (5, "/proc/vmstat"),
        ])
    },
};

/// The files of /proc/net, the first byte choosing which: dev, snmp (and netstat), snmp6,
/// sockstat, softnet_stat.
pub const PROC_NET: Target = Target {
    name: "proc_net",
    run: |data| {
        let (which, rest) = pick(data, 5);
        let (t, mut out) = (text(rest), Sink(0));
        match which {
            0 => procfs::parse_net_dev(&t, &mut out),
            1 => {
                let mut plans = SnmpPlans::default();
                procfs::parse_snmp(&t, &mut plans, &mut out);
                procfs::parse_snmp(&t, &mut plans, &mut out);
            }
            2 => procfs::parse_snmp6(&t, &mut out),
            3 => procfs::parse_sockstat(&t, &mut out),
            _ => procfs::parse_softnet(&t, &["cpu0".into(), "cpu1".into()], &mut out),
        }
        black_box(out.0);
    },
    seeds: || {
        variants(&[
            (
                0,
                "Inter-|   Receive |  Transmit\n face |bytes packets\n    lo: 100 2 0 0 0 0 0 0 100 2 0 0 0 0 0 0\n",
            ),
            (1, "Tcp: RtoAlgorithm ActiveOpens CurrEstab\nTcp: 1 20 3\n"),
            (2, "Ip6InReceives                   \t42\n"),
            (
                3,
                "sockets: used 120\nTCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1\n",
            ),
            (4, "00000010 00000000 00000001 00000000 00000000\n"),
        ])
    },
    samples: || {
        files(&[
            (0, "/proc/net/dev"),
            (1, "/proc/net/snmp"),
            (1, "/proc/net/netstat"),
            (2, "/proc/net/snmp6"),
            (3, "/proc/net/sockstat"),
            (4, "/proc/net/softnet_stat"),
        ])
    },
};

/// /proc/<pid>/stat (a process's name may hold spaces and parentheses).
pub const PROC_PID_STAT: Target = Target {
    name: "proc_pid_stat",
    run: |data| {
        black_box(procfs::processes::parse_stat(&text(data)));
    },
    seeds: || seeds(&["42 (a) b) (c) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19\n"]),
    samples: || read(&["/proc/self/stat", "/proc/1/stat"]),
};

/// /proc/net/tcp, tcp6, udp and udp6, the first byte choosing the protocol.
pub const PROC_CONNECTIONS: Target = Target {
    name: "proc_connections",
    run: |data| {
        let (which, rest) = pick(data, 4);
        let protocol = ["tcp", "tcp6", "udp", "udp6"][which as usize];
        let mut out = Vec::new();
        snapshot::parse_connections(protocol, &text(rest), &mut out);
        black_box(out.len());
    },
    seeds: || {
        variants(&[(
            0,
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
             \x20  0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0\n",
        )])
    },
    samples: || {
        files(&[
            (0, "/proc/net/tcp"),
            (1, "/proc/net/tcp6"),
            (2, "/proc/net/udp"),
            (3, "/proc/net/udp6"),
        ])
    },
};

/// /proc/mounts: the local filesystems and their mount points, octal escapes undone.
pub const PROC_MOUNTS: Target = Target {
    name: "proc_mounts",
    run: |data| {
        black_box(mounts::local_mounts(&text(data)).len());
    },
    seeds: || {
        seeds(&[
            "/dev/sda1 /mnt/with\\040space\\011tab ext4 rw 0 0\nsrv:/x /nfs nfs4 rw 0 0\n\
             /dev/sda1 /mnt/with\\040space\\011tab ext4 ro 0 0\n/dev/x / btrfs rw 0 0\n",
        ])
    },
    samples: || read(&["/proc/mounts", "/proc/self/mounts"]),
};

/// The routing tables, /proc/net/route (first byte even) and /proc/net/ipv6_route (odd).
pub const PROC_ROUTES: Target = Target {
    name: "proc_routes",
    run: |data| {
        let (which, rest) = pick(data, 2);
        let text = text(rest);
        let routes = match which {
            0 => routes::parse_ipv4(&text),
            _ => routes::parse_ipv6(&text),
        };
        black_box(routes.len());
    },
    seeds: || {
        variants(&[
            (
                0,
                "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                 eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
                 eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n",
            ),
            (
                1,
                "00000000000000000000000000000000 00 00000000000000000000000000000000 00 \
                 fd000000000000000000000000000001 00000400 00000003 00000000 00000003     eth0\n\
                 fd000000000000000000000000000000 40 00000000000000000000000000000000 00 \
                 00000000000000000000000000000000 00000100 00000001 00000000 00200201       lo\n",
            ),
        ])
    },
    samples: || files(&[(0, "/proc/net/route"), (1, "/proc/net/ipv6_route")]),
};

/// One datagram of a netlink sock_diag dump: TCP sockets counted by state.
pub const SOCK_DIAG: Target = Target {
    name: "sock_diag",
    run: |data| {
        let mut counts = [0u64; 13];
        black_box(tcp_states::count(data, &mut counts));
        black_box(counts);
    },
    seeds: || {
        // two inet_diag records (established, listen) then the end of the dump, each
        // behind its 16-byte netlink header, as the kernel sends them (native byte order)
        let record = |kind: u16, state: u8, len: u32| {
            let mut r = vec![0u8; len as usize];
            r[0..4].copy_from_slice(&len.to_ne_bytes());
            r[4..6].copy_from_slice(&kind.to_ne_bytes());
            if r.len() > 17 {
                r[16] = 2;
                r[17] = state;
            }
            r
        };
        let mut dump = record(20, 1, 88);
        dump.extend(record(20, 10, 88));
        dump.extend(record(3, 0, 20));
        let mut error = record(2, 0, 20);
        error[16..20].copy_from_slice(&(-13i32).to_ne_bytes());
        vec![dump, error]
    },
    samples: none,
};

/// Access-log lines, common and combined formats, each time unit; the first byte picks the
/// format and the unit, each following line is parsed.
pub const ACCESS_LOG: Target = Target {
    name: "access_log",
    run: |data| {
        let (which, rest) = pick(data, 8);
        let format = if which & 1 == 0 {
            AccessFormat::Common
        } else {
            AccessFormat::Combined
        };
        let unit = [
            TimeUnit::None,
            TimeUnit::Micros,
            TimeUnit::Millis,
            TimeUnit::Seconds,
        ][(which >> 1) as usize];
        for line in text(rest).lines() {
            black_box(access::parse_line(line, format, unit));
        }
    },
    seeds: || {
        let common =
            "127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /a.gif HTTP/1.0\" 200 2326";
        let combined = "10.0.0.1 - - [05/Dec/2026:10:00:00 +0000] \"POST /api/v1/x?y=1 HTTP/1.1\" \
                        503 - \"https://ref.example/\" \"Mozilla/5.0 (X11) \\\"quoted\\\"\" 0.042";
        variants(&[
            (0, common),
            (1, combined),
            (7, combined),
            (2, "- - - [x] \"\" 0 0 1234\n"),
        ])
    },
    samples: none,
};

/// Nagios-style plugin output with perfdata.
pub const PERFDATA: Target = Target {
    name: "perfdata",
    run: |data| {
        black_box(perfdata::parse(&text(data)));
    },
    seeds: || {
        seeds(&[
            "DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n\
             / 15272 MB (77%);\n/boot 68 MB (69%);\n| /boot=68MB;88;93;0;98\n/home=69357MB;253404;253409;0;253414",
            "OK | 'label with spaces'=1.5s;~:10;@0:20;; time=0.1ms count=3c ratio=99.9%",
            "CRITICAL - nothing|'unterminated=1 =2 a=b",
        ])
    },
    samples: none,
};

/// The header of a DNS reply (rcode and answer count), the first two bytes the query id.
pub const DNS_HEADER: Target = Target {
    name: "dns_header",
    run: |data| {
        let id = data
            .get(..2)
            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
        black_box(dns::parse_header(id, data.get(2..).unwrap_or_default()).ok());
    },
    seeds: || {
        vec![
            vec![0x12, 0x34, 0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0],
            vec![
                0, 1, 0, 1, 0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0, 3, b'w', b'w', b'w', 0,
            ],
        ]
    },
    samples: none,
};

/// A certificate's expiry read from its DER (the TLS probe's hand-written walker).
pub const CERTIFICATE: Target = Target {
    name: "certificate_der",
    run: |data| {
        black_box(tls::not_after(data));
    },
    seeds: || vec![vec![0x30, 0x82, 0xff, 0xff, 0x30, 0x03, 0x02, 0x01, 0x02]],
    // the system's trust store holds real certificates of every shape; a few of them
    samples: || {
        std::fs::read_dir("/etc/ssl/certs")
            .map(|dir| {
                dir.flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "pem"))
                    .take(8)
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .filter_map(|pem| der_of_pem(&pem))
                    .collect()
            })
            .unwrap_or_default()
    },
};

/// The DER inside the first PEM block of `pem`.
fn der_of_pem(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    crate::webdriver::base64_decode(&body)
}

/// Prometheus text and OpenMetrics exposition (the first byte picks the format), and the
/// label sets of every series it holds.
pub const EXPOSITION: Target = Target {
    name: "exposition",
    run: |data| {
        let (which, rest) = pick(data, 2);
        let format = if which == 0 {
            Format::Text
        } else {
            Format::OpenMetrics
        };
        let body = text(rest);
        let mut series = Vec::new();
        let _ = exposition::for_each(&body, format, |line| series.push(line.series));
        for s in series {
            black_box(exposition::series_labels(s).ok());
        }
    },
    seeds: || {
        let text = "# HELP node_cpu_seconds_total Seconds.\n# TYPE node_cpu_seconds_total counter\n\
                    node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 1.5e+06 1700000000000\n\
                    up 1\nx{a=\"\\\"q\\\\\\n\"} NaN\nh_bucket{le=\"+Inf\"} 3\n";
        let om = "# TYPE a counter\na_total{b=\"c\"} 1 1700000000.5 # {trace=\"x\"} 1\n# EOF\n";
        variants(&[(0, text), (1, om)])
    },
    samples: none,
};
