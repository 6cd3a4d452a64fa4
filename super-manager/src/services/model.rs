//! Service definitions: what a business service is made of, and how its health rolls up.
//!
//! A service has components; a component selects resources (hosts of any region) by
//! matchers on `region` and `host`, written as in the REST API: `value` (equal), `!value`,
//! `~regex`, `!~regex` (anchored). Services may depend on others. Definitions come from a
//! TOML file (`[[services]]`) or the REST API (JSON, one service); both are checked here and
//! every problem is reported with the field that has it.

use std::collections::{BTreeMap, BTreeSet};
use strata_proto::resource::{host_of, region_of};

use serde::{Deserialize, Serialize};
use strata_tsdb::Matcher;

/// How a service's health follows from its components'.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RollupKind {
    /// The worst component.
    #[default]
    Worst,
    /// Ok while at least `k` components are ok; down when fewer than `k` are even up.
    KOfN,
    /// The weighted share of healthy components (ok = 1, degraded = ½) against thresholds.
    Weighted,
}

/// One component of a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentDef {
    pub name: String,
    /// Matcher on the resource's region (default: any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Matcher on the resource's host (default: any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Matcher on a check's or probe's name: the component is then made of the checks it
    /// selects on the hosts it selects (an HTTP probe of the service, say), not of the hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// Weight in a weighted roll-up (default 1).
    #[serde(default = "one")]
    pub weight: f64,
}

fn one() -> f64 {
    1.0
}

fn half() -> f64 {
    0.5
}

fn most() -> f64 {
    0.9
}

/// A business service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceDef {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Services this one needs: when one is not ok, this one is at least degraded.
    #[serde(default)]
    pub depends_on: Vec<String>,
    #[serde(default)]
    pub rollup: RollupKind,
    /// For `k-of-n`: components that must be ok.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<usize>,
    /// For `weighted`: the score below which the service is degraded (default 0.9).
    #[serde(default = "most")]
    pub degraded_below: f64,
    /// For `weighted`: the score below which it is down (default 0.5).
    #[serde(default = "half")]
    pub down_below: f64,
    pub components: Vec<ComponentDef>,
    /// The service level objective, when the service has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<Slo>,
    /// Planned maintenance: time inside counts neither as available nor as lost.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maintenance: Vec<super::maintenance::Maintenance>,
}

/// A service level objective: the share of time the service must be available (not down)
/// over a rolling window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    /// Availability to keep, as a ratio (0.999 = 99.9 %).
    pub objective: f64,
    /// The window it is measured over (default 30 days).
    #[serde(default = "thirty_days", with = "humantime_serde")]
    pub window: std::time::Duration,
}

fn thirty_days() -> std::time::Duration {
    std::time::Duration::from_secs(30 * 86_400)
}

/// A matcher written as in the REST API, compiled.
#[derive(Debug, Clone)]
pub struct Selector {
    region: Option<Matcher>,
    host: Option<Matcher>,
    check: Option<Matcher>,
}

/// Compiles `value`, `!value`, `~regex` or `!~regex` for `label`.
pub fn matcher(label: &str, text: &str) -> Result<Matcher, String> {
    Matcher::parse(label, text).map_err(|e| e.to_string())
}

impl Selector {
    /// Whether resources of `region` may be selected (whatever their host).
    pub fn may_select_region(&self, region: &str) -> bool {
        self.region.as_ref().is_none_or(|m| m.matches(region))
    }

    /// Whether a resource of `region` and `host` is selected.
    pub fn selects(&self, region: &str, host: &str) -> bool {
        self.region.as_ref().is_none_or(|m| m.matches(region))
            && self.host.as_ref().is_none_or(|m| m.matches(host))
    }

    /// Whether the component is made of checks rather than hosts.
    pub fn of_checks(&self) -> bool {
        self.check.is_some()
    }

    /// Whether check `name` of the resource `resource_id` (`<region>/<host>`) is selected.
    pub fn selects_check(&self, resource_id: &str, name: &str) -> bool {
        let (region, host) = (region_of(resource_id), host_of(resource_id));
        self.check.as_ref().is_some_and(|m| m.matches(name)) && self.selects(region, host)
    }
}

impl ComponentDef {
    /// The compiled selector (the definition was validated).
    pub fn selector(&self) -> Selector {
        Selector {
            region: self
                .region
                .as_deref()
                .and_then(|r| matcher("region", r).ok()),
            host: self.host.as_deref().and_then(|h| matcher("host", h).ok()),
            check: self.check.as_deref().and_then(|c| matcher("check", c).ok()),
        }
    }
}

