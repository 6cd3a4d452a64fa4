//! The centre's own periodic work, each a task until shutdown: recording every service's
//! health as it changes (for SLA reports), opening and resolving the services' burn-rate
//! incidents, and trimming probe history past its retention.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::catalog::slo_alerts;
use crate::notify::Notifier;
use crate::services;
use crate::shared::Shared;

/// How often the services' burn rates are evaluated.
pub const SLO_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Opens and resolves the services' burn-rate incidents, every [`SLO_EVERY`] until
/// `shutdown`, and tells `notifier`'s Alertmanagers of them when there is one.
pub async fn watch_slos(
    shared: Arc<Shared>,
    mut notifier: Option<Notifier>,
    shutdown: CancellationToken,
) {
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
                        (a.long.rate, message.clone()),
                        now,
                    );
                if changed {
                    info!(service = %v.def.name, rule = a.rule, firing = a.firing, rate = a.long.rate, "SLO alert changed");
                }
                if let Some(n) = &mut notifier {
                    let severity = if severity == strata_proto::v1::Severity::Critical {
                        "critical"
                    } else {
                        "warning"
                    };
                    n.observe(&v.def.name, a.rule, severity, a.firing, &message, now);
                }
            }
        }
        if let Some(n) = &mut notifier {
            let names: Vec<String> = shared
                .services
                .all()
                .iter()
                .map(|v| v.def.name.clone())
                .collect();
            n.retain_services(|s| names.iter().any(|n| n == s), now);
            n.deliver(now).await;
        }
    }
}

/// How often probe history past its retention is deleted.
pub const TRIM_QOS_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Deletes probe history past its retention, every [`TRIM_QOS_EVERY`] until `shutdown`.
pub async fn trim_qos(shared: Arc<Shared>, shutdown: CancellationToken) {
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
pub const HEALTH_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Records every service's health changes until `shutdown`, for SLA reports.
pub async fn record_health(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(HEALTH_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut evaluator = services::health::Evaluator::default();
    // whether another centre was followed live at the last evaluation (read before the
    // shutdown ends the streams)
    let mut others_live = false;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        others_live = !shared.centres.live().is_empty();
        let now = strata_proto::now_ms();
        let (generation, defs) = shared.services.defs_with_generation();
        // evaluated on the overview itself, borrowed: copying 100,000 resources four times
        // a second would cost more than the evaluation
        let healths = {
            let overview = shared.overview.read().expect("overview lock poisoned");
            let checks = overview.all_checks();
            let key = (generation, overview.shape());
            Arc::new(evaluator.run_shaped(key, &defs, &overview.all_seen(), &checks))
        };
        *shared
            .service_health
            .write()
            .expect("service health lock poisoned") = healths.clone();
        // one centre records the timeline for all (crate::centres); the others follow it
        if !shared.centres.records_timeline() {
            continue;
        }
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
    // What happens while stopped is not known, unless another centre records it.
    if others_live {
        return;
    }
    let now = strata_proto::now_ms();
    for v in shared.services.all() {
        let _ = shared
            .services
            .record_health(&v.def.name, services::health::Health::Unknown, now);
    }
}
