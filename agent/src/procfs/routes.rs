//! The routing table, from /proc/net/route (IPv4) and /proc/net/ipv6_route, for the network
//! inventory: which destination goes through which gateway and interface.
//!
//! Both files are the kernel's own text (no netlink socket to open, and a container that
//! sees the host's /proc sees the host's routes); addresses are hexadecimal, IPv4's in the
//! host's byte order (little-endian on every platform the agent builds for).

use std::net::{Ipv4Addr, Ipv6Addr};

/// A route is usable.
const RTF_UP: u32 = 0x1;
/// A route goes through a gateway.
const RTF_GATEWAY: u32 = 0x2;
/// A route that refuses its destination (unreachable, prohibit, blackhole).
const RTF_REJECT: u32 = 0x200;

/// One route of the table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    /// `inet` or `inet6`.
    pub family: &'static str,
    /// The destination network, `10.0.0.0/8` or `::/0`.
    pub destination: String,
    /// The next hop, empty for a directly connected network.
    pub gateway: String,
    /// The interface it leaves by.
    pub interface: String,
    pub metric: u32,
    /// Whether it refuses its destination rather than carries it.
    pub reject: bool,
}

/// An IPv4 address written by the kernel as 8 hex digits in the host's byte order.
fn ipv4(hex: &str) -> Option<Ipv4Addr> {
    let n = u32::from_str_radix(hex, 16).ok()?;
    Some(Ipv4Addr::from(n.swap_bytes()))
}

/// An IPv6 address written as 32 hex digits.
fn ipv6(hex: &str) -> Option<Ipv6Addr> {
    if hex.len() != 32 {
        return None;
    }
    u128::from_str_radix(hex, 16).ok().map(Ipv6Addr::from)
}

/// The routes of /proc/net/route that are up (a malformed line is skipped).
pub fn parse_ipv4(text: &str) -> Vec<Route> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_ascii_whitespace().collect();
            let (iface, dest, gw, flags, metric, mask) = (
                f.first()?,
                f.get(1)?,
                f.get(2)?,
                f.get(3)?,
                f.get(6)?,
                f.get(7)?,
            );
            let flags = u32::from_str_radix(flags, 16).ok()?;
            if flags & RTF_UP == 0 {
                return None;
            }
            let prefix = ipv4(mask)?.to_bits().leading_ones();
            let gateway = ipv4(gw)?;
            Some(Route {
                family: "inet",
                destination: format!("{}/{prefix}", ipv4(dest)?),
                gateway: if flags & RTF_GATEWAY != 0 {
                    gateway.to_string()
                } else {
                    String::new()
                },
                interface: iface.to_string(),
                metric: metric.parse().ok()?,
                reject: flags & RTF_REJECT != 0,
            })
        })
        .collect()
}

/// The routes of /proc/net/ipv6_route that are up (a malformed line is skipped).
pub fn parse_ipv6(text: &str) -> Vec<Route> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_ascii_whitespace().collect();
            let (dest, prefix, next, metric, flags, iface) = (
                f.first()?,
                f.get(1)?,
                f.get(4)?,
                f.get(5)?,
                f.get(8)?,
                f.get(9)?,
            );
            let flags = u32::from_str_radix(flags, 16).ok()?;
            let prefix = u8::from_str_radix(prefix, 16).ok().filter(|p| *p <= 128)?;
            if flags & RTF_UP == 0 {
                return None;
            }
            let next = ipv6(next)?;
            Some(Route {
                family: "inet6",
                destination: format!("{}/{prefix}", ipv6(dest)?),
                gateway: if flags & RTF_GATEWAY != 0 {
                    next.to_string()
                } else {
                    String::new()
                },
                interface: iface.to_string(),
                metric: u32::from_str_radix(metric, 16).ok()?,
                reject: flags & RTF_REJECT != 0,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTE: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth1\t0000000A\t00000000\t0000\t0\t0\t0\t000000FF\t0\t0\t0
bad line
";

    const IPV6: &str = "\
fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000003 00000000 00000003     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200201       lo
zz 40
";

    #[test]
    fn ipv4_routes_read_with_their_gateways_and_prefixes() {
        let routes = parse_ipv4(ROUTE);
        assert_eq!(
            routes.len(),
            2,
            "the route that is down and the bad line left out"
        );
        assert_eq!(
            (
                routes[0].destination.as_str(),
                routes[0].gateway.as_str(),
                routes[0].metric
            ),
            ("0.0.0.0/0", "192.0.2.1", 100)
        );
        assert_eq!(
            (routes[1].destination.as_str(), routes[1].gateway.as_str()),
            ("192.0.2.0/24", "")
        );
        assert_eq!(routes[1].interface, "eth0");
    }

    #[test]
    fn ipv6_routes_read_with_their_next_hops_and_rejects() {
        let routes = parse_ipv6(IPV6);
        assert_eq!(routes.len(), 3);
        assert_eq!(routes[0].destination, "fd00::/64");
        assert_eq!(routes[0].gateway, "");
        assert_eq!(routes[0].metric, 256);
        assert_eq!(
            (routes[1].destination.as_str(), routes[1].gateway.as_str()),
            ("::/0", "fd00::1")
        );
        assert!(routes[2].reject && routes[2].interface == "lo");
    }

    #[test]
    fn this_hosts_tables_read() {
        if let Ok(text) = std::fs::read_to_string("/proc/net/route") {
            let routes = parse_ipv4(&text);
            assert!(routes.iter().all(|r| r.destination.contains('/')));
        }
    }
}
