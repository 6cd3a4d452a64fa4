//! Route checks: the host's routing table watched for changes. A route that appears or goes
//! (a default route lost, a VPN's networks gone, a gateway changed) is WARNING for `hold`
//! after the change, with the routes added and removed, so that the region opens an event
//! and resolves it by itself once the table has stayed put.
//!
//! The table a check last saw is kept with its result (`keep`), so that a change made while
//! the agent was stopped is still reported when it comes back.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

use strata_proto::v1::CheckState;

use super::outcome::Outcome;
use super::spec::RoutesSpec;
use crate::procfs::routes::{Route, parse_ipv4, parse_ipv6};

/// Most changed routes listed in a result's detail.
const MAX_DETAIL: usize = 50;

/// A route check.
#[derive(Debug)]
pub struct RoutesCheck {
    spec: RoutesSpec,
    /// The /proc the tables are read under.
    proc_root: PathBuf,
    /// The table of the last run, one line per route (None before the first).
    known: Option<BTreeSet<String>>,
    /// The last change: when, and its lines (`+ route`, `- route`).
    changed: Option<(Instant, Vec<String>)>,
}

/// One route as a line: what it reaches, how, and through where.
fn line(r: &Route) -> String {
    let mut s = r.destination.clone();
    if !r.gateway.is_empty() {
        s.push_str(" via ");
        s.push_str(&r.gateway);
    }
    s.push_str(" dev ");
    s.push_str(&r.interface);
    s.push_str(&format!(" metric {}", r.metric));
    if r.reject {
        s.push_str(" reject");
    }
    s
}

impl RoutesCheck {
    /// A check of the tables under `proc_root` (`/proc` but in tests).
    pub fn new(spec: RoutesSpec, proc_root: PathBuf) -> Self {
        Self {
            spec,
            proc_root,
            known: None,
            changed: None,
        }
    }

    /// Resumes from the table an earlier life kept.
    pub fn resume(&mut self, kept: &str) {
        self.known = Some(kept.lines().map(str::to_string).collect());
    }

    /// Reads the tables and compares them with the last run's.
    pub fn run(&mut self) -> Outcome {
        let read = |file: &str| std::fs::read_to_string(self.proc_root.join("net").join(file));
        let (v4, v6) = (read("route"), read("ipv6_route"));
        if let (Err(e), Err(_)) = (&v4, &v6) {
            return Outcome::new(
                CheckState::Unknown,
                format!("cannot read {}/net/route: {e}", self.proc_root.display()),
            );
        }
        let v4 = v4.map(|t| parse_ipv4(&t)).unwrap_or_default();
        let v6 = v6.map(|t| parse_ipv6(&t)).unwrap_or_default();
        let now: BTreeSet<String> = v4.iter().chain(&v6).map(line).collect();
        if let Some(known) = &self.known
            && *known != now
        {
            let added = now.difference(known).map(|l| format!("+ {l}"));
            let removed = known.difference(&now).map(|l| format!("- {l}"));
            self.changed = Some((Instant::now(), added.chain(removed).collect()));
        }
        let mut outcome = match &self.changed {
            Some((at, lines)) if at.elapsed() < self.spec.hold => {
                let (plus, minus) = (
                    lines.iter().filter(|l| l.starts_with('+')).count(),
                    lines.iter().filter(|l| l.starts_with('-')).count(),
                );
                let mut o = Outcome::new(
                    CheckState::Warning,
                    format!(
                        "routes changed {} s ago: {plus} added, {minus} removed ({} routes)",
                        at.elapsed().as_secs(),
                        now.len()
                    ),
                );
                o.detail = lines.iter().take(MAX_DETAIL).cloned().collect();
                o
            }
            _ => Outcome::new(CheckState::Ok, format!("{} routes", now.len())),
        };
        outcome.metric(
            "strata_check_routes",
            &[("family", "inet")],
            v4.len() as f64,
        );
        outcome.metric(
            "strata_check_routes",
            &[("family", "inet6")],
            v6.len() as f64,
        );
        outcome.keep = Some(now.iter().cloned().collect::<Vec<_>>().join("\n"));
        self.known = Some(now);
        outcome
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const HEAD: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n";
    const DEFAULT: &str = "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
    const LAN: &str = "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";

    fn proc_with(dir: &std::path::Path, lines: &[&str]) {
        std::fs::create_dir_all(dir.join("net")).unwrap();
        std::fs::write(dir.join("net/route"), format!("{HEAD}{}", lines.concat())).unwrap();
    }

    #[test]
    fn a_route_that_goes_is_a_warning_for_the_hold_then_ok() {
        let dir = tempfile::tempdir().unwrap();
        proc_with(dir.path(), &[DEFAULT, LAN]);
        let spec = RoutesSpec {
            hold: Duration::from_millis(300),
        };
        let mut c = RoutesCheck::new(spec, dir.path().to_path_buf());
        let first = c.run();
        assert_eq!(first.state, CheckState::Ok);
        assert_eq!(first.message, "2 routes");
        assert_eq!(first.metrics[0].value, 2.0);
        // the default route goes
        proc_with(dir.path(), &[LAN]);
        let lost = c.run();
        assert_eq!(lost.state, CheckState::Warning, "{}", lost.message);
        assert!(
            lost.message.contains("0 added, 1 removed"),
            "{}",
            lost.message
        );
        assert_eq!(lost.detail, ["- 0.0.0.0/0 via 192.0.2.1 dev eth0 metric 0"]);
        // still within the hold: still a warning, though nothing changed since
        assert_eq!(c.run().state, CheckState::Warning);
        std::thread::sleep(Duration::from_millis(350));
        let settled = c.run();
        assert_eq!(settled.state, CheckState::Ok);
        // a later life resumes from what was kept: the route's return is a change
        let mut later = RoutesCheck::new(spec, dir.path().to_path_buf());
        later.resume(settled.keep.as_deref().unwrap());
        proc_with(dir.path(), &[DEFAULT, LAN]);
        let back = later.run();
        assert_eq!(back.state, CheckState::Warning);
        assert!(back.detail[0].starts_with("+ 0.0.0.0/0 via 192.0.2.1"));
    }

    #[test]
    fn no_table_at_all_is_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = RoutesCheck::new(RoutesSpec::default(), dir.path().to_path_buf());
        assert_eq!(c.run().state, CheckState::Unknown);
    }
}
