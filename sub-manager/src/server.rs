//! The one door of the sub-manager: its gRPC server and every client channel it opens (to
//! agents, to brokers) are built here, so that TLS, limits and timeouts are layered once.

use std::sync::Arc;
use std::time::Duration;

use strata_proto::v1::agent_client::AgentClient;
use strata_proto::v1::broker_client::BrokerClient;
use strata_proto::v1::sub_manager_server::SubManagerServer;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};
use tower::ServiceBuilder;
use tower::limit::ConcurrencyLimit;
use tower::timeout::Timeout;

use crate::api::Api;
use crate::error::Result;

/// Largest message exchanged (poll answers and query answers can be large).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// The tower stack every poll goes through: a timeout around a concurrency limit shared by
/// all agents, over the channel to the agent's address.
pub type PollService = Timeout<ConcurrencyLimit<Channel>>;

/// Serves the regional SubManager API until `shutdown` is cancelled.
pub async fn serve(listener: TcpListener, api: Api, shutdown: CancellationToken) -> Result<()> {
    tonic::transport::Server::builder()
        .concurrency_limit_per_connection(256)
        .tcp_nodelay(true)
        .http2_keepalive_interval(Some(Duration::from_secs(10)))
        .serve_with_incoming_shutdown(
            SubManagerServer::new(api)
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
            TcpListenerStream::new(listener),
            shutdown.cancelled_owned(),
        )
        .await?;
    Ok(())
}

fn endpoint(
    addr: &str,
    connect_timeout: Duration,
) -> std::result::Result<Endpoint, tonic::transport::Error> {
    Ok(Endpoint::from_shared(format!("http://{addr}"))?
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(5)))
}

/// A lazily connected channel to an agent endpoint (shared by the agents behind it).
pub fn agent_channel(
    addr: &str,
    timeout: Duration,
) -> std::result::Result<Channel, tonic::transport::Error> {
    Ok(endpoint(addr, timeout)?.connect_lazy())
}

/// An Agent client over `channel` through the poll stack: `timeout`, then a permit of `limit`.
pub fn agent_client(
    channel: Channel,
    limit: Arc<Semaphore>,
    timeout: Duration,
) -> AgentClient<PollService> {
    let service = ServiceBuilder::new()
        .timeout(timeout)
        .layer(tower::limit::GlobalConcurrencyLimitLayer::with_semaphore(
            limit,
        ))
        .service(channel);
    AgentClient::new(service).max_decoding_message_size(MAX_MESSAGE_BYTES)
}

/// A Broker client for `addr`. Calls carry their own timeouts (the assignment stream has
/// none); HTTP/2 pings every second find a broker that vanished without closing the
/// connection within three.
pub fn broker_client(
    addr: &str,
) -> std::result::Result<BrokerClient<Channel>, tonic::transport::Error> {
    let channel = endpoint(addr, Duration::from_secs(1))?
        .http2_keep_alive_interval(Duration::from_secs(1))
        .keep_alive_timeout(Duration::from_secs(2))
        .keep_alive_while_idle(true)
        .connect_lazy();
    Ok(BrokerClient::new(channel))
}

/// Serves the regional console on `listener` until `shutdown`; a failure is logged (the
/// region goes on polling and alerting without its console).
pub async fn serve_console(
    listener: TcpListener,
    router: axum::Router,
    shutdown: CancellationToken,
) {
    let addr = listener.local_addr().ok();
    tracing::info!(?addr, "regional console served");
    if let Err(error) = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
    {
        tracing::warn!(%error, "the regional console stopped");
    }
}

/// The HTTP client notifications are delivered with (webhooks, Alertmanager, SMS gateways):
/// every request bounded by `timeout`, HTTPS through rustls with ring.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    // ring is the one crypto provider of the workspace; installing it twice is harmless
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("strata-sub-manager/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|error| {
            tracing::warn!(%error, "building the HTTP client failed; using the defaults");
            reqwest::Client::new()
        })
}
