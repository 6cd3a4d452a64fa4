//! The one door of the sub-manager: every listener it binds, every server it runs (the
//! SubManager gRPC service, the regional console's HTTP server, `/metrics`) and every client
//! it opens (channels to agents and brokers, the notifications' and remote write's HTTP
//! clients) is built here and nowhere else, so that mutual TLS, the authorization of
//! callers, limits and timeouts are layered once. E-mail goes through
//! [`strata_web::mail`], the one SMTP client the sub-manager and the centre share.
//!
//! Who may call the regional API ([`policy`]): brokers (routing the centre's calls),
//! super-managers and operators; no agent, no other region's member. An operator's
//! certificate speaks for the user of its name, whose role must allow the method
//! ([`user_needs`]) and whose regions must cover this one — also when a broker routes the
//! call and names the operator. `SignAgent` is open to
//! brokers only (they have checked the enrolling agent's token or certificate), `Peer` to
//! the other members of this region only (they watch each other while no broker answers). Channels to agents
//! expect an agent of this region, channels to brokers a broker ([`Door`]).
//!
//! The door knows the wire, not the domain: the gRPC service, the console's router and the
//! metrics' renderer are handed to it by the composition root (`lib.rs`).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use strata_proto::identity::authz::split_path;
use strata_proto::identity::{AuthorizeLayer, Expect, Identity, Role, Transport};
use strata_proto::v1::agent_client::AgentClient;
use strata_proto::v1::broker_client::BrokerClient;
use strata_proto::v1::sub_manager_client::SubManagerClient;
use strata_proto::v1::sub_manager_server::{SubManager, SubManagerServer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};
use tower::ServiceBuilder;
use tower::limit::ConcurrencyLimit;
use tower::timeout::Timeout;

use strata_web::auth::Action;
use strata_web::auth::grpc::PrincipalLayer;

use crate::error::{Result, SubManagerError};

/// Largest message exchanged (poll answers and query answers can be large).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// The tower stack every poll goes through: a timeout around a concurrency limit shared by
/// all agents, over the channel to the agent's address.
pub type PollService = Timeout<ConcurrencyLimit<Channel>>;

/// A client of one agent for calls outside the poll stack (live detail, recovery actions).
pub type AgentCaller = AgentClient<Channel>;

/// Binds a listener on `addr` (the gRPC API's, or the console's).
pub async fn bind(addr: &str) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| SubManagerError::Bind {
            addr: addr.to_string(),
            source,
        })
}

/// Who may call the regional API: brokers, super-managers and operators.
pub fn policy(
    path: &str,
    caller: Option<&Identity>,
    me: &Identity,
) -> std::result::Result<(), String> {
    match (split_path(path), caller.map(|c| c.role)) {
        (("SubManager", "Peer"), Some(Role::SubManager))
            if caller.is_some_and(|c| c.region == me.region) =>
        {
            Ok(())
        }
        (("SubManager", "Peer"), _) => Err("open to members of this region only".into()),
        (("SubManager", "SignAgent"), Some(Role::Broker)) => Ok(()),
        (("SubManager", "SignAgent"), _) => Err("open to brokers only".into()),
        (("SubManager", "PutPrincipals"), Some(Role::Broker | Role::SuperManager)) => Ok(()),
        (("SubManager", "PutPrincipals"), _) => {
            Err("open to brokers and super-managers only".into())
        }
        (("SubManager", _), Some(Role::Broker | Role::SuperManager | Role::Operator)) => Ok(()),
        _ => Err("open to brokers, super-managers and operators only".into()),
    }
}

/// What an operator's user needs for each method of the regional API (at this member's
/// region): the same as the console's path that asks the same question
/// ([`strata_web::auth::policy`]).
pub fn user_needs(service: &str, method: &str) -> Option<Action> {
    match (service, method) {
        (
            "SubManager",
            "RegionSummary" | "ListResources" | "QueryRange" | "WatchRegion" | "AgentSnapshot"
            | "GetRules" | "ListNotifications" | "ListAgents" | "ListForwarding" | "GetAgentConfig",
        ) => Some(Action::Read),
        ("SubManager", "AcknowledgeEvent") => Some(Action::Operate),
        (
            "SubManager",
            "ConfigureAgent" | "PutRules" | "GetNotify" | "PutNotify" | "PutAgentFiles",
        ) => Some(Action::Admin),
        _ => None,
    }
}

