//! The agent's one door: every listener, server and client channel of the crate is built
//! here and nowhere else — the gRPC listener and server, the `/metrics` listener and the
//! Broker client used for registration — so that limits, timeouts, mutual TLS and the
//! authorization of callers are layered once.
//!
//! Who may call the agent ([`policy`]): the sub-managers of its own region, nobody else; a
//! poll's `poller` must be the caller itself (checked by the service).
//!
//! The gRPC server serves its one service without tonic's router, which would pull a web
//! framework into the agent.

use std::sync::Arc;
use std::time::Duration;

use strata_proto::identity::{AuthorizeLayer, Expect, Identity, Role, Transport};
use strata_proto::v1::agent_server::AgentServer;
use strata_proto::v1::broker_client::BrokerClient;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};
use tracing::warn;

use crate::control::Control;
use crate::error::{AgentError, Result};
use crate::registry::Registry;
use crate::service::AgentService;

/// How long a stop waits for open connections to close.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Binds the agent's gRPC listener on `listen` (`host:port`).
pub async fn bind(listen: &str) -> Result<TcpListener> {
    TcpListener::bind(listen)
        .await
        .map_err(|source| AgentError::Bind {
            addr: listen.to_string(),
            source,
        })
}

/// Who may call an agent: only the sub-managers of its own region.
pub fn policy(
    _method: &str,
    caller: Option<&Identity>,
    me: &Identity,
) -> std::result::Result<(), String> {
    match caller {
        Some(c) if c.is(Role::SubManager, &me.region) => Ok(()),
        _ => Err(format!(
            "only sub-managers of region {} may call this agent",
            me.region
        )),
    }
}

/// Serves the Agent service for `registry` on `listener` through `transport` until
/// `shutdown` is cancelled; `Configure` and `Snapshot` need `control` (simulated agents have
/// none).
pub async fn serve(
    listener: TcpListener,
    transport: &Transport,
    registry: Arc<Registry>,
    control: Option<Arc<Control>>,
    shutdown: CancellationToken,
) -> Result<()> {
    let server = tonic::transport::Server::builder()
        .timeout(Duration::from_secs(30))
        .concurrency_limit_per_connection(256)
        // more streams on one connection are refused (REFUSED_STREAM), not queued
        .max_concurrent_streams(256)
        .layer(AuthorizeLayer::new(transport.clone(), policy))
        .serve_with_incoming_shutdown(
            AgentServer::new(AgentService::new(registry, control)),
            transport.incoming(listener, shutdown.clone()),
            shutdown.clone().cancelled_owned(),
        );
    // a graceful stop waits for open connections; a client that never closes its own must
    // not hold the agent up for longer than this
    let grace = async {
        shutdown.cancelled().await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        served = server => served?,
        _ = grace => warn!(grace = ?SHUTDOWN_GRACE, "connections still open after the shutdown grace; closed"),
    }
    Ok(())
}

/// Serves `/metrics` (what `render` says) and `/healthz` on `listener`, in a task of its
/// own, until `shutdown`.
pub fn serve_metrics(
    listener: TcpListener,
    render: Arc<dyn Fn() -> String + Send + Sync>,
    shutdown: CancellationToken,
) {
    tokio::spawn(strata_proto::telemetry::serve(listener, render, shutdown));
}

/// A Broker client for `addr` (`host:port`) through `transport`, connected on first use;
/// calls carry their own timeouts.
pub fn broker_client(
    addr: &str,
    transport: &Transport,
) -> std::result::Result<BrokerClient<Channel>, tonic::transport::Error> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))?
        .connect_timeout(Duration::from_secs(2))
        .tcp_nodelay(true);
    Ok(BrokerClient::new(
        transport.channel(endpoint, Expect::Role(Role::Broker)),
    ))
}