fn check_name(field: &str, name: &str, problems: &mut Vec<String>) {
    if name.trim().is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        problems.push(format!(
            "{field}: '{name}' must be non-empty letters, digits, '-', '_' or '.'"
        ));
    }
}

impl ServiceDef {
    /// Problems of this definition alone, each naming its field under `at`.
    pub fn problems(&self, at: &str) -> Vec<String> {
        let mut p = Vec::new();
        check_name(&format!("{at}.name"), &self.name, &mut p);
        if self.components.is_empty() {
            p.push(format!("{at}.components: a service needs at least one"));
        }
        let mut names = BTreeSet::new();
        for (i, c) in self.components.iter().enumerate() {
            let cat = format!("{at}.components[{i}]");
            check_name(&format!("{cat}.name"), &c.name, &mut p);
            if !names.insert(c.name.as_str()) {
                p.push(format!("{cat}.name: '{}' appears twice", c.name));
            }
            for (field, value, label) in [
                ("region", &c.region, "region"),
                ("host", &c.host, "host"),
                ("check", &c.check, "check"),
            ] {
                if let Some(v) = value
                    && let Err(e) = matcher(label, v)
                {
                    p.push(format!("{cat}.{field}: {e}"));
                }
            }
            if !(c.weight.is_finite() && c.weight > 0.0) {
                p.push(format!("{cat}.weight: {} must be above 0", c.weight));
            }
        }
        match (self.rollup, self.k) {
            (RollupKind::KOfN, None) => p.push(format!("{at}.k: k-of-n needs k")),
            (RollupKind::KOfN, Some(k)) if k == 0 || k > self.components.len() => p.push(format!(
                "{at}.k: {k} must be from 1 to the {} components",
                self.components.len()
            )),
            (RollupKind::KOfN, Some(_)) => {}
            (_, Some(_)) => p.push(format!("{at}.k: only for rollup = \"k-of-n\"")),
            (_, None) => {}
        }
        if !(0.0..=1.0).contains(&self.down_below)
            || !(0.0..=1.0).contains(&self.degraded_below)
            || self.down_below > self.degraded_below
        {
            p.push(format!(
                "{at}.down_below/degraded_below: {} and {} must be ratios with down_below <= degraded_below",
                self.down_below, self.degraded_below
            ));
        }
        if let Some(slo) = &self.slo {
            if !(slo.objective > 0.0 && slo.objective < 1.0) {
                p.push(format!(
                    "{at}.slo.objective: {} must be a ratio between 0 and 1 (0.999 = 99.9 %)",
                    slo.objective
                ));
            }
            if slo.window < std::time::Duration::from_secs(60) {
                p.push(format!(
                    "{at}.slo.window: {:?} is shorter than a minute",
                    slo.window
                ));
            }
        }
        for (i, m) in self.maintenance.iter().enumerate() {
            p.extend(m.problems(&format!("{at}.maintenance[{i}]")));
        }
        for (i, d) in self.depends_on.iter().enumerate() {
            if *d == self.name {
                p.push(format!(
                    "{at}.depends_on[{i}]: a service cannot depend on itself"
                ));
            }
        }
        p
    }
}

/// Problems of a whole set of services: each one's, plus duplicate names, unknown
/// dependencies and dependency cycles.
pub fn set_problems(services: &[ServiceDef]) -> Vec<String> {
    let mut p = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, s) in services.iter().enumerate() {
        let at = format!("services[{i}] ('{}')", s.name);
        p.extend(s.problems(&at));
        if !seen.insert(s.name.as_str()) {
            p.push(format!("{at}.name: '{}' appears twice", s.name));
        }
    }
    let by_name: BTreeMap<&str, &ServiceDef> =
        services.iter().map(|s| (s.name.as_str(), s)).collect();
    for (i, s) in services.iter().enumerate() {
        for (j, d) in s.depends_on.iter().enumerate() {
            if !by_name.contains_key(d.as_str()) {
                p.push(format!(
                    "services[{i}] ('{}').depends_on[{j}]: no service '{d}'",
                    s.name
                ));
            }
        }
    }
    if let Some(cycle) = find_cycle(&by_name) {
        p.push(format!("depends_on: a cycle: {}", cycle.join(" -> ")));
    }
    p
}

