//! The sub-manager's configuration: its region, its agents, polling and thresholds; a TOML
//! file over documented defaults with `STRATA_SUB_MANAGER_*` environment overrides.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use strata_proto::config::{RoleConfig, is_host_port, split_list};
use strata_proto::identity::TlsConfig;

use crate::error::SubManagerError;

pub mod notify;
mod poll;
pub mod remote_write;

pub use poll::PollConfig;

/// Everything the sub-manager needs to run.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SubManagerConfig {
    /// Member id, unique in the mesh (default `sub-1`).
    pub id: String,
    /// The region (site) this sub-manager serves (default `default`).
    pub region: String,
    /// gRPC listen address of the regional API (default `127.0.0.1:7700`).
    pub listen: String,
    /// Address announced to brokers (default: the bound listen address).
    pub advertise: Option<String>,
    /// Address of `/metrics` and `/healthz` (default none: not served).
    pub metrics_listen: Option<String>,
    /// Address of the regional console and its REST API (default none: not served).
    pub console_listen: Option<String>,
    /// Who may use the regional console (`[auth]`: the principals file, default
    /// `<data_dir>/principals.json`; the session's length; the host names allowed).
    pub auth: strata_web::auth::AuthConfig,
    /// HTTPS on `console_listen` (`[https]`: `cert_file`, `key_file`; plain HTTP only on a
    /// loopback address, or with `insecure = true`).
    pub https: strata_web::https::HttpsConfig,
    /// Where the time-series store lives (default `./data/sub-manager`).
    pub data_dir: PathBuf,
    /// Brokers to heartbeat to, as `host:port` (default none: the region runs alone).
    pub brokers: Vec<String>,
    /// Time between heartbeats to each broker (default 500 ms).
    #[serde(with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    /// Lease asked of the brokers: a member silent this long loses its agents (default 2 s;
    /// a member whose process dies loses them at once, as its assignment streams break).
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// Token presented when registering the config's agents with the brokers (default none).
    pub join_token: Option<String>,
    /// Most series the store accepts (default 5,000,000).
    pub max_series: u64,
    /// Changes of the region's state kept on disk for the centre to resume from (default
    /// 1,000,000: about six hours of a 2,000-agent region cut off from the centre); a
    /// subscriber further behind gets a snapshot.
    pub journal_capacity: u64,
    /// Retention and rollups of the store.
    pub storage: StorageConfig,
    /// Polling of agents.
    pub poll: PollConfig,
    /// Levels of the built-in rules `cpu`, `memory` and `filesystem`.
    pub thresholds: Thresholds,
    /// A TOML file of `[[rules]]` (default none), reloaded within 2 s of a change; a bad
    /// edit keeps the rules in force and is logged.
    pub rules_file: Option<PathBuf>,
    /// Notifications of the region's events: receivers, routes, silences.
    pub notify: notify::NotifyConfig,
    /// Destinations the region's samples are forwarded to (`[[remote_write]]`, default
    /// none); the store keeps what they have not received yet.
    pub remote_write: Vec<remote_write::RemoteWriteConfig>,
    /// Limits of remote write in (`POST /api/v1/write` on `console_listen`), per sender.
    pub receive: crate::receive::ReceiveConfig,
    /// Bounds of the WatchRegion feed the centres follow (`[watch]`).
    pub watch: crate::state::watch::WatchConfig,
    /// Agents to poll (a discovery list): registered with the brokers, which share them
    /// out with the agents that registered themselves; polled directly without brokers.
    pub agents: Vec<AgentTarget>,
    /// Mutual TLS: the node directory with this member's certificate (`[tls]`), and the
    /// region CA's when this member signs agents' enrolments.
    pub tls: TlsConfig,
    /// Agents' enrolment, when the node directory holds the region CA (`[enrol]`).
    pub enrol: EnrolConfig,
}

/// How this member signs its region's agents (`[enrol]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnrolConfig {
    /// How long an agent's certificate is valid (default 7 days; agents renew at two thirds).
    #[serde(with = "humantime_serde")]
    pub agent_lifetime: Duration,
}

impl Default for EnrolConfig {
    fn default() -> Self {
        Self {
            agent_lifetime: Duration::from_secs(7 * 86_400),
        }
    }
}

