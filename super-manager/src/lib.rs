//! Strata's super-manager: the enterprise view over every region.
//!
//! It subscribes to every region's WatchRegion stream through the brokers and keeps the
//! aggregate (states, events), never raw samples; metric history is fetched from the region
//! on demand, through a broker. It answers the REST API and serves the console.
//!
//! # Layout
//! - [`config`]: the TOML config and its validation.
//! - [`overview`]: the aggregated state of every region.
//! - [`subscriber`]: membership and region streams through the brokers, with resumption.
//! - [`brokers`]: the one place broker channels are built; failover between brokers.
//! - [`api`]: the REST API, health and metrics.
//! - [`ack`]: acknowledging incidents (through the brokers to the regions), audited.
//! - [`console`]: the web console (embedded assets) and its live event stream.
//! - [`services`]: business services: definitions (versioned, stored) and their health.
//! - [`service_api`]: the services part of the REST API.
//! - [`openapi`]: the OpenAPI document of the REST API.
//! - [`period`]: report periods (`month`, `2026-10`, `7d`, ...) in UTC.
//! - [`placement`]: the nodes of a group ranked by live load.
//! - [`qos`]: probe runs rolled up by minute and hour: percentiles, phases, error rates.
//! - [`region_api`]: a region's alerting rules and notifications, through the brokers.
//! - [`rca_api`]: root cause, with metric evidence gathered from the regions.
//! - [`reports`]: availability, performance, failure, operations, audit, comparison and
//!   capacity reports, as JSON or CSV.
//! - [`grpc`]: the same services, root cause, SLA, QoS, reports and placement over gRPC.
//! - [`drill`]: one host's live processes and its incidents, below a service's resources.
//! - [`history`]: metric history fetched from the regions, with functions across series.
//! - [`error`]: the crate's error enum.
#![forbid(unsafe_code)]

pub mod ack;
pub mod api;
pub mod brokers;
pub mod config;
pub mod console;
pub mod drill;
pub mod error;
pub mod grpc;
pub mod history;
pub mod incidents;
pub mod openapi;
pub mod overview;
pub mod period;
pub mod placement;
pub mod qos;
pub mod rca_api;
pub mod region_api;
pub mod reports;
pub mod service_api;
pub mod services;
pub mod subscriber;

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};

use strata_proto::v1::{Member, Role};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

pub use config::SuperManagerConfig;
pub use error::{Result, SuperManagerError};

/// Counters the super-manager reports about itself at /metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    pub updates_applied: AtomicU64,
    pub streams_opened: AtomicU64,
    pub http_requests: AtomicU64,
    /// Probe runs recorded into the QoS rollups (copies not counted).
    pub probe_runs_recorded: AtomicU64,
}

/// State shared by the API and the subscriptions.
#[derive(Debug)]
pub struct Shared {
    pub config: SuperManagerConfig,
    pub overview: RwLock<overview::Overview>,
    pub services: services::Services,
    pub qos: qos::QosStore,
    /// Every service's health as last evaluated (every 250 ms), by name.
    pub service_health:
        RwLock<Arc<std::collections::BTreeMap<String, services::health::ServiceHealth>>>,
    pub brokers: brokers::Brokers,
    pub metrics: Metrics,
}

/// A super-manager whose HTTP listener is bound but which does not serve yet.
pub struct BoundSuperManager {
    config: SuperManagerConfig,
    listener: TcpListener,
}

/// Binds the super-manager's HTTP listener.
pub async fn bind(config: SuperManagerConfig) -> Result<BoundSuperManager> {
    let listener =
        TcpListener::bind(&config.http)
            .await
            .map_err(|source| SuperManagerError::Bind {
                addr: config.http.clone(),
                source,
            })?;
    Ok(BoundSuperManager { config, listener })
}

/// Runs a super-manager with `config` until `shutdown` is cancelled.
pub async fn run(config: SuperManagerConfig, shutdown: CancellationToken) -> Result<()> {
    bind(config).await?.run(shutdown).await
}