/// A dependency cycle, if there is one, as the names along it.
fn find_cycle(by_name: &BTreeMap<&str, &ServiceDef>) -> Option<Vec<String>> {
    // 0 = unvisited, 1 = on the current path, 2 = done
    let mut mark: BTreeMap<&str, u8> = BTreeMap::new();
    fn visit<'a>(
        n: &'a str,
        by_name: &BTreeMap<&'a str, &'a ServiceDef>,
        mark: &mut BTreeMap<&'a str, u8>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match mark.get(n) {
            Some(2) => return None,
            Some(1) => {
                let start = path.iter().position(|p| *p == n).unwrap_or(0);
                let mut cycle: Vec<String> = path[start..].iter().map(|s| s.to_string()).collect();
                cycle.push(n.to_string());
                return Some(cycle);
            }
            _ => {}
        }
        mark.insert(n, 1);
        path.push(n);
        if let Some(s) = by_name.get(n) {
            for d in &s.depends_on {
                if by_name.contains_key(d.as_str())
                    && let Some(c) = visit(d, by_name, mark, path)
                {
                    return Some(c);
                }
            }
        }
        path.pop();
        mark.insert(n, 2);
        None
    }
    for n in by_name.keys() {
        if let Some(c) = visit(n, by_name, &mut mark, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

/// The file form: `[[services]]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServicesFile {
    #[serde(default)]
    services: Vec<ServiceDef>,
}

/// Reads a services file; a syntax error or a wrongly typed key is named with its line.
pub fn parse_file(text: &str) -> Result<Vec<ServiceDef>, String> {
    let file: ServicesFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let problems = set_problems(&file.services);
    if problems.is_empty() {
        Ok(file.services)
    } else {
        Err(problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOP: &str = r#"
        [[services]]
        name = "payments"
        [[services.components]]
        name = "db"
        host = "~db-.*"

        [[services]]
        name = "webshop"
        description = "the public shop"
        depends_on = ["payments"]
        rollup = "k-of-n"
        k = 1
        [[services.components]]
        name = "web"
        region = "west"
        host = "~web-[0-9]+"
        [[services.components]]
        name = "cache"
        host = "!db-1"
        weight = 0.5
        [services.slo]
        objective = 0.999
        window = "7days"
    "#;

    #[test]
    fn a_services_file_parses_and_selectors_select() {
        let s = parse_file(SHOP).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].rollup, RollupKind::KOfN);
        let slo = s[1].slo.as_ref().unwrap();
        assert_eq!((slo.objective, slo.window.as_secs()), (0.999, 7 * 86_400));
        let err = parse_file(
            "[[services]]\nname = 'a'\n[[services.components]]\nname = 'x'\n[services.slo]\nobjective = 99.9\n",
        )
        .unwrap_err();
        assert!(err.contains("slo.objective: 99.9"), "{err}");
        let web = s[1].components[0].selector();
        assert!(web.selects("west", "web-12"));
        assert!(!web.selects("east", "web-12"));
        assert!(!web.selects("west", "web-x"));
        assert!(s[1].components[1].selector().selects("east", "db-2"));
        assert!(!s[1].components[1].selector().selects("east", "db-1"));
    }

    #[test]
    fn every_problem_is_named_with_its_field() {
        let err = parse_file(
            r#"
            [[services]]
            name = "a"
            depends_on = ["b", "nowhere"]
            rollup = "k-of-n"
            k = 3
            [[services.components]]
            name = "x"
            host = "~(unclosed"
            weight = 0
            [[services]]
            name = "b"
            depends_on = ["a"]
            [[services.components]]
            name = "y"
            "#,
        )
        .unwrap_err();
        for needle in [
            "services[0] ('a').k: 3",
            "services[0] ('a').components[0].host",
            "services[0] ('a').components[0].weight",
            "depends_on[1]: no service 'nowhere'",
            "a cycle: a -> b -> a",
        ] {
            assert!(err.contains(needle), "{needle} missing from {err}");
        }
        let err = parse_file("[[services]]\nname = 'a'\ncomponents = 3").unwrap_err();
        assert!(err.contains("components"), "{err}");
        let err =
            parse_file("[[services]]\nname = 'a'\ncolour = 'red'\ncomponents = []").unwrap_err();
        assert!(err.contains("colour"), "{err}");
    }
}
