//! The state the super-manager's parts share: the config, the aggregated overview, the
//! services and their last health, the QoS store, the brokers and the counters. The region
//! subscriptions write it; the questions (and the REST and gRPC adapters over them) read it.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};

use tokio_util::sync::CancellationToken;

use crate::brokers::Brokers;
use crate::config::SuperManagerConfig;
use crate::error::SuperManagerError;
use crate::overview::Overview;
use crate::qos::QosStore;
use crate::services::Services;
use crate::services::health::ServiceHealth;

/// Counters the super-manager reports about itself at /metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Region updates applied.
    pub updates_applied: AtomicU64,
    /// Region streams opened (a reconnect opens one more).
    pub streams_opened: AtomicU64,
    /// API requests answered (REST and gRPC).
    pub http_requests: AtomicU64,
    /// Probe runs recorded into the QoS rollups (copies not counted).
    pub probe_runs_recorded: AtomicU64,
    /// PromQL aggregations pushed down to the regions (each asked of every region covered).
    pub promql_pushdowns: AtomicU64,
    /// PromQL selectors read raw from the regions (each asked of every region covered).
    pub promql_raw_selects: AtomicU64,
    /// Scheduled reports sent to all their receivers.
    pub reports_sent: AtomicU64,
    /// Scheduled reports given up after `reports.max_attempts`.
    pub reports_failed: AtomicU64,
}

/// State shared by the API and the subscriptions.
#[derive(Debug)]
pub struct Shared {
    pub config: SuperManagerConfig,
    pub overview: RwLock<Overview>,
    pub services: Services,
    pub qos: QosStore,
    /// Each region's overview counts with the change count they were computed at.
    pub region_views:
        std::sync::Mutex<std::collections::HashMap<String, (u64, strata_web::views::RegionJson)>>,
    /// Every service's health as last evaluated (every 250 ms), by name.
    pub service_health: RwLock<Arc<BTreeMap<String, ServiceHealth>>>,
    pub brokers: Brokers,
    pub metrics: Metrics,
    /// Mutual TLS of the gRPC door and the broker channels (its refusals are in `/metrics`).
    pub transport: strata_proto::identity::Transport,
    /// The users and API tokens, checked by the HTTP door's gate and changed through the API.
    pub principals: Arc<strata_web::auth::PrincipalsFile>,
    /// The console's logins, shared with the other centres.
    pub sessions: Arc<strata_web::auth::sessions::Sessions>,
    /// The other centres: who they are, which are followed live.
    pub centres: crate::centres::Centres,
    /// What the scheduled reports last did, for the API.
    pub schedule_board: crate::deliveries::Board,
    /// The file bundles published and where they stand on each host.
    pub files: crate::files::FileStore,
    /// Notified when a bundle is published, so it is handed out at once.
    pub files_published: tokio::sync::Notify,
    /// Cancelled when the super-manager stops: live streams end with it.
    pub shutdown: CancellationToken,
}

impl Shared {
    /// Whether `region` is known (no region named is fine): NotFound naming it otherwise.
    pub fn known_region(&self, region: Option<&str>) -> Result<(), SuperManagerError> {
        match region {
            Some(r)
                if !self
                    .overview
                    .read()
                    .expect("overview lock poisoned")
                    .region_names()
                    .iter()
                    .any(|n| n == r) =>
            {
                Err(SuperManagerError::NotFound(format!("unknown region '{r}'")))
            }
            _ => Ok(()),
        }
    }
}
