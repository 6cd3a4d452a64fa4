//! Registration with the brokers: the agent (or a simulator, for all of its agents at once)
//! tells every broker of its region where it can be polled, and refreshes that before the
//! granted ttl runs out. Registrations are the brokers' soft state, so a restarted broker
//! relearns every agent within one refresh period.

use std::time::Duration;

use serde::Deserialize;
use strata_proto::config::is_host_port;
use strata_proto::v1::{AgentRegistration, RegisterAgentsRequest};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

use crate::server;

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

/// Registers `agents` (id, address) of `region` with the broker at `broker`, refreshing at a
/// third of the granted ttl (retrying every second while it fails), until `shutdown`.
pub async fn register_loop(
    broker: String,
    region: String,
    token: Option<String>,
    agents: Vec<(String, String)>,
    shutdown: CancellationToken,
) {
    let span = info_span!("register", %broker, %region, agents = agents.len());
    async move {
        let mut client = match server::broker_client(&broker) {
            Ok(c) => c,
            Err(error) => {
                warn!(%error, "bad broker address; not registered with it");
                return;
            }
        };
        let request = RegisterAgentsRequest {
            region,
            token: token.unwrap_or_default(),
            agents: agents
                .into_iter()
                .map(|(id, address)| AgentRegistration { id, address })
                .collect(),
            ttl_ms: 0,
        };
        let retry = Duration::from_secs(1);
        let mut registered = false;
        loop {
            let call = client.register_agents(request.clone());
            let next = match tokio::time::timeout(retry * 5, call).await {
                Ok(Ok(answer)) => {
                    if !registered {
                        info!("registered");
                        registered = true;
                    }
                    Duration::from_millis(answer.into_inner().ttl_ms / 3).max(retry)
                }
                Ok(Err(status)) => {
                    warn!(error = %status.message(), "registration refused or failed; retrying");
                    registered = false;
                    retry
                }
                Err(_) => {
                    registered = false;
                    retry
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(next) => {}
            }
        }
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

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