/// How long the store keeps each resolution, and when rollups are built.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Raw points are kept this long (default 15 days).
    #[serde(with = "humantime_serde")]
    pub raw_retention: Duration,
    /// 1-minute rollups are kept this long (default 90 days).
    #[serde(with = "humantime_serde")]
    pub minute_retention: Duration,
    /// 1-hour rollups are kept this long (default 730 days).
    #[serde(with = "humantime_serde")]
    pub hour_retention: Duration,
    /// Rollups are built for raw data this old (default 14 days; below raw_retention).
    #[serde(with = "humantime_serde")]
    pub rollup_after: Duration,
}

impl Default for StorageConfig {
    fn default() -> Self {
        const DAY: u64 = 86_400;
        Self {
            raw_retention: Duration::from_secs(15 * DAY),
            minute_retention: Duration::from_secs(90 * DAY),
            hour_retention: Duration::from_secs(730 * DAY),
            rollup_after: Duration::from_secs(14 * DAY),
        }
    }
}

impl StorageConfig {
    /// The store's options with these settings and `max_series`.
    pub fn tsdb_options(&self, max_series: u64) -> strata_tsdb::TsdbOptions {
        let ms = |d: Duration| d.as_millis().min(i64::MAX as u128) as i64;
        strata_tsdb::TsdbOptions {
            max_series,
            raw_retention_ms: Some(ms(self.raw_retention)),
            minute_retention_ms: Some(ms(self.minute_retention)),
            hour_retention_ms: Some(ms(self.hour_retention)),
            minute_rollup_after_ms: ms(self.rollup_after),
            ..strata_tsdb::TsdbOptions::default()
        }
    }

    fn problems(&self, errors: &mut Vec<String>) {
        for (field, value) in [
            ("storage.raw_retention", self.raw_retention),
            ("storage.minute_retention", self.minute_retention),
            ("storage.hour_retention", self.hour_retention),
        ] {
            if value < Duration::from_secs(3600) {
                errors.push(format!("{field}: {value:?} is shorter than an hour"));
            }
        }
        if self.rollup_after >= self.raw_retention {
            errors.push(format!(
                "storage.rollup_after: {:?} must be below storage.raw_retention ({:?}), or raw \
                 points are dropped before their rollups are built",
                self.rollup_after, self.raw_retention
            ));
        }
    }
}

/// Warning and critical levels, as ratios from 0 to 1.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// Total CPU usage (default 0.85 / 0.95).
    pub cpu_warning: f64,
    pub cpu_critical: f64,
    /// Memory used over total (default 0.85 / 0.95).
    pub memory_warning: f64,
    pub memory_critical: f64,
    /// Fullest filesystem, used over size (default 0.85 / 0.95).
    pub filesystem_warning: f64,
    pub filesystem_critical: f64,
}

/// One agent to poll.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AgentTarget {
    /// The agent's id (its host name by default), unique in the region.
    pub id: String,
    /// Its gRPC address, `host:port`; several simulated agents may share one.
    pub address: String,
}

impl Default for SubManagerConfig {
    fn default() -> Self {
        Self {
            id: "sub-1".into(),
            region: "default".into(),
            listen: "127.0.0.1:7700".into(),
            advertise: None,
            metrics_listen: None,
            console_listen: None,
            auth: Default::default(),
            https: Default::default(),
            data_dir: PathBuf::from("./data/sub-manager"),
            brokers: Vec::new(),
            heartbeat_interval: Duration::from_millis(500),
            lease: Duration::from_secs(2),
            join_token: None,
            max_series: 5_000_000,
            journal_capacity: 1_000_000,
            storage: StorageConfig::default(),
            poll: PollConfig::default(),
            thresholds: Thresholds::default(),
            rules_file: None,
            notify: Default::default(),
            remote_write: Vec::new(),
            receive: Default::default(),
            watch: Default::default(),
            agents: Vec::new(),
            tls: TlsConfig::default(),
            enrol: EnrolConfig::default(),
        }
    }
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            cpu_warning: 0.85,
            cpu_critical: 0.95,
            memory_warning: 0.85,
            memory_critical: 0.95,
            filesystem_warning: 0.85,
            filesystem_critical: 0.95,
        }
    }
}

impl RoleConfig for SubManagerConfig {
    type Error = SubManagerError;

