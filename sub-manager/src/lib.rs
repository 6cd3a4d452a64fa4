//! Strata's sub-manager: polls its region's agents, stores their samples, judges thresholds,
//! keeps resource states and events, and serves the regional API.
//!
//! A region keeps working with the centre cut off: polling, storage and judgement need no
//! broker. With brokers, the region's members share its agents as the brokers assign them
//! (rendezvous hashing over the live members), so that a failed member's agents move to the
//! others as soon as a broker sees its assignment stream break, or its lease run out.
//!
//! # Layout
//! The domain, which imports no gRPC service or HTTP code:
//! - [`config`]: the TOML config and its validation (`[notify]` in [`config::notify`]).
//! - [`verdict`]: a rule's judgement of a resource, the severity order, the own rules' names.
//! - [`rules`]: alerting rules (thresholds, holds, hysteresis, flapping, absence), reloaded
//!   without a restart.
//! - [`state`]: resources, events and the WatchRegion journal and feed.
//! - [`assignment`]: this member's share of the region's agents, from the brokers.
//! - [`agents`]: what the last poll of each agent saw of its buffer.
//! - [`ingest`]: poll answers into the store.
//! - [`probes`]: probe runs read from the samples, for the centre's QoS rollups.
//! - [`query`]: metric queries over the store, checked and bounded.
//! - [`promql`]: the store as the source of the regional console's Prometheus HTTP API.
//!
//! The work, on the domain and through the door:
//! - [`poller`]: per-agent poll tasks on worker threads of their own.
//! - [`actions`]: recovery actions asked of agents when events open.
//! - [`membership`]: heartbeats, assignment streams and registrations with the brokers.
//! - [`peers`]: the members watching each other while no broker answers, and failing over
//!   among themselves by the brokers' rule.
//! - [`forward`]: remote write out of the store's outbox, a durable cursor per destination.
//! - [`receive`]: remote write in, `POST /api/v1/write` on the console, bounded per sender.
//! - [`notify`]: notifications of events (webhook, e-mail, Alertmanager, SMS), sent from
//!   the region with retries.
//! - [`metrics`]: the sub-manager's own metrics.
//!
//! The adapters and the door:
//! - [`api`]: the SubManager gRPC service, a thin adapter over the domain.
//! - [`audit`]: the region's audit log of changes made on the regional console.
//! - [`console`]: the regional console's router (the centre's console, served for the region
//!   alone).
//! - [`door`]: the one place every listener, server and client (gRPC channels, the HTTP
//!   client, SMTP transports) is built.
//! - [`enrol`]: signs the region's agents' certificates with the region CA, for brokers.
//! - [`error`]: the crate's error enum.
#![forbid(unsafe_code)]

pub mod actions;
pub mod agents;
pub mod api;
pub mod assignment;
pub mod audit;
pub mod config;
pub mod console;
pub mod contact;
pub mod door;
pub mod enrol;
pub mod error;
pub mod forward;
pub mod ingest;
pub mod membership;
pub mod metrics;
pub mod notify;
pub mod peers;
pub mod poller;
pub mod probes;
pub mod promql;
pub mod query;
pub mod receive;
pub mod rules;
pub mod state;
pub mod verdict;

use std::net::SocketAddr;
use std::sync::Arc;

use strata_proto::identity::{self, Transport};
use strata_proto::v1::{Member, Role};
use strata_tsdb::Tsdb;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use config::SubManagerConfig;
pub use error::{Result, SubManagerError};

use assignment::{Share, Shares, static_share};
use state::RegionState;

