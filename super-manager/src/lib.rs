//! Strata's super-manager: the enterprise view over every region.
//!
//! It subscribes to every region's WatchRegion stream through the brokers and keeps the
//! aggregate (states, events), never raw samples; metric history is fetched from the region
//! on demand, through a broker. It answers the REST API (and the same over gRPC) and serves
//! the console. This file only wires the parts together.
//!
//! # Layout
//! The composition root and the doors:
//! - [`config`]: the TOML config and its validation.
//! - [`error`]: the crate's error enum.
//! - [`shared`]: the state the parts share ([`shared::Shared`]) and the counters.
//! - [`door`]: the one place the listener (REST, console and gRPC) and the broker channels
//!   are built.
//!
//! The state and its upkeep (no HTTP or gRPC service code):
//! - [`overview`]: the aggregated state of every region, kept in its own store.
//! - [`incidents`]: events told as incidents, from open to resolved.
//! - [`services`]: business services: definitions (versioned, stored) and their health.
//! - [`qos`]: probe runs rolled up by minute and hour: percentiles, phases, error rates.
//! - [`period`]: report periods (`month`, `2026-10`, `7d`, ...) in UTC.
//! - [`brokers`]: calls through the brokers, failing over between them.
//! - [`subscriber`]: membership and region streams through the brokers, with resumption.
//! - [`upkeep`]: service health recording, SLO burn-rate incidents, QoS trimming.
//! - [`centres`]: the other centres, which are followed live, which records the timeline.
//! - [`replication`]: what only a centre knows (services, audit, the health timeline,
//!   logins, principals) kept alike by following each other's journals.
//! - [`notify`]: the SLO burn-rate alerts told to Alertmanager (one alert for two centres),
//!   the ended ones kept until delivered.
//!
//! The questions (domain functions both adapters call; they return typed answers or a
//! [`SuperManagerError`]):
//! - [`catalog`]: the services: list, drill-down, versions, SLA, QoS, SLO.
//! - [`history`]: metric history and hosts' figures read from the regions.
//! - [`placement`]: the nodes of a group ranked by live load.
//! - [`root_cause`]: root cause, with metric evidence gathered from the regions.
//! - [`reports`]: availability, performance, failure, operations, audit, comparison and
//!   capacity reports, as tables.
//! - [`drill`]: one host's live processes, its incidents, its agent's configuration.
//! - [`acks`]: acknowledging incidents (through the brokers to the regions), audited.
//! - [`audit`]: the audit log: who changed what, from where, with which outcome.
//! - [`principals`]: the users and tokens handed to every region.
//! - [`promql`]: the regions, through the brokers, as the source of the centre's
//!   Prometheus HTTP API (a region that does not answer is a warning).
//! - [`regions`]: a region's alerting rules, channels, agents and notifications.
//!
//! The adapters:
//! - [`http`]: the REST API, console, health and metrics (router in `http.rs`, one file
//!   per resource under `http/`), over the shared web crate (`strata_web`).
//! - [`grpc`]: the `SuperManager` gRPC service over the same questions.
#![forbid(unsafe_code)]

pub mod acks;
pub mod audit;
pub mod brokers;
pub mod catalog;
pub mod centres;
pub mod config;
pub mod deliveries;
pub mod distribution;
pub mod door;
pub mod drill;
pub mod error;
pub mod files;
pub mod grpc;
pub mod history;
pub mod http;
pub mod incidents;
pub mod notify;
pub mod overview;
pub mod period;
pub mod placement;
pub mod principals;
pub mod promql;
pub mod qos;
pub mod regions;
pub mod replication;
pub mod reports;
pub mod root_cause;
pub mod services;
pub mod shared;
pub mod subscriber;
pub mod upkeep;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use strata_proto::identity::Transport;
use strata_proto::v1::{Member, Role};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

pub use config::SuperManagerConfig;
pub use error::{Result, SuperManagerError};

use shared::{Metrics, Shared};

