//! Enrolment: an agent with `[enrol] ca_fingerprint` and its region's join token gets its
//! certificate by itself — its key made here, a signing request sent to a broker proven by
//! the pinned CA, the answer written into its `[tls] dir` — and renews it when a third of
//! its life is left, with its current certificate instead of the token, with no restart
//! (the transport reloads the files).

use std::time::{Duration, SystemTime};

use strata_proto::identity::enrol::{pinned_channel, request, signing_request, write_enrolled};
use strata_proto::identity::{Role, Transport};
use strata_proto::v1::broker_client::BrokerClient;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::AgentConfig;
use crate::error::{AgentError, Result};

/// How long a start waits for its first certificate.
const FIRST_ENROLMENT_WITHIN: Duration = Duration::from_secs(60);
/// Between two tries.
const RETRY: Duration = Duration::from_secs(2);

fn brokers(config: &AgentConfig) -> &[String] {
    if config.enrol.brokers.is_empty() {
        &config.registration.brokers
    } else {
        &config.enrol.brokers
    }
}

/// Enrols when `[enrol]` is on and the node directory holds no certificate this agent can
/// use; tries each broker in turn for a minute.
pub async fn ensure(config: &AgentConfig) -> Result<()> {
    if config.enrol.ca_fingerprint.is_none() {
        return Ok(());
    }
    let region = config.registration.region.as_str();
    if Transport::load(&config.tls, Role::Agent, Some(region), Some(&config.id)).is_ok() {
        return Ok(());
    }
    let deadline = tokio::time::Instant::now() + FIRST_ENROLMENT_WITHIN;
    let mut last = String::new();
    while tokio::time::Instant::now() < deadline {
        for broker in brokers(config) {
            match once(config, broker, None).await {
                Ok(()) => {
                    info!(agent = %config.id, %region, %broker, "enrolled");
                    return Ok(());
                }
                Err(error) => {
                    warn!(%broker, %error, "enrolment failed; trying again");
                    last = error;
                }
            }
        }
        tokio::time::sleep(RETRY).await;
    }
    Err(AgentError::Enrol(last))
}

/// One enrolment at `broker`: as `transport`'s identity (a renewal), or with the join token.
async fn once(
    config: &AgentConfig,
    broker: &str,
    transport: Option<&Transport>,
) -> std::result::Result<(), String> {
    let pin = config.enrol.ca_fingerprint.as_deref().unwrap_or_default();
    let (key, csr) = signing_request().map_err(|e| e.to_string())?;
    let mut client = match transport {
        Some(t) => crate::door::broker_client(broker, t).map_err(|e| e.to_string())?,
        None => BrokerClient::new(pinned_channel(broker, pin).map_err(|e| e.to_string())?),
    };
    let token = config
        .enrol
        .token
        .clone()
        .or_else(|| config.registration.token.clone())
        .unwrap_or_default();
    let token = if transport.is_some() {
        String::new()
    } else {
        token
    };
    let answer = tokio::time::timeout(
        Duration::from_secs(15),
        client.enrol(request(
            &config.registration.region,
            &config.id,
            &token,
            csr,
        )),
    )
    .await
    .map_err(|_| "the broker did not answer within 15 s".to_string())?
    .map_err(|s| s.message().to_string())?
    .into_inner();
    write_enrolled(&config.tls.dir, &key, &answer, pin).map_err(|e| e.to_string())
}

/// Renews the certificate of `transport` when a third of its life is left, until `shutdown`;
/// once it has expired (the agent was stopped too long), enrols again with the token.
pub async fn renew_loop(config: AgentConfig, transport: Transport, shutdown: CancellationToken) {
    if config.enrol.ca_fingerprint.is_none() {
        return;
    }
    loop {
        let Some((issued, expires)) = transport.validity() else {
            return;
        };
        let life = expires.duration_since(issued).unwrap_or_default();
        let left = expires
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        let wait = if left <= life / 3 {
            let mut renewed = false;
            let current = (!left.is_zero()).then_some(&transport);
            for broker in brokers(&config) {
                match once(&config, broker, current).await {
                    Ok(()) => {
                        transport.reload_if_changed();
                        info!(agent = %config.id, %broker, "certificate renewed");
                        renewed = true;
                        break;
                    }
                    Err(error) => warn!(%broker, %error, "renewal failed; trying again"),
                }
            }
            if renewed { Duration::ZERO } else { RETRY }
        } else {
            (left - life / 3).min(Duration::from_secs(60))
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait.max(Duration::from_millis(100))) => {}
        }
    }
}
