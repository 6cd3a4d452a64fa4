//! The broker's configuration: a TOML file over documented defaults, with `STRATA_BROKER_*`
//! environment overrides. Brokers keep no durable state, so there is no data directory.

use std::time::Duration;

use serde::Deserialize;

use strata_proto::config::RoleConfig;

use crate::error::BrokerError;

/// Everything the broker needs to run.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    /// The broker's id (default `broker-1`).
    pub id: String,
    /// gRPC listen address for members and clients (default `127.0.0.1:7600`).
    pub listen: String,
    /// Lease granted to a member that asks for none: it is unhealthy this long after its last
    /// heartbeat (default 3 s; members heartbeat every 1 s).
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// Timeout of one routed call to a sub-manager (default 5 s).
    #[serde(with = "humantime_serde")]
    pub call_timeout: Duration,
    /// Timeout for connecting to a sub-manager (default 1 s).
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Address of `/metrics` and `/healthz` (default none: not served).
    pub metrics_listen: Option<String>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            id: "broker-1".into(),
            listen: "127.0.0.1:7600".into(),
            lease: Duration::from_secs(3),
            call_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(1),
            metrics_listen: None,
        }
    }
}

impl RoleConfig for BrokerConfig {
    type Error = BrokerError;

    /// Applies `STRATA_BROKER_ID` and `STRATA_BROKER_LISTEN`.
    fn apply_env(&mut self, var: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
        if let Some(v) = var("STRATA_BROKER_ID") {
            self.id = v;
        }
        if let Some(v) = var("STRATA_BROKER_LISTEN") {
            self.listen = v;
        }
        Vec::new()
    }

    fn problems(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if self.id.trim().is_empty() {
            errors.push("id: must not be empty".to_string());
        }
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            errors.push(format!(
                "listen: '{}' is not an address like 127.0.0.1:7600",
                self.listen
            ));
        }
        if let Some(m) = &self.metrics_listen
            && m.parse::<std::net::SocketAddr>().is_err()
        {
            errors.push(format!(
                "metrics_listen: '{m}' is not an address like 127.0.0.1:9600"
            ));
        }
        if self.lease < Duration::from_millis(200) {
            errors.push(format!(
                "lease: {:?} is below the minimum of 200ms",
                self.lease
            ));
        }
        if self.call_timeout.is_zero() {
            errors.push("call_timeout: must be above zero".into());
        }
        if self.connect_timeout.is_zero() {
            errors.push("connect_timeout: must be above zero".into());
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_lease() {
        let c = BrokerConfig::parse("").unwrap();
        assert_eq!(c.lease, Duration::from_secs(3));
        c.validate().unwrap();
    }

    #[test]
    fn bad_values_are_all_named() {
        let c = BrokerConfig::parse("id = \"\"\nlease = \"10ms\"\nlisten = \"x\"").unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("id:") && err.contains("lease:") && err.contains("listen:"),
            "{err}"
        );
        assert!(
            BrokerConfig::parse("leese = \"1s\"")
                .unwrap_err()
                .contains("leese")
        );
    }
}
