//! The agent's local configuration: a TOML file over documented defaults, with `STRATA_AGENT_*`
//! environment overrides for the keys operators change per host.

pub mod ceilings;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use strata_proto::config::{RoleConfig, is_host_port};
use strata_proto::identity::TlsConfig;

use crate::checks::spec::{ActionConfig, CheckConfig, CheckSpec, set_problems};
use crate::durations;
use crate::error::AgentError;
use crate::items::ItemConfig;
use crate::policy::{self, CommandConfig, Policy, PushLimits};
use crate::procfs::hostname;

/// Everything the agent needs to run.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// The agent's id in its region (default: the host name).
    pub id: String,
    /// gRPC listen address (default `127.0.0.1:7801`; port 0 picks a free port).
    pub listen: String,
    /// How often the host collector samples (default 10 s).
    #[serde(with = "humantime_serde")]
    pub collect_interval: Duration,
    /// Most samples buffered while unacknowledged (default 200,000); the oldest go first.
    pub buffer_capacity: usize,
    /// Most bytes of samples the buffer keeps on disk under `<state_dir>/buffer` (default
    /// 64 MiB); past it the oldest go first, counted as dropped.
    pub buffer_max_bytes: u64,
    /// How often the buffer on disk is synced (fdatasync; default 5 s): the most a power cut
    /// can lose. Polls are answered from memory; a life after a crash takes a new epoch.
    #[serde(with = "humantime_serde")]
    pub buffer_sync_interval: Duration,
    /// Most samples in one poll answer when the poller names no bound (default 20,000).
    pub max_poll_samples: usize,
    /// Most series in the agent's dictionary (default 100,000): a new series past it is
    /// refused and counted (`strata_agent_series_refused_total`) until idle ones are forgotten.
    pub max_series: usize,
    /// A series not collected for this long is forgotten, once no buffered sample names it
    /// (default 1 h): a host whose process names, mounts or plugin labels churn keeps a
    /// bounded dictionary.
    #[serde(with = "humantime_serde")]
    pub forget_series_after: Duration,
    /// A poller not heard from for this long stops holding samples back (default 10 min).
    #[serde(with = "humantime_serde")]
    pub poller_ttl: Duration,
    /// Address of `/metrics` and `/healthz` (default none: not served).
    pub metrics_listen: Option<String>,
    /// Collection items switched off or given their own interval (`[items.<name>]`).
    pub items: BTreeMap<String, ItemConfig>,
    /// Checks and probes (`[[checks]]`); a sub-manager may push more with `Agent.Configure`.
    pub checks: Vec<CheckConfig>,
    /// Exporters scraped into the agent's buffer (`[[scrape]]`; only this file names them).
    pub scrape: Vec<crate::scrape::ScrapeConfig>,
    /// Commands the agent may run (restart actions): only these, and only from this file;
    /// each with its retries, backoff and hourly cap.
    pub actions: BTreeMap<String, ActionConfig>,
    /// The `systemctl` program systemd checks read units' states with (default
    /// `systemctl` on the PATH).
    pub systemctl: Option<PathBuf>,
    /// Directories the centre's signed file bundles may write into (`[[accept_files]]`;
    /// default none: every bundle is refused).
    pub accept_files: Vec<crate::files::AcceptDir>,
    /// Programs script checks may run by name (`[commands.<name>]`, `run = "<name>"`); the
    /// only ones a pushed check can run (default none).
    pub commands: BTreeMap<String, CommandConfig>,
    /// Globs of the files a pushed log or access_log check may read (default empty: none).
    pub allow_paths: Vec<String>,
    /// Bounds on a pushed configuration (`[push_limits]`).
    pub push_limits: PushLimits,
    /// Directory of what outlives the process (default none: all of it is kept in memory):
    /// the buffer of unacknowledged samples and the log checks' places (`buffer/`), and the
    /// accepted pushed configuration (`pushed.toml`), re-applied at start.
    pub state_dir: Option<PathBuf>,
    /// Registration with the region's brokers (`[registration]`; default: none).
    pub registration: RegistrationConfig,
    /// Mutual TLS: the node directory with this agent's certificate (`[tls]`).
    pub tls: TlsConfig,
    /// Enrolment: how the agent gets and renews its certificate by itself (`[enrol]`).
    pub enrol: EnrolConfig,
    /// Where the host's own files are, for an agent in a container (`[host]`).
    pub host: HostPaths,
}