impl BoundSuperManager {
    /// The address the HTTP server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Subscribes and serves until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        let addr = self.local_addr();
        let brokers = brokers::Brokers::new(&self.config).map_err(|e| {
            SuperManagerError::ConfigInvalid(strata_proto::config::Problems(vec![format!(
                "brokers: {e}"
            )]))
        })?;
        let store = strata_tsdb::Journal::open(self.config.data_dir.join("overview"), 1)?;
        let overview = overview::Overview::open(store, self.config.incident_history)?;
        let services = services::Services::open(strata_tsdb::Journal::open(
            self.config.data_dir.join("services"),
            1,
        )?)?;
        let qos = qos::QosStore::open(
            strata_tsdb::Journal::open(self.config.data_dir.join("qos"), 1)?,
            self.config.qos,
        )?;
        if let Some(path) = &self.config.services_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                SuperManagerError::ConfigInvalid(strata_proto::config::Problems(vec![format!(
                    "services_file: cannot read {}: {e}",
                    path.display()
                )]))
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
        let shared = Arc::new(Shared {
            config: self.config.clone(),
            overview: RwLock::new(overview),
            services,
            qos,
            service_health: RwLock::new(Arc::default()),
            brokers,
            metrics: Metrics::default(),
        });
        let me = Member {
            id: self.config.id.clone(),
            role: Role::SuperManager as i32,
            region: String::new(),
            address: addr.to_string(),
            healthy: true,
            last_heartbeat_age_ms: 0,
            epoch: format!("{}-{}", self.config.id, strata_proto::now_ms()),
        };
        info!(member = %self.config.id, %addr, brokers = self.config.brokers.len(), "super-manager serving");
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(subscriber::run(shared.clone(), shutdown.clone()));
        tasks.spawn(subscriber::heartbeat(shared.clone(), me, shutdown.clone()));
        tasks.spawn(record_health(shared.clone(), shutdown.clone()));
        tasks.spawn(trim_qos(shared.clone(), shutdown.clone()));
        tasks.spawn(watch_slos(shared.clone(), shutdown.clone()));
        let app = api::router(shared);
        let served = axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown.clone().cancelled_owned())
            .await
            .map_err(SuperManagerError::Serve);
        shutdown.cancel();
        while tasks.join_next().await.is_some() {}
        info!("super-manager stopped");
        served
    }
}

/// How often the services' burn rates are evaluated.
const SLO_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// The burn-rate alerts of service `v` at `now`.
pub fn slo_alerts(
    shared: &Shared,
    v: &services::Versioned,
    now: i64,
) -> Option<Vec<services::slo::Alert>> {
    let slo = v.def.slo.as_ref()?;
    let from = now - services::slo::LONGEST_MS;
    let spans = shared.services.spans(&v.def.name, from, now).ok()?;
    let planned = services::maintenance::stretches(&v.def.maintenance, from, now);
    Some(services::slo::alerts(&spans, now, slo.objective, &planned))
}

/// Opens and resolves the services' burn-rate incidents, every [`SLO_EVERY`] until
/// `shutdown`.
async fn watch_slos(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(SLO_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let now = strata_proto::now_ms();
        for v in shared.services.all() {
            let Some(alerts) = slo_alerts(&shared, &v, now) else {
                continue;
            };
            for a in alerts {
                let severity = if a.rule == "slo-burn-fast" {
                    strata_proto::v1::Severity::Critical
                } else {
                    strata_proto::v1::Severity::Warning
                };
                let message = format!(
                    "error budget burning {:.1}x over {} and {:.1}x over {} (alert above {})",
                    a.long.rate,
                    humantime::format_duration(std::time::Duration::from_millis(
                        a.long.window_ms as u64
                    )),
                    a.short.rate,
                    humantime::format_duration(std::time::Duration::from_millis(
                        a.short.window_ms as u64
                    )),
                    a.threshold
                );
                let changed = shared
                    .overview
                    .write()
                    .expect("overview lock poisoned")
                    .service_alert(
                        &v.def.name,
                        a.rule,
                        severity,
                        a.firing,
                        (a.long.rate, message),
                        now,
                    );
                if changed {
                    info!(service = %v.def.name, rule = a.rule, firing = a.firing, rate = a.long.rate, "SLO alert changed");
                }
            }
        }
    }
}

/// How often probe history past its retention is deleted.
const TRIM_QOS_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Deletes probe history past its retention, every [`TRIM_QOS_EVERY`] until `shutdown`.
async fn trim_qos(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(TRIM_QOS_EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let now = strata_proto::now_ms();
        let qos = shared.clone();
        match tokio::task::spawn_blocking(move || qos.qos.trim(now)).await {
            Ok(Ok(probes)) => tracing::debug!(probes, "probe history trimmed"),
            Ok(Err(error)) => tracing::warn!(%error, "trimming probe history failed"),
            Err(error) => tracing::warn!(%error, "trimming probe history panicked"),
        }
    }
}

/// How often every service's health is evaluated and its changes recorded.
const HEALTH_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Records every service's health changes until `shutdown`, for SLA reports.
async fn record_health(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(HEALTH_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut evaluator = services::health::Evaluator::default();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let now = strata_proto::now_ms();
        let (generation, defs) = shared.services.defs_with_generation();
        // evaluated on the overview itself, borrowed: copying 100,000 resources four times
        // a second would cost more than the evaluation
        let healths = {
            let overview = shared.overview.read().expect("overview lock poisoned");
            let checks = overview.all_checks();
            Arc::new(evaluator.run(generation, &defs, &overview.all_seen(), &checks))
        };
        *shared
            .service_health
            .write()
            .expect("service health lock poisoned") = healths.clone();
        for (name, h) in healths.iter() {
            match shared.services.record_health(name, h.health, now) {
                Ok(true) => {
                    info!(service = %name, health = h.health.name(), reason = %h.reason, "service health changed")
                }
                Ok(false) => {}
                Err(refused) => {
                    tracing::warn!(service = %name, problem = ?services::describe(&refused), "recording a service's health failed")
                }
            }
        }
    }
    // What happens while stopped is not known.
    let now = strata_proto::now_ms();
    for v in shared.services.all() {
        let _ = shared
            .services
            .record_health(&v.def.name, services::health::Health::Unknown, now);
    }
}