    /// Applies `STRATA_SUB_MANAGER_ID`, `_REGION`, `_LISTEN`, `_ADVERTISE`, `_DATA_DIR` and
    /// `_BROKERS` (comma-separated).
    fn apply_env(&mut self, var: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
        if let Some(v) = var("STRATA_SUB_MANAGER_ID") {
            self.id = v;
        }
        if let Some(v) = var("STRATA_SUB_MANAGER_REGION") {
            self.region = v;
        }
        if let Some(v) = var("STRATA_SUB_MANAGER_LISTEN") {
            self.listen = v;
        }
        if let Some(v) = var("STRATA_SUB_MANAGER_ADVERTISE") {
            self.advertise = Some(v);
        }
        if let Some(v) = var("STRATA_SUB_MANAGER_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = var("STRATA_SUB_MANAGER_BROKERS") {
            self.brokers = split_list(&v);
        }
        // secrets the file names rather than holds
        let mut problems = self.notify.resolve_refs(var);
        for (i, d) in self.remote_write.iter_mut().enumerate() {
            problems.extend(d.resolve_refs(&format!("remote_write[{i}]"), var));
        }
        if let Some(token) = self.join_token.as_mut() {
            problems.extend(strata_proto::config::resolve_secret(
                "join_token",
                token,
                var,
            ));
        }
        problems
    }

    fn problems(&self) -> Vec<String> {
        let mut errors = self.tls.problems();
        errors.extend(self.auth.problems());
        let lifetime = self.enrol.agent_lifetime;
        if lifetime < Duration::from_secs(3) || lifetime > Duration::from_secs(366 * 86_400) {
            errors.push(format!(
                "enrol.agent_lifetime: {lifetime:?} is outside 3s..366days"
            ));
        }
        for (field, value) in [("id", &self.id), ("region", &self.region)] {
            if value.trim().is_empty() {
                errors.push(format!("{field}: must not be empty"));
            } else if value.contains('/') {
                errors.push(format!("{field}: '{value}' must not contain '/'"));
            }
        }
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            errors.push(format!(
                "listen: '{}' is not an address like 127.0.0.1:7700",
                self.listen
            ));
        }
        let unspecified = self
            .listen
            .parse::<std::net::SocketAddr>()
            .is_ok_and(|a| a.ip().is_unspecified());
        match &self.advertise {
            Some(a) if !strata_proto::config::is_host_port(a) => {
                errors.push(format!("advertise: '{a}' is not host:port"));
            }
            None if unspecified && !self.brokers.is_empty() => errors.push(format!(
                "advertise: required, as listen '{}' is not an address brokers can dial",
                self.listen
            )),
            _ => {}
        }
        if let Some(c) = &self.console_listen {
            if c.parse::<std::net::SocketAddr>().is_err() {
                errors.push(format!(
                    "console_listen: '{c}' is not an address like 127.0.0.1:9710"
                ));
            } else {
                errors.extend(self.https.problems("console_listen", c));
            }
        }
        if let Some(m) = &self.metrics_listen
            && m.parse::<std::net::SocketAddr>().is_err()
        {
            errors.push(format!(
                "metrics_listen: '{m}' is not an address like 127.0.0.1:9700"
            ));
        }
        for (i, b) in self.brokers.iter().enumerate() {
            if !is_host_port(b) {
                errors.push(format!("brokers[{i}]: '{b}' is not host:port"));
            }
        }
        if self.heartbeat_interval.is_zero() || self.heartbeat_interval >= self.lease {
            errors.push(format!(
                "heartbeat_interval: {:?} must be above zero and below lease ({:?})",
                self.heartbeat_interval, self.lease
            ));
        }
        if self.journal_capacity < 1000 {
            errors.push(format!(
                "journal_capacity: {} is below the minimum of 1000",
                self.journal_capacity
            ));
        }
        self.storage.problems(&mut errors);
        errors.extend(self.poll.problems());
        let t = &self.thresholds;
        for (name, warning, critical) in [
            ("cpu", t.cpu_warning, t.cpu_critical),
            ("memory", t.memory_warning, t.memory_critical),
            ("filesystem", t.filesystem_warning, t.filesystem_critical),
        ] {
            if !(0.0..=1.0).contains(&warning) || !(0.0..=1.0).contains(&critical) {
                errors.push(format!(
                    "thresholds.{name}_warning/critical: must be ratios from 0 to 1"
                ));
            } else if warning > critical {
                errors.push(format!(
                    "thresholds.{name}_warning: {warning} is above {name}_critical {critical}"
                ));
            }
        }
        errors.extend(self.notify.problems());
        errors.extend(remote_write::problems(&self.remote_write));
        errors.extend(self.receive.problems());
        errors.extend(self.watch.problems());
        let mut seen = HashSet::new();
        for (i, a) in self.agents.iter().enumerate() {
            if a.id.trim().is_empty() || a.id.contains('/') {
                errors.push(format!(
                    "agents[{i}].id: '{}' must be non-empty and without '/'",
                    a.id
                ));
            } else if !seen.insert(&a.id) {
                errors.push(format!("agents[{i}].id: '{}' appears twice", a.id));
            }
            if !is_host_port(&a.address) {
                errors.push(format!(
                    "agents[{i}].address: '{}' is not host:port",
                    a.address
                ));
            }
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_named_by_the_file_are_read_from_the_environment() {
        let text = "join_token = \"${env:JOIN}\"\n\
            [notify]\n[[notify.receivers]]\nname = \"mail\"\nkind = \"email\"\n\
            smtp = \"127.0.0.1:25\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\n\
            password = \"${env:SMTP_PASS}\"\n";
        let var = |k: &str| match k {
            "JOIN" => Some("j0in".to_string()),
            "SMTP_PASS" => Some("s3cret".to_string()),
            _ => None,
        };
        let c = SubManagerConfig::parse(text).unwrap().finish(&var).unwrap();
        assert_eq!(c.join_token.as_deref(), Some("j0in"));
        assert!(
            matches!(&c.notify.receivers[0].kind, notify::ReceiverKind::Email { password: Some(p), .. } if p == "s3cret")
        );
        let missing = SubManagerConfig::parse(text)
            .unwrap()
            .finish(&|_| None)
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("join_token: environment variable JOIN")
                && missing.contains("notify.receivers[0].password: environment variable SMTP_PASS"),
            "{missing}"
        );
    }

