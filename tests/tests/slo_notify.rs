//! A service's SLO burn-rate alert told to Debian's Alertmanager by two centres at once
//! reaches its receiver once: both centres judge the service from the same region streams
//! and send the same labels, which Alertmanager makes one alert of.

use std::time::Duration;

use strata_testkit::{Mesh, Region, get_json, wait_for};
use strata_tests::alertmanager::Alertmanager;
use strata_tests::sinks::WebhookReceiver;

/// The fast-burn alerts of service shop in `body` (a webhook from Alertmanager).
fn fast_burns(body: &str) -> usize {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    v["alerts"].as_array().map_or(0, |alerts| {
        alerts
            .iter()
            .filter(|a| {
                a["labels"]["alertname"] == "slo-burn-fast"
                    && a["labels"]["service"] == "shop"
                    && a["status"] == "firing"
            })
            .count()
    })
}

#[test]
fn an_slo_alert_from_two_centres_reaches_alertmanager_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let hook = WebhookReceiver::start(0);
    let am = Alertmanager::notifying(dir.path(), &hook.url());
    let mut mesh = Mesh::builder()
        .super_managers(2)
        .interval(Duration::from_millis(300))
        .file(
            "services.toml",
            "[[services]]\nname = \"shop\"\n[services.slo]\nobjective = 0.99\nwindow = \"1d\"\n\
             [[services.components]]\nname = \"front\"\nregion = \"west\"\nhost = \"sim-0001\"\n",
        )
        .super_toml(&format!(
            "services_file = \"{{dir}}/services.toml\"\n\
             [notify]\nalertmanager = [\"http://{}\"]\nresend = \"2s\"\n",
            am.addr
        ))
        .region(Region::new("west").members(1).sim("sim", "sim-", 2))
        .start();
    let centres: Vec<String> = mesh.super_managers.iter().map(|c| c.addr.clone()).collect();
    wait_for("both centres see shop up", Duration::from_secs(30), || {
        for c in &centres {
            let s = get_json(c, "/api/v1/services/shop")?;
            if s["health"] != "ok" {
                return Err(format!("{c}: {s}"));
            }
        }
        Ok(())
    });

    // the service's only host goes away: its error budget burns at both centres
    mesh.region("west").sim("sim").kill();
    wait_for(
        "both centres fire slo-burn-fast",
        Duration::from_secs(60),
        || {
            for c in &centres {
                let events = get_json(c, "/api/v1/events")?;
                let firing =
                    events.as_array().into_iter().flatten().any(|e| {
                        e["resource_id"] == "services/shop" && e["rule"] == "slo-burn-fast"
                    });
                if !firing {
                    return Err(format!("{c}: {events}"));
                }
            }
            Ok(())
        },
    );
    // both centres send it, and again every resend, a few times over
    wait_for(
        "both centres sent the alert thrice",
        Duration::from_secs(30),
        || {
            let sent: Vec<usize> = mesh
                .super_managers
                .iter()
                .map(|c| {
                    c.log_text()
                        .matches("SLO alerts sent to Alertmanager")
                        .count()
                })
                .collect();
            if sent.iter().all(|n| *n >= 3) {
                Ok(())
            } else {
                Err(format!("{sent:?}"))
            }
        },
    );
    let held: Vec<_> = am
        .alerts()
        .expect("Alertmanager's alerts")
        .into_iter()
        .filter(|a| a["labels"]["alertname"] == "slo-burn-fast")
        .collect();
    assert_eq!(
        held.len(),
        1,
        "one alert of the two centres' sends: {held:?}"
    );
    assert_eq!(held[0]["labels"]["source"], "strata-centre", "{held:?}");
    assert_eq!(held[0]["labels"]["severity"], "critical", "{held:?}");
    let told = wait_for("the receiver notified", Duration::from_secs(20), || {
        let n: usize = hook.bodies().iter().map(|b| fast_burns(b)).sum();
        if n > 0 {
            Ok(n)
        } else {
            Err(format!("{} requests", hook.requests()))
        }
    });
    assert_eq!(told, 1, "notified more than once: {:?}", hook.bodies());
}
