//! Parsers of the network tables: /proc/net/dev, snmp, netstat, snmp6, sockstat and
//! softnet_stat, each writing readings to an [`Emit`].

use super::Emit;
use super::parse::{numbers, snake_case};

/// /proc/net/dev: every counter of every interface.
pub fn parse_net_dev(text: &str, out: &mut impl Emit) {
    // columns after the name: rx bytes packets errs drop fifo frame compressed multicast,
    // tx bytes packets errs drop fifo colls carrier compressed
    const FIELDS: [(usize, &str); 16] = [
        (0, "host_network_receive_bytes_total"),
        (1, "host_network_receive_packets_total"),
        (2, "host_network_receive_errors_total"),
        (8, "host_network_transmit_bytes_total"),
        (9, "host_network_transmit_packets_total"),
        (10, "host_network_transmit_errors_total"),
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
        let Some(values) = numbers::<16>(rest.split_ascii_whitespace()) else {
            continue;
        };
        for (i, metric) in FIELDS {
            out.emit(metric, &[("interface", name)], values[i]);
        }
    }
}

/// /proc/net/snmp and /proc/net/netstat: the IP, ICMP, TCP and UDP counters and a selection
/// of the extended ones (header line, then value line, per protocol); the current established TCP connections as a connection state. (Counting
/// every state from /proc/net/tcp costs the kernel a walk of its whole connection hash
/// table, milliseconds per read, which is why node_exporter leaves it off too.)
/// The extended TCP counters kept (of about 150): node_exporter's default ones (listen
/// queue overflows, SYN cookies, SYN retransmits, timeouts, out-of-order queueing) and what
/// operators read when TCP misbehaves: aborts, losses and retransmits, drops under memory
/// or backlog pressure, pruning, TIME_WAIT handling, delayed ACKs, zero windows.
const TCP_EXT: [&str; 56] = [
    "ListenOverflows",
    "ListenDrops",
    "SyncookiesSent",
    "SyncookiesRecv",
    "SyncookiesFailed",
    "TCPSynRetrans",
    "TCPTimeouts",
    "TCPOFOQueue",
    "TCPOFODrop",
    "TCPOFOMerge",
    "EmbryonicRsts",
    "PruneCalled",
    "RcvPruned",
    "OfoPruned",
    "TW",
    "TWRecycled",
    "TWKilled",
    "TCPTimeWaitOverflow",
    "PAWSEstab",
    "DelayedACKs",
    "DelayedACKLocked",
    "DelayedACKLost",
    "TCPLostRetransmit",
    "TCPFastRetrans",
    "TCPSlowStartRetrans",
    "TCPLossProbes",
    "TCPLossProbeRecovery",
    "TCPRetransFail",
    "TCPSpuriousRTOs",
    "TCPAbortOnData",
    "TCPAbortOnClose",
    "TCPAbortOnMemory",
    "TCPAbortOnTimeout",
    "TCPAbortOnLinger",
    "TCPAbortFailed",
    "TCPMemoryPressures",
    "TCPBacklogDrop",
    "TCPMinTTLDrop",
    "TCPDeferAcceptDrop",
    "TCPReqQFullDoCookies",
    "TCPReqQFullDrop",
    "TCPRcvQDrop",
    "TCPZeroWindowDrop",
    "TCPFromZeroWindowAdv",
    "TCPToZeroWindowAdv",
    "TCPWantZeroWindowAdv",
    "TCPChallengeACK",
    "TCPSYNChallenge",
    "TCPFastOpenActive",
    "TCPFastOpenPassive",
    "TCPRcvCoalesce",
    "TCPAutoCorking",
    "TCPOrigDataSent",
    "TCPKeepAlive",
    "TCPDelivered",
    "TCPWqueueTooBig",
];

/// The extended IP counters kept: bytes and packets by cast, routing and checksum errors,
/// ECN marks.
const IP_EXT: [&str; 15] = [
    "InOctets",
    "OutOctets",
    "InNoRoutes",
    "InTruncatedPkts",
    "InMcastPkts",
    "OutMcastPkts",
    "InBcastPkts",
    "OutBcastPkts",
    "InMcastOctets",
    "OutMcastOctets",
    "InBcastOctets",
    "OutBcastOctets",
    "InCsumErrors",
    "InECT0Pkts",
    "InCEPkts",
];

