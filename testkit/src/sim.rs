//! Simulated agents served in this process, registered with brokers as `strata sim` does.

use strata_agent::sim::{Simulation, agent_id};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Where simulated agents register: brokers, region and join token.
#[derive(Debug, Clone, Default)]
pub struct Registration {
    pub brokers: Vec<String>,
    pub region: String,
    pub token: Option<String>,
}

/// Serves `sim` (agents `<prefix>0001` to `<prefix><agents>`) on `listener`, registered as
/// `registration` says, and runs its ticks until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    sim: Simulation,
    (prefix, count): (&str, usize),
    registration: Registration,
    shutdown: CancellationToken,
) -> Result<(), strata_agent::AgentError> {
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let agents: Vec<(String, String)> = (1..=count)
        .map(|n| (agent_id(prefix, n), addr.clone()))
        .collect();
    for broker in &registration.brokers {
        tokio::spawn(strata_agent::registration::register_loop(
            broker.clone(),
            registration.region.clone(),
            registration.token.clone(),
            agents.clone(),
            shutdown.clone(),
        ));
    }
    let registry = sim.registry();
    let ticks = tokio::spawn(sim.run(shutdown.clone()));
    let served = strata_agent::server::serve(listener, registry, None, shutdown.clone()).await;
    shutdown.cancel();
    let _ = ticks.await;
    served
}
