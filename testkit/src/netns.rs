//! Hosts made of Linux network namespaces, for tests of what crosses a real network: each
//! host its own namespace with its own address, LANs as bridges in a switch namespace, sites
//! joined by a router namespace, and the test process itself on every LAN as the operator's
//! workstation. A link is cut with `ip link set ... down` on the switch side, as a pulled
//! cable or a dead uplink: the kernel drops every packet, and the peers learn it only by
//! their own timeouts.
//!
//! Everything is made with `ip` (iproute2) under names of this process's own
//! (`strata<pid>-...`) in addresses of the test's own; dropped, the network kills what runs
//! in its namespaces and deletes them, which removes every link. Namespaces left by a test
//! that died are deleted by the next one. Making namespaces needs root (CAP_SYS_ADMIN and
//! CAP_NET_ADMIN): [`Network::new`] says why it cannot, so that a test can skip loudly.

use std::process::Command;

/// How every name made here starts.
const PREFIX: &str = "strata";

/// A LAN: a bridge in the switch namespace and its IPv4 /24.
#[derive(Debug, Clone)]
pub struct Lan {
    bridge: String,
    /// The first three octets, e.g. `10.87.1`.
    net: String,
    /// The router's address on it, once a router joins it.
    gateway: Option<String>,
}

/// A host: a namespace with one address on a LAN.
#[derive(Debug, Clone)]
pub struct Host {
    /// The namespace's name, for `ip netns exec` ([`crate::proc::Spec::netns`]).
    pub netns: String,
    /// The host's address.
    pub ip: String,
    /// Its cable: the switch side of its link.
    pub link: Link,
}

/// One end of a link in the switch namespace: down, nothing crosses it.
#[derive(Debug, Clone)]
pub struct Link {
    switch: String,
    port: String,
}

impl Link {
    /// Cuts the link: every packet across it is dropped from now on.
    pub fn cut(&self) {
        ip(&["-n", &self.switch, "link", "set", &self.port, "down"])
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Heals the link.
    pub fn heal(&self) {
        ip(&["-n", &self.switch, "link", "set", &self.port, "up"])
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

/// The namespaces and links of one test, removed on drop.
#[derive(Debug)]
pub struct Network {
    prefix: String,
    switch: String,
    namespaces: Vec<String>,
    ports: usize,
}

/// Runs `ip args`; the error says what failed and what `ip` said.
fn ip(args: &[&str]) -> Result<(), String> {
    run("ip", args)
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program} {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The namespaces that exist now.
fn namespaces() -> Vec<String> {
    Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| l.split_whitespace().next().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Kills every process in `netns`, then deletes it.
fn remove(netns: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", netns]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
    }
    let _ = ip(&["netns", "del", netns]);
}

/// Deletes the namespaces of test processes that are gone.
fn remove_stale() {
    for ns in namespaces() {
        let Some(pid) = ns
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            remove(&ns);
        }
    }
}

impl Network {
    /// An empty network (a switch namespace), or why namespaces cannot be made here.
    pub fn new() -> Result<Network, String> {
        remove_stale();
        let prefix = format!("{PREFIX}{}", std::process::id());
        let switch = format!("{prefix}-switch");
        ip(&["netns", "add", &switch]).map_err(|e| {
            format!("network namespaces cannot be made here (root and iproute2 are needed): {e}")
        })?;
        Ok(Network {
            prefix,
            namespaces: vec![switch.clone()],
            switch,
            ports: 0,
        })
    }

    fn add_namespace(&mut self, name: &str) -> String {
        let netns = format!("{}-{name}", self.prefix);
        self.must(&["netns", "add", &netns]);
        self.namespaces.push(netns.clone());
        self.must(&["-n", &netns, "link", "set", "lo", "up"]);
        netns
    }

    fn must(&self, args: &[&str]) {
        ip(args).unwrap_or_else(|e| panic!("build the test network: {e}"));
    }

    /// A new port name on the switch, short enough for an interface name.
    fn port(&mut self) -> String {
        self.ports += 1;
        format!("p{}", self.ports)
    }

    /// A LAN `net.0/24` (`net` the first three octets, e.g. `10.87.1`).
    pub fn lan(&mut self, name: &str, net: &str) -> Lan {
        let bridge = format!("br-{name}");
        self.must(&["-n", &self.switch, "link", "add", &bridge, "type", "bridge"]);
        self.must(&["-n", &self.switch, "link", "set", &bridge, "up"]);
        Lan {
            bridge,
            net: net.into(),
            gateway: None,
        }
    }

    /// Plugs interface `iface` of `netns` into `lan` with address `.host`; returns the link.
    fn plug(&mut self, netns: &str, iface: &str, lan: &Lan, host: u8) -> (String, Link) {
        let port = self.port();
        let addr = format!("{}.{host}", lan.net);
        let s = self.switch.clone();
        self.must(&[
            "-n", &s, "link", "add", &port, "type", "veth", "peer", "name", iface, "netns", netns,
        ]);
        self.must(&["-n", &s, "link", "set", &port, "master", &lan.bridge, "up"]);
        self.must(&[
            "-n",
            netns,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            iface,
        ]);
        self.must(&["-n", netns, "link", "set", iface, "up"]);
        (addr, Link { switch: s, port })
    }

    /// A router between `lans` (address `.host` on each), forwarding IPv4; each LAN's hosts
    /// made after it route through it. Returns its link to each LAN, in order.
    pub fn router(&mut self, name: &str, lans: &mut [&mut Lan], host: u8) -> Vec<Link> {
        let netns = self.add_namespace(name);
        run(
            "ip",
            &[
                "netns",
                "exec",
                &netns,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ],
        )
        .unwrap_or_else(|e| panic!("build the test network: {e}"));
        let mut links = Vec::new();
        for (i, lan) in lans.iter_mut().enumerate() {
            let (addr, link) = self.plug(&netns, &format!("eth{i}"), lan, host);
            lan.gateway = Some(addr);
            links.push(link);
        }
        links
    }

    /// A host `name` on `lan` at `.host`, routed through the LAN's router if it has one.
    pub fn host(&mut self, name: &str, lan: &Lan, host: u8) -> Host {
        let netns = self.add_namespace(name);
        let (ip, link) = self.plug(&netns, "eth0", lan, host);
        if let Some(gateway) = &lan.gateway {
            self.must(&["-n", &netns, "route", "add", "default", "via", gateway]);
        }
        Host { netns, ip, link }
    }

    /// Puts this process's own namespace on `lan` at `.host`, as the operator's workstation
    /// (no route through the LAN's router: it reaches each LAN it is on, directly).
    pub fn workstation(&mut self, lan: &Lan, host: u8) -> String {
        let port = self.port();
        let iface = format!("st{}w{}", &self.prefix[PREFIX.len()..], self.ports);
        let s = self.switch.clone();
        self.must(&[
            "link", "add", &iface, "type", "veth", "peer", "name", &port, "netns", &s,
        ]);
        self.must(&["-n", &s, "link", "set", &port, "master", &lan.bridge, "up"]);
        let addr = format!("{}.{host}", lan.net);
        self.must(&["addr", "add", &format!("{addr}/24"), "dev", &iface]);
        self.must(&["link", "set", &iface, "up"]);
        addr
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        // the switch last: deleting it removes every link, the workstation's legs included
        for netns in self.namespaces.iter().rev() {
            remove(netns);
        }
    }
}