/// /proc/net/snmp6 (one `Name value` per line): the IPv6, ICMPv6 and UDPv6 counters
/// node_exporter keeps, and the errors beside them.
pub fn parse_snmp6(text: &str, out: &mut impl Emit) {
    const KEPT: [(&str, &str); 21] = [
        ("Ip6InReceives", "ip6"),
        ("Ip6InHdrErrors", "ip6"),
        ("Ip6InAddrErrors", "ip6"),
        ("Ip6InDiscards", "ip6"),
        ("Ip6InDelivers", "ip6"),
        ("Ip6OutRequests", "ip6"),
        ("Ip6OutDiscards", "ip6"),
        ("Ip6OutNoRoutes", "ip6"),
        ("Ip6InOctets", "ip6"),
        ("Ip6OutOctets", "ip6"),
        ("Icmp6InMsgs", "icmp6"),
        ("Icmp6InErrors", "icmp6"),
        ("Icmp6OutMsgs", "icmp6"),
        ("Icmp6OutErrors", "icmp6"),
        ("Udp6InDatagrams", "udp6"),
        ("Udp6NoPorts", "udp6"),
        ("Udp6InErrors", "udp6"),
        ("Udp6OutDatagrams", "udp6"),
        ("Udp6RcvbufErrors", "udp6"),
        ("Udp6SndbufErrors", "udp6"),
        ("Udp6InCsumErrors", "udp6"),
    ];
    let mut field = String::with_capacity(32);
    for line in text.lines() {
        let mut parts = line.split_ascii_whitespace();
        let (Some(name), Some(value)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Some((_, protocol)) = KEPT.iter().find(|(n, _)| *n == name) else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let prefix = match *protocol {
            "ip6" => 3,
            "icmp6" => 5,
            _ => 4,
        };
        snake_case(&name[prefix..], &mut field);
        out.emit(
            "host_netstat_total",
            &[("protocol", protocol), ("counter", &field)],
            value,
        );
    }
}

/// What to do with one column of a /proc/net/snmp or netstat table.
#[derive(Debug, Clone)]
enum Column {
    Skip,
    Established,
    Counter(&'static str, Box<str>),
}

/// The column plan of each header line seen: worked out once per distinct header (the
/// kernel prints the same headers every time), so a cycle neither searches the kept lists
/// nor converts names, and parses only the values it keeps.
#[derive(Debug, Default)]
pub struct SnmpPlans(Vec<(String, Vec<Column>)>);

impl SnmpPlans {
    fn plan(&mut self, header: &str) -> &[Column] {
        if let Some(i) = self.0.iter().position(|(h, _)| h == header) {
            return &self.0[i].1;
        }
        const NOT_COUNTERS: [&str; 6] = [
            "Forwarding",
            "DefaultTTL",
            "RtoAlgorithm",
            "RtoMin",
            "RtoMax",
            "MaxConn",
        ];
        let (proto, names) = header.split_once(':').unwrap_or(("", ""));
        let (protocol, selected): (&'static str, &[&str]) = match proto {
            "Ip" => ("ip", &[]),
            "Icmp" => ("icmp", &[]),
            "Tcp" => ("tcp", &[]),
            "Udp" => ("udp", &[]),
            "TcpExt" => ("tcp_ext", &TCP_EXT),
            "IpExt" => ("ip_ext", &IP_EXT),
            _ => ("", &[]),
        };
        let mut field = String::with_capacity(32);
        let columns = names
            .split_ascii_whitespace()
            .map(|name| {
                if protocol.is_empty() {
                    Column::Skip
                } else if name == "CurrEstab" {
                    Column::Established
                } else if !NOT_COUNTERS.contains(&name)
                    && (selected.is_empty() || selected.contains(&name))
                {
                    snake_case(name, &mut field);
                    Column::Counter(protocol, field.as_str().into())
                } else {
                    Column::Skip
                }
            })
            .collect();
        self.0.push((header.to_string(), columns));
        &self.0.last().expect("pushed above").1
    }
}

/// /proc/net/snmp and /proc/net/netstat: pairs of lines, names then values, per protocol.
pub fn parse_snmp(text: &str, plans: &mut SnmpPlans, out: &mut impl Emit) {
    let mut lines = text.lines();
    while let (Some(header), Some(values)) = (lines.next(), lines.next()) {
        let (Some((proto, _)), Some((proto2, values))) =
            (header.split_once(':'), values.split_once(':'))
        else {
            break;
        };
        if proto != proto2 {
            break;
        }
        for (column, value) in plans
            .plan(header)
            .iter()
            .zip(values.split_ascii_whitespace())
        {
            match column {
                Column::Skip => {}
                Column::Established => {
                    if let Ok(v) = value.parse::<f64>() {
                        out.emit("host_tcp_connections", &[("state", "established")], v);
                    }
                }
                Column::Counter(protocol, counter) => {
                    if let Ok(v) = value.parse::<f64>() {
                        out.emit(
                            "host_netstat_total",
                            &[("protocol", protocol), ("counter", counter)],
                            v,
                        );
                    }
                }
            }
        }
    }
}

/// /proc/net/sockstat(6): sockets in use per protocol; TIME_WAIT connections as a state.
pub fn parse_sockstat(text: &str, out: &mut impl Emit) {
    let mut protocol = String::with_capacity(16);
    for line in text.lines() {
        let Some((proto, rest)) = line.split_once(':') else {
            continue;
        };
        protocol.clear();
        protocol.push_str(&proto.to_ascii_lowercase());
        let mut parts = rest.split_ascii_whitespace();
        while let (Some(kind), Some(value)) = (parts.next(), parts.next()) {
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            if protocol == "tcp" && kind == "tw" {
                out.emit("host_tcp_connections", &[("state", "time_wait")], value);
            }
            out.emit(
                "host_sockets",
                &[("protocol", &protocol), ("kind", kind)],
                value,
            );
        }
    }
}

/// /proc/net/softnet_stat: per CPU, packets processed and dropped by the network softirq,
/// and the times it ran out of budget (hexadecimal columns).
pub fn parse_softnet(text: &str, cpu_names: &[String], out: &mut impl Emit) {
    const COLUMNS: [(usize, &str); 3] = [
        (0, "host_softnet_processed_total"),
        (1, "host_softnet_dropped_total"),
        (2, "host_softnet_times_squeezed_total"),
    ];
    for (line, cpu) in text.lines().zip(cpu_names) {
        let fields: Vec<&str> = line.split_ascii_whitespace().take(3).collect();
        for (i, name) in COLUMNS {
            if let Some(Ok(v)) = fields.get(i).map(|f| u64::from_str_radix(f, 16)) {
                out.emit(name, &[("cpu", cpu)], v as f64);
            }
        }
    }
}
