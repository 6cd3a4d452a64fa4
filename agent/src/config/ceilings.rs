//! Ceilings on the counts of the local file: an operator may raise every bound a push
//! has, but not past these, which no host needs and a typo (`top = 1000000000`) would
//! otherwise turn into an allocation or a dictionary that fills at once.

use super::AgentConfig;
use crate::checks::spec::CheckSpec;

/// Most checks and probes in the local file.
pub const MAX_CHECKS: usize = 10_000;
/// Most exporters scraped.
pub const MAX_SCRAPES: usize = 1_000;
/// Longest list an item or check keeps: `items.processes` `top`, a log's `keep_lines`, an
/// access log's `top`.
pub const MAX_TOP: usize = 10_000;
/// Most `items.processes` `watch` patterns.
pub const MAX_WATCH: usize = 1_000;

/// The counts of `config` past their ceilings, each naming its key.
pub fn problems(config: &AgentConfig) -> Vec<String> {
    let mut out = Vec::new();
    let mut over = |key: String, n: usize, max: usize| {
        if n > max {
            out.push(format!("{key}: {n} is above the ceiling of {max}"));
        }
    };
    over("checks".into(), config.checks.len(), MAX_CHECKS);
    over("scrape".into(), config.scrape.len(), MAX_SCRAPES);
    for (name, item) in &config.items {
        over(format!("items.{name}.top"), item.top.unwrap_or(0), MAX_TOP);
        over(format!("items.{name}.watch"), item.watch.len(), MAX_WATCH);
    }
    for (i, c) in config.checks.iter().enumerate() {
        match &c.spec {
            CheckSpec::Log(l) => over(format!("checks[{i}].keep_lines"), l.keep_lines, MAX_TOP),
            CheckSpec::AccessLog(a) => over(format!("checks[{i}].top"), a.top, MAX_TOP),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_past_their_ceilings_are_named() {
        let mut c: AgentConfig = toml::from_str(
            "[items.processes]\ntop = 20000\nwatch = ['a']\n\
             [[checks]]\nname = 'l'\nkind = 'log'\npath = '/var/log/syslog'\nkeep_lines = 10001\nrules = [{ pattern = 'x', severity = 'warning' }]\n",
        )
        .unwrap();
        let p = problems(&c);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].starts_with("items.processes.top: 20000"), "{p:?}");
        assert!(p[1].starts_with("checks[0].keep_lines: 10001"), "{p:?}");
        c.items.clear();
        c.checks.clear();
        assert!(problems(&c).is_empty());
    }
}