/// A super-manager whose HTTP listener is bound but which does not serve yet.
pub struct BoundSuperManager {
    config: SuperManagerConfig,
    listener: TcpListener,
    /// The gRPC listener, when `grpc_listen` is set.
    grpc: Option<TcpListener>,
    transport: Transport,
    /// HTTPS on the HTTP listener, when `[https]` names a certificate.
    tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Loads the super-manager's identity (its certificate must name `config.id`) and binds
/// its HTTP and gRPC listeners.
pub async fn bind(config: SuperManagerConfig) -> Result<BoundSuperManager> {
    let transport = Transport::load(
        &config.tls,
        strata_proto::identity::Role::SuperManager,
        None,
        Some(&config.id),
    )?;
    let tls = config.https.acceptor().map_err(invalid)?;
    let listener = door::bind(&config.http).await?;
    let grpc = match config.grpc_listen.as_deref() {
        Some(addr) if !addr.is_empty() => Some(door::bind(addr).await?),
        _ => None,
    };
    Ok(BoundSuperManager {
        config,
        listener,
        grpc,
        transport,
        tls,
    })
}

/// Runs a super-manager with `config` until `shutdown` is cancelled.
pub async fn run(config: SuperManagerConfig, shutdown: CancellationToken) -> Result<()> {
    bind(config).await?.run(shutdown).await
}

/// A config problem as the error that refuses to start.
fn invalid(problem: String) -> SuperManagerError {
    SuperManagerError::ConfigInvalid(strata_proto::config::Problems(vec![problem]))
}

/// Opens the stores and applies the services file: the shared state, before anything runs.
fn open(
    config: &SuperManagerConfig,
    transport: Transport,
    shutdown: CancellationToken,
) -> Result<Shared> {
    let channels = door::broker_channels(&config.brokers, &transport)
        .map_err(|e| invalid(format!("brokers: {e}")))?;
    let brokers = brokers::Brokers::new(config.brokers.clone(), channels, config.call_timeout);
    let store = strata_tsdb::Journal::open(config.data_dir.join("overview"), 1)?;
    let overview = overview::Overview::open(store, config.incident_history)?;
    let services = services::Services::open(strata_tsdb::Journal::open(
        config.data_dir.join("services"),
        services::replica::JOURNAL_RECORDS,
    )?)?
    .with_origin(&config.id);
    let qos = qos::QosStore::open(
        strata_tsdb::Journal::open(config.data_dir.join("qos"), 1)?,
        config.qos,
    )?;
    if let Some(path) = &config.services_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            invalid(format!(
                "services_file: cannot read {}: {e}",
                path.display()
            ))
        })?;
        match services.apply_file(&text, strata_proto::now_ms()) {
            Ok(applied) => {
                info!(services = applied.len(), file = %path.display(), "services file applied")
            }
            Err(refused) => {
                return Err(SuperManagerError::ConfigInvalid(
                    strata_proto::config::Problems(
                        services::describe(&refused)
                            .into_iter()
                            .map(|p| format!("services_file {}: {p}", path.display()))
                            .collect(),
                    ),
                ));
            }
        }
    }
    // the logins kept (this centre's and the others'), still valid
    let sessions = Arc::new(strata_web::auth::sessions::Sessions::new(
        config.auth.session_ttl,
    ));
    let now = strata_proto::now_ms();
    for kept in services.kept_sessions(now) {
        sessions.adopt(kept, now);
    }
    Ok(Shared {
        config: config.clone(),
        overview: RwLock::new(overview),
        services,
        qos,
        service_health: RwLock::new(Arc::default()),
        region_views: Default::default(),
        brokers,
        metrics: Metrics::default(),
        principals: Arc::new(strata_web::auth::PrincipalsFile::open(
            config.auth.principals_path(&config.data_dir),
        )?),
        sessions,
        centres: centres::Centres::new(&config.id),
        transport,
        schedule_board: Default::default(),
        files: files::FileStore::open(&config.data_dir).map_err(SuperManagerError::Internal)?,
        files_published: Default::default(),
        shutdown,
    })
}

impl BoundSuperManager {
    /// The address the HTTP server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// `https` when the HTTP listener serves TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// The address the gRPC service listens on, when it is served.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Subscribes and serves until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        let addr = self.local_addr();
        self.transport.spawn_reload(shutdown.clone());
        let shared = Arc::new(open(
            &self.config,
            self.transport.clone(),
            shutdown.clone(),
        )?);
        let me = Member {
            id: self.config.id.clone(),
            role: Role::SuperManager as i32,
            region: String::new(),
            address: addr.to_string(),
            healthy: true,
            last_heartbeat_age_ms: 0,
            epoch: format!("{}-{}", self.config.id, strata_proto::now_ms()),
            grpc_address: self.config.grpc_reach(self.grpc_addr()),
        };
        // this centre's logins and logouts go into its journal, for the other centres
        let journal = Arc::downgrade(&shared);
        shared.sessions.share_with(Arc::new(move |change| {
            if let Some(shared) = journal.upgrade()
                && let Err(refused) = shared.services.session_changed(change)
            {
                tracing::warn!(problem = ?services::describe(&refused), "journaling a login failed");
            }
        }));
        info!(member = %self.config.id, %addr, brokers = self.config.brokers.len(), "super-manager serving");
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(subscriber::run(shared.clone(), shutdown.clone()));
        tasks.spawn(subscriber::heartbeat(shared.clone(), me, shutdown.clone()));
        tasks.spawn(upkeep::record_health(shared.clone(), shutdown.clone()));
        tasks.spawn(upkeep::trim_qos(shared.clone(), shutdown.clone()));
        let notifier = notify::Notifier::new(
            &self.config.notify,
            &self.config.data_dir,
            door::http_client(self.config.notify.timeout),
        );
        tasks.spawn(upkeep::watch_slos(
            shared.clone(),
            notifier,
            shutdown.clone(),
        ));
        tasks.spawn(reports::deliver::run(
            shared.clone(),
            door::http_client(self.config.notify.timeout),
            shutdown.clone(),
        ));
        tasks.spawn(distribution::distribute::run(
            shared.clone(),
            shutdown.clone(),
        ));
        tasks.spawn(principals::push_loop(shared.clone(), shutdown.clone()));
        tasks.spawn(replication::follow::run(shared.clone(), shutdown.clone()));
        if let Some(listener) = self.grpc {
            let principals = shared.principals.clone();
            let (transport, grpc, stop) = (
                self.transport.clone(),
                grpc::Grpc::new(shared.clone()),
                shutdown.clone(),
            );
            tasks.spawn(async move {
                let served = door::serve_grpc(listener, &transport, principals, grpc, stop);
                if let Err(error) = served.await {
                    tracing::warn!(%error, "the gRPC service stopped");
                }
            });
        }
        let router = http::router(shared, self.tls.is_some());
        let served = door::serve(self.listener, router, self.tls, shutdown.clone()).await;
        shutdown.cancel();
        while tasks.join_next().await.is_some() {}
        info!("super-manager stopped");
        served
    }
}