    #[test]
    fn a_full_config_parses() {
        let c = SubManagerConfig::parse(
            r#"
            id = "eu-1"
            region = "eu"
            brokers = ["127.0.0.1:7600"]
            [poll]
            interval = "2s"
            [thresholds]
            cpu_warning = 0.7
            [storage]
            raw_retention = "30days"
            [[agents]]
            id = "web-1"
            address = "127.0.0.1:7801"
            "#,
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.poll.interval, Duration::from_secs(2));
        assert_eq!(c.poll.timeout, Duration::from_secs(3));
        assert_eq!(c.thresholds.cpu_warning, 0.7);
        assert_eq!(c.agents.len(), 1);
        let options = c.storage.tsdb_options(c.max_series);
        assert_eq!(options.raw_retention_ms, Some(30 * 86_400_000));
        assert_eq!(options.minute_rollup_after_ms, 14 * 86_400_000);
    }

    #[test]
    fn every_problem_is_named_with_its_field() {
        let c = SubManagerConfig::parse(
            r#"
            region = ""
            brokers = ["nowhere"]
            [thresholds]
            cpu_warning = 0.99
            [storage]
            raw_retention = "10days"
            [[agents]]
            id = "a"
            address = "127.0.0.1:1"
            [[agents]]
            id = "a"
            address = "x"
            "#,
        )
        .unwrap();
        let err = c.validate().unwrap_err().to_string();
        for needle in [
            "region:",
            "brokers[0]",
            "thresholds.cpu_warning",
            "storage.rollup_after",
            "agents[1].id",
            "agents[1].address",
        ] {
            assert!(err.contains(needle), "{needle} missing from {err}");
        }
    }

    #[test]
    fn every_interface_needs_an_address_to_announce() {
        let text = "id = \"eu-1\"\nregion = \"eu\"\nlisten = \"0.0.0.0:7700\"\n\
                    brokers = [\"10.0.0.1:7600\"]\n";
        let err = SubManagerConfig::parse(text)
            .unwrap()
            .finish(&|_| None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("advertise: required"), "{err}");
        let pod = |k: &str| {
            (k == "STRATA_SUB_MANAGER_ADVERTISE").then(|| "eu-0.strata-eu.strata.svc:7700".into())
        };
        let c = SubManagerConfig::parse(text).unwrap().finish(&pod).unwrap();
        assert_eq!(
            c.advertise.as_deref(),
            Some("eu-0.strata-eu.strata.svc:7700")
        );
        let bad = |k: &str| (k == "STRATA_SUB_MANAGER_ADVERTISE").then(|| "no-port".into());
        let err = SubManagerConfig::parse(text)
            .unwrap()
            .finish(&bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("advertise: 'no-port'"), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = SubManagerConfig::parse("[poll]\nintervall = \"1s\"").unwrap_err();
        assert!(err.contains("intervall"), "{err}");
    }
}