/// The host's /proc, /sys and root as the agent sees them (`[host]`): in a container they
/// are mounted elsewhere (node_exporter's `--path.procfs`, `--path.sysfs`, `--path.rootfs`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct HostPaths {
    /// The host's /proc, where host metrics are read (default `/proc`). Process views read
    /// the agent's own /proc, the host's when it shares the host's process namespace.
    pub proc: PathBuf,
    /// The host's /sys (default `/sys`).
    pub sys: PathBuf,
    /// The host's root filesystem (default `/`). Another root takes the filesystems from
    /// the mount table of the host's init (`<proc>/1/mounts`) and measures them under it.
    pub root: PathBuf,
}

impl Default for HostPaths {
    fn default() -> Self {
        Self {
            proc: "/proc".into(),
            sys: "/sys".into(),
            root: "/".into(),
        }
    }
}

/// Enrolment with the region's brokers (`[enrol]`; off until `ca_fingerprint` is set).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnrolConfig {
    /// SHA-256 fingerprint of the mesh CA's certificate, as `strata ca show` prints it:
    /// the brokers must prove a chain up to it. Setting it turns enrolment on.
    pub ca_fingerprint: Option<String>,
    /// The region's join token (default: `registration.token`).
    pub token: Option<String>,
    /// Brokers to enrol with, `host:port` (default: `registration.brokers`).
    pub brokers: Vec<String>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            id: hostname(),
            listen: "127.0.0.1:7801".into(),
            collect_interval: Duration::from_secs(10),
            buffer_capacity: 200_000,
            buffer_max_bytes: 64 << 20,
            buffer_sync_interval: Duration::from_secs(5),
            max_poll_samples: 20_000,
            max_series: 100_000,
            forget_series_after: Duration::from_secs(3600),
            poller_ttl: Duration::from_secs(600),
            metrics_listen: None,
            items: BTreeMap::new(),
            checks: Vec::new(),
            scrape: Vec::new(),
            actions: BTreeMap::new(),
            systemctl: None,
            accept_files: Vec::new(),
            commands: BTreeMap::new(),
            allow_paths: Vec::new(),
            push_limits: PushLimits::default(),
            state_dir: None,
            registration: RegistrationConfig::default(),
            tls: TlsConfig::default(),
            enrol: EnrolConfig::default(),
            host: HostPaths::default(),
        }
    }
}

/// Where and how the agent registers (`[registration]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistrationConfig {
    /// Brokers to register with, as `host:port` (default none: a sub-manager's config lists
    /// the agent instead).
    pub brokers: Vec<String>,
    /// The agent's region (required with brokers).
    pub region: String,
    /// The region's join token, when its brokers require one.
    pub token: Option<String>,
    /// Address sub-managers poll, `host:port` (default: the bound listen address; required
    /// when listening on every interface).
    pub advertise: Option<String>,
}

impl RegistrationConfig {
    /// Problems of this section, each naming its key; `listen` is the agent's listen address.
    pub fn problems(&self, listen: &str) -> Vec<String> {
        let mut errors = Vec::new();
        if self.brokers.is_empty() {
            return errors;
        }
        for (i, b) in self.brokers.iter().enumerate() {
            if !is_host_port(b) {
                errors.push(format!("registration.brokers[{i}]: '{b}' is not host:port"));
            }
        }
        if self.region.trim().is_empty() || self.region.contains('/') {
            errors.push(format!(
                "registration.region: '{}' must be non-empty and without '/' when brokers are set",
                self.region
            ));
        }
        match &self.advertise {
            Some(a) if !is_host_port(a) => {
                errors.push(format!("registration.advertise: '{a}' is not host:port"));
            }
            Some(_) => {}
            None => {
                let unspecified = listen
                    .parse::<std::net::SocketAddr>()
                    .is_ok_and(|a| a.ip().is_unspecified());
                if unspecified {
                    errors.push(format!(
                        "registration.advertise: required, as listen '{listen}' is not an \
                         address others can poll"
                    ));
                }
            }
        }
        errors
    }
}

impl RoleConfig for AgentConfig {
    type Error = AgentError;

