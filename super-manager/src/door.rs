//! The super-manager's one door: every server and every client channel it has is built
//! here, and nowhere else, so that mutual TLS, the authorization of callers, limits and
//! tracing layers are added once.
//!
//! - The HTTP listener (`http`) carries the REST API and console ([`crate::http`]).
//! - The gRPC listener (`grpc_listen`) carries the `SuperManager` service ([`crate::grpc`])
//!   over mutual TLS, open to operators and other super-managers ([`policy`]); an
//!   operator's certificate speaks for the user of its name, judged by its role and regions.
//! - The channels: one lazily connected channel per broker, over which
//!   [`crate::brokers::Brokers`] fails over and every call to a region is routed; each
//!   broker must prove a broker's identity.

use std::time::Duration;

use std::sync::Arc;

use axum::Router;
use strata_proto::identity::authz::split_path;
use strata_proto::identity::{AuthorizeLayer, Expect, Identity, Role, Transport};
use strata_proto::v1::super_manager_server::SuperManagerServer;
use strata_web::auth::grpc::PrincipalLayer;
use strata_web::auth::{Action, PrincipalsFile};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};

use crate::error::{Result, SuperManagerError};
use crate::grpc::Grpc;

/// Binds a listener (the REST API's and console's, or the gRPC service's) on `addr`.
pub async fn bind(addr: &str) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| SuperManagerError::Bind {
            addr: addr.to_string(),
            source,
        })
}

/// The HTTP client the centre's notifications are delivered with (Alertmanager): every
/// request bounded by `timeout`, HTTPS through rustls with ring.
pub fn http_client(timeout: std::time::Duration) -> reqwest::Client {
    // ring is the one crypto provider of the workspace; installing it twice is harmless
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("strata-super-manager/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|error| {
            tracing::warn!(%error, "building the HTTP client failed; using the defaults");
            reqwest::Client::new()
        })
}

/// Who may call the SuperManager gRPC service: operators and super-managers; another
/// centre's journal (`WatchCentre`: sessions, principals' hashes) super-managers only.
pub fn policy(
    path: &str,
    caller: Option<&Identity>,
    _me: &Identity,
) -> std::result::Result<(), String> {
    match (split_path(path), caller.map(|c| c.role)) {
        (("SuperManager", "WatchCentre"), Some(Role::SuperManager)) => Ok(()),
        (("SuperManager", "WatchCentre"), _) => Err("open to super-managers only".into()),
        (("SuperManager", _), Some(Role::Operator | Role::SuperManager)) => Ok(()),
        _ => Err("open to operators and super-managers only".into()),
    }
}

/// What an operator's user needs for each method of the SuperManager service: each reads
/// (the regions it reads are checked by the method, [`crate::grpc`]); `WatchCentre` is
/// closed to users.
pub fn user_needs(service: &str, method: &str) -> Option<Action> {
    (service == "SuperManager" && method != "WatchCentre").then_some(Action::Read)
}

/// Serves `rest` (the REST API and console) on `listener` (over TLS with `tls`) until
/// `shutdown`.
pub async fn serve(
    listener: TcpListener,
    rest: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: CancellationToken,
) -> Result<()> {
    strata_web::https::serve(listener, rest, tls, shutdown.cancelled_owned())
        .await
        .map_err(SuperManagerError::Serve)
}

/// Serves the SuperManager gRPC service `grpc` on `listener` through `transport`, operators
/// judged by their users in `principals`, until `shutdown`.
pub async fn serve_grpc(
    listener: TcpListener,
    transport: &Transport,
    principals: Arc<PrincipalsFile>,
    grpc: Grpc,
    shutdown: CancellationToken,
) -> Result<()> {
    tonic::transport::Server::builder()
        .concurrency_limit_per_connection(256)
        // more streams on one connection are refused (REFUSED_STREAM), not queued
        .max_concurrent_streams(256)
        .layer(AuthorizeLayer::new(transport.clone(), policy))
        .layer(PrincipalLayer::new(principals, user_needs))
        .serve_with_incoming_shutdown(
            SuperManagerServer::new(grpc),
            transport.incoming(listener, shutdown.clone()),
            shutdown.cancelled_owned(),
        )
        .await
        .map_err(|e| SuperManagerError::Serve(std::io::Error::other(e)))
}

/// A channel through `transport` to each broker of `addrs` (`host:port`), in order; none
/// connects until used.
pub fn broker_channels(
    addrs: &[String],
    transport: &Transport,
) -> Result<Vec<Channel>, tonic::transport::Error> {
    addrs
        .iter()
        .map(|addr| {
            let endpoint = Endpoint::from_shared(format!("http://{addr}"))?
                .connect_timeout(Duration::from_secs(1))
                .tcp_nodelay(true)
                .http2_keep_alive_interval(Duration::from_secs(5))
                .keep_alive_timeout(Duration::from_secs(5));
            Ok(transport.channel(endpoint, Expect::Role(Role::Broker)))
        })
        .collect()
}
