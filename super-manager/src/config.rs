//! The super-manager's configuration: a TOML file over documented defaults, with
//! `STRATA_SUPER_MANAGER_*` environment overrides.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use strata_proto::config::{is_host_port, split_list};

use crate::error::{Result, SuperManagerError};

/// Everything the super-manager needs to run.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SuperManagerConfig {
    /// Member id (default `super-1`).
    pub id: String,
    /// HTTP address of the REST API and console (default `127.0.0.1:9740`).
    pub http: String,
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
}

impl Default for SuperManagerConfig {
    fn default() -> Self {
        Self {
            id: "super-1".into(),
            http: "127.0.0.1:9740".into(),
            brokers: Vec::new(),
            heartbeat_interval: Duration::from_secs(1),
            lease: Duration::from_secs(3),
            call_timeout: Duration::from_secs(10),
            resubscribe_delay: Duration::from_millis(500),
        }
    }
}

impl SuperManagerConfig {
    /// Loads `path` over the defaults, applies environment overrides, and validates.
    pub fn load(path: &Path) -> Result<Self> {
        let mut config: Self = strata_proto::config::read_toml(path)?;
        config.apply_env(|k| std::env::var(k).ok());
        config.validate()?;
        Ok(config)
    }

    /// Parses TOML text over the defaults.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        strata_proto::config::parse_toml(text)
    }

    /// Applies `STRATA_SUPER_MANAGER_HTTP` and `STRATA_SUPER_MANAGER_BROKERS` (comma-separated).
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) {
        if let Some(v) = var("STRATA_SUPER_MANAGER_HTTP") {
            self.http = v;
        }
        if let Some(v) = var("STRATA_SUPER_MANAGER_BROKERS") {
            self.brokers = split_list(&v);
        }
    }

    /// Checks every value and reports all problems at once.
    pub fn validate(&self) -> Result<()> {
        let mut errors = Vec::new();
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
        if errors.is_empty() {
            Ok(())
        } else {
            Err(SuperManagerError::ConfigInvalid(errors))
        }
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
        assert!(
            SuperManagerConfig::parse("htp = \"1\"")
                .unwrap_err()
                .contains("htp")
        );
    }
}