/// The door's client side: this member's transport and region, from which every channel to
/// agents and brokers is made.
#[derive(Debug, Clone)]
pub struct Door {
    transport: Transport,
    region: String,
}

impl Door {
    /// Channels through `transport`, to agents of `region` and to brokers.
    pub fn new(transport: Transport, region: &str) -> Self {
        Self {
            transport,
            region: region.to_string(),
        }
    }

    /// The transport (for `/metrics` and reloads).
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// A channel to an agent endpoint whose certificate must speak for every one of
    /// `agents` (a stolen agent key cannot stand in for another agent of the region).
    fn agent_channel(&self, endpoint: Endpoint, agents: Arc<BTreeSet<String>>) -> Channel {
        self.transport
            .channel(endpoint, Expect::Agents(self.region.clone(), agents))
    }

    /// A client of agent `agent` at `addr`, connected lazily within `connect_timeout`, for
    /// one call outside the poll stack.
    pub fn agent(
        &self,
        addr: &str,
        agent: &str,
        connect_timeout: Duration,
    ) -> std::result::Result<AgentCaller, tonic::transport::Error> {
        let agents = Arc::new(BTreeSet::from([agent.to_string()]));
        Ok(AgentClient::new(
            self.agent_channel(endpoint(addr, connect_timeout)?, agents),
        ))
    }

    /// The poll clients, `concurrency` calls in flight at once, each lasting at most
    /// `timeout`.
    pub fn poll_clients(&self, concurrency: usize, timeout: Duration) -> PollClients {
        PollClients {
            door: self.clone(),
            limit: Arc::new(Semaphore::new(concurrency)),
            timeout,
            channels: HashMap::new(),
        }
    }

    /// A SubManager client of a peer (a member of this region) at `addr`, for `Peer` calls,
    /// connected lazily within `connect_timeout`.
    pub fn peer_client(
        &self,
        addr: &str,
        connect_timeout: Duration,
    ) -> std::result::Result<SubManagerClient<Channel>, tonic::transport::Error> {
        let expect = Expect::InRegion(Role::SubManager, self.region.clone());
        Ok(SubManagerClient::new(
            self.transport
                .channel(endpoint(addr, connect_timeout)?, expect),
        ))
    }

    /// A Broker client for `addr`. Calls carry their own timeouts (the assignment stream
    /// has none); HTTP/2 pings every second find a broker that vanished without closing the
    /// connection within three.
    pub fn broker_client(
        &self,
        addr: &str,
    ) -> std::result::Result<BrokerClient<Channel>, tonic::transport::Error> {
        let endpoint = endpoint(addr, Duration::from_secs(1))?
            .http2_keep_alive_interval(Duration::from_secs(1))
            .keep_alive_timeout(Duration::from_secs(2))
            .keep_alive_while_idle(true);
        Ok(BrokerClient::new(
            self.transport.channel(endpoint, Expect::Role(Role::Broker)),
        ))
    }
}

