//! The broker's configuration: a TOML file over documented defaults, with `STRATA_BROKER_*`
//! environment overrides. Brokers keep no durable state, so there is no data directory.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use strata_proto::config::RoleConfig;
use strata_proto::identity::TlsConfig;

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
    /// How long an agent registration holds without a refresh (default 30 s; registrants
    /// refresh every third of it).
    #[serde(with = "humantime_serde")]
    pub registration_ttl: Duration,
    /// Pollers per agent, 1 or 2, in regions that do not set their own (default 1).
    pub replicas: u32,
    /// Token agents must present to register, in regions that do not set their own (default
    /// none: registrations are accepted without one).
    pub join_token: Option<String>,
    /// Settings per region, by name.
    pub regions: BTreeMap<String, RegionSettings>,
    /// Mutual TLS: the node directory with this broker's certificate (`[tls]`).
    pub tls: TlsConfig,
}

/// What a region may set for itself.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegionSettings {
    /// Pollers per agent, 1 or 2 (default: the broker's `replicas`).
    pub replicas: Option<u32>,
    /// Token agents of this region must present (default: the broker's `join_token`).
    pub join_token: Option<String>,
}

impl BrokerConfig {
    /// Pollers per agent in `region`.
    pub fn replicas(&self, region: &str) -> u32 {
        self.regions
            .get(region)
            .and_then(|r| r.replicas)
            .unwrap_or(self.replicas)
    }

    /// The token agents of `region` must present, if any.
    pub fn join_token(&self, region: &str) -> Option<&str> {
        self.regions
            .get(region)
            .and_then(|r| r.join_token.as_deref())
            .or(self.join_token.as_deref())
    }
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
            registration_ttl: Duration::from_secs(30),
            replicas: 1,
            join_token: None,
            regions: BTreeMap::new(),
            tls: TlsConfig::default(),
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
        // join tokens the file names rather than holds
        let mut problems = Vec::new();
        if let Some(token) = self.join_token.as_mut() {
            problems.extend(strata_proto::config::resolve_secret(
                "join_token",
                token,
                var,
            ));
        }
        for (region, settings) in &mut self.regions {
            if let Some(token) = settings.join_token.as_mut() {
                let field = format!("regions.{region}.join_token");
                problems.extend(strata_proto::config::resolve_secret(&field, token, var));
            }
        }
        problems
    }

    fn problems(&self) -> Vec<String> {
        let mut errors = self.tls.problems();
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
        if self.registration_ttl < Duration::from_secs(1) {
            errors.push(format!(
                "registration_ttl: {:?} is below the minimum of 1s",
                self.registration_ttl
            ));
        }
        let replicas = std::iter::once(("replicas".to_string(), Some(self.replicas))).chain(
            self.regions
                .iter()
                .map(|(name, r)| (format!("regions.{name}.replicas"), r.replicas)),
        );
        for (field, value) in replicas {
            if let Some(n) = value
                && !(1..=2).contains(&n)
            {
                errors.push(format!("{field}: {n} must be 1 or 2"));
            }
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
        let c = BrokerConfig::parse(
            "join_token = \"t\"\n[regions.eu]\nreplicas = 2\n[regions.us]\njoin_token = \"u\"",
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!((c.replicas("eu"), c.replicas("us")), (2, 1));
        assert_eq!(
            (c.join_token("eu"), c.join_token("us")),
            (Some("t"), Some("u"))
        );
    }

    #[test]
    fn bad_values_are_all_named() {
        let c = BrokerConfig::parse("id = \"\"\nlease = \"10ms\"\nlisten = \"x\"").unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("id:") && err.contains("lease:") && err.contains("listen:"),
            "{err}"
        );
        let c = BrokerConfig::parse("replicas = 3\n[regions.eu]\nreplicas = 0").unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("replicas: 3") && err.contains("regions.eu.replicas: 0"),
            "{err}"
        );
        assert!(
            BrokerConfig::parse("leese = \"1s\"")
                .unwrap_err()
                .contains("leese")
        );
    }
}
