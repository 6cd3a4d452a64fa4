//! Live detail for drill-down (`Agent.Snapshot`): the busiest processes, the connections and
//! the interfaces with their addresses, read when asked rather than every cycle.
//!
//! Connections come from /proc/net/{tcp,tcp6,udp,udp6}: reading those costs the kernel a
//! walk of its socket tables, which is fine once per operator click and too much for every
//! collection cycle.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use strata_proto::v1::{ConnectionInfo, InterfaceInfo, ProcessInfo, RouteInfo};

use crate::procfs::processes::{Order, ProcessTable};
use crate::procfs::routes;

/// Most connections listed in one snapshot.
pub const MAX_CONNECTIONS: usize = 500;
/// Most routes listed in one snapshot.
pub const MAX_ROUTES: usize = 500;

/// A process table older than this is rescanned for a snapshot.
const STALE: Duration = Duration::from_secs(1);

/// User names by uid, from /etc/passwd.
fn users() -> HashMap<u32, String> {
    let text = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let uid = f.nth(1)?.parse().ok()?;
            Some((uid, name.to_string()))
        })
        .collect()
}

/// The `top` busiest processes in `order` and the number of processes in all.
pub fn processes(table: &Mutex<ProcessTable>, top: usize, order: Order) -> (Vec<ProcessInfo>, u32) {
    let mut t = table.lock().expect("process table lock poisoned");
    if t.last_scan().is_none_or(|s| s.elapsed() > STALE) {
        if t.last_scan().is_none() {
            // a first scan has no rates: take two, a moment apart
            t.scan();
            drop(t);
            std::thread::sleep(Duration::from_millis(200));
            t = table.lock().expect("process table lock poisoned");
        }
        t.scan();
    }
    let users = users();
    let count = t.procs().len() as u32;
    let list = t
        .top(top, order)
        .into_iter()
        .map(|p| {
            let raw = std::fs::read(format!("/proc/{}/cmdline", p.pid)).unwrap_or_default();
            let cmdline: String = String::from_utf8_lossy(&raw)
                .replace('\0', " ")
                .trim_end()
                .chars()
                .take(1024)
                .collect();
            ProcessInfo {
                pid: p.pid,
                ppid: p.ppid,
                name: p.name.clone(),
                cmdline,
                user: users
                    .get(&p.uid)
                    .cloned()
                    .unwrap_or_else(|| p.uid.to_string()),
                state: p.state.to_string(),
                cpu_ratio: p.cpu_ratio,
                rss_bytes: p.rss_bytes,
                read_bytes: p.read_bytes,
                write_bytes: p.write_bytes,
                read_bytes_per_second: p.read_per_second,
                write_bytes_per_second: p.write_per_second,
                threads: p.threads,
                open_fds: std::fs::read_dir(format!("/proc/{}/fd", p.pid))
                    .map(|d| d.count() as u32)
                    .unwrap_or(0),
            }
        })
        .collect();
    (list, count)
}

/// The routing table under `proc_root` (IPv4, then IPv6), at most [`MAX_ROUTES`].
pub fn routes(proc_root: &Path) -> Vec<RouteInfo> {
    let read = |file: &str| std::fs::read_to_string(proc_root.join("net").join(file));
    let v4 = read("route")
        .map(|t| routes::parse_ipv4(&t))
        .unwrap_or_default();
    let v6 = read("ipv6_route")
        .map(|t| routes::parse_ipv6(&t))
        .unwrap_or_default();
    v4.into_iter()
        .chain(v6)
        .take(MAX_ROUTES)
        .map(|r| RouteInfo {
            family: r.family.to_string(),
            destination: r.destination,
            gateway: r.gateway,
            interface: r.interface,
            metric: r.metric,
            reject: r.reject,
        })
        .collect()
}

const TCP_STATES: [&str; 12] = [
    "UNKNOWN",
    "ESTABLISHED",
    "SYN_SENT",
    "SYN_RECV",
    "FIN_WAIT1",
    "FIN_WAIT2",
    "TIME_WAIT",
    "CLOSE",
    "CLOSE_WAIT",
    "LAST_ACK",
    "LISTEN",
    "CLOSING",
];