/// Serves the regional SubManager API, `service`, through `transport` (operators judged by
/// their users with `users`) until `shutdown` is cancelled; streams still open then are cut
/// 3 s later.
pub async fn serve<S: SubManager>(
    listener: TcpListener,
    transport: &Transport,
    users: PrincipalLayer,
    service: S,
    shutdown: CancellationToken,
) -> Result<()> {
    let server = tonic::transport::Server::builder()
        .concurrency_limit_per_connection(256)
        // more streams on one connection are refused (REFUSED_STREAM), not queued
        .max_concurrent_streams(256)
        .http2_keepalive_interval(Some(Duration::from_secs(10)))
        .layer(AuthorizeLayer::new(transport.clone(), policy))
        .layer(users)
        .serve_with_incoming_shutdown(
            SubManagerServer::new(service)
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
            transport.incoming(listener, shutdown.clone()),
            shutdown.clone().cancelled_owned(),
        );
    // the graceful stop waits for open streams (the centre's WatchRegion through a broker
    // never ends by itself): they get SHUTDOWN_GRACE, then are cut
    tokio::select! {
        served = server => served?,
        _ = async {
            shutdown.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {
            tracing::warn!(grace = ?SHUTDOWN_GRACE, "open gRPC streams outlived the shutdown grace; cut");
        }
    }
    Ok(())
}

/// How long open gRPC streams may run on after shutdown is asked.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Serves the regional console on `listener` until `shutdown`; a failure is logged (the
/// region goes on polling and alerting without its console).
pub async fn serve_console(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    router: axum::Router,
    shutdown: CancellationToken,
) {
    let addr = listener.local_addr().ok();
    tracing::info!(?addr, https = tls.is_some(), "regional console served");
    if let Err(error) =
        strata_web::https::serve(listener, router, tls, shutdown.cancelled_owned()).await
    {
        tracing::warn!(%error, "the regional console stopped");
    }
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

/// The poll clients: one lazily connected channel per agent endpoint (shared by the agents
/// behind it), and one poll stack — `timeout`, then a permit of a limit shared by every
/// agent — over it for each agent.
///
/// Each channel checks that the endpoint's certificate speaks for every agent it is used
/// for. The agents of one endpoint share a channel by [`agent_group`] (a simulator's
/// `sim-0001`... together; an agent registered at someone else's address gets a channel of
/// its own, so it cannot spoil theirs); when an agent new to its group comes (a failover's
/// orphans), the group gets a fresh channel checked for all of them (the polls already
/// running keep theirs).
pub struct PollClients {
    door: Door,
    limit: Arc<Semaphore>,
    timeout: Duration,
    /// By endpoint and [`agent_group`]: the channel and the agents it was checked for.
    channels: HashMap<(String, String), GroupChannel>,
}

/// A channel to an endpoint and the agents its certificate was checked for.
type GroupChannel = (Channel, Arc<BTreeSet<String>>);

/// The group an agent's polls share a channel in at its endpoint: its id without the
/// trailing digits (what a simulator's certificate names).
pub fn agent_group(agent: &str) -> &str {
    agent.trim_end_matches(|c: char| c.is_ascii_digit())
}

impl PollClients {
    /// An Agent client for `agent` at the endpoint `addr` through the poll stack; `behind`
    /// are the agents of its [`agent_group`] this member polls at `addr`, checked together
    /// when the group needs a new channel.
    pub fn client(
        &mut self,
        addr: &str,
        agent: &str,
        behind: &BTreeSet<String>,
    ) -> std::result::Result<AgentClient<PollService>, tonic::transport::Error> {
        let key = (addr.to_string(), agent_group(agent).to_string());
        let channel = match self.channels.get(&key) {
            Some((ch, agents)) if agents.contains(agent) => ch.clone(),
            known => {
                let mut agents: BTreeSet<String> =
                    known.map(|(_, a)| a.as_ref().clone()).unwrap_or_default();
                agents.extend(behind.iter().cloned());
                agents.insert(agent.to_string());
                let agents = Arc::new(agents);
                let ch = self
                    .door
                    .agent_channel(endpoint(addr, self.timeout)?, agents.clone());
                self.channels.insert(key, (ch.clone(), agents));
                ch
            }
        };
        let service = ServiceBuilder::new()
            .timeout(self.timeout)
            .layer(tower::limit::GlobalConcurrencyLimitLayer::with_semaphore(
                self.limit.clone(),
            ))
            .service(channel);
        Ok(AgentClient::new(service).max_decoding_message_size(MAX_MESSAGE_BYTES))
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

/// The HTTP client of one remote-write destination: every request bounded by `timeout`,
/// HTTPS through rustls with ring, trusting `tls.ca_file` beside the system's roots and
/// presenting `tls`'s client certificate when set; an error names the setting.
pub fn remote_write_client(
    timeout: Duration,
    tls: &crate::config::remote_write::RemoteTls,
) -> std::result::Result<reqwest::Client, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("strata-sub-manager/", env!("CARGO_PKG_VERSION")));
    if let Some(ca) = &tls.ca_file {
        let pem = std::fs::read(ca).map_err(|e| format!("tls.ca_file {}: {e}", ca.display()))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("tls.ca_file {}: {e}", ca.display()))?
        {
            builder = builder.add_root_certificate(cert);
        }
    }
    if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
        let mut pem =
            std::fs::read(cert).map_err(|e| format!("tls.cert_file {}: {e}", cert.display()))?;
        pem.extend(std::fs::read(key).map_err(|e| format!("tls.key_file {}: {e}", key.display()))?);
        builder = builder.identity(
            reqwest::Identity::from_pem(&pem).map_err(|e| format!("tls.cert_file: {e}"))?,
        );
    }
    builder.build().map_err(|e| format!("HTTP client: {e}"))
}
