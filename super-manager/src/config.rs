//! The super-manager's configuration: a TOML file over documented defaults, with
//! `STRATA_SUPER_MANAGER_*` environment overrides.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use strata_proto::config::{RoleConfig, is_host_port, split_list};
use strata_proto::identity::TlsConfig;
use strata_web::auth::AuthConfig;

use crate::error::SuperManagerError;

pub mod files;
pub mod reports;

/// Everything the super-manager needs to run.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SuperManagerConfig {
    /// Member id (default `super-1`).
    pub id: String,
    /// HTTP address of the REST API and console (default `127.0.0.1:9740`).
    pub http: String,
    /// gRPC address of the SuperManager service, over mutual TLS (default `127.0.0.1:9741`;
    /// `""`: not served).
    pub grpc_listen: Option<String>,
    /// Where the other centres reach that gRPC service, `host:port` (default: `grpc_listen`
    /// itself; required when that is an unspecified address such as `0.0.0.0`). The
    /// centres find each other through the brokers and keep what only a centre knows alike
    /// over it (see docs/ha.md).
    pub grpc_advertise: Option<String>,
    /// Brokers, as `host:port`; calls fail over from one to the next (default none).
    pub brokers: Vec<String>,
    /// Time between heartbeats to each broker (default 1 s).
    #[serde(with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    /// Lease asked of the brokers (default 3 s).
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// Timeout of one call through a broker (default 10 s).
    #[serde(with = "humantime_serde")]
    pub call_timeout: Duration,
    /// Wait before re-opening a broken region stream (default 500 ms).
    #[serde(with = "humantime_serde")]
    pub resubscribe_delay: Duration,
    /// Where the overview, the stream cursors and the incidents are kept (default
    /// `./data/super-manager`).
    pub data_dir: PathBuf,
    /// Resolved incidents kept (default 100,000).
    pub incident_history: usize,
    /// A TOML file of `[[services]]`, applied at start (default none: services come from
    /// the API only).
    pub services_file: Option<PathBuf>,
    /// How long probe runs and their minute and hour rollups are kept (`[qos]`: raw_days 8,
    /// minute_days 35, hour_days 400).
    pub qos: crate::qos::Retention,
    /// Mutual TLS: the node directory with this super-manager's certificate (`[tls]`).
    pub tls: TlsConfig,
    /// Who may use the REST API and console (`[auth]`: the principals file, default
    /// `<data_dir>/principals.json`; the session's length; the host names allowed).
    pub auth: AuthConfig,
    /// HTTPS on `http` (`[https]`: `cert_file`, `key_file`; plain HTTP only on a loopback
    /// address, or with `insecure = true`).
    pub https: strata_web::https::HttpsConfig,
    /// Where the services' SLO burn-rate alerts go (`[notify]`: `alertmanager` URLs, none by
    /// default; `resend` 1 min; `timeout` 10 s).
    pub notify: crate::notify::NotifyConfig,
    /// Reports sent by themselves (`[reports]`: `[[reports.schedules]]`, `check_interval`
    /// 30 s, `max_attempts` 10).
    pub reports: reports::ReportsConfig,
    /// File distribution (`[files]`: `max_bundle_bytes` 3 MiB, `retry_interval` 10 s,
    /// `max_backoff` 5 min).
    pub files: files::FilesConfig,
}

impl Default for SuperManagerConfig {
    fn default() -> Self {
        Self {
            id: "super-1".into(),
            http: "127.0.0.1:9740".into(),
            grpc_listen: Some("127.0.0.1:9741".into()),
            grpc_advertise: None,
            brokers: Vec::new(),
            heartbeat_interval: Duration::from_secs(1),
            lease: Duration::from_secs(3),
            call_timeout: Duration::from_secs(10),
            resubscribe_delay: Duration::from_millis(500),
            data_dir: PathBuf::from("./data/super-manager"),
            incident_history: crate::overview::DEFAULT_INCIDENT_HISTORY,
            services_file: None,
            qos: crate::qos::Retention::default(),
            tls: TlsConfig::default(),
            auth: AuthConfig::default(),
            https: Default::default(),
            notify: Default::default(),
            reports: Default::default(),
            files: Default::default(),
        }
    }
}