/// Decodes a /proc/net address like `0100007F:1F90` or its 32-hex-digit IPv6 form.
fn address(hex: &str) -> Option<String> {
    let (ip, port) = hex.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(
            u32::from_str_radix(ip, 16).ok()?.swap_bytes(),
        )),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, word) in bytes.chunks_mut(4).enumerate() {
                let w = u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok()?;
                word.copy_from_slice(&w.swap_bytes().to_be_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(match ip {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    })
}

/// Parses one `/proc/net/{tcp,udp}[6]` table.
pub fn parse_connections(protocol: &str, text: &str, out: &mut Vec<ConnectionInfo>) {
    let udp = protocol.starts_with("udp");
    for line in text.lines().skip(1) {
        if out.len() >= MAX_CONNECTIONS {
            return;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 {
            continue;
        }
        let (Some(local), Some(remote)) = (address(f[1]), address(f[2])) else {
            continue;
        };
        let st = usize::from_str_radix(f[3], 16).unwrap_or(0);
        let state = if udp {
            if st == 7 { "UNCONN" } else { "ESTABLISHED" }
        } else {
            TCP_STATES.get(st).copied().unwrap_or("UNKNOWN")
        };
        out.push(ConnectionInfo {
            protocol: protocol.to_string(),
            local,
            remote,
            state: state.to_string(),
            uid: f[7].parse().unwrap_or(0),
        });
    }
}

/// The host's connections, at most [`MAX_CONNECTIONS`].
pub fn connections(proc_root: &Path) -> Vec<ConnectionInfo> {
    let mut out = Vec::new();
    for protocol in ["tcp", "tcp6", "udp", "udp6"] {
        if let Ok(text) = std::fs::read_to_string(proc_root.join("net").join(protocol)) {
            parse_connections(protocol, &text, &mut out);
        }
    }
    out
}

fn sys_read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The host's interfaces with MAC, addresses, state, MTU and counters.
pub fn interfaces() -> Vec<InterfaceInfo> {
    let mut addresses: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if let Ok(addrs) = nix::ifaddrs::getifaddrs() {
        for a in addrs {
            let Some(storage) = a.address else { continue };
            let text = if let Some(v4) = storage.as_sockaddr_in() {
                v4.ip().to_string()
            } else if let Some(v6) = storage.as_sockaddr_in6() {
                v6.ip().to_string()
            } else {
                continue;
            };
            addresses.entry(a.interface_name).or_default().push(text);
        }
    }
    let Ok(dir) = std::fs::read_dir("/sys/class/net") else {
        return Vec::new();
    };
    let mut out: Vec<InterfaceInfo> = dir
        .flatten()
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            let counter = |f: &str| {
                sys_read(&path, &format!("statistics/{f}"))
                    .parse()
                    .unwrap_or(0)
            };
            InterfaceInfo {
                mac: sys_read(&path, "address"),
                addresses: addresses.remove(&name).unwrap_or_default(),
                // IFF_UP: administratively up
                up: u32::from_str_radix(sys_read(&path, "flags").trim_start_matches("0x"), 16)
                    .is_ok_and(|flags| flags & 1 == 1),
                mtu: sys_read(&path, "mtu").parse().unwrap_or(0),
                rx_bytes: counter("rx_bytes"),
                tx_bytes: counter("tx_bytes"),
                rx_errors: counter("rx_errors"),
                tx_errors: counter("tx_errors"),
                name,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_tables_decode() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000   104        0 1678 1\n   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000   104        0 1679 1\n garbage\n";
        let mut out = Vec::new();
        parse_connections("tcp", tcp, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].local, "127.0.0.1:8080");
        assert_eq!(out[0].state, "LISTEN");
        assert_eq!(out[0].uid, 104);
        assert_eq!(out[1].remote, "127.0.0.1:54321");
        assert_eq!(out[1].state, "ESTABLISHED");
        assert_eq!(
            address("00000000000000000000000001000000:0016").as_deref(),
            Some("[::1]:22")
        );
    }

    #[test]
    fn this_host_has_a_loopback_with_its_address() {
        let ifs = interfaces();
        let lo = ifs.iter().find(|i| i.name == "lo").expect("lo");
        assert!(lo.addresses.iter().any(|a| a == "127.0.0.1"), "{lo:?}");
        assert_eq!(lo.mtu, 65536);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let conns = connections(Path::new("/proc"));
        assert!(
            conns
                .iter()
                .any(|c| c.local == format!("127.0.0.1:{port}") && c.state == "LISTEN"),
            "our listener is among the connections"
        );
    }
}
