//! The super-manager's one door: every server and every client channel it has is built
//! here, and nowhere else, so that TLS, identities, limits and tracing layers are added
//! once (issue 10).
//!
//! - The listener: one TCP address (`http`) carries the REST API and console
//!   ([`crate::http`]) and, on the same connections (HTTP/2 without TLS, as the other roles
//!   serve it), the `SuperManager` gRPC service ([`crate::grpc`]).
//! - The channels: one lazily connected channel per broker, over which
//!   [`crate::brokers::Brokers`] fails over and every call to a region is routed.

use std::time::Duration;

use axum::Router;
use strata_proto::v1::super_manager_server::SuperManagerServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};

use crate::error::{Result, SuperManagerError};
use crate::grpc::Grpc;

/// Binds the listener of the REST API, the console and the gRPC service on `addr`.
pub async fn bind(addr: &str) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| SuperManagerError::Bind {
            addr: addr.to_string(),
            source,
        })
}

/// Serves `rest` (the REST API and console) and `grpc` on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    rest: Router,
    grpc: Grpc,
    shutdown: CancellationToken,
) -> Result<()> {
    let app = rest.route_service(
        "/strata.v1.SuperManager/{*rpc}",
        SuperManagerServer::new(grpc),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .map_err(SuperManagerError::Serve)
}

/// A channel to each broker of `addrs` (`host:port`), in order; none connects until used.
pub fn broker_channels(addrs: &[String]) -> Result<Vec<Channel>, tonic::transport::Error> {
    addrs
        .iter()
        .map(|addr| {
            Ok(Endpoint::from_shared(format!("http://{addr}"))?
                .connect_timeout(Duration::from_secs(1))
                .tcp_nodelay(true)
                .http2_keep_alive_interval(Duration::from_secs(5))
                .keep_alive_timeout(Duration::from_secs(5))
                .connect_lazy())
        })
        .collect()
}