    /// Applies `STRATA_AGENT_ID`, `STRATA_AGENT_LISTEN`, `STRATA_AGENT_COLLECT_INTERVAL` and
    /// `STRATA_AGENT_TLS_DIR`.
    fn apply_env(&mut self, var: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
        if let Some(v) = var("STRATA_AGENT_TLS_DIR") {
            self.tls.dir = v.into();
        }
        if let Some(v) = var("STRATA_AGENT_ID") {
            self.id = v;
        }
        if let Some(v) = var("STRATA_AGENT_LISTEN") {
            self.listen = v;
        }
        if let Some(v) = var("STRATA_AGENT_COLLECT_INTERVAL") {
            match humantime::parse_duration(&v) {
                Ok(d) => self.collect_interval = d,
                Err(e) => return vec![format!("STRATA_AGENT_COLLECT_INTERVAL={v}: {e}")],
            }
        }
        // join tokens (and the CA's fingerprint) the file names rather than holds
        let mut problems = Vec::new();
        for (field, token) in [
            ("enrol.token", self.enrol.token.as_mut()),
            ("registration.token", self.registration.token.as_mut()),
            ("enrol.ca_fingerprint", self.enrol.ca_fingerprint.as_mut()),
        ] {
            if let Some(token) = token {
                problems.extend(strata_proto::config::resolve_secret(field, token, var));
            }
        }
        problems
    }

    fn problems(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if self.id.trim().is_empty() {
            errors.push("id: must not be empty".to_string());
        }
        if self.id.contains('/') {
            errors.push(format!("id: '{}' must not contain '/'", self.id));
        }
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            errors.push(format!(
                "listen: '{}' is not an address like 127.0.0.1:7801",
                self.listen
            ));
        }
        if self.collect_interval < Duration::from_millis(100) {
            errors.push(format!(
                "collect_interval: {:?} is below the minimum of 100ms",
                self.collect_interval
            ));
        }
        if let Some(m) = &self.metrics_listen
            && m.parse::<std::net::SocketAddr>().is_err()
        {
            errors.push(format!(
                "metrics_listen: '{m}' is not an address like 127.0.0.1:9801"
            ));
        }
        if self.buffer_capacity == 0 {
            errors.push("buffer_capacity: must be at least 1".into());
        }
        if self.buffer_max_bytes < 64 << 10 {
            errors.push("buffer_max_bytes: must be at least 65536 (64 KiB)".into());
        }
        if self.buffer_sync_interval < Duration::from_millis(100) {
            errors.push("buffer_sync_interval: must be at least 100ms".into());
        }
        if self.max_poll_samples == 0 {
            errors.push("max_poll_samples: must be at least 1".into());
        }
        if self.max_series < 100 {
            errors.push(format!(
                "max_series: {} is below 100 (the agent's own series need room)",
                self.max_series
            ));
        }
        if self.forget_series_after < Duration::from_secs(1) {
            errors.push("forget_series_after: must be at least 1s".into());
        }
        errors.extend(self.registration.problems(&self.listen));
        errors.extend(self.tls.problems());
        if self.enrol.ca_fingerprint.is_some() {
            if self.registration.region.trim().is_empty() {
                errors.push("enrol: needs registration.region (the region to enrol in)".into());
            }
            if self.enrol.brokers.is_empty() && self.registration.brokers.is_empty() {
                errors.push("enrol.brokers: none, and no registration.brokers either".into());
            }
            if self.tls.insecure {
                errors.push("enrol: cannot enrol with tls.insecure = true".into());
            }
        }
        errors.extend(crate::items::problems(&self.items));
        errors.extend(set_problems(&self.checks, &self.actions));
        errors.extend(crate::files::accept::problems(&self.accept_files));
        errors.extend(crate::scrape::problems(&self.scrape));
        errors.extend(policy::commands::problems(&self.commands));
        errors.extend(policy::paths::problems(&self.allow_paths));
        errors.extend(self.push_limits.problems());
        errors.extend(ceilings::problems(self));
        if self
            .state_dir
            .as_ref()
            .is_some_and(|d| d.as_os_str().is_empty())
        {
            errors.push("state_dir: must not be empty".into());
        }
        errors.extend(self.local_problems());
        errors
    }
}

impl AgentConfig {
    /// The bounds of the buffer's series dictionary.
    pub fn series_limits(&self) -> crate::buffer::SeriesLimits {
        crate::buffer::SeriesLimits {
            max_series: self.max_series,
            forget_after: self.forget_series_after,
        }
    }

    /// Where the buffer is journaled, when `state_dir` is set.
    pub fn journal(&self) -> Option<crate::buffer::journal::JournalConfig> {
        let dir = self.state_dir.as_ref()?.join("buffer");
        Some(crate::buffer::journal::JournalConfig {
            dir,
            max_bytes: self.buffer_max_bytes,
            segment_bytes: (self.buffer_max_bytes / 16).clamp(16 << 10, 8 << 20),
        })
    }

