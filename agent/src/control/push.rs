//! A pushed configuration: parsed and vetted against the host's [`Policy`], every problem
//! named by its key (`checks[2].command`, `checks[1].path`, `items.cpu.interval`).
//!
//! A pushed check never carries a command line (`command` is refused before anything else
//! of its table is read); it may only name a local command (`run`, with `args` if that
//! command allows them). Its files must lie under `allow_paths`, its numbers inside
//! `[push_limits]`. A check's `path` and `ca_file` are replaced by their normalised form, so
//! that what runs is what was checked.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::checks::CheckConfig;
use crate::checks::spec::CheckSpec;
use crate::items::{self, ItemConfig};
use crate::policy::commands::resolve;
use crate::policy::{Policy, PushLimits};

/// A configuration a sub-manager pushed, accepted.
#[derive(Debug, Default)]
pub struct PushedConfig {
    /// `[items.<name>]` laid over the local ones.
    pub items: BTreeMap<String, ItemConfig>,
    /// Checks run beside the local ones, each marked pushed.
    pub checks: Vec<CheckConfig>,
    /// The TOML text as pushed.
    pub text: String,
}

/// The pushed text as TOML, before its checks are parsed one by one.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Raw {
    items: BTreeMap<String, ItemConfig>,
    checks: Vec<toml::Table>,
}

/// Parses `text` and vets it against `policy`; on any problem, every problem.
pub fn parse(text: &str, policy: &Policy) -> Result<PushedConfig, Vec<String>> {
    let limits = &policy.limits;
    if text.len() > limits.max_text_bytes {
        return Err(vec![format!(
            "config_toml: {} bytes is above push_limits.max_text_bytes ({})",
            text.len(),
            limits.max_text_bytes
        )]);
    }
    let raw: Raw = toml::from_str(text).map_err(|e| vec![e.to_string()])?;
    let mut problems = items::problems(&raw.items);
    problems.extend(item_bounds(&raw.items, limits));
    if raw.checks.len() > limits.max_checks {
        problems.push(format!(
            "checks: {} checks are above push_limits.max_checks ({})",
            raw.checks.len(),
            limits.max_checks
        ));
    }
    let mut checks = Vec::new();
    for (i, table) in raw.checks.into_iter().enumerate() {
        if table.contains_key("command") {
            problems.push(format!(
                "checks[{i}].command: a pushed check may not give a command line; name a \
                 local [commands.<name>] with run = \"...\""
            ));
            continue;
        }
        match CheckConfig::from_pushed_table(table, i) {
            Ok(mut c) => {
                problems.extend(vet(i, &mut c, policy));
                checks.push(c);
            }
            Err(e) => problems.push(e),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(PushedConfig {
        items: raw.items,
        checks,
        text: text.to_string(),
    })
}

/// Problems of pushed items against the limits.
fn item_bounds(items: &BTreeMap<String, ItemConfig>, limits: &PushLimits) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, item) in items {
        // below 100 ms is already named by the item's own validation
        if let Some(i) = item.interval
            && i >= std::time::Duration::from_millis(100)
        {
            problems.extend(limits.interval(&format!("items.{name}.interval"), i));
        }
        if let Some(top) = item.top {
            problems.extend(limits.top(&format!("items.{name}.top"), top));
        }
        problems.extend(limits.top(&format!("items.{name}.watch"), item.watch.len()));
    }
    problems
}

/// `*value` if the pushed table gave `key`, checked against `max`; else the default,
/// lowered to `max`.
fn bounded<T: Copy + Ord + TryInto<u64>>(
    given: bool,
    value: &mut T,
    max: T,
    key: String,
    limits: &PushLimits,
) -> Option<String> {
    if given {
        limits.read_bytes(&key, (*value).try_into().unwrap_or(u64::MAX))
    } else {
        *value = (*value).min(max);
        None
    }
}

/// A `path` or `ca_file` under `allow_paths`, replaced by its normalised form.
fn allowed(path: &mut String, key: String, policy: &Policy) -> Option<String> {
    match policy.allow_paths.check(path) {
        Ok(normal) => {
            *path = normal;
            None
        }
        Err(why) => Some(format!("{key}: {why}")),
    }
}

