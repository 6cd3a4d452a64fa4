//! The one place where the agent's gRPC server is built, so that limits, timeouts and (later)
//! TLS are layered once. It serves its one service without tonic's router, which would pull
//! a web framework into the agent.

use std::sync::Arc;
use std::time::Duration;

use strata_proto::v1::agent_server::AgentServer;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

use crate::control::Control;
use crate::error::Result;
use crate::service::{AgentService, Registry};

/// Serves the Agent service for `registry` on `listener` until `shutdown` is cancelled;
/// `Configure` and `Snapshot` need `control` (simulated agents have none).
pub async fn serve(
    listener: TcpListener,
    registry: Arc<Registry>,
    control: Option<Arc<Control>>,
    shutdown: CancellationToken,
) -> Result<()> {
    tonic::transport::Server::builder()
        .timeout(Duration::from_secs(30))
        .concurrency_limit_per_connection(256)
        .tcp_nodelay(true)
        .serve_with_incoming_shutdown(
            AgentServer::new(AgentService::new(registry, control)),
            TcpListenerStream::new(listener),
            shutdown.cancelled_owned(),
        )
        .await?;
    Ok(())
}