    /// Problems only the local file can have: durations past [`durations::LONGEST`] (a
    /// push has tighter bounds of its own) and script checks that name no local command or
    /// give arguments it does not allow.
    fn local_problems(&self) -> Vec<String> {
        let mut errors = Vec::new();
        errors.extend(durations::too_long(
            "collect_interval",
            self.collect_interval,
        ));
        errors.extend(durations::too_long(
            "buffer_sync_interval",
            self.buffer_sync_interval,
        ));
        errors.extend(durations::too_long(
            "forget_series_after",
            self.forget_series_after,
        ));
        for (name, item) in &self.items {
            if let Some(i) = item.interval {
                errors.extend(durations::too_long(&format!("items.{name}.interval"), i));
            }
        }
        for (name, action) in &self.actions {
            for (key, value) in [
                ("timeout", action.timeout),
                ("backoff", action.backoff),
                ("max_backoff", action.max_backoff),
            ] {
                errors.extend(durations::too_long(&format!("actions.{name}.{key}"), value));
            }
        }
        for c in &self.checks {
            let label = format!("checks '{}'", c.name);
            errors.extend(durations::too_long(
                &format!("{label}: interval"),
                c.interval,
            ));
            errors.extend(durations::too_long(&format!("{label}: timeout"), c.timeout));
            if let CheckSpec::Script(s) = &c.spec
                && let Some(run) = &s.run
                && let Err((key, why)) = policy::commands::resolve(&self.commands, run, &s.args)
            {
                errors.push(format!("{label}: {key}: {why}"));
            }
        }
        errors
    }