/// Problems of the `i`-th pushed check against the policy; paths are normalised and
/// byte bounds left out are lowered to the limit.
fn vet(i: usize, c: &mut CheckConfig, policy: &Policy) -> Vec<String> {
    let limits = &policy.limits;
    let key = |k: &str| format!("checks[{i}].{k}");
    let given = |k: &str| c.source.contains_key(k);
    let (read_given, line_given, body_given) = (
        given("max_read_bytes"),
        given("max_line_bytes"),
        given("max_body_bytes"),
    );
    let max_read = limits.max_read_bytes;
    let max_read_usize = usize::try_from(max_read).unwrap_or(usize::MAX);
    let mut problems = Vec::new();
    problems.extend(limits.interval(&key("interval"), c.interval));
    problems.extend(limits.timeout(&key("timeout"), c.timeout));
    match &mut c.spec {
        CheckSpec::Script(s) => {
            if !s.command.is_empty() {
                problems.push(format!(
                    "{}: a pushed check may not give a command line",
                    key("command")
                ));
            }
            if s.args.len() > limits.max_args {
                problems.push(format!(
                    "{}: {} arguments are above push_limits.max_args ({})",
                    key("args"),
                    s.args.len(),
                    limits.max_args
                ));
            }
            if let Some(run) = &s.run
                && let Err((k, why)) = resolve(&policy.commands, run, &s.args)
            {
                problems.push(format!("{}: {why}", key(&k)));
            }
        }
        CheckSpec::Log(l) => {
            problems.extend(allowed(&mut l.path, key("path"), policy));
            problems.extend(bounded(
                read_given,
                &mut l.max_read_bytes,
                max_read,
                key("max_read_bytes"),
                limits,
            ));
            problems.extend(bounded(
                line_given,
                &mut l.max_line_bytes,
                max_read_usize,
                key("max_line_bytes"),
                limits,
            ));
            problems.extend(limits.top(&key("keep_lines"), l.keep_lines));
        }
        CheckSpec::AccessLog(a) => {
            problems.extend(allowed(&mut a.path, key("path"), policy));
            problems.extend(bounded(
                read_given,
                &mut a.max_read_bytes,
                max_read,
                key("max_read_bytes"),
                limits,
            ));
            problems.extend(limits.top(&key("top"), a.top));
        }
        CheckSpec::Http(h) => {
            problems.extend(bounded(
                body_given,
                &mut h.max_body_bytes,
                max_read_usize,
                key("max_body_bytes"),
                limits,
            ));
            if let Some(ca) = &mut h.ca_file {
                problems.extend(allowed(ca, key("ca_file"), policy));
            }
        }
        CheckSpec::Smtp(s) => {
            if let Some(ca) = &mut s.ca_file {
                problems.extend(allowed(ca, key("ca_file"), policy));
            }
        }
        // a unit's state is read, never changed: a restart names a local action only
        CheckSpec::Process(_)
        | CheckSpec::Port(_)
        | CheckSpec::Dns(_)
        | CheckSpec::Routes(_)
        | CheckSpec::Systemd(_) => {}
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        let commands = toml::from_str(
            "[disk]\ncommand = ['/bin/df']\n[ping]\ncommand = ['/bin/echo']\nallow_args = true\nargs_pattern = '[a-z0-9.]+'",
        )
        .unwrap();
        Policy::new(&commands, &["/var/log/**".into()], &PushLimits::default())
    }

    fn refused(text: &str) -> String {
        parse(text, &policy()).unwrap_err().join("\n")
    }

    #[test]
    fn a_command_line_is_refused_before_the_rest_is_read() {
        let p = refused(
            "[[checks]]\nname = 'ok'\nkind = 'script'\nrun = 'disk'\n\
             [[checks]]\nname = 'x'\nkind = 'script'\ncommand = ['/bin/sh', '-c', 'id']\nsned = 1",
        );
        assert_eq!(
            p,
            "checks[1].command: a pushed check may not give a command line; name a local \
             [commands.<name>] with run = \"...\""
        );
    }

    #[test]
    fn run_and_args_are_checked_against_the_local_commands() {
        assert_eq!(
            refused("[[checks]]\nname = 'b'\nkind = 'script'\nrun = 'backup'"),
            "checks[0].run: 'backup' is not a local command"
        );
        assert_eq!(
            refused("[[checks]]\nname = 'd'\nkind = 'script'\nrun = 'disk'\nargs = ['/']"),
            "checks[0].args: command 'disk' does not allow arguments"
        );
        let p = refused(
            "[[checks]]\nname = 'p'\nkind = 'script'\nrun = 'ping'\nargs = ['db1', '$(id)']",
        );
        assert!(
            p.starts_with("checks[0].args[1]: '$(id)' does not match"),
            "{p}"
        );
        let ok = parse(
            "[[checks]]\nname = 'p'\nkind = 'script'\nrun = 'ping'\nargs = ['db1.lan']",
            &policy(),
        )
        .unwrap();
        assert!(ok.checks[0].pushed);
    }

    #[test]
    fn paths_must_lie_under_allow_paths_after_dot_dot_is_resolved() {
        assert_eq!(
            refused("[[checks]]\nname = 'l'\nkind = 'log'\npath = '/etc/shadow'\nrules = []"),
            "checks[0].path: '/etc/shadow' is not under allow_paths"
        );
        let p = refused(
            "[[checks]]\nname = 'a'\nkind = 'access_log'\npath = '/var/log/../../etc/shadow'\n\
             [[checks]]\nname = 'r'\nkind = 'log'\npath = 'var/log/x'\nrules = []\n\
             [[checks]]\nname = 'h'\nkind = 'http'\nurl = 'https://x/'\nca_file = '/root/ca.pem'",
        );
        assert!(
            p.contains("checks[0].path: '/var/log/../../etc/shadow' (that is '/etc/shadow')"),
            "{p}"
        );
        assert!(
            p.contains("checks[1].path: 'var/log/x' is not an absolute path"),
            "{p}"
        );
        assert!(
            p.contains("checks[2].ca_file: '/root/ca.pem' is not under allow_paths"),
            "{p}"
        );
        let ok = parse(
            "[[checks]]\nname = 'l'\nkind = 'log'\npath = '/var/log/nginx/../app.log'\nrules = []",
            &policy(),
        )
        .unwrap();
        match &ok.checks[0].spec {
            CheckSpec::Log(l) => {
                assert_eq!(l.path, "/var/log/app.log");
                assert_eq!(
                    l.max_read_bytes,
                    4 << 20,
                    "the 8 MiB default is lowered to the limit"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bounds_are_refused_by_key() {
        let mut many = String::new();
        for n in 0..101 {
            many.push_str(&format!(
                "[[checks]]\nname = 'c{n}'\nkind = 'port'\naddress = 'h:1'\n"
            ));
        }
        assert!(
            refused(&many).contains("checks: 101 checks are above push_limits.max_checks (100)")
        );
        let p = refused(
            "[items.processes]\ninterval = '500ms'\ntop = 1000\n\
             [[checks]]\nname = 'a'\nkind = 'port'\naddress = 'h:1'\ninterval = '200ms'\ntimeout = '1h'\n\
             [[checks]]\nname = 'l'\nkind = 'log'\npath = '/var/log/x'\nrules = []\nmax_read_bytes = 1000000000\nkeep_lines = 5000\n\
             [[checks]]\nname = 'w'\nkind = 'access_log'\npath = '/var/log/w'\ntop = 101\n\
             [[checks]]\nname = 'h'\nkind = 'http'\nurl = 'http://x/'\nmax_body_bytes = 100000000\n\
             [[checks]]\nname = 's'\nkind = 'script'\nrun = 'ping'\nargs = ['a','a','a','a','a','a','a','a','a','a','a','a','a','a','a','a','a']",
        );
        for key in [
            "items.processes.interval: 500ms is below push_limits.min_interval",
            "items.processes.top: 1000 is above push_limits.max_top",
            "checks[0].interval: 200ms is below push_limits.min_interval (1s)",
            "checks[0].timeout: 1h is above push_limits.max_timeout (5m)",
            "checks[1].max_read_bytes: 1000000000 is above push_limits.max_read_bytes",
            "checks[1].keep_lines: 5000",
            "checks[2].top: 101",
            "checks[3].max_body_bytes: 100000000",
            "checks[4].args: 17 arguments are above push_limits.max_args (16)",
        ] {
            assert!(p.contains(key), "{key} missing from {p}");
        }
        let long = "#".repeat(300 * 1024);
        assert!(
            refused(&long)
                .starts_with("config_toml: 307200 bytes is above push_limits.max_text_bytes")
        );
    }

    #[test]
    fn huge_durations_are_refused_by_key() {
        let p = refused(
            "[items.cpu]\ninterval = '300000000000years'\n\
             [[checks]]\nname = 'a'\nkind = 'port'\naddress = 'h:1'\ninterval = '300000000000years'\ntimeout = '300000000000years'",
        );
        for key in [
            "items.cpu.interval: ",
            "checks[0].interval: ",
            "checks[0].timeout: ",
        ] {
            assert!(p.contains(key), "{key} missing from {p}");
        }
        assert!(parse("[items.cpu]\ninterval = '5s'", &policy()).is_ok());
    }
}
