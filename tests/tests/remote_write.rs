//! A region forwards its samples with remote write, to VictoriaMetrics and to Prometheus's
//! receiver: the receiver is stopped for a while, the sub-manager is SIGKILLed and restarted
//! meanwhile, the receiver comes back, and every sample stored in the region is then at the
//! receiver, value for value.

use std::time::Duration;

use strata_testkit::{Mesh, Region, http_get, now_ms, wait_for};
use strata_tests::tsdb_peers::{Kind, Samples, TsdbPeer, missing};
use strata_tsdb::{Matcher, Tsdb, TsdbOptions};

/// The value of the metric line starting with `prefix` on the member's `/metrics`.
fn metric(metrics: &str, prefix: &str) -> Result<f64, String> {
    let (status, text) = http_get(metrics, "/metrics")?;
    if status != 200 {
        return Err(format!("/metrics answered {status}"));
    }
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no {prefix} in {text}"))
}

/// Every sample of the store in `dir`, labelled as the receiver sees it.
fn stored(dir: &std::path::Path) -> Samples {
    let tsdb = Tsdb::open(dir, TsdbOptions::keep_forever()).expect("open the member's store");
    let all = tsdb
        .select_matching(&[Matcher::regex("__name__", ".+").unwrap()])
        .unwrap();
    let mut out = Samples::new();
    for series in all {
        let mut labels = series.labels.clone();
        labels.insert("__name__".into(), series.name.clone());
        labels.insert("region".into(), "west".into());
        let points = tsdb.range(series.id, i64::MIN / 2, i64::MAX / 2).unwrap();
        out.insert(labels, points.into_iter().collect());
    }
    out
}

fn count(samples: &Samples) -> usize {
    samples.values().map(|p| p.len()).sum()
}

/// `tolerance`: how far (relative) a value may come back from the receiver.
fn forwards_every_stored_sample_across_an_outage_and_a_kill(kind: Kind, tolerance: f64) {
    let dir = tempfile::tempdir().unwrap();
    let mut receiver = TsdbPeer::start(kind, dir.path());
    let member_toml = format!(
        "metrics_listen = \"127.0.0.1:0\"\n\
         [[remote_write]]\nname = \"store\"\nurl = \"{}\"\nbatch_samples = 200\n\
         min_backoff = \"100ms\"\nmax_backoff = \"500ms\"\n",
        receiver.write_url()
    );
    let mut mesh = Mesh::builder()
        .region(
            Region::new("west")
                .member_toml(&member_toml)
                .sim("sim", "sim-", 3)
                .listed(),
        )
        .start();
    let member_dir = mesh.dir().join("west-1");
    let started = now_ms();
    let west = "{region=\"west\"}";
    wait_for(
        "samples forwarded to the receiver",
        Duration::from_secs(30),
        || {
            let n = count(&receiver.samples(west, started - 600_000, now_ms() + 60_000)?);
            if n >= 100 {
                Ok(())
            } else {
                Err(format!("{n} samples"))
            }
        },
    );

    // The receiver goes away; the region keeps storing, and its forwarder keeps failing.
    receiver.stop();
    let region = mesh.region("west");
    let metrics = region.members[0].field("metrics").expect("metrics address");
    let failed = "strata_sub_manager_remote_write_requests_failed_total{destination=\"store\"}";
    wait_for("a failed request", Duration::from_secs(20), || {
        let n = metric(&metrics, failed)?;
        if n >= 1.0 {
            Ok(())
        } else {
            Err(format!("{n} failures"))
        }
    });
    // Killed and restarted while the receiver is away: nothing unsent may be lost.
    region.members[0].kill();
    region.members[0].restart();
    let metrics = region.members[0].field("metrics").expect("metrics address");
    let stored_total = "strata_sub_manager_samples_stored_total ";
    wait_for(
        "the restarted member storing 100 samples and failing to forward them",
        Duration::from_secs(30),
        || {
            let (s, f) = (metric(&metrics, stored_total)?, metric(&metrics, failed)?);
            if s >= 100.0 && f >= 1.0 {
                Ok(())
            } else {
                Err(format!("{s} stored, {f} failed"))
            }
        },
    );

    // The receiver returns; the agents stop, so the store stops growing; the backlog drains.
    receiver.resume();
    for sim in &mut region.sims {
        sim.kill();
    }
    let pending = "strata_sub_manager_remote_write_pending_records{destination=\"store\"}";
    wait_for("the backlog delivered", Duration::from_secs(60), || {
        let n = metric(&metrics, pending)?;
        if n == 0.0 {
            Ok(())
        } else {
            Err(format!("{n} records pending"))
        }
    });
    // the centre's admin API shows the member's destination, through the broker
    let http = mesh.http();
    let rows = strata_testkit::get_json(&http, "/api/v1/regions/west/forwarding").unwrap();
    let row = &rows[0];
    assert!(
        row["name"] == "store" && row["member_id"] == "west-1" && row["pending_records"] == 0,
        "{rows}"
    );
    assert!(
        row["sent"].as_u64().unwrap_or(0) > 0 && row["failed"].as_u64().unwrap_or(0) > 0,
        "{rows}"
    );
    let region = mesh.region("west");
    let dropped = metric(
        &metrics,
        "strata_sub_manager_remote_write_samples_dropped_total{destination=\"store\",reason=\"rejected\"}",
    )
    .unwrap();
    assert_eq!(dropped, 0.0, "the receiver refused samples");
    assert!(
        region.members[0].terminate(Duration::from_secs(20)),
        "a clean stop"
    );

    let expected = stored(&member_dir);
    let (from, to) = expected
        .values()
        .flat_map(|p| p.keys())
        .fold((i64::MAX, i64::MIN), |(a, b), ts| (a.min(*ts), b.max(*ts)));
    // at least 100 before the outage and 100 stored by the restarted member
    assert!(
        count(&expected) >= 200,
        "{} samples stored",
        count(&expected)
    );
    let got = wait_for(
        "every stored sample at the receiver",
        Duration::from_secs(30),
        || {
            let got = receiver.samples(west, from, to)?;
            let lost = missing(&expected, &got, tolerance);
            if lost.is_empty() {
                Ok(got)
            } else {
                Err(format!("{} series differ, e.g. {}", lost.len(), lost[0]))
            }
        },
    );
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "the receiver holds the region's series and no other"
    );
    eprintln!(
        "{kind:?}: {} samples of {} series stored in the region, all at the receiver",
        count(&expected),
        expected.len()
    );
}

#[test]
fn victoria_metrics_receives_every_stored_sample_across_an_outage_and_a_kill() {
    // VictoriaMetrics keeps values as decimals of 12 significant digits or so
    forwards_every_stored_sample_across_an_outage_and_a_kill(Kind::Victoria, 1e-11);
}

#[test]
fn prometheus_receives_every_stored_sample_across_an_outage_and_a_kill() {
    forwards_every_stored_sample_across_an_outage_and_a_kill(Kind::Prometheus, 0.0);
}