    /// The policy for configuration this file did not write: its `commands`, `allow_paths`
    /// and `push_limits`.
    pub fn policy(&self) -> Policy {
        Policy::new(&self.commands, &self.allow_paths, &self.push_limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_what_the_file_leaves_out() {
        let c = AgentConfig::parse("id = \"web-1\"\ncollect_interval = \"5s\"").unwrap();
        assert_eq!(c.id, "web-1");
        assert_eq!(c.collect_interval, Duration::from_secs(5));
        assert_eq!(c.listen, "127.0.0.1:7801");
        c.validate().unwrap();
    }

    #[test]
    fn a_value_of_the_wrong_type_is_named_with_its_key() {
        for (text, key) in [
            ("buffer_capacity = \"lots\"", "buffer_capacity"),
            ("collect_interval = 10", "collect_interval"),
            ("collect_interval = \"often\"", "collect_interval"),
        ] {
            let err = AgentConfig::parse(text).unwrap_err();
            assert!(err.contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn checks_items_and_actions_parse_and_validate() {
        let c = AgentConfig::parse(
            "[items.processes]\ninterval = '30s'\nwatch = ['^sshd$']\n\n[actions.restart-web]\ncommand = ['systemctl', 'restart', 'nginx']\n\n[[checks]]\nname = 'web'\nkind = 'process'\nmatch = 'nginx'\nrestart = 'restart-web'\n\n[[checks]]\nname = 'home'\nkind = 'http'\nurl = 'http://127.0.0.1/'",
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.checks.len(), 2);
        assert_eq!(c.items["processes"].watch, vec!["^sshd$"]);
        let c = AgentConfig::parse(
            "[[checks]]\nname = 'web'\nkind = 'process'\nmatch = 'nginx'\nrestart = 'anything'",
        )
        .unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("restart: 'anything'"), "{err}");
        let err =
            AgentConfig::parse("[[checks]]\nname = 'p'\nkind = 'port'\naddress = 7").unwrap_err();
        assert!(
            err.contains("checks 'p'") && err.contains("address"),
            "{err}"
        );
        let err = AgentConfig::parse("[items.cpu]\nenabled = 'yes'").unwrap_err();
        assert!(err.contains("enabled"), "{err}");
    }

    #[test]
    fn huge_durations_are_refused_with_their_key() {
        let huge = "'300000000000years'";
        let c = AgentConfig::parse(&format!(
            "collect_interval = {huge}\n[items.cpu]\ninterval = {huge}\n[actions.fix]\ncommand = ['true']\ntimeout = {huge}\n\
             [[checks]]\nname = 'slow'\nkind = 'port'\naddress = '127.0.0.1:1'\ninterval = {huge}\ntimeout = {huge}"
        ))
        .unwrap();
        let err = c.validate().unwrap_err().to_string();
        for key in [
            "collect_interval: ",
            "items.cpu.interval: ",
            "actions.fix.timeout: ",
            "checks 'slow': interval: ",
            "checks 'slow': timeout: ",
        ] {
            assert!(err.contains(key), "{key} missing from {err}");
        }
    }

    #[test]
    fn local_commands_allow_paths_and_push_limits_are_validated() {
        let c = AgentConfig::parse(
            "allow_paths = ['/var/log/**']\nstate_dir = '/var/lib/strata'\n\
             [commands.disk]\ncommand = ['/bin/df', '-h']\n\
             [push_limits]\nmax_checks = 5\nmin_interval = '5s'\n\
             [[checks]]\nname = 'disk'\nkind = 'script'\nrun = 'disk'\n\
             [[checks]]\nname = 'own'\nkind = 'script'\ncommand = ['/bin/true']",
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.push_limits.max_checks, 5);
        assert_eq!(c.push_limits.max_text_bytes, 256 * 1024);
        let c = AgentConfig::parse(
            "allow_paths = ['var/log']\n[commands.disk]\ncommand = ['df']\n\
             [push_limits]\nmin_interval = '1ms'\n\
             [[checks]]\nname = 'a'\nkind = 'script'\nrun = 'backup'\n\
             [[checks]]\nname = 'b'\nkind = 'script'\nrun = 'disk'\nargs = ['/']",
        )
        .unwrap();
        let err = c.validate().unwrap_err().to_string();
        for key in [
            "allow_paths[0]",
            "commands.disk.command",
            "push_limits.min_interval",
            "checks 'a': run: 'backup' is not a local command",
            "checks 'b': args: command 'disk' does not allow arguments",
        ] {
            assert!(err.contains(key), "{key} missing from {err}");
        }
    }

    #[test]
    fn the_deploy_example_parses_and_shows_the_defaults() {
        let c = AgentConfig::parse(include_str!("../../deploy/agent.toml")).unwrap();
        c.validate().unwrap();
        let d = AgentConfig::default();
        assert_eq!(c.push_limits, d.push_limits);
        assert_eq!(c.allow_paths, d.allow_paths);
        assert_eq!(c.buffer_max_bytes, d.buffer_max_bytes);
        assert_eq!(c.buffer_sync_interval, d.buffer_sync_interval);
        // the one value that is not the default: the packages keep the buffer on disk
        assert_eq!(
            c.state_dir.as_deref(),
            Some(std::path::Path::new("/var/lib/strata-agent"))
        );
        assert_eq!(d.state_dir, None);
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = AgentConfig::parse("colect_interval = \"5s\"").unwrap_err();
        assert!(err.contains("colect_interval"), "{err}");
    }

    #[test]
    fn validation_lists_every_problem() {
        let c =
            AgentConfig::parse("id = \"a/b\"\nlisten = \"nowhere\"\nbuffer_capacity = 0").unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("id:") && err.contains("listen:") && err.contains("buffer_capacity:"),
            "{err}"
        );
    }

    #[test]
    fn environment_overrides_the_file_and_bad_values_are_named() {
        let c = AgentConfig::parse("id = \"file\"").unwrap();
        let c = c
            .finish(&|k| (k == "STRATA_AGENT_ID").then(|| "env".to_string()))
            .unwrap();
        assert_eq!(c.id, "env");
        let err = c
            .finish(&|k| (k == "STRATA_AGENT_COLLECT_INTERVAL").then(|| "soon".to_string()))
            .unwrap_err();
        assert!(
            err.to_string().contains("STRATA_AGENT_COLLECT_INTERVAL"),
            "{err}"
        );
    }

    #[test]
    fn registration_needs_a_region_and_a_pollable_address() {
        let none = RegistrationConfig::default();
        assert!(none.problems("0.0.0.0:7801").is_empty());
        let c = RegistrationConfig {
            brokers: vec!["127.0.0.1:7600".into(), "nowhere".into()],
            ..Default::default()
        };
        let p = c.problems("0.0.0.0:7801").join("\n");
        for key in [
            "registration.brokers[1]",
            "registration.region",
            "registration.advertise",
        ] {
            assert!(p.contains(key), "{key} missing from {p}");
        }
        let ok = RegistrationConfig {
            brokers: vec!["127.0.0.1:7600".into()],
            region: "eu".into(),
            ..Default::default()
        };
        assert!(ok.problems("127.0.0.1:7801").is_empty());
    }
}
