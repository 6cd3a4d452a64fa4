//! The broker's one door: every listener, server and client channel of the crate is built
//! here and nowhere else — the gRPC listener and server (Broker and the routed SubManager
//! service), the `/metrics` listener, and the channels to the sub-managers the router calls —
//! so that limits, timeouts, mutual TLS and the authorization of callers are layered once.
//!
//! Who may call the broker ([`policy`]): heartbeats from sub-managers and super-managers,
//! assignment watches from sub-managers, registrations from agents and sub-managers, region
//! lookups from managers and operators, routed SubManager calls from super-managers and
//! operators, and enrolments from agents — or from clients without a certificate, whose
//! join token the enrolment checks. That a heartbeat, watch or registration names the caller itself (its id, role
//! and region) is checked by the service.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata_proto::identity::authz::split_path;
use strata_proto::identity::{AuthorizeLayer, Expect, Identity, Role, Transport};
use strata_proto::v1::Member;
use strata_proto::v1::broker_server::BrokerServer;
use strata_proto::v1::sub_manager_client::SubManagerClient;
use strata_proto::v1::sub_manager_server::SubManagerServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::Status;
use tonic::transport::{Channel, Endpoint};

use crate::config::BrokerConfig;
use crate::error::{BrokerError, Result};
use crate::router::{MemberClients, Router};
use crate::service::BrokerService;
use crate::state::BrokerState;

/// Largest message the broker decodes (routed query answers can be large).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Binds the broker's gRPC listener on `listen` (`host:port`).
pub async fn bind(listen: &str) -> Result<TcpListener> {
    TcpListener::bind(listen)
        .await
        .map_err(|source| BrokerError::Bind {
            addr: listen.to_string(),
            source,
        })
}

/// Who may call which method of the broker (content is checked by the service).
pub fn policy(
    path: &str,
    caller: Option<&Identity>,
    _me: &Identity,
) -> std::result::Result<(), String> {
    if split_path(path) == ("Broker", "Enrol") && caller.is_none_or(|c| c.role == Role::Agent) {
        return Ok(()); // a new agent has no certificate yet: its join token is checked
    }
    let Some(caller) = caller else {
        return Err("a client certificate is needed".into());
    };
    let open_to: &[Role] = match split_path(path) {
        ("Broker", "Heartbeat") => &[Role::SubManager, Role::SuperManager],
        ("Broker", "WatchAssignment") => &[Role::SubManager],
        ("Broker", "RegisterAgents") => &[Role::Agent, Role::SubManager],
        ("Broker", "Resolve" | "WatchMembership") => {
            &[Role::SubManager, Role::SuperManager, Role::Operator]
        }
        // the principals come from the centre alone
        ("SubManager", "PutPrincipals") => &[Role::SuperManager],
        ("SubManager", _) => &[Role::SuperManager, Role::Operator],
        _ => &[],
    };
    if open_to.contains(&caller.role) {
        Ok(())
    } else {
        let names: Vec<&str> = open_to.iter().map(|r| r.name()).collect();
        Err(format!(
            "open to {} only",
            if names.is_empty() {
                "nobody".into()
            } else {
                names.join(", ")
            }
        ))
    }
}

/// Serves the Broker and the routed SubManager services through `transport` until
/// `shutdown` is cancelled; the router reaches the sub-managers over [`SubManagerChannels`].
pub async fn serve(
    listener: TcpListener,
    transport: &Transport,
    state: Arc<BrokerState>,
    shutdown: CancellationToken,
) -> Result<()> {
    let clients = Arc::new(SubManagerChannels::new(&state.config, transport.clone()));
    tonic::transport::Server::builder()
        .concurrency_limit_per_connection(1024)
        .http2_keepalive_interval(Some(Duration::from_secs(10)))
        .layer(AuthorizeLayer::new(transport.clone(), policy))
        .add_service(BrokerServer::new(BrokerService::new(
            state.clone(),
            clients.clone(),
            transport.clone(),
        )))
        .add_service(
            SubManagerServer::new(Router::new(state, clients))
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        )
        .serve_with_incoming_shutdown(
            transport.incoming(listener, shutdown.clone()),
            shutdown.cancelled_owned(),
        )
        .await?;
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

/// The channels to sub-managers, one per address, made lazily and cached.
#[derive(Debug)]
pub struct SubManagerChannels {
    config: BrokerConfig,
    transport: Transport,
    channels: Mutex<HashMap<String, Channel>>,
}

impl SubManagerChannels {
    /// No channel yet; new ones take their timeouts from `config` and go through
    /// `transport`.
    pub fn new(config: &BrokerConfig, transport: Transport) -> Self {
        Self {
            config: config.clone(),
            transport,
            channels: Mutex::new(HashMap::new()),
        }
    }
}

impl MemberClients for SubManagerChannels {
    fn client(&self, member: &Member) -> std::result::Result<SubManagerClient<Channel>, Status> {
        let mut channels = self.channels.lock().expect("channel lock poisoned");
        if let Some(ch) = channels.get(&member.address) {
            return Ok(sub_manager_client(ch.clone()));
        }
        let expect = Expect::InRegion(Role::SubManager, member.region.clone());
        let ch = channel(&member.address, &self.config, &self.transport, expect).map_err(|e| {
            Status::internal(format!(
                "bad address '{}' of member {}: {e}",
                member.address, member.id
            ))
        })?;
        channels.insert(member.address.clone(), ch.clone());
        Ok(sub_manager_client(ch))
    }
}

/// A lazily connected channel through `transport` to a sub-manager at `addr`
/// (`host:port`) that must prove `expect`.
pub fn channel(
    addr: &str,
    config: &BrokerConfig,
    transport: &Transport,
    expect: Expect,
) -> std::result::Result<Channel, tonic::transport::Error> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))?
        .connect_timeout(config.connect_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(5))
        .keep_alive_timeout(Duration::from_secs(5));
    Ok(transport.channel(endpoint, expect))
}

/// A SubManager client over `channel` with the broker's message limits.
pub fn sub_manager_client(channel: Channel) -> SubManagerClient<Channel> {
    SubManagerClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}
