//! The one door of the broker: its gRPC server and its client channels are built here, so that
//! TLS, limits and timeouts are layered once.

use std::sync::Arc;
use std::time::Duration;

use strata_proto::v1::broker_server::BrokerServer;
use strata_proto::v1::sub_manager_client::SubManagerClient;
use strata_proto::v1::sub_manager_server::SubManagerServer;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};

use crate::config::BrokerConfig;
use crate::error::Result;
use crate::router::Router;
use crate::service::BrokerService;
use crate::state::BrokerState;

/// Largest message the broker decodes (routed query answers can be large).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Serves the Broker and the routed SubManager services until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    state: Arc<BrokerState>,
    shutdown: CancellationToken,
) -> Result<()> {
    tonic::transport::Server::builder()
        .concurrency_limit_per_connection(1024)
        .tcp_nodelay(true)
        .http2_keepalive_interval(Some(Duration::from_secs(10)))
        .add_service(BrokerServer::new(BrokerService::new(state.clone())))
        .add_service(
            SubManagerServer::new(Router::new(state))
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        )
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown.cancelled_owned())
        .await?;
    Ok(())
}

/// A lazily connected channel to a sub-manager at `addr` (`host:port`).
pub fn channel(
    addr: &str,
    config: &BrokerConfig,
) -> std::result::Result<Channel, tonic::transport::Error> {
    Ok(Endpoint::from_shared(format!("http://{addr}"))?
        .connect_timeout(config.connect_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(5))
        .keep_alive_timeout(Duration::from_secs(5))
        .connect_lazy())
}

/// A SubManager client over `channel` with the broker's message limits.
pub fn sub_manager_client(channel: Channel) -> SubManagerClient<Channel> {
    SubManagerClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}