impl SuperManagerConfig {
    /// Where the other centres reach this one's gRPC service, when it is served on `bound`:
    /// `grpc_advertise`, else the bound address unless it is unspecified (`0.0.0.0`).
    pub fn grpc_reach(&self, bound: Option<std::net::SocketAddr>) -> String {
        match (&self.grpc_advertise, bound) {
            (Some(a), Some(_)) => a.clone(),
            (None, Some(b)) if !b.ip().is_unspecified() => b.to_string(),
            _ => String::new(),
        }
    }
}

impl RoleConfig for SuperManagerConfig {
    type Error = SuperManagerError;

    /// Applies `STRATA_SUPER_MANAGER_ID`, `_HTTP`, `_GRPC` and `_BROKERS` (comma-separated).
    fn apply_env(&mut self, var: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
        if let Some(v) = var("STRATA_SUPER_MANAGER_ID") {
            self.id = v;
        }
        if let Some(v) = var("STRATA_SUPER_MANAGER_GRPC") {
            self.grpc_listen = Some(v);
        }
        if let Some(v) = var("STRATA_SUPER_MANAGER_HTTP") {
            self.http = v;
        }
        if let Some(v) = var("STRATA_SUPER_MANAGER_BROKERS") {
            self.brokers = split_list(&v);
        }
        Vec::new()
    }

    fn problems(&self) -> Vec<String> {
        let mut errors = self.tls.problems();
        errors.extend(self.auth.problems());
        errors.extend(self.notify.problems());
        errors.extend(self.reports.problems(&self.notify.receivers));
        errors.extend(self.files.problems());
        errors.extend(self.https.problems("http", &self.http));
        if let Some(g) = &self.grpc_listen
            && !g.is_empty()
            && g.parse::<std::net::SocketAddr>().is_err()
        {
            errors.push(format!(
                "grpc_listen: '{g}' is not an address like 127.0.0.1:9741"
            ));
        }
        if let Some(a) = &self.grpc_advertise
            && !is_host_port(a)
        {
            errors.push(format!("grpc_advertise: '{a}' is not host:port"));
        }
        if self.id.trim().is_empty() {
            errors.push("id: must not be empty".to_string());
        }
        if self.http.parse::<std::net::SocketAddr>().is_err() {
            errors.push(format!(
                "http: '{}' is not an address like 127.0.0.1:9740",
                self.http
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
        if self.call_timeout.is_zero() {
            errors.push("call_timeout: must be above zero".into());
        }
        let q = &self.qos;
        if q.raw_days < 1 || q.minute_days < q.raw_days || q.hour_days < q.minute_days {
            errors.push(format!(
                "qos: raw_days {} ≥ 1, minute_days {} ≥ raw_days and hour_days {} ≥ minute_days are required",
                q.raw_days, q.minute_days, q.hour_days
            ));
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors() {
        let c = SuperManagerConfig::parse("brokers = [\"127.0.0.1:7600\"]").unwrap();
        assert_eq!(c.http, "127.0.0.1:9740");
        c.validate().unwrap();
        let bad = SuperManagerConfig::parse("http = \"x\"\nbrokers = [\"y\"]").unwrap();
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("http:") && err.contains("brokers[0]"), "{err}");
        assert_eq!(
            c.qos.hour_days, 400,
            "a year and more of hourly QoS by default"
        );
        let short = SuperManagerConfig::parse("[qos]\nminute_days = 40\nhour_days = 30").unwrap();
        assert!(short.validate().unwrap_err().to_string().contains("qos:"));
        assert!(
            SuperManagerConfig::parse("htp = \"1\"")
                .unwrap_err()
                .contains("htp")
        );
    }
}
