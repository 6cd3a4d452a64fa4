//! Registration with the brokers: the agent (or a simulator, for all of its agents at once)
//! tells every broker of its region where it can be polled, and refreshes that before the
//! granted ttl runs out. Registrations are the brokers' soft state, so a restarted broker
//! relearns every agent within one refresh period.

use std::time::Duration;

use strata_proto::identity::Transport;
use strata_proto::v1::{AgentRegistration, RegisterAgentsRequest};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

use crate::door;

/// Registers `agents` (id, address) of `region` with the broker at `broker` through
/// `transport`, refreshing at a third of the granted ttl (retrying every second while it
/// fails), until `shutdown`.
pub async fn register_loop(
    transport: Transport,
    broker: String,
    region: String,
    token: Option<String>,
    agents: Vec<(String, String)>,
    shutdown: CancellationToken,
) {
    let span = info_span!("register", %broker, %region, agents = agents.len());
    async move {
        let mut client = match door::broker_client(&broker, &transport) {
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
                    let answer = answer.into_inner();
                    // the brokers hand out the mesh's revocations; they are only ever added
                    transport.merge_revoked(&answer.revoked);
                    Duration::from_millis(answer.ttl_ms / 3).max(retry)
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