/// A sub-manager whose listener is bound but which does not serve yet.
pub struct BoundSubManager {
    config: SubManagerConfig,
    listener: TcpListener,
    /// The regional console's listener, when `console_listen` is set.
    console: Option<TcpListener>,
    /// The metrics listener, when `metrics_listen` is set.
    metrics: Option<TcpListener>,
    transport: Transport,
    /// HTTPS on the console, when `[https]` names a certificate.
    tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Loads the member's identity (its certificate must name `config.id` in `config.region`)
/// and binds its gRPC listener (and its console's and metrics', when configured).
pub async fn bind(config: SubManagerConfig) -> Result<BoundSubManager> {
    let transport = Transport::load(
        &config.tls,
        identity::Role::SubManager,
        Some(&config.region),
        Some(&config.id),
    )?;
    let tls = config.https.acceptor().map_err(|problem| {
        SubManagerError::ConfigInvalid(strata_proto::config::Problems(vec![problem]))
    })?;
    let listener = door::bind(&config.listen).await?;
    let console = match &config.console_listen {
        None => None,
        Some(addr) => Some(door::bind(addr).await?),
    };
    let metrics = match &config.metrics_listen {
        None => None,
        Some(addr) => Some(door::bind(addr).await?),
    };
    Ok(BoundSubManager {
        config,
        listener,
        console,
        metrics,
        transport,
        tls,
    })
}

/// Runs a sub-manager with `config` until `shutdown` is cancelled.
pub async fn run(config: SubManagerConfig, shutdown: CancellationToken) -> Result<()> {
    bind(config).await?.run(shutdown).await
}

impl BoundSubManager {
    /// The address the gRPC server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// `https` when the console serves TLS, else `http`.
    pub fn console_scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// The address the regional console listens on, when it is served.
    pub fn console_addr(&self) -> Option<SocketAddr> {
        self.console.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The address `/metrics` is served on, when it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Polls, stores, judges and serves until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        let config = Arc::new(self.config);
        let transport = self.transport;
        transport.spawn_reload(shutdown.clone());
        let door = door::Door::new(transport.clone(), &config.region);
        let signer = Arc::new(enrol::Signer::load(
            &transport,
            &config.region,
            config.enrol.agent_lifetime,
        )?);
        let addr = self
            .listener
            .local_addr()
            .expect("a bound listener has an address");
        let tsdb = Arc::new(Tsdb::open(
            &config.data_dir,
            strata_tsdb::TsdbOptions {
                outbox: !config.remote_write.is_empty(),
                ..config.storage.tsdb_options(config.max_series)
            },
        )?);
        let journal =
            strata_tsdb::Journal::open(config.data_dir.join("journal"), config.journal_capacity)?;
        let rules = Arc::new(rules::RuleBook::open(
            &config.thresholds,
            config.rules_file.clone(),
            &journal,
        )?);
        let channels = Arc::new(notify::book::NotifyBook::open(
            config.notify.clone(),
            &journal,
        )?);
        let state = Arc::new(RegionState::open(
            &config.region,
            &config.id,
            journal,
            strata_proto::now_ms(),
        )?);
        // The process's epoch, for the brokers (the journal keeps its own across restarts).
        let epoch = format!("{}-{}", config.id, strata_proto::now_ms());
        // Without brokers every configured agent is polled; with them, their share.
        let shares = Arc::new(if config.brokers.is_empty() {
            Shares::new(static_share(&config.agents))
        } else {
            Shares::kept_in(Share::new(), config.data_dir.join("share.json"))
        });
        let me = Member {
            id: config.id.clone(),
            role: Role::SubManager as i32,
            region: config.region.clone(),
            address: config.advertise.clone().unwrap_or_else(|| addr.to_string()),
            healthy: true,
            last_heartbeat_age_ms: 0,
            epoch,
            grpc_address: String::new(),
        };
        info!(member = %config.id, region = %config.region, %addr, agents = config.agents.len(), "sub-manager serving");
        let metrics = Arc::new(metrics::SubManagerMetrics::default());
        let mut tasks = tokio::task::JoinSet::new();
        let forwarding = forward::start(
            &config.remote_write,
            &config.region,
            tsdb.clone(),
            &mut tasks,
            shutdown.clone(),
        )?;
        let receiver = Arc::new(receive::Receiver::new(tsdb.clone(), config.receive.clone()));
        let polled = Arc::new(agents::Polled::default());
        let subscribers = Arc::new(state::watch::Subscribers::default());
        if let Some(listener) = self.metrics {
            let (m, s, t, tr, f, r, p) = (
                metrics.clone(),
                state.clone(),
                tsdb.clone(),
                transport.clone(),
                forwarding.clone(),
                receiver.clone(),
                polled.clone(),
            );
            let w = subscribers.clone();
            let render = Arc::new(move || {
                metrics::render(
                    &m,
                    &s,
                    &t,
                    metrics::Flows {
                        forwarding: &f,
                        receiver: &r,
                        polled: &p,
                        watchers: &w,
                    },
                ) + &tr.render_metrics("strata_sub_manager")
            });
            info!(addr = ?listener.local_addr().ok(), "metrics served");
            door::serve_metrics(listener, render, shutdown.clone());
        }

        let contact = Arc::new(contact::Contact::new(
            !config.brokers.is_empty(),
            config.poll.interval.max(config.poll.timeout) + config.heartbeat_interval,
            strata_proto::now_ms(),
        ));
        let poll_thread = poller::start(
            poller::PollContext {
                config: config.clone(),
                tsdb: tsdb.clone(),
                state: state.clone(),
                shares: shares.clone(),
                metrics: metrics.clone(),
                rules: rules.clone(),
                polled: polled.clone(),
                contact: contact.clone(),
                recovery: actions::Recovery {
                    state: state.clone(),
                    metrics: metrics.clone(),
                    connect_timeout: config.poll.timeout,
                    door: door.clone(),
                },
            },
            shutdown.clone(),
        )?;
        for broker in &config.brokers {
            let link = membership::BrokerLink {
                addr: broker.clone(),
                me: me.clone(),
                config: config.clone(),
                shares: shares.clone(),
                metrics: metrics.clone(),
                door: door.clone(),
                contact: contact.clone(),
            };
            tasks.spawn(membership::heartbeat_loop(link.clone(), shutdown.clone()));
            tasks.spawn(membership::assignment_loop(link.clone(), shutdown.clone()));
            tasks.spawn(membership::register_loop(link, shutdown.clone()));
        }
        if !config.brokers.is_empty() {
            let watch = peers::PeerWatch {
                me: me.id.clone(),
                region: me.region.clone(),
                shares: shares.clone(),
                door: door.clone(),
                contact: contact.clone(),
                metrics: metrics.clone(),
                interval: config.heartbeat_interval,
                lease: config.lease,
            };
            tasks.spawn(watch.run(shutdown.clone()));
        }
        tasks.spawn(downsample_loop(tsdb.clone(), shutdown.clone()));
        tasks.spawn(rules::reload_loop(rules.clone(), shutdown.clone()));
        let principals = Arc::new(strata_web::auth::PrincipalsFile::open(
            config.auth.principals_path(&config.data_dir),
        )?);
        let audit_path = config.data_dir.join("audit.jsonl");
        let journaled = state.clone();
        let audit = Arc::new(
            audit::AuditFile::open(&audit_path)
                .map_err(|source| SubManagerError::Audit {
                    path: audit_path.display().to_string(),
                    source,
                })?
                .forward_to(Box::new(move |record| {
                    journaled.audited(audit::entry(record))
                })),
        );
        let notifier = Arc::new(notify::Notifier::new(
            channels.clone(),
            &config.id,
            &config.region,
            state.clone(),
            shares.clone(),
            metrics.clone(),
        ));
        tasks.spawn(notifier.clone().run(shutdown.clone()));
        let api = api::Api {
            region: config.region.clone(),
            member: config.id.clone(),
            tsdb: tsdb.clone(),
            state,
            shares,
            agent_timeout: config.poll.timeout,
            rules,
            polled,
            channels,
            outbox: notifier.outbox(),
            door,
            signer,
            audit: audit.clone(),
            principals: principals.clone(),
            forwarding,
            subscribers,
            watch: config.watch.clone(),
        };
        if let Some(listener) = self.console {
            let gate = strata_web::auth::Gate::from_config(principals, &config.auth)
                .home_region(&config.region)
                .secure(self.tls.is_some())
                .audit(Arc::new(move |record| {
                    if let Err(error) = audit.append(&record) {
                        warn!(%error, "writing the audit log failed");
                    }
                }));
            tasks.spawn(door::serve_console(
                listener,
                self.tls.clone(),
                Arc::new(gate)
                    .wrap(console::router(api.clone(), shutdown.clone()).merge(receiver.router())),
                shutdown.clone(),
            ));
        }
        let users =
            strata_web::auth::grpc::PrincipalLayer::new(api.principals.clone(), door::user_needs)
                .home_region(&config.region);
        let served = door::serve(self.listener, &transport, users, api, shutdown.clone()).await;
        shutdown.cancel();
        while tasks.join_next().await.is_some() {}
        if tokio::task::spawn_blocking(move || poll_thread.join())
            .await
            .is_err()
        {
            warn!("poll workers ended abnormally");
        }
        if let Err(error) = tsdb.flush() {
            warn!(%error, "flush on shutdown failed; the WAL still holds the data");
        }
        info!(member = %config.id, "sub-manager stopped");
        served
    }
}

/// How often the store's aged raw data is checked for minute rollups to build.
const DOWNSAMPLE_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// Builds minute rollups of aged raw data, at start and every [`DOWNSAMPLE_EVERY`], until
/// `shutdown`.
async fn downsample_loop(tsdb: Arc<Tsdb>, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(DOWNSAMPLE_EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let store = tsdb.clone();
        let span = tracing::info_span!("downsample");
        match tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            store.downsample(strata_proto::now_ms())
        })
        .await
        {
            Ok(Ok(stats)) if stats.series > 0 => {
                info!(
                    series = stats.series,
                    points = stats.points,
                    "minute rollups built"
                )
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => warn!(%error, "building minute rollups failed; retried later"),
            Err(error) => warn!(%error, "the downsampling task ended abnormally"),
        }
    }
}
